"""Hook subscribers that write notifications with the change that caused them.

Each happening becomes at most one message per member and channel it tells of. The
program says which channels members are told on and how
(``settings.notifications.channels``: ``email`` over ``smtp`` by default; any channel
over ``webhook``). The member's consent for that channel and the kind's purpose is
asked first, read with the member's name, language and e-mail in one statement for a
happening's members (``patron.members.consents.latest_granted``); without it there is no
message at all. The message is rendered now, in the member's language, so what is sent is what
the member's data said at the time of the change:

- ``smtp``: a ``pending`` row, for members with an ``email`` identity, e-mailed by
  ``patron.notifications.sending``;
- ``webhook``: a ``handed_off`` row (what the member was told, for their export), and
  the message announced (``hooks.NotificationsRendered``) for the webhooks' outbox to
  deliver, signed, to the endpoints that take ``notification.ready``: the brand's own
  SMS, push or e-mail provider sends it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, insert, select, update

from patron import hooks
from patron.config import get_settings
from patron.db.engine import one_of_param, one_of_rows
from patron.ledger.tables import expiry_notices
from patron.members import consents
from patron.members.tables import identities, members
from patron.notifications import messages
from patron.notifications.tables import notifications
from patron.program.service import Program

SMTP = "smtp"
WEBHOOK = "webhook"

Item = tuple[int, messages.Kind, dict[str, Any], datetime]
"""(member id, kind, the template's values in the member's language, when it happened)."""


Key = tuple[str, str]
"""(channel, purpose): what a member's consent is asked for."""


def _recipients_query(keys: tuple[Key, ...], dialect: str, few: int = 0) -> Any:
    email = (select(identities.c.value)
             .where(identities.c.member_id == members.c.id, identities.c.type == "email")
             .order_by(identities.c.id).limit(1).scalar_subquery())
    granted = [consents.latest_granted(members.c.id, channel, purpose)
               for channel, purpose in keys]
    return select(members.c.id, members.c.status, members.c.name, members.c.given_name,
                  members.c.attributes, email, *granted).where(
        one_of_param(dialect, members.c.id, "ids", few))


@functools.cache
def _recipients_queries(keys: tuple[Key, ...], dialect: str) -> tuple[Any, dict[int, Any]]:
    """The read of ``_recipients`` for (channel, purpose) ``keys``, built once (building it
    costs more than running it): the list form, and one member's own (``one_of_rows``).
    Before, the members went in an expanding list, which SQLAlchemy rendered again on
    every event."""
    return _recipients_query(keys, dialect), {1: _recipients_query(keys, dialect, 1)}


def _recipients(conn: Connection, member_ids: set[int], keys: tuple[Key, ...]
                ) -> dict[int, tuple[str | None, str, Any, set[Key]]]:
    """Each member's (first e-mail or None, name, attributes, the keys their consent
    allows): one read of the members, their first e-mail and their latest decision per
    channel and purpose."""
    queries = _recipients_queries(keys, conn.dialect.name)
    found: dict[int, tuple[str | None, str, Any, set[Key]]] = {}
    for row in one_of_rows(conn, *queries, "ids", sorted(member_ids)):
        allowed = {key for key, decision in zip(keys, row[6:])
                   if consents.contactable(row.status, decision)}
        if allowed:
            found[row.id] = (row[5], row.given_name or row.name or "", row.attributes, allowed)
    return found


def write(conn: Connection, program: Program, items: Iterable[Item]) -> int:
    """Write the messages of ``items`` on each of the program's channels whose consent
    the member gave; returns how many were written."""
    items = list(items)
    channels = program.settings.notifications.channels
    if not items or not channels:  # a program that tells no one reads no one
        return 0
    keys = tuple(sorted({(channel, kind.purpose) for _, kind, _, _ in items
                         for channel in channels}))
    people = _recipients(conn, {item[0] for item in items}, keys)
    wanted = [(item, channel, how) for item in items for channel, how in channels.items()
              if item[0] in people and (channel, item[1].purpose) in people[item[0]][3]]
    if not wanted:
        return 0
    default = get_settings().notify_default_language
    rows, handed = [], []
    for (member_id, kind, values, at), channel, how in wanted:
        email, name, attributes, _ = people[member_id]
        if how == SMTP and email is None:
            continue
        language = messages.language_of(attributes, default)
        context = {"name": name, "program_name": program.name,
                   "points_name": program.settings.points_name,
                   **{key: value(language) if callable(value) else value
                      for key, value in values.items()}}
        subject, body = messages.render(kind.name, language, context)
        row = {"program_id": program.id, "member_id": member_id, "kind": kind.name,
               "channel": channel, "purpose": kind.purpose, "language": language,
               "recipient": email or "", "subject": subject, "body": body,
               "state": "pending", "attempts": 0, "sent_at": None, "created_at": at}
        if how == WEBHOOK:
            row.update(state="handed_off", recipient="", sent_at=at)
            handed.append(hooks.RenderedNotification(member_id, kind.name, channel, language,
                                                     subject, body, at))
        rows.append(row)
    if rows:
        conn.execute(insert(notifications), rows)
    if handed:
        hooks.emit(conn, hooks.NotificationsRendered(program, tuple(handed)))
    return len(rows)


def _points(value: int) -> Any:
    return lambda language: messages.points(value, language)


def on_points_earned(conn: Connection, happened: hooks.PointsEarned) -> None:
    totals: dict[int, tuple[int, datetime]] = {}
    for move in happened.moves:
        points, at = totals.get(move.member_id, (0, move.at))
        totals[move.member_id] = (points + move.points, max(at, move.at))
    write(conn, happened.program,
          [(member_id, messages.POINTS_EARNED, {"points": _points(points)}, at)
           for member_id, (points, at) in totals.items() if points > 0])


def on_points_expiring(conn: Connection, happened: hooks.PointsExpiringSoon) -> None:
    zone = ZoneInfo(happened.program.settings.timezone)
    noticed = dict(conn.execute(select(expiry_notices.c.id, expiry_notices.c.noticed_at).where(
        expiry_notices.c.id.in_([notice.notice_id for notice in happened.notices]))).all())

    def expires(when: datetime) -> Any:
        return lambda language: messages.day(when.astimezone(zone).date(), language)

    write(conn, happened.program,
          [(notice.member_id, messages.POINTS_EXPIRING,
            {"points": _points(notice.points), "expires": expires(notice.expires_at)},
            noticed[notice.notice_id])
           for notice in happened.notices])


def on_tier_changed(conn: Connection, happened: hooks.TierChanged) -> None:
    write(conn, happened.program,
          [(happened.member_id, messages.TIER_CHANGED,
            {"tier": happened.to_tier, "from_tier": happened.from_tier}, happened.at)])


def on_reward_redeemed(conn: Connection, happened: hooks.RewardRedeemed) -> None:
    write(conn, happened.program,
          [(happened.member_id, messages.REWARD_REDEEMED,
            {"reward": happened.reward_id, "points": _points(happened.points)},
            happened.at)])


def on_rewards_ready(conn: Connection, happened: hooks.RewardsReady) -> None:
    write(conn, happened.program,
          [(ready.member_id, messages.REWARD_READY,
            {"reward": ready.reward_name, "points": _points(ready.cost_points),
             "available": _points(ready.available)}, ready.at)
           for ready in happened.rewards])


def on_member_erased(conn: Connection, happened: hooks.MemberErased) -> None:
    """Unsent messages to the person are dropped with their text; sent ones keep only
    what was sent when, not to whom or what."""
    ids = list(happened.records)
    conn.execute(update(notifications).where(notifications.c.member_id.in_(ids),
                                             notifications.c.state == "pending")
                 .values(state="dropped", locked_until=None))
    conn.execute(update(notifications).where(notifications.c.member_id.in_(ids))
                 .values(recipient="", subject="", body=""))
