"""Rewards use cases: the member's catalog, who may redeem what, stock, reading, donations.

Redeeming and cancelling are ``patron.flows.redemption``: what a redemption
produces (a coupon code, wallet cashback) reaches into other domains. This
module gives that flow the rewards domain's part: the reward of the current
program version, the member's lock, the eligibility check with its refusals
(409 with the catalog's ``reason`` as its code) and a unit of stock behind a
guarded update. It never commits.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.errors import Conflict, NotFound
from patron.ledger import repository as ledger_repository
from patron.ledger.domain import InsufficientPoints
from patron.ledger.schemas import LotMove
from patron.ledger.service import Holding, holding_of, locked_holding
from patron.program.service import Program
from patron.program.versions import versions
from patron.rewards import domain, eligibility, repository
from patron.rewards.domain import Standing
from patron.rewards.schemas import (CauseTotal, DonationTotals, MemberLimit, Redemption,
                                    RedemptionPage, RewardCatalog, RewardOffer)
from patron.program.compiled import CompiledProgram, instant
from patron.program.incentives import Reward


class RewardNotFound(NotFound):
    code = "reward_not_found"
    title = "Reward not found"


class RedemptionNotFound(NotFound):
    code = "redemption_not_found"
    title = "Redemption not found"


class RewardRefused(Conflict):
    """A reward the member cannot redeem now; ``code`` is the catalog's ``reason``."""

    code = "reward_refused"
    title = "Reward refused"


class NotYetAvailable(RewardRefused):
    code, title = domain.NOT_YET_AVAILABLE, "Reward not yet available"


class RewardExpired(RewardRefused):
    code, title = domain.EXPIRED, "Reward no longer offered"


class TierRequired(RewardRefused):
    code, title = domain.TIER_REQUIRED, "Reward for other tiers"


class PlanRequired(RewardRefused):
    code, title = domain.PLAN_REQUIRED, "Reward for members of a plan"


class ConditionNotMet(RewardRefused):
    code, title = domain.CONDITION_NOT_MET, "Reward condition not met"


class LimitReached(RewardRefused):
    code, title = domain.LIMIT_REACHED, "Redemption limit reached"


class OutOfStock(RewardRefused):
    code, title = domain.OUT_OF_STOCK, "Reward out of stock"


REFUSALS: dict[str, type[RewardRefused]] = {
    cls.code: cls for cls in (NotYetAvailable, RewardExpired, TierRequired, PlanRequired,
                              ConditionNotMet, LimitReached, OutOfStock)}


def compiled_now(conn: Connection, program: Program) -> CompiledProgram:
    """The program's current version: its catalog is what members may redeem now."""
    return versions.compiled(conn, program, program.version)


def reward_of(compiled: CompiledProgram, reward_id: str) -> Reward:
    try:
        return compiled.document.reward(reward_id)
    except KeyError:
        raise RewardNotFound(f"the current program version has no reward {reward_id!r}",
                             reward_id=reward_id) from None


def _refuse(reason: str, reward: Reward, standing: Standing,
            holders: domain.Holders | None = None) -> Exception:
    if reason == domain.INSUFFICIENT_POINTS:
        return InsufficientPoints(
            f"{reward.name} costs {reward.cost_points} points but only {standing.available} "
            "are available", available=standing.available, requested=reward.cost_points,
            reward_id=reward.id)
    tiers = _names(reward.eligibility.tiers, holders, "tiers")
    plans = _names(reward.eligibility.plans, holders, "plans")
    details = {
        domain.NOT_YET_AVAILABLE: f"is offered from {reward.valid_from}",
        domain.EXPIRED: f"was offered until {reward.valid_until}",
        domain.TIER_REQUIRED: f"is for {tiers} members (the member's tier: "
                              f"{standing.tier or 'none'})",
        domain.PLAN_REQUIRED: f"is for members of the {plans} plan",
        domain.CONDITION_NOT_MET: "has a condition the member does not meet",
        domain.LIMIT_REACHED: _limit_text(reward),
        domain.OUT_OF_STOCK: "is out of stock",
    }
    return REFUSALS[reason](f"{reward.name} {details[reason]}", reward_id=reward.id,
                            reason=reason)


def _limit_text(reward: Reward) -> str:
    limit = reward.limit_per_member
    if limit is None:
        return ""
    per = "in total" if limit.period == "lifetime" else f"per {limit.period}"
    return f"may be redeemed {limit.count} time(s) {per}: the limit is reached"


def _names(listed: list[str] | None, holders: domain.Holders | None, kind: str) -> str:
    """The tier (or plan) ids that would qualify, as "gold or platinum"."""
    ids = set(listed or ()) or set(getattr(holders, kind, ()) or ())
    return " or ".join(sorted(ids)) or "other"


# --------------------------------------------------------------------------- catalog

def catalog(conn: Connection, program: Program, member_id: int, now: datetime, *,
            everything: bool = False) -> RewardCatalog:
    """The rewards on offer now (``everything``: also those outside their dates),
    each with whether this member may redeem it and why not."""
    compiled = compiled_now(conn, program)
    zone = compiled.zone
    holding = holding_of(conn, program, member_id)
    rewards = [r for r in compiled.document.rewards
               if everything or domain.window_refusal(r, now, zone) is None]
    holders = domain.benefit_holders(compiled.document)
    available = holding.account.available
    found = eligibility.standings(conn, program, compiled, member_id, rewards, holders,
                                  available, now)
    items = [_offer(r, holders.get(r.id), found[r.id], compiled, program, now)
             for r in rewards]
    return RewardCatalog(member_id=member_id, available_points=available,
                         program_version=program.version, items=items)


def _offer(reward: Reward, holders: Any, standing: Standing, compiled: CompiledProgram,
           program: Program, now: datetime) -> RewardOffer:
    reasons = domain.refusals(reward, holders, standing, now, compiled.zone)
    limit = reward.limit_per_member
    return RewardOffer(
        id=reward.id, name=reward.name, description=reward.description, type=reward.type,
        cost_points=reward.cost_points, coupon_type=reward.coupon_type, cashback=reward.cashback,
        currency=program.settings.currency if reward.cashback else None, cause=reward.cause,
        stock_remaining=standing.stock_left,
        limit_per_member=(MemberLimit(period=limit.period, count=limit.count,
                                      used=standing.used) if limit else None),
        valid_from=instant(reward.valid_from, compiled.zone, end=False),
        valid_until=instant(reward.valid_until, compiled.zone, end=True),
        eligible=domain.eligible(reasons),
        affordable=standing.available >= reward.cost_points,
        points_needed=max(reward.cost_points - standing.available, 0),
        reason=reasons[0] if reasons else None, reasons=reasons)


# --------------------------------------------------------------------------- redeeming

def lock_member(conn: Connection, program: Program, member_id: int) -> Holding:
    """Hold the member's own account lock for the rest of the transaction.

    Every redemption and cancellation of the member takes it first, so limits
    are counted and keys looked up with nothing in between (SQLite's ``BEGIN
    IMMEDIATE`` already serialises writers). Joining or leaving a household
    takes the same lock, so the holding read under it stays true.
    """
    return locked_holding(conn, program, member_id)


def check_redeemable(conn: Connection, program: Program, compiled: CompiledProgram,
                     reward: Reward, member_id: int, available: int,
                     now: datetime) -> Standing:
    """The member's standing for ``reward``; raises the first reason they cannot redeem it
    now (409 with the catalog's ``reason`` as its code).

    The stock is left to ``take_stock``'s guarded update, which says ``out_of_stock``
    when no other reason stands; it is read here only when the one reason found is
    the member's points, which a member hears after the stock.
    """
    holders = domain.benefit_holders(compiled.document).get(reward.id)
    standing = eligibility.standings(conn, program, compiled, member_id, [reward],
                                     {reward.id: holders} if holders else {},
                                     available, now, stock=False)[reward.id]
    reasons = domain.refusals(reward, holders, standing, now, compiled.zone)
    if reasons == [domain.INSUFFICIENT_POINTS] and reward.stock is not None:
        standing = replace(standing, stock_left=domain.stock_left(
            reward.stock, repository.stock_row(conn, program.id, reward.id)))
        reasons = domain.refusals(reward, holders, standing, now, compiled.zone)
    if reasons:
        raise _refuse(reasons[0], reward, standing, holders)
    return standing


def take_stock(conn: Connection, program: Program, reward: Reward, now: datetime,
               standing: Standing) -> None:
    """One unit of ``reward``'s stock, the row created or brought in line with the
    document's figure first if needed; 409 ``out_of_stock`` when none is left.

    Only a row read with nothing left means out of stock. On PostgreSQL a failed
    take may simply have run before a concurrent first redemption's new row was
    committed; the row read after it then shows units left, and the take is tried
    again.
    """
    assert reward.stock is not None
    for _ in range(4):
        if repository.take_unit(conn, program.id, reward.id, reward.stock, now):
            return
        row = repository.stock_row(conn, program.id, reward.id)
        if row is None:
            repository.create_stock(conn, program.id, reward.id, reward.stock, now)
        elif row.stock != reward.stock:
            repository.restock(conn, program.id, reward.id, old=row.stock, new=reward.stock,
                               redeemed=row.redeemed, now=now)
        elif row.remaining <= 0:
            break
    raise _refuse(domain.OUT_OF_STOCK, reward, standing)


# --------------------------------------------------------------------------- reading

def locked_redemption(conn: Connection, program: Program, redemption_id: int) -> Any:
    row = repository.redemption(conn, program.id, redemption_id, lock=True)
    if row is None:
        raise RedemptionNotFound(f"redemption {redemption_id} does not exist",
                                 redemption_id=redemption_id)
    return row


def row_view(row: Any, lots: list[LotMove] | None = None) -> Redemption:
    get = row.get if isinstance(row, dict) else row._mapping.get
    fields = {name: get(name) for name in Redemption.model_fields if name != "lots"}
    return Redemption(**fields, lots=lots)


def view(conn: Connection, row: Any) -> Redemption:
    moves = ledger_repository.moves_of_entry(conn, row.entry_id)
    return row_view(row, [LotMove(lot_id=m.lot_id, points=m.points) for m in moves])


def get_redemption(conn: Connection, program: Program, redemption_id: int) -> Redemption:
    row = repository.redemption(conn, program.id, redemption_id)
    if row is None:
        raise RedemptionNotFound(f"redemption {redemption_id} does not exist",
                                 redemption_id=redemption_id)
    return view(conn, row)


def member_redemptions(conn: Connection, program: Program, member_id: int,
                       before: int | None, limit: int) -> RedemptionPage:
    holding_of(conn, program, member_id)  # 404 for an unknown member
    rows = repository.member_redemptions(conn, program.id, member_id, before, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return RedemptionPage(items=[row_view(r) for r in rows],
                          next_cursor=rows[-1].id if more and rows else None)


def donations(conn: Connection, program: Program, since: datetime | None = None,
              until: datetime | None = None) -> DonationTotals:
    causes = [CauseTotal(cause=r.cause or "", donations=r.donations, members=r.members,
                         points=int(r.points or 0))
              for r in repository.donation_totals(conn, program.id, since, until)]
    return DonationTotals(causes=causes, donations=sum(c.donations for c in causes),
                          points=sum(c.points for c in causes))
