"""Redeeming a reward for points, cancelling a redemption, recording its fulfilment.

A redemption is one transaction: the member's account is locked (so their
limit is counted and their idempotency key looked up without a race), the
rules of the current program version are checked, the points are spent
soonest-expiring first behind the ledger's guarded debit, what the reward gives
is produced by its kind's strategy (a coupon code, wallet cashback, see
``patron.flows.reward_kinds``), a unit of stock is taken behind a guarded update,
and ``RewardRedeemed`` is emitted. Any refusal on the way rolls all of it back.
It is a flow because producing and undoing reach into coupons and the wallet;
the rewards domain keeps the catalog, eligibility and stock. It never commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from patron import hooks
from patron.errors import Conflict, IdempotencyKeyReused
from patron.flows.reward_kinds import kind_of
from patron.ledger.service import Holding, debit, refuse_spend
from patron.members.standing import refuse_spending_of
from patron.program.incentives import Reward
from patron.program.service import Program
from patron.rewards import domain, refunds, repository
from patron.rewards import service as rewards
from patron.rewards.gifts import FulfilmentBackwards
from patron.rewards.schemas import Redemption


class FulfilmentRefused(Conflict):
    """A fulfilment step that does not apply; ``code`` says why."""

    code = "fulfilment_refused"
    title = "Fulfilment step refused"


class FulfilmentNotTracked(FulfilmentRefused):
    code, title = domain.FULFILMENT_NOT_TRACKED, "Nothing to fulfil for this reward"


class RedemptionCancelled(FulfilmentRefused):
    code, title = domain.REDEMPTION_CANCELLED, "Redemption cancelled"


STEP_REFUSALS: dict[str, type[Conflict]] = {
    cls.code: cls for cls in (FulfilmentNotTracked, RedemptionCancelled, FulfilmentBackwards)}


def redeem(conn: Connection, program: Program, member_id: int, *, reward_id: str, key: str,
           actor: str, now: datetime) -> tuple[Redemption, bool]:
    """Redeem ``reward_id`` for the member; returns the redemption and whether it is new.

    The same ``key`` returns the first redemption (even once cancelled) and
    spends nothing; under another reward it is 409 ``idempotency_key_reused``.
    """
    compiled = rewards.compiled_now(conn, program)
    reward = rewards.reward_of(compiled, reward_id)
    holding = rewards.lock_member(conn, program, member_id)
    refuse_spending_of(holding.own)
    existing = repository.redemption_by_key(conn, program.id, member_id, key)
    if existing is not None:
        if existing.reward_id != reward_id:
            raise IdempotencyKeyReused(f"idempotency_key {key!r} was used to redeem "
                                       f"{existing.reward_id!r}", key=key)
        return rewards.view(conn, existing), False
    refuse_spend(holding)
    standing = rewards.check_redeemable(conn, program, compiled, reward, member_id,
                                        holding.account.available, now)
    redemption = _record(conn, program, holding, reward, key=key, actor=actor, now=now)
    if reward.stock is not None:
        rewards.take_stock(conn, program, reward, now, standing)
    hooks.emit(conn, hooks.RewardRedeemed(program, member_id, redemption.id, reward.id,
                                          reward.type, reward.cost_points, now))
    return redemption, True


def _record(conn: Connection, program: Program, holding: Holding, reward: Reward, *,
            key: str, actor: str, now: datetime) -> Redemption:
    """Spend the points, produce what the reward gives and write the redemption."""
    member_id = holding.member_id
    spent = debit(conn, program, holding, points=reward.cost_points,
                  reason=f"Redeemed: {reward.name}", key=f"redeem:{member_id}:{key}",
                  actor=actor, now=now)
    kind = kind_of(reward.type)
    row = dict(program_id=program.id, member_id=member_id, account_id=holding.account.id,
               reward_id=reward.id, reward_type=reward.type, reward_name=reward.name,
               cost_points=reward.cost_points, program_version=program.version,
               idempotency_key=key, status=repository.ACTIVE, entry_id=spent.entry_id,
               took_stock=reward.stock is not None, created_at=now, actor=actor,
               fulfilment=kind.redeemed,
               **kind.produce(conn, program, reward, member_id, key=key, actor=actor,
                              now=now))
    row["id"] = repository.insert_redemption(conn, row)
    return rewards.row_view(row, lots=spent.lots)


def cancel(conn: Connection, program: Program, redemption_id: int, *, reason: str | None,
           actor: str, now: datetime) -> Redemption:
    """Give the points and the unit of stock back, and undo what it produced.

    Cancelling again returns the cancelled redemption. A used coupon cannot be
    cancelled (409 ``coupon_used``), nor cashback already spent (409
    ``cashback_spent``), a gift already sent (409 ``gift_sent``) or an experience
    attended (409 ``experience_attended``).
    """
    row = rewards.locked_redemption(conn, program, redemption_id)
    if row.status == repository.CANCELLED:
        return rewards.view(conn, row)
    kind = kind_of(row.reward_type)
    if (refusal := kind.cancel_refusal(row)) is not None:
        raise refusal
    why = reason or "cancelled"
    holding = rewards.lock_member(conn, program, row.member_id)
    kind.undo(conn, program, row, reason=why, actor=actor, now=now)
    entry_id = refunds.refund(conn, program, holding, row, reason=why, actor=actor, now=now)
    if row.took_stock:
        repository.return_unit(conn, program.id, row.reward_id, now)
    repository.mark_cancelled(conn, row.id, now=now, reason=why, refund_entry_id=entry_id)
    return rewards.view(conn, repository.redemption(conn, program.id, row.id))


def move_fulfilment(conn: Connection, program: Program, redemption_id: int,
                    state: str) -> Redemption:
    """Record that a redeemed gift was sent or delivered, or an experience attended.

    The state it already has returns it unchanged. 409 ``fulfilment_not_tracked``
    for another reward type or another type's state, ``redemption_cancelled``,
    ``fulfilment_backwards`` for a step back.
    """
    row = rewards.locked_redemption(conn, program, redemption_id)
    refusal = domain.step_refusal(kind_of(row.reward_type).steps,
                                  row.status == repository.ACTIVE, row.fulfilment, state)
    if refusal is not None:
        raise STEP_REFUSALS[refusal](
            f"redemption {row.id} ({row.reward_type}, {row.status}, {row.fulfilment}) "
            f"cannot move to {state}", redemption_id=row.id, fulfilment=row.fulfilment)
    if row.fulfilment != state:
        repository.set_fulfilment(conn, row.id, state)
        row = repository.redemption(conn, program.id, row.id)
    return rewards.view(conn, row)
