"""The kinds of award an earn rule gives, and how each one is held and written.

An earn rule gives points (held in a lot on the member's ledger), cashback
(money for the member's wallet) or a gift (a unit of a catalog reward). The
engine leaves each as a rule total of that ``kind``; ``BatchEarning`` asks the
kind's writer what the event's outcome says of a total as it is evaluated
(``hold``), and hands it to that writer when the batch is written. Each writer
collects its batch's moves and writes them in one go, then the rows that tie
every piece (a purchase line's share) to what holds it, which is what a return
takes back from.

Adding a kind is one writer class here and its entry in ``KINDS``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.earning import repository
from patron.events.schemas import Award, EventIn, GiftOutcome, Note, Progress
from patron.ledger import domain as ledger_domain
from patron.ledger.domain import Lot
from patron.ledger.holdings import Holding
from patron.ledger.service import Earn, EntryMeta, earn_many
from patron.program import engine
from patron.program.compiled import CompiledProgram
from patron.program.engine import Evaluation, RuleTotal
from patron.program.service import Program
from patron.rewards import gifts
from patron.wallet import service as wallet
from patron.wallet.service import WalletMove


@dataclass
class Earned:
    """One event's evaluation, and what writing it produced."""

    member_id: int
    version: int
    program: CompiledProgram
    evaluation: Evaluation
    lots: list[Lot | None] = field(default_factory=list)
    """The new lot of each rule total, in the order of ``evaluation.totals`` (None: the
    total is not points)."""
    outcome: list[Award] = field(default_factory=list)
    gifts: list[GiftOutcome] = field(default_factory=list)
    progress: list[Progress] = field(default_factory=list)
    """Badges, challenges and streaks the event moved (see ``earning.STEPS``)."""
    notes: list[Note] = field(default_factory=list)
    """Notes of the earning steps, beside the engine's."""

    @property
    def order_id(self) -> str | None:
        purchase = self.evaluation.purchase
        return purchase.order_id if purchase else None

    def details(self, total: RuleTotal) -> dict[str, Any]:
        """What a ledger or wallet entry records of the rule that gave it."""
        details: dict[str, Any] = {"rule": total.rule_id, "program_version": self.version}
        if total.capped_by:
            details["capped_by"] = total.capped_by
        return details


class AwardWriter:
    """Holds and writes the rule totals of one kind, for one batch."""

    def __init__(self, conn: Connection, program: Program, now: datetime) -> None:
        self.conn, self.program, self.now = conn, program, now
        self.rows: list[dict[str, Any]] = []
        self.holdings: Mapping[int, Holding] | None = None
        """Where the batch's members' points are held, when ingest locked and read it."""

    @staticmethod
    def hold(earned: Earned, total: RuleTotal, occurred_at: datetime) -> Lot | None:
        """As the event is evaluated: add what its outcome says of ``total``; returns the
        lot that will hold it, if it is points."""
        raise NotImplementedError

    def add(self, earned: Earned, total: RuleTotal, lot: Lot | None, event: EventIn,
            event_pk: int, actor: str) -> None:
        """Take one rule total of a recorded event into the batch's moves."""

    def flush(self) -> None:
        """Write the batch's moves."""

    def piece(self, earned: Earned, event_pk: int, event: EventIn,
              award: engine.Award) -> None:
        """Take one piece of a written total into the rows a return reads."""

    def insert(self) -> None:
        """Write those rows."""


class Points(AwardWriter):
    """One ledger earn and one lot per rule total, so the member's ledger reads rule by
    rule; an ``awards`` row per piece names the entry and lot that hold it."""

    def __init__(self, conn: Connection, program: Program, now: datetime) -> None:
        super().__init__(conn, program, now)
        self.earns: list[Earn] = []
        self.owners: list[tuple[Earned, RuleTotal]] = []
        self.held: dict[tuple[int, str], dict[str, Any]] = {}

    @staticmethod
    def hold(earned: Earned, total: RuleTotal, occurred_at: datetime) -> Lot:
        settings = earned.program.settings
        lot = ledger_domain.new_lot(
            0, total.points, occurred_at=occurred_at, policy=settings.expiry_policy,
            pending_days=settings.pending_days if total.pending else None)
        earned.outcome.append(Award(
            member_id=earned.member_id, kind="earn", points=total.points,
            status="pending" if lot.state == ledger_domain.LotState.PENDING else "posted",
            available_at=lot.available_at, expires_at=lot.expires_at, reason=total.explanation,
            rule_id=total.rule_id, program_version=earned.version))
        return lot

    def add(self, earned: Earned, total: RuleTotal, lot: Lot | None, event: EventIn,
            event_pk: int, actor: str) -> None:
        meta = EntryMeta(event.occurred_at, f"event:{event.id}:{total.rule_id}",
                         total.explanation, actor, event_pk=event_pk, order_id=earned.order_id,
                         details=earned.details(total))
        self.earns.append(Earn(earned.member_id, total.points, total.pending, meta,
                               earned.program.settings, lot))
        self.owners.append((earned, total))

    def flush(self) -> None:
        written = (earn_many(self.conn, self.program, self.earns, self.now, held=self.holdings)
                   if self.earns else [])
        self.held = {(id(earned), total.rule_id): done
                     for (earned, total), done in zip(self.owners, written)}

    def piece(self, earned: Earned, event_pk: int, event: EventIn,
              award: engine.Award) -> None:
        done = self.held[(id(earned), award.rule_id)]
        self.rows.append(dict(
            program_id=self.program.id, member_id=earned.member_id, event_id=event_pk,
            entry_id=done["entry_id"], lot_id=done["lot_id"], program_version=earned.version,
            rule_id=award.rule_id, rule_name=award.rule_name, kind=award.kind,
            line_index=award.line_index, min_spend=award.min_spend, points=award.points,
            pending=award.pending, explanation=award.explanation,
            occurred_at=event.occurred_at))

    def insert(self) -> None:
        repository.insert_awards(self.conn, self.rows)


class Cashback(AwardWriter):
    """Money credited to the member's wallet, held through the return window when its
    rule is pending; a ``cashback_awards`` row per piece names the wallet entry."""

    def __init__(self, conn: Connection, program: Program, now: datetime) -> None:
        super().__init__(conn, program, now)
        self.credits: list[WalletMove] = []
        self.owners: list[tuple[Earned, RuleTotal]] = []
        self.credited: dict[tuple[int, str], int] = {}

    @staticmethod
    def hold(earned: Earned, total: RuleTotal, occurred_at: datetime) -> None:
        held_until = cashback_held_until(total, earned.program.settings, occurred_at)
        earned.outcome.append(Award(
            member_id=earned.member_id, kind="cashback", points=0, amount=total.points,
            status="pending" if held_until else "posted", available_at=held_until,
            reason=total.explanation, rule_id=total.rule_id, program_version=earned.version))
        return None

    def add(self, earned: Earned, total: RuleTotal, lot: Lot | None, event: EventIn,
            event_pk: int, actor: str) -> None:
        self.credits.append(WalletMove(
            earned.member_id, total.points, "cashback", f"event:{event.id}:{total.rule_id}",
            total.explanation, event.occurred_at, actor, event_pk, earned.order_id,
            earned.details(total),
            available_at=cashback_held_until(total, earned.program.settings,
                                             event.occurred_at)))
        self.owners.append((earned, total))

    def flush(self) -> None:
        self.credited = dict(zip(
            ((id(earned), total.rule_id) for earned, total in self.owners),
            wallet.credit_many(self.conn, self.program, self.credits, self.now)))

    def piece(self, earned: Earned, event_pk: int, event: EventIn,
              award: engine.Award) -> None:
        self.rows.append(dict(
            program_id=self.program.id, member_id=earned.member_id, event_id=event_pk,
            wallet_entry_id=self.credited[(id(earned), award.rule_id)],
            program_version=earned.version, rule_id=award.rule_id, rule_name=award.rule_name,
            line_index=award.line_index, min_spend=award.min_spend, amount=award.points))

    def insert(self) -> None:
        repository.insert_cashback_awards(self.conn, self.rows)


class Gifts(AwardWriter):
    """A unit of a catalog reward, already taken from stock as the event was evaluated;
    a ``gift_grants`` row records it for fulfilment (and for a return to cancel)."""

    @staticmethod
    def hold(earned: Earned, total: RuleTotal, occurred_at: datetime) -> None:
        earned.gifts += gifts.granted(earned.version, [total],
                                      gifts.reward_names(earned.program.document.rewards))
        return None

    def add(self, earned: Earned, total: RuleTotal, lot: Lot | None, event: EventIn,
            event_pk: int, actor: str) -> None:
        self.rows += gifts.grant_rows(
            self.program, earned.member_id, event_pk, earned.version, [total],
            gifts.reward_names(earned.program.document.rewards), self.now)

    def insert(self) -> None:
        gifts.record(self.conn, self.rows)


WRITERS: tuple[type[AwardWriter], ...] = (Points, Cashback, Gifts)
"""Every writer, in the order a batch writes them."""

KINDS: dict[str, type[AwardWriter]] = {
    "earn": Points,
    "multiplier": Points,
    "cashback": Cashback,
    "gift": Gifts,
}
"""The writer of each kind a rule total or a piece of one may have (a multiplier's
pieces are points)."""


class BatchWriters:
    """One writer of each kind for one batch."""

    def __init__(self, conn: Connection, program: Program, now: datetime, *,
                 held: Mapping[int, Holding] | None = None) -> None:
        self.each = [writer(conn, program, now) for writer in WRITERS]
        for each in self.each:
            each.holdings = held
        made = dict(zip(WRITERS, self.each))
        self.by_kind = {kind: made[writer] for kind, writer in KINDS.items()}

    def __getitem__(self, kind: str) -> AwardWriter:
        return self.by_kind[kind]

    def __iter__(self) -> Iterator[AwardWriter]:
        return iter(self.each)


def cashback_held_until(total: RuleTotal, settings: Any, occurred_at: datetime
                        ) -> datetime | None:
    """When a rule's cashback becomes spendable: a pending rule's (a purchase's, by
    default) waits out the return window as its points would; None is at once."""
    if not (total.pending and settings.pending_days):
        return None
    return ledger_domain.pending_until(occurred_at, settings.pending_days)
