"""Consents: what a member agreed to be contacted about, on which channel, and its history.

A consent is a decision for one ``channel`` (email, sms, push, post, phone, whatsapp;
``any`` for a purpose no channel carries, or every channel at once) and one
``purpose`` (marketing, surveys, partners, ...): granted or withdrawn. Every decision
is appended to ``consent_changes`` with who recorded it, when, where the member gave
it (``source``) and the version of the wording they saw (``notice``); nothing there
is ever rewritten, so the history proves what the member said and when.
``members.consents`` keeps the latest decision per channel and purpose for the
member record.

``allowed`` is the one question anything that contacts a member asks first: the
latest decision for that channel and purpose, or for ``any`` channel and that purpose,
whichever was recorded last, and no contact without one.

The older form of consents (``{"email_marketing": true}`` on ``POST /members`` and
``PATCH``) names both in one key: ``CHANNEL_PURPOSE`` when it starts with a channel,
else a purpose on ``any`` channel (``{"newsletter": true}``), and the member record
shows each consent under that key (``key_of``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from patron.members.tables import consent_changes, members

CHANNELS = ("email", "sms", "push", "post", "phone", "whatsapp")
"""Channels a member can be contacted on; a consent names one, or ``any``."""
ANY = "any"
MARKETING = "marketing"
NOT_CONTACTABLE = ("merged", "erased", "household")
"""Records no one contacts: a merged record (the person lives on in its survivor), an
erased member, a household's points holder."""


@dataclass(frozen=True)
class Decision:
    """One consent given or withdrawn."""

    channel: str
    purpose: str
    granted: bool
    source: str | None = None
    """Where the member gave it: web, pos, app, a paper form, ..."""
    notice: str | None = None
    """The version of the privacy notice or wording the member saw."""


def key_of(channel: str, purpose: str) -> str:
    """The key a consent has in the member record: ``email_marketing``, or ``newsletter``
    for a purpose on ``any`` channel."""
    return purpose if channel == ANY else f"{channel}_{purpose}"


def parse_key(key: str) -> tuple[str, str]:
    """(channel, purpose) of a consent key of the older form (``key_of`` reversed)."""
    for channel in CHANNELS:
        if key.startswith(channel + "_") and len(key) > len(channel) + 1:
            return channel, key[len(channel) + 1:]
    return ANY, key


def from_keys(consents: Mapping[str, bool], source: str | None = None) -> list[Decision]:
    """Decisions of the older ``{"email_marketing": true}`` form."""
    return [Decision(*parse_key(key), granted=granted, source=source)
            for key, granted in consents.items()]


def _entry(decision: Decision, actor: str, now: datetime) -> dict[str, Any]:
    return {"channel": decision.channel, "purpose": decision.purpose,
            "granted": decision.granted, "updated_at": now.isoformat(),
            "source": decision.source, "notice": decision.notice, "actor": actor}


def state_of(decisions: Sequence[Decision], *, actor: str, now: datetime) -> dict[str, Any]:
    """``members.consents`` for a member enrolled with these decisions."""
    return {key_of(d.channel, d.purpose): _entry(d, actor, now) for d in decisions}


def _unchanged(entry: Mapping[str, Any] | None, decision: Decision) -> bool:
    return entry is not None and entry.get("granted") == decision.granted and all(
        entry.get(name) == value for name, value in
        (("source", decision.source), ("notice", decision.notice)) if value is not None)


def record(conn: Connection, program_id: int, member_id: int, decisions: Sequence[Decision],
           *, actor: str, now: datetime) -> int:
    """Record the decisions the member's consents do not already say; returns how many.

    A decision equal to the current one (same answer, and the same source and notice
    when it names them) records nothing, so sending a preference form twice leaves
    one row per change. The member row is locked while its consents are read and set.
    """
    current = conn.execute(select(members.c.consents).where(
        members.c.program_id == program_id, members.c.id == member_id)
        .with_for_update()).scalar_one()
    state = dict(current or {})
    rows = []
    for decision in decisions:
        key = key_of(decision.channel, decision.purpose)
        if _unchanged(state.get(key), decision):
            continue
        state[key] = _entry(decision, actor, now)
        rows.append(_history_row(program_id, member_id, decision, actor, now))
    if rows:
        conn.execute(insert(consent_changes), rows)
        conn.execute(update(members).where(members.c.id == member_id).values(
            consents=state, updated_at=now))
    return len(rows)


def _history_row(program_id: int, member_id: int, decision: Decision, actor: str,
                 now: datetime) -> dict[str, Any]:
    return dict(program_id=program_id, member_id=member_id, channel=decision.channel,
                purpose=decision.purpose, granted=decision.granted, source=decision.source,
                notice=decision.notice, actor=actor, created_at=now)


def record_enrolled(conn: Connection, program_id: int,
                    enrolled: Iterable[tuple[int, Mapping[str, Any]]]) -> None:
    """The history of members just enrolled with ``state_of`` consents: (member id, their
    ``members.consents``), each change dated as its entry is."""
    rows = [dict(program_id=program_id, member_id=member_id, channel=entry["channel"],
                 purpose=entry["purpose"], granted=entry["granted"], source=entry["source"],
                 notice=entry["notice"], actor=entry["actor"],
                 created_at=datetime.fromisoformat(entry["updated_at"]))
            for member_id, state in enrolled for entry in state.values()]
    if rows:
        conn.execute(insert(consent_changes), rows)


def history(conn: Connection, member_ids: Sequence[int]) -> list[Any]:
    """Every consent change of the members, oldest first."""
    return list(conn.execute(select(consent_changes).where(
        consent_changes.c.member_id.in_(list(member_ids))).order_by(consent_changes.c.id)))


def current(rows: Sequence[Any]) -> list[Any]:
    """The latest change per channel and purpose among ``rows`` (oldest first)."""
    latest: dict[tuple[str, str], Any] = {}
    for row in rows:
        latest[(row.channel, row.purpose)] = row
    return sorted(latest.values(), key=lambda row: row.id)


def allowed(conn: Connection, member_id: int, channel: str, purpose: str = MARKETING) -> bool:
    """Whether the member may be contacted on ``channel`` for ``purpose``.

    The latest decision recorded for that channel and purpose or for ``any`` channel
    and that purpose decides; without one, no. Merged records, erased members and
    household holders are never contacted.
    """
    row = conn.execute(select(members.c.status, latest_granted(members.c.id, channel, purpose))
                       .where(members.c.id == member_id)).first()
    return row is not None and contactable(row[0], row[1])


def latest_granted(member_id: Any, channel: str, purpose: str) -> Any:
    """A scalar subquery: whether the latest decision for ``channel`` (or ``any``) and
    ``purpose`` of the member ``member_id`` (a column) granted it (None: no decision), for
    folding into a read of the member (``contactable`` judges the two)."""
    return (select(consent_changes.c.granted)
            .where(consent_changes.c.member_id == member_id,
                   consent_changes.c.purpose == purpose,
                   or_(consent_changes.c.channel == channel, consent_changes.c.channel == ANY))
            .order_by(consent_changes.c.id.desc()).limit(1).scalar_subquery())


def contactable(status: str | None, granted: bool | None) -> bool:
    """Whether a member of ``status`` whose ``latest_granted`` is ``granted`` may be
    contacted."""
    return status is not None and status not in NOT_CONTACTABLE and bool(granted)


def withdraw_all(conn: Connection, program_id: int, member_id: int, *, source: str,
                 actor: str, now: datetime) -> int:
    """Withdraw every consent the member has granted (an erasure); returns how many."""
    granted = [row for row in current(history(conn, [member_id])) if row.granted]
    return record(conn, program_id, member_id,
                  [Decision(row.channel, row.purpose, False, source=source) for row in granted],
                  actor=actor, now=now)
