"""Reading what eligibility needs: tier, paid plan, the member for conditions, usage, stock.

Each fact is read only when a reward in question needs it: a catalog without
tier-only rewards never works out the member's tier, and a reward without a
condition never loads the member's profile and event counts. Tiers, paid
memberships and earning's member reads sit below rewards, so they are asked
directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from patron.earning import repository as earning_repository
from patron.memberships.service import active_plans
from patron.program.service import Program
from patron.rewards import domain, repository
from patron.rewards.domain import Holders, MemberInputs, Standing
from patron.program.compiled import CompiledProgram
from patron.program.context import MemberContext, MemberProfile
from patron.program.incentives import Reward
from patron.tiers.service import NoTiers
from patron.tiers.service import member_tier as tier_view


def member_tier(conn: Connection, program: Program, member_id: int, now: datetime) -> str | None:
    """The member's tier now (a paid plan's floor included); None without tiers."""
    try:
        return tier_view(conn, program, member_id, now)["tier"]["id"]
    except NoTiers:
        return None


def member_plan(conn: Connection, program: Program, member_id: int, now: datetime) -> str | None:
    """The paid plan whose benefits the member enjoys now, if any."""
    plan = active_plans(conn, program.id, [member_id], now).get(member_id)
    return plan.id if plan is not None else None


def member_inputs(conn: Connection, program: Program, compiled: CompiledProgram,
                  member_id: int, tier: str | None, now: datetime) -> MemberInputs:
    """``member`` as earn rules' conditions see it: profile, tier and event counts."""
    rows = earning_repository.member_rows(conn, program.id, [member_id])
    profile = (MemberProfile(rows[0].birthdate, rows[0].region, rows[0].join_channel,
                             rows[0].attributes or {}) if rows else MemberProfile())
    counts = earning_repository.event_counts(conn, program.id, [member_id]).get(member_id, {})
    return MemberInputs(MemberContext(str(member_id), profile, tier, counts),
                        now.astimezone(compiled.zone), compiled.counted_types)


def _usage_since(rewards: Sequence[Reward], now: datetime, compiled: CompiledProgram
                 ) -> tuple[list[str], datetime | None]:
    limited = [r for r in rewards if r.limit_per_member is not None]
    starts = [domain.period_start(r.limit_per_member.period, now, compiled.zone)
              for r in limited]
    since = None if not starts or any(s is None for s in starts) else min(starts)
    return [r.id for r in limited], since


def standings(conn: Connection, program: Program, compiled: CompiledProgram, member_id: int,
              rewards: Sequence[Reward], holders: dict[str, Holders], available: int,
              now: datetime, *, stock: bool = True) -> dict[str, Standing]:
    """The member's standing for each of ``rewards``, reading each fact at most once.

    Without ``stock`` the stock is not read (``stock_left`` is None): for a caller
    whose guarded take of a unit answers that itself.
    """
    document = compiled.document
    with_condition = [r for r in rewards if r.eligibility.when]
    tier = plan = None
    if document.tiers is not None and (
            with_condition or any(domain.needs_tier(r, holders.get(r.id)) for r in rewards)):
        tier = member_tier(conn, program, member_id, now)
    if any(domain.needs_plan(r, holders.get(r.id)) for r in rewards):
        plan = member_plan(conn, program, member_id, now)
    inputs = (member_inputs(conn, program, compiled, member_id, tier, now)
              if with_condition else None)
    limited, since = _usage_since(rewards, now, compiled)
    times = repository.standing_times(conn, program.id, member_id, limited, since)
    stocked = [r.id for r in rewards if r.stock is not None] if stock else []
    rows = repository.stock_rows(conn, program.id, stocked)
    zone = compiled.zone
    return {r.id: Standing(
        tier=tier, plan=plan,
        condition=(domain.condition_holds(r.eligibility.when, inputs)
                   if r.eligibility.when and inputs is not None else None),
        used=domain.used_in_period(r, times.get(r.id, []), now, zone),
        stock_left=domain.stock_left(r.stock, rows.get(r.id)) if stock else None,
        available=available) for r in rewards}
