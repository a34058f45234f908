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
- **Payment.** ``pay_due`` (a scheduled sweep) sends two ``referral`` events
  through ingest, ``role: referrer`` for the referrer and ``role: referee`` for
  the new member, so the program's earn rules decide the rewards; a referral
  whose qualifying order was fully returned is voided instead and never pays.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from patron.coupons.domain import random_parts
from patron.errors import InvalidInput
from patron.program.jobs import every_program_in_batches
from patron.program.service import Program
from patron.program.versions import get_version
from patron.referrals import repository
from patron.program.context import period_bounds

PAY_BATCH = 200
"""Referrals settled per transaction of the scheduled sweep."""


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
    try:
        from patron.households.service import household_of
    except ImportError:  # pragma: no cover - households ship with Patron
        household_of = None
    if household_of is not None:
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


def after_ingest(conn: Connection, program: Program, sign_ups: list[tuple[int, str, datetime]],
                 purchases: list[tuple[int, str, int, datetime]]) -> None:
    """Attribute sign-ups with a code, then qualify first purchases of referred members."""
    for member_id, code, at in sign_ups:
        attribute(conn, program, member_id, code, at)
    if not purchases:
        return
    pending = repository.pending_for(conn, program.id, [m for m, *_ in purchases])
    if not pending:
        return
    settings = get_version(conn, program).document.referrals
    for member_id, order_id, total, at in sorted(purchases, key=lambda p: p[3]):
        referral = pending.get(member_id)
        if referral is None or total < settings.min_spend or at < referral.attributed_at:
            continue
        repository.update_referral(conn, referral.id, state="qualified", order_id=order_id,
                                   qualified_at=at,
                                   pay_after=at + timedelta(days=settings.return_window_days))
        del pending[member_id]


def pay_due(conn: Connection, program: Program, now: datetime, limit: int = PAY_BATCH) -> int:
    """Pay (or void) qualified referrals past their window; returns how many it settled."""
    from patron.events.schemas import EventIn
    from patron.events.service import ingest

    due = repository.due(conn, program.id, now, limit)
    events = []
    for referral in due:
        if repository.fully_returned(conn, program.id, referral.order_id):
            repository.update_referral(conn, referral.id, state="void", settled_at=now,
                                       reason=f"order {referral.order_id} was returned")
            continue
        for role, member, other in (("referrer", referral.referrer_id, referral.referee_id),
                                    ("referee", referral.referee_id, referral.referrer_id)):
            data = {"referral_code": referral.code, "role": role,
                    "referee_id": str(referral.referee_id),
                    "referrer_id": str(referral.referrer_id)}
            events.append(EventIn(id=f"referral-{referral.id}-{role}", type="referral",
                                  member={"id": member}, occurred_at=referral.pay_after,
                                  channel="referral", data=data))
        repository.update_referral(conn, referral.id, state="paid", settled_at=now)
    if events:
        ingest(conn, program, events, now=now, actor="job:referrals")
    return len(due)


def pay_all(db: Any, now: datetime) -> int:
    """The scheduled sweep over every program's due referrals, in batches."""
    return sum(every_program_in_batches(
        db, lambda conn, program, limit: pay_due(conn, program, now, limit), int, PAY_BATCH))


def summary(conn: Connection, program: Program, member_id: int, now: datetime
            ) -> dict[str, Any]:
    from patron.members.service import require_member

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
