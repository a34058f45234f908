"""Referrals: codes, attribution with abuse guards, qualification and payment.

- **Code.** ``code_for`` gives a member their code (created on first ask), from
  an unambiguous alphabet, and the shareable link.
- **Attribution.** ``attribute`` links a new member to the owner of a code, when
  they sign up with it (``POST /members`` with ``referral_code``, or a ``sign_up``
  event with ``data.referral_code``). It is refused, and the refusal recorded
  with its reason, for a self-referral (the same member, a shared identity
  value, or the same household), a member who is not new (joined more than
  ``new_member_days`` before, or already bought something), and a referrer over
  their ``cap`` for the period. A member is referred at most once.
- **Qualification.** The referred member's first purchase of at least
  ``min_spend`` after attribution qualifies it; it pays ``return_window_days``
  later.
- **Payment.** ``patron.flows.referral_payouts`` (a scheduled sweep) sends two
  ``referral`` events through ingest, ``role: referrer`` for the referrer and
  ``role: referee`` for the new member, so the program's earn rules decide the
  rewards; a referral whose qualifying order was fully returned is voided
  instead and never pays.

Referrals react to members joining and to recorded events through
``patron.hooks`` (wired in ``patron.flows.subscribers``); nothing calls them
from ingest or enrolment directly.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from patron import hooks
from patron.coupons.domain import random_parts
from patron.errors import InvalidInput
from patron.households.service import household_of
from patron.members.service import require_member
from patron.program.service import Program
from patron.program.versions import get_version
from patron.referrals import repository
from patron.program.context import period_bounds

class UnknownReferralCode(InvalidInput):
    code = "unknown_referral_code"
    title = "Unknown referral code"


def _new_code() -> str:
    """Eight characters of the coupons' alphabet (no look-alikes such as 0/O, 1/I/L)."""
    return random_parts(1, 8)[0]


def normalise(code: str) -> str:
    return code.strip().upper().replace("-", "").replace(" ", "")


def code_for(conn: Connection, program: Program, member_id: int, now: datetime) -> str:
    existing = repository.code_of(conn, program.id, member_id)
    if existing:
        return existing
    for _ in range(5):
        code = _new_code()
        if repository.owner_of(conn, program.id, code) is None:
            repository.insert_code(conn, program.id, member_id, code, now)
            return code
    raise RuntimeError("could not find a free referral code")  # 31^8: never in practice


def link(program: Program, conn: Connection, code: str) -> str:
    return get_version(conn, program).document.referrals.link.replace("{code}", code)


def _refusal(conn: Connection, program: Program, settings: Any, referrer: int, referee: int,
             at: datetime) -> str | None:
    if referrer == referee:
        return "self_referral: a member cannot refer themselves"
    if repository.identity_values(conn, referrer) & repository.identity_values(conn, referee):
        return "self_referral: the two members share an identity"
    homes = household_of(conn, program.id, [referrer, referee])
    if referrer in homes and referee in homes and homes[referrer][0] == homes[referee][0]:
        return "self_referral: the two members are in the same household"
    joined = repository.joined_at(conn, referee)
    if at - joined > timedelta(days=settings.new_member_days):
        return (f"not_new: joined {joined.date().isoformat()}, more than "
                f"{settings.new_member_days} days before the code was used")
    if repository.purchases_before(conn, referee, at + timedelta(seconds=1)):
        return "not_new: the member had already bought something"
    cap = settings.cap
    if cap is not None:
        start, _ = period_bounds(cap.period, at, program.settings.zone)
        if repository.counted_since(conn, referrer, start) >= cap.count:
            return f"cap_reached: the referrer has {cap.count} referrals this {cap.period}"
    return None


def attribute(conn: Connection, program: Program, referee_id: int, code: str, at: datetime,
              *, strict: bool = False) -> Any:
    """Link ``referee_id`` to the code's owner; returns the referral row (or None when
    the member was already referred). ``strict`` raises on an unknown code."""
    code = normalise(code)
    referrer = repository.owner_of(conn, program.id, code)
    if referrer is None:
        if strict:
            raise UnknownReferralCode(f"no member has referral code {code!r}",
                                      field="referral_code")
        return None
    if repository.referral_of(conn, program.id, referee_id) is not None:
        return None
    settings = get_version(conn, program).document.referrals
    reason = _refusal(conn, program, settings, referrer, referee_id, at)
    try:
        with conn.begin_nested():
            repository.insert_referral(
                conn, program_id=program.id, referrer_id=referrer, referee_id=referee_id,
                code=code, state="refused" if reason else "pending", reason=reason,
                attributed_at=at)
    except IntegrityError:  # attributed concurrently: the first one counts
        pass
    return repository.referral_of(conn, program.id, referee_id)


def on_members_enrolled(conn: Connection, happened: hooks.MembersEnrolled) -> None:
    """Attribute the members who joined with a referral code."""
    for joined in happened.members:
        if joined.referral_code:
            attribute(conn, happened.program, joined.member_id, joined.referral_code,
                      joined.joined_at, strict=happened.strict)


def on_events_recorded(conn: Connection, happened: hooks.EventsRecorded) -> None:
    """Attribute sign-ups that carry a code, then qualify referred members' first purchases."""
    program = happened.program
    for event in happened.events:
        code = event.data.get("referral_code")
        if event.type == "sign_up" and isinstance(code, str):
            attribute(conn, program, event.member_id, code, event.occurred_at)
    purchases = [e for e in happened.events if e.type == "purchase" and e.order_id is not None]
    if purchases:
        _qualify(conn, program, purchases)


def _qualify(conn: Connection, program: Program, purchases: list[hooks.RecordedEvent]) -> None:
    pending = repository.pending_for(conn, program.id, [p.member_id for p in purchases])
    if not pending:
        return
    settings = get_version(conn, program).document.referrals
    for purchase in sorted(purchases, key=lambda p: p.occurred_at):
        referral = pending.get(purchase.member_id)
        if (referral is None or purchase.order_total < settings.min_spend
                or purchase.occurred_at < referral.attributed_at):
            continue
        repository.update_referral(
            conn, referral.id, state="qualified", order_id=purchase.order_id,
            qualified_at=purchase.occurred_at,
            pay_after=purchase.occurred_at + timedelta(days=settings.return_window_days))
        del pending[purchase.member_id]
        hooks.emit(conn, hooks.ReferralQualified(
            program, referral.id, referral.referrer_id, referral.referee_id,
            purchase.order_id, purchase.occurred_at))


def summary(conn: Connection, program: Program, member_id: int, now: datetime
            ) -> dict[str, Any]:
    require_member(conn, program, member_id)
    code = code_for(conn, program, member_id, now)
    rows = repository.of_referrer(conn, program.id, member_id, 50)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    referred = repository.referral_of(conn, program.id, member_id)
    return dict(member_id=member_id, code=code, link=link(program, conn, code), counts=counts,
                referrals=[dict(referee_id=r.referee_id, state=r.state, reason=r.reason,
                                attributed_at=r.attributed_at, order_id=r.order_id,
                                pay_after=r.pay_after) for r in rows],
                referred_by=(dict(referrer_id=referred.referrer_id, state=referred.state,
                                  reason=referred.reason) if referred else None))
