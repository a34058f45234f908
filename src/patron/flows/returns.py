"""Returns of recorded orders: points taken back per line and per rule.

This is the handler of the ``return`` event type (see ``patron.flows.event_types``):
a return earns nothing and is recorded alone once the batch's purchases are
written, since it may return one of them.

``plan_return`` checks the return against the order (which it locks) and asks
``patron.program.returns`` what each award loses; ``write_return`` records the
returned lines and takes the points back from the lots that hold them, pending
points first, under the program's negative-balance setting.

A return that names money alone (``amount``) takes the order back pro rata to the
money refunded (``patron.program.returns.plan_refund``), and is recorded in
``order_refunds``; a return naming nothing, on an order refunded that way before,
refunds what is left of its total.

A gift an earn rule gave with the order is seen as an order-level award of 1
(with its rule's ``min_spend``), so the same plan decides when the order no
longer earns it; ``return_gifts`` then cancels the grant (see
``patron.rewards.gifts``).

A flow for the same reason as ``patron.flows.earning``: a return moves points,
cashback, gifts and tier qualification together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any, NamedTuple

from sqlalchemy import Connection

from patron.earning import repository
from patron.errors import Conflict, InvalidInput
from patron.events import repository as events_repository
from patron.events.schemas import Award, EventIn, EventOutcome, GiftOutcome, Note, ReturnData
from patron.flows.handlers import Handler, Pending, announce, event_row, outcome
from patron.flows.returns_engagement import return_engagement
from patron.ledger.service import EntryMeta, claw_back
from patron.program.service import Program
from patron.program.versions import versions
from patron.rewards import gifts
from patron.rewards import repository as rewards_repository
from patron.program.context import Line, Purchase
from patron.program.money import apportion, format_money
from patron.program.returns import (Clawback, OrderRefundedByAmount, OrderReturnedByLines,
                                   ReturnLine, ReturnOfUnknownOrder, clawback_reason,
                                   plan_clawback, plan_refund, refund_amount, return_lines)
from patron.tiers.service import TierTracker
from patron.wallet import service as wallet
from patron.wallet.service import WalletMove


class ReturnMemberMismatch(Conflict):
    code = "return_member_mismatch"
    title = "Order belongs to another member"


class ReturnBeforePurchase(InvalidInput):
    code = "return_before_purchase"
    title = "Return dated before the purchase"


class CashbackPiece(NamedTuple):
    """A cashback award seen as a return sees points awards (``points`` is money)."""

    rule_id: str
    rule_name: str
    points: int
    pending: bool
    line_index: int | None
    min_spend: int | None
    program_version: int
    wallet_entry_id: int


class GiftPiece(NamedTuple):
    """A gift grant seen as a return sees awards: one unit, for the whole order."""

    rule_id: str
    rule_name: str
    points: int
    pending: bool
    line_index: int | None
    min_spend: int | None
    grant: Any


@dataclass
class PlannedReturn:
    member_id: int
    order: Any
    purchase: Purchase
    already: dict[int, int]
    returned: list[ReturnLine]
    clawbacks: list[tuple[Clawback, Any]]
    """Each piece to take back, with the award row it comes from."""
    cashback: list[tuple[Clawback, CashbackPiece]]
    gifts: list[tuple[Clawback, GiftPiece]] = field(default_factory=list)
    """Gift grants the order no longer earns."""
    refunded: tuple[int, int] | None = None
    """A refund of money alone: the order's refunded money before and after it."""


class Returns(Handler):
    """Takes back what the returned lines earned; recorded after the batch's purchases."""

    stage = 1

    def process(self, conn: Connection, program: Program, item: Pending, now: datetime,
                actor: str) -> EventOutcome:
        planned = plan_return(conn, program, item.member_id, item.event, item.data)
        [item.event_pk] = events_repository.insert_events(conn, [event_row(
            program, item, EventOutcome(id=item.event.id, status="processed"), now)])
        item.awards = write_return(conn, program, planned, item.event, item.event_pk,
                                   actor=actor, now=now)
        item.gifts, item.notes = return_gifts(conn, program, planned, now)
        taken, item.progress = return_engagement(
            conn, program, planned.member_id, planned.order, planned.purchase, planned.already,
            returned_after(planned), item.event, item.event_pk, actor=actor, now=now)
        item.awards += taken
        answered = outcome(item)
        events_repository.set_outcome(conn, item.event_pk,
                                      answered.model_dump(mode="json", exclude={"status"}))
        announce(conn, program, [item])
        return answered


RETURNS = Returns()


def purchase_of(order: Any, lines: list[Any]) -> Purchase:
    """The order as the engine saw it: net amounts shared as at purchase time."""
    if not lines:
        return Purchase(order.order_id, order.currency, order.total,
                        (Line(0, "", "", 1, order.total, order.total),))
    shares = apportion(order.total, [line.amount for line in lines])
    return Purchase(order.order_id, order.currency, order.total, tuple(
        Line(i, line.sku, line.category or "", line.quantity, line.amount, shares[i],
             department=line.department or "", subcategory=line.subcategory or "",
             brand=line.brand or "", discount=line.discount or 0)
        for i, line in enumerate(lines)))


def plan_return(conn: Connection, program: Program, member_id: int, event: EventIn,
                data: ReturnData) -> PlannedReturn:
    order = repository.order_for_return(conn, program.id, data.order_id)
    if order is None:
        raise ReturnOfUnknownOrder(f"no order {data.order_id} was recorded in this program",
                                   order_id=data.order_id)
    if order.member_id != member_id:
        raise ReturnMemberMismatch(f"order {data.order_id} was made by another member",
                                   order_id=data.order_id)
    if event.occurred_at < order.occurred_at:
        raise ReturnBeforePurchase(f"the return is dated before order {data.order_id}",
                                   field="occurred_at")
    purchase = purchase_of(order, repository.lines_of(conn, order.id))
    already = repository.returned_quantities(conn, order.id)
    refunded = repository.refunded_amount(conn, order.id)
    refund: tuple[int, int] | None = None
    if data.amount is not None or (refunded and not data.lines):
        if already:
            raise OrderReturnedByLines(f"order {data.order_id} was returned by lines before: "
                                       "return its lines", order_id=data.order_id)
        after = refunded + refund_amount(purchase, refunded, data.amount)
        refund = (refunded, after)

        def plan(pieces: list[Any]) -> list[Clawback]:
            return plan_refund(pieces, purchase, refunded, after)
        returned: list[ReturnLine] = []
    else:
        if refunded:
            raise OrderRefundedByAmount(f"order {data.order_id} was refunded by amount "
                                        "before: refund an amount", order_id=data.order_id)
        returned = return_lines(data.model_dump(exclude_none=True), purchase, already)

        def plan(pieces: list[Any]) -> list[Clawback]:
            return plan_clawback(pieces, purchase, returned, already)
    pieces = [(clawback, row) for row in repository.awards_of_event(conn, order.event_id)
              for clawback in plan([row])]
    cashback = [CashbackPiece(r.rule_id, r.rule_name, r.amount, False, r.line_index,
                              r.min_spend, r.program_version, r.wallet_entry_id)
                for r in repository.cashback_of_event(conn, order.event_id)]
    money = [(clawback, piece) for piece in cashback for clawback in plan([piece])]
    given = [(clawback, piece) for piece in _gift_pieces(conn, program, order.event_id)
             for clawback in plan([piece])]
    if not pieces and not money:  # still checks the lines: nothing to take back is no licence
        plan([])
    return PlannedReturn(member_id, order, purchase, already, returned, pieces, money, given,
                         refund)


def _gift_pieces(conn: Connection, program: Program, event_pk: int) -> list[GiftPiece]:
    """The order's standing gift grants, each with the ``min_spend`` of the rule (in the
    version) that gave it."""
    pieces = []
    for row in rewards_repository.granted_gifts_of_event(conn, event_pk):
        document = versions.compiled(conn, program, row.program_version).document
        try:
            min_spend = document.rule(row.rule_id).min_spend
        except KeyError:
            min_spend = None
        pieces.append(GiftPiece(row.rule_id, row.rule_name, 1, False, None, min_spend, row))
    return pieces


def return_gifts(conn: Connection, program: Program, planned: PlannedReturn,
                 now: datetime) -> tuple[list[GiftOutcome], list[Note]]:
    """Cancel the gifts the returned order no longer earns; what the outcome says of them."""
    return gifts.cancel_for_return(
        conn, program, [(piece.grant, clawback.reason) for clawback, piece in planned.gifts],
        now)


def write_return(conn: Connection, program: Program, planned: PlannedReturn, event: EventIn,
                 event_pk: int, *, actor: str, now: datetime) -> list[Award]:
    """Record the returned lines (or the money refunded) and claw the points back; one
    entry per rule and lot."""
    if planned.refunded is not None:
        before, after = planned.refunded
        repository.insert_refund(conn, dict(program_id=program.id, order_pk=planned.order.id,
                                            event_id=event_pk, amount=after - before,
                                            recorded_at=now))
    repository.insert_returns(conn, [
        dict(program_id=program.id, order_pk=planned.order.id, event_id=event_pk,
             line_index=line.line_index, quantity=line.quantity, recorded_at=now)
        for line in planned.returned])
    groups: dict[tuple[str, int], list[tuple[Clawback, Any]]] = {}
    for clawback, row in planned.clawbacks:
        groups.setdefault((clawback.rule_id, row.lot_id), []).append((clawback, row))
    outcome = []
    for (rule_id, lot_id), pieces in groups.items():
        points = sum(c.points for c, _ in pieces)
        what = "; ".join(dict.fromkeys(c.reason for c, _ in pieces))
        version = pieces[0][1].program_version
        meta = EntryMeta(event.occurred_at, f"event:{event.id}:{rule_id}:{lot_id}", what,
                         actor, event_pk=event_pk, order_id=planned.order.order_id,
                         details={"rule": rule_id, "program_version": version,
                                  "returned_from_entry": pieces[0][1].entry_id})

        def explain(taken: int, forgiven: int, owed: int, what: str = what) -> str:
            return clawback_reason(what, taken, forgiven=forgiven, owed=owed)
        done = claw_back(conn, program, planned.member_id, points=points, own_lot_id=lot_id,
                         meta=meta, now=now, explain=explain)
        moved = done.taken_pending + done.taken_available + done.debt
        status = "pending" if done.taken_pending == moved and moved else "posted"
        outcome.append(Award(member_id=planned.member_id, kind="reverse", points=-moved,
                             forgiven=done.forgiven or None, status=status,
                             reason=explain(moved, done.forgiven, done.debt), rule_id=rule_id,
                             program_version=version))
    outcome += _return_cashback(conn, program, planned, event, event_pk, actor, now)
    _disqualify(conn, program, planned, event_pk, now)
    return outcome


def _return_cashback(conn: Connection, program: Program, planned: PlannedReturn,
                     event: EventIn, event_pk: int, actor: str, now: datetime) -> list[Award]:
    by_rule: dict[str, list[tuple[Clawback, CashbackPiece]]] = {}
    for clawback, piece in planned.cashback:
        by_rule.setdefault(clawback.rule_id, []).append((clawback, piece))
    outcome = []
    currency = program.settings.currency
    for rule_id, pieces in by_rule.items():
        amount = sum(c.points for c, _ in pieces)
        what = "; ".join(dict.fromkeys(c.reason for c, _ in pieces))
        version = pieces[0][1].program_version

        def explain(taken: int, forgiven: int, owed: int, what: str = what) -> str:
            return clawback_reason(what, taken, forgiven=forgiven, owed=owed,
                                   amount=lambda cents: format_money(cents, currency),
                                   paid_off_by="your next cashback")
        done = wallet.claw_back(conn, program, WalletMove(
            planned.member_id, amount, "reverse", f"event:{event.id}:{rule_id}:cashback",
            what, event.occurred_at, actor, event_pk, planned.order.order_id,
            {"rule": rule_id, "program_version": version}), now,
            credit_entry_id=pieces[0][1].wallet_entry_id, explain=explain)
        status = "pending" if done.from_held == done.taken and done.taken else "posted"
        outcome.append(Award(member_id=planned.member_id, kind="reverse", points=0,
                             amount=-done.taken, forgiven=done.forgiven or None, status=status,
                             reason=explain(done.taken, done.forgiven, done.owed),
                             rule_id=rule_id, program_version=version))
    return outcome


def returned_after(planned: PlannedReturn) -> dict[int, int]:
    """Quantities of each line returned, this return included."""
    after = dict(planned.already)
    for line in planned.returned:
        after[line.line_index] = after.get(line.line_index, 0) + line.quantity
    return after


def _spend_returned(planned: PlannedReturn) -> dict[str, int]:
    """The spend (and the order, once nothing of it is left) the return takes out."""
    purchase, already = planned.purchase, planned.already
    if planned.refunded is not None:
        before, after = planned.refunded
        refunded = {"spend": before - after}
        return {**refunded, "orders": -1} if after >= purchase.total else refunded
    after_lines = returned_after(planned)
    spend = sum(Fraction(line.net_amount * (after_lines.get(line.index, 0)
                                            - already.get(line.index, 0)), line.quantity)
                for line in purchase.lines)
    amounts = {"spend": -int(spend)}
    if all(after_lines.get(line.index, 0) >= line.quantity for line in purchase.lines):
        amounts["orders"] = -1
    return amounts


def _disqualify(conn: Connection, program: Program, planned: PlannedReturn, event_pk: int,
                now: datetime) -> None:
    """Take the returned goods out of tier qualification, dated when they counted."""
    current = versions.version_at(conn, program, now)[1]
    tiers = current.document.tiers
    if tiers is None:
        return
    amounts = _spend_returned(planned)
    tier_points = 0
    for clawback, row in planned.clawbacks:
        document = versions.compiled(conn, program, row.program_version).document
        try:
            counted = document.rule(clawback.rule_id).tier_points  # a campaign's rule too
        except KeyError:
            counted = False
        if counted:
            tier_points += clawback.points
    if tier_points:
        amounts["tier_points"] = -tier_points
    order = planned.order
    tracker = TierTracker(conn, program, tiers, current.zone, {planned.member_id},
                          order.occurred_at, now)
    tracker.add(planned.member_id, order.occurred_at, amounts,
                f"return of order {order.order_id}", None)
    tracker.write({None: event_pk}, now)
