"""Returns: which points a return takes back, per line and per rule.

A return names the original order and the lines (and quantities) going back.
Points follow the goods: a line's points are clawed back in proportion to the
quantity returned, rule by rule, so a member keeps exactly what the rest of the
order earned. Points that did not depend on lines go back only when the order no
longer qualifies for them: a spend-threshold bonus when the remaining order falls
below its ``min_spend``, any other order-level bonus when the whole order is back.

The plan is computed from what the member still *holds* before and after this
return (a pure function of the cumulative returned quantities), so partial
returns add up to the full amount and nothing is ever clawed back twice. Which
lots lose the points (pending first) and whether the balance may go negative is
the ledger's business.

A refund may also name only money (``amount``, minor units), as a shop does when it
does not say which goods the money was for: the order is then taken back pro rata to
the money refunded, every line alike (``plan_refund``). Refunds add up: what the
member holds is a function of the order's cumulative refunded money, capped at its
total, so two refunds of half take back exactly what one full refund would. An order
is returned either by lines or by money, not both: the two cannot be added up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

from patron.errors import Conflict, InvalidInput, NotFound
from patron.program.context import Purchase
from patron.program.money import format_money


class ReturnOfUnknownOrder(NotFound):
    code = "return_of_unknown_order"
    title = "Returned order is unknown"


class UnknownReturnLine(InvalidInput):
    code = "unknown_return_line"
    title = "Returned line is not in the order"


class ReturnExceedsPurchase(Conflict):
    code = "return_exceeds_purchase"
    title = "More returned than was bought"


class LineAlreadyReturned(Conflict):
    code = "line_already_returned"
    title = "Line already returned"


class RefundExceedsPurchase(Conflict):
    code = "refund_exceeds_purchase"
    title = "More refunded than was paid"


class OrderReturnedByLines(Conflict):
    code = "order_returned_by_lines"
    title = "Order already returned by lines"


class OrderRefundedByAmount(Conflict):
    code = "order_refunded_by_amount"
    title = "Order already refunded by amount"


class AwardLike(Protocol):
    rule_id: str
    rule_name: str
    points: int
    pending: bool
    line_index: int | None
    min_spend: int | None


@dataclass(frozen=True, slots=True)
class ReturnLine:
    line_index: int
    quantity: int


@dataclass(frozen=True, slots=True)
class Clawback:
    rule_id: str
    line_index: int | None
    points: int
    pending: bool
    reason: str


def return_lines(data: Mapping[str, Any], order: Purchase,
                 already_returned: Mapping[int, int]) -> list[ReturnLine]:
    """The lines a ``return`` event names, by ``line_index`` or ``sku``.

    A line without ``quantity`` returns all that is left of it; a return without
    ``lines`` returns the whole rest of the order.
    """
    raw = data.get("lines")
    if not raw:
        left = [ReturnLine(line.index, line.quantity - already_returned.get(line.index, 0))
                for line in order.lines]
        left = [r for r in left if r.quantity > 0]
        if not left:
            raise LineAlreadyReturned(f"order {order.order_id} was already returned in full")
        return left
    return [_return_line(item, order, already_returned, n) for n, item in enumerate(raw)]


def _return_line(item: Any, order: Purchase, already: Mapping[int, int], n: int) -> ReturnLine:
    where = f"data.lines[{n}]"
    if not isinstance(item, Mapping):
        raise UnknownReturnLine("a returned line is an object", field=where)
    index = item.get("line_index")
    if index is None and item.get("sku"):
        matches = [line.index for line in order.lines if line.sku == item["sku"]]
        open_matches = [i for i in matches if already.get(i, 0) < order.lines[i].quantity]
        index = (open_matches or matches or [None])[0]
    if type(index) is not int or not 0 <= index < len(order.lines):
        raise UnknownReturnLine(f"order {order.order_id} has no such line", field=where)
    line = order.lines[index]
    if already.get(index, 0) >= line.quantity:
        raise LineAlreadyReturned(f"line {index} ({line.sku or 'item'}) of order "
                                  f"{order.order_id} was already returned", line_index=index)
    quantity = item.get("quantity", line.quantity - already.get(index, 0))
    if type(quantity) is not int or quantity < 1:
        raise UnknownReturnLine("quantity must be a whole number >= 1", field=f"{where}.quantity")
    return ReturnLine(index, quantity)


def plan_clawback(awards: Sequence[AwardLike], order: Purchase,
                  returned: Sequence[ReturnLine], already_returned: Mapping[int, int]
                  ) -> list[Clawback]:
    """Points to take back for this return, one entry per award piece affected."""
    before = {line.index: already_returned.get(line.index, 0) for line in order.lines}
    after = _after(order, returned, before)
    spend_before, spend_after = _remaining_spend(order, before), _remaining_spend(order, after)
    plan = []
    for award in awards:
        points = _held(award, order, before, spend_before) - _held(award, order, after,
                                                                   spend_after)
        if points > 0:
            reason = _reason(award, order, before, after, spend_after)
            plan.append(Clawback(award.rule_id, award.line_index, points, award.pending, reason))
    return plan


def _after(order: Purchase, returned: Sequence[ReturnLine], before: dict[int, int]
           ) -> dict[int, int]:
    after = dict(before)
    for item in returned:
        if not 0 <= item.line_index < len(order.lines):
            raise UnknownReturnLine(f"order {order.order_id} has no line {item.line_index}")
        line = order.lines[item.line_index]
        if before[line.index] >= line.quantity:
            raise LineAlreadyReturned(f"line {line.index} ({line.sku}) of order "
                                      f"{order.order_id} was already returned",
                                      line_index=line.index)
        after[line.index] += item.quantity
        if after[line.index] > line.quantity:
            raise ReturnExceedsPurchase(
                f"returning {after[line.index] - before[line.index]} × {line.sku} but only "
                f"{line.quantity - before[line.index]} left on order {order.order_id}",
                line_index=line.index)
    return after


def _remaining_spend(order: Purchase, returned: Mapping[int, int]) -> Fraction:
    """What the member still paid for: each line's share of the total, pro rata."""
    gone = sum((Fraction(line.net_amount * returned[line.index], line.quantity)
                for line in order.lines), Fraction(0))
    return order.total - gone


def _held(award: AwardLike, order: Purchase, returned: Mapping[int, int],
          spend: Fraction) -> int:
    """Points of this award the member keeps after ``returned`` quantities went back."""
    if award.min_spend is not None and spend < award.min_spend:
        return 0
    if award.line_index is None:
        fully_returned = all(returned[line.index] >= line.quantity for line in order.lines)
        return 0 if fully_returned else award.points
    line = order.lines[award.line_index]
    return award.points - award.points * returned[line.index] // line.quantity


def _reason(award: AwardLike, order: Purchase, before: Mapping[int, int],
            after: Mapping[int, int], spend_after: Fraction) -> str:
    if award.min_spend is not None and spend_after < award.min_spend:
        threshold = format_money(award.min_spend, order.currency)
        return f"{award.rule_name}: order now below {threshold}"
    if award.line_index is None:
        return f"{award.rule_name}: order returned"
    line = order.lines[award.line_index]
    count = after[line.index] - before[line.index]
    return f"{award.rule_name}: returned {count} × {line.sku or 'item'}"


def refund_amount(order: Purchase, refunded_before: int, amount: int | None) -> int:
    """The money this refund takes back: ``amount``, or (None) all that is left of the
    order's total; refused when the order was refunded in full or ``amount`` is more
    than is left."""
    left = order.total - refunded_before
    if left <= 0:
        raise LineAlreadyReturned(f"order {order.order_id} was already refunded in full")
    if amount is None:
        return left
    if amount > left:
        raise RefundExceedsPurchase(
            f"refunding {format_money(amount, order.currency)} but only "
            f"{format_money(left, order.currency)} of order {order.order_id} is left to "
            "refund", field="data.amount")
    return amount


def plan_refund(awards: Sequence[AwardLike], order: Purchase, refunded_before: int,
                refunded_after: int) -> list[Clawback]:
    """Points to take back for a refund of money: each award keeps what the member
    still paid for (line awards pro rata to the money refunded, a spend threshold while
    the rest stays above it, other order-level awards until the order is refunded in
    full)."""
    plan = []
    for award in awards:
        points = (_held_paid(award, order, refunded_before)
                  - _held_paid(award, order, refunded_after))
        if points > 0:
            plan.append(Clawback(award.rule_id, award.line_index, points, award.pending,
                                 _refund_reason(award, order, refunded_before,
                                                refunded_after)))
    return plan


def _held_paid(award: AwardLike, order: Purchase, refunded: int) -> int:
    """Points of this award the member keeps once ``refunded`` of the total went back."""
    refunded = min(refunded, order.total)
    if award.min_spend is not None and order.total - refunded < award.min_spend:
        return 0
    if refunded >= order.total:
        return 0
    if award.line_index is None:
        return award.points
    return award.points - award.points * refunded // order.total


def _refund_reason(award: AwardLike, order: Purchase, before: int, after: int) -> str:
    if award.min_spend is not None and order.total - after < award.min_spend:
        threshold = format_money(award.min_spend, order.currency)
        return f"{award.rule_name}: order now below {threshold}"
    if after >= order.total:
        return f"{award.rule_name}: order refunded"
    refunded = format_money(after - before, order.currency)
    return (f"{award.rule_name}: refunded {refunded} of "
            f"{format_money(order.total, order.currency)}")


def clawback_reason(reason: str, taken: int, *, forgiven: int = 0, owed: int = 0,
                    amount: Callable[[int], str] = str,
                    paid_off_by: str = "your next points") -> str:
    """What a member reads of one clawback: what actually left their balance (``taken``,
    owed included), then what was already spent and is forgiven, or owed.

    The figure is what moved, never what the return asked for: a member who spent
    the points reads "−10 (90 already spent, forgiven)", and a clawback that took
    nothing says so rather than reading as a deduction.
    """
    text = f"{reason}: −{amount(taken)}" if taken else f"{reason}: nothing taken back"
    if forgiven:
        return f"{text} ({amount(forgiven)} already spent, forgiven)"
    if owed:
        return f"{text} ({amount(owed)} owed, paid off by {paid_off_by})"
    return text
