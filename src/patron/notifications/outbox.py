"""Hook subscribers that write notifications with the change that caused them.

Each happening becomes at most one message per member it tells of. The member's
consent is asked first (``patron.members.consents``, on the ``email`` channel and the
kind's purpose: read with the member's name, language and e-mail, one statement for a
happening's members); a member without that consent, or without an ``email`` identity,
gets no row at all. The message is rendered now, in the member's language,
so what is sent is what the member's data said at the time of the change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, insert, select, update

from patron import hooks
from patron.config import get_settings
from patron.db.engine import chunks
from patron.ledger.tables import expiry_notices
from patron.members import consents
from patron.members.tables import identities, members
from patron.notifications import messages
from patron.notifications.tables import notifications
from patron.program.service import Program

CHANNEL = "email"

Item = tuple[int, messages.Kind, dict[str, Any], datetime]
"""(member id, kind, the template's values in the member's language, when it happened)."""


def _recipients_query(purposes: tuple[str, ...]) -> Any:
    email = (select(identities.c.value)
             .where(identities.c.member_id == members.c.id, identities.c.type == "email")
             .order_by(identities.c.id).limit(1).scalar_subquery())
    granted = [consents.latest_granted(members.c.id, CHANNEL, purpose) for purpose in purposes]
    return select(members.c.id, members.c.status, members.c.name, members.c.given_name,
                  members.c.attributes, email, *granted).where(
        members.c.id.in_(bindparam("ids", expanding=True)))


_RECIPIENTS: dict[tuple[str, ...], Any] = {}
"""The read of ``_recipients`` by purposes, built once (building it costs more than
running it)."""


def _recipients(conn: Connection, items: list[Item]
                ) -> dict[tuple[int, str], tuple[str, str, Any]]:
    """(e-mail, name, attributes) by (member id, purpose), for the members whose consent
    allows a message of that purpose and who have an e-mail identity: one read of the
    members, their first e-mail and their latest decision per purpose."""
    purposes = tuple(sorted({kind.purpose for _, kind, _, _ in items}))
    query = _RECIPIENTS.get(purposes)
    if query is None:
        query = _RECIPIENTS[purposes] = _recipients_query(purposes)
    found: dict[tuple[int, str], tuple[str, str, Any]] = {}
    rows = [row for chunk in chunks(sorted({item[0] for item in items}))
            for row in conn.execute(query, {"ids": chunk})]
    for row in rows:
        if row[5] is None:
            continue
        for purpose, decision in zip(purposes, row[6:]):
            if consents.contactable(row.status, decision):
                found[(row.id, purpose)] = (row[5], row.given_name or row.name or "",
                                            row.attributes)
    return found


def write(conn: Connection, program: Program, items: Iterable[Item]) -> int:
    """Write the messages of ``items`` for members whose consent allows them; returns how
    many were written."""
    items = list(items)
    if not items:
        return 0
    people = _recipients(conn, items)
    if not people:
        return 0
    default = get_settings().notify_default_language
    rows = []
    for member_id, kind, values, at in items:
        person = people.get((member_id, kind.purpose))
        if person is None:
            continue
        email, name, attributes = person
        language = messages.language_of(attributes, default)
        context = {"name": name, "program_name": program.name,
                   "points_name": program.settings.points_name,
                   **{key: value(language) if callable(value) else value
                      for key, value in values.items()}}
        subject, body = messages.render(kind.name, language, context)
        rows.append({"program_id": program.id, "member_id": member_id, "kind": kind.name,
                     "channel": CHANNEL, "purpose": kind.purpose, "language": language,
                     "recipient": email, "subject": subject, "body": body,
                     "state": "pending", "attempts": 0, "created_at": at})
    if rows:
        conn.execute(insert(notifications), rows)
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


def on_member_erased(conn: Connection, happened: hooks.MemberErased) -> None:
    """Unsent messages to the person are dropped with their text; sent ones keep only
    what was sent when, not to whom or what."""
    ids = list(happened.records)
    conn.execute(update(notifications).where(notifications.c.member_id.in_(ids),
                                             notifications.c.state == "pending")
                 .values(state="dropped", locked_until=None))
    conn.execute(update(notifications).where(notifications.c.member_id.in_(ids))
                 .values(recipient="", subject="", body=""))
