"""Reading what eligibility needs: tier, paid plan, the member for conditions, usage, stock.

Each fact is read only when a reward in question needs it: a catalog without
tier-only rewards never works out the member's tier, and a reward without a
condition never loads the member's profile and event counts. Tiers, paid
memberships and earning's member reads sit below rewards, so they are asked
directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
from patron.tiers.service import NoTiers, tiers_now
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


def redeemable(conn: Connection, program: Program, compiled: CompiledProgram,
               member_ids: Sequence[int], now: datetime) -> dict[int, frozenset[str]]:
    """The catalog rewards each member could redeem now, points aside: the rewards
    for which ``domain.refusals`` gives no reason but the member's points (the
    catalog's ``eligible``). For many members at once, reading each fact once for all
    of them (tiers, paid plans, redemptions within limits, the profile and event
    counts conditions read, stock)."""
    document = compiled.document
    rewards = [r for r in document.rewards if domain.window_refusal(r, now, compiled.zone) is None]
    holders = domain.benefit_holders(document)
    ids = list(member_ids)
    with_condition = [r for r in rewards if r.eligibility.when]
    tiers: dict[int, str] = {}
    if document.tiers is not None and (
            with_condition or any(domain.needs_tier(r, holders.get(r.id)) for r in rewards)):
        tiers = tiers_now(conn, program, document.tiers, ids, now)
    plans: dict[int, str] = {}
    if any(domain.needs_plan(r, holders.get(r.id)) for r in rewards):
        plans = {m: plan.id for m, plan in active_plans(conn, program.id, ids, now).items()}
    inputs = (_many_inputs(conn, program, compiled, ids, tiers, now) if with_condition else {})
    limited, since = _usage_since(rewards, now, compiled)
    times = repository.standing_times_of(conn, program.id, ids, limited, since)
    rows = repository.stock_rows(conn, program.id, [r.id for r in rewards if r.stock is not None])
    stock = {r.id: domain.stock_left(r.stock, rows.get(r.id)) for r in rewards}
    found = {}
    for member_id in ids:
        used = times.get(member_id, {})
        member_inputs_ = inputs.get(member_id)
        found[member_id] = frozenset(r.id for r in rewards if domain.eligible(domain.refusals(
            r, holders.get(r.id), Standing(
                tier=tiers.get(member_id), plan=plans.get(member_id),
                condition=(domain.condition_holds(r.eligibility.when, member_inputs_)
                           if r.eligibility.when and member_inputs_ is not None else None),
                used=domain.used_in_period(r, used.get(r.id, []), now, compiled.zone),
                stock_left=stock[r.id], available=0), now, compiled.zone)))
    return found


def _many_inputs(conn: Connection, program: Program, compiled: CompiledProgram,
                 member_ids: Iterable[int], tiers: dict[int, str], now: datetime
                 ) -> dict[int, MemberInputs]:
    """``member_inputs`` of many members, from one read of profiles and event counts."""
    ids = list(member_ids)
    rows = {row.id: row for row in earning_repository.member_rows(conn, program.id, ids)}
    counts = earning_repository.event_counts(conn, program.id, ids)
    local = now.astimezone(compiled.zone)
    found = {}
    for member_id in ids:
        row = rows.get(member_id)
        profile = (MemberProfile(row.birthdate, row.region, row.join_channel,
                                 row.attributes or {}) if row is not None else MemberProfile())
        found[member_id] = MemberInputs(
            MemberContext(str(member_id), profile, tiers.get(member_id),
                          counts.get(member_id, {})), local, compiled.counted_types)
    return found
