"""A program whose document allows point transfers, and shortcuts to drive it."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import update

from patron.events.schemas import EventIn
from patron.flows.ingest import ingest
from patron.households import service as households
from patron.households.schemas import HouseholdCreate
from patron.ledger import repository as ledger_repository
from patron.ledger.service import adjust_points, balance
from patron.flows.enrolment import create_member
from patron.flows.statement import ledger_page
from patron.members.tables import members
from patron.program.service import Program, get_program
from patron.program.versions import publish
from patron.program.document import ProgramDocument
from patron.transfers import service
from patron.transfers.schemas import TransferCreate
from tests.conftest import make_program
from tests.factories import member_create

SETTINGS = {"currency": "USD", "timezone": "UTC", "pending_days": 0, "expiry": {"days": None}}
ENABLED = {"enabled": True}
EARN = [{"id": "base", "name": "1 point per $1", "on": "purchase",
         "points": {"per_currency_unit": "1"}}]
POOLED = {"pooled_points": True, "max_members": 4, "leaving_member_points": "stay"}
_keys = itertools.count(1)


class Club:
    """A program earning 1 point per $1 whose ``transfers`` section is ``transfers``."""

    def __init__(self, db, clock, transfers: dict[str, Any] | None = None, *,
                 settings: dict[str, Any] | None = None, program: Program | None = None,
                 households: dict[str, Any] | None = None) -> None:
        self.db, self.clock = db, clock
        self.settings = {**SETTINGS, **(settings or {})}
        self.program = program or make_program(db, clock, **self.settings)
        self.households = households or {}
        self.publish(ENABLED if transfers is None else transfers)

    def publish(self, transfers: dict[str, Any]) -> None:
        document = ProgramDocument.model_validate({
            "name": "Club", "settings": self.settings, "earn_rules": EARN,
            "households": self.households, "transfers": transfers})
        self.db.transact(lambda conn: publish(conn, self.program, document, actor="test",
                                              now=self.clock.now()))
        self.program = self.db.read(lambda conn: get_program(conn, self.program.id))

    # ------------------------------------------------------------------ members and points

    def member(self, points: int = 0) -> int:
        member_id = self.db.transact(lambda conn: create_member(
            conn, self.program, member_create(), self.clock.now())).id
        if points:
            self.give(member_id, points)
        return member_id

    def give(self, member_id: int, points: int) -> None:
        self.db.transact(lambda conn: adjust_points(
            conn, self.program, member_id, points=points, reason="opening balance",
            key=f"give-{next(_keys)}", actor="test", now=self.clock.now()))

    def set_status(self, member_id: int, status: str) -> None:
        self.db.transact(lambda conn: conn.execute(
            update(members).where(members.c.id == member_id).values(status=status)))

    def send_events(self, *events: dict[str, Any]):
        batch = [EventIn.model_validate(e) for e in events]
        return self.db.transact(lambda conn: ingest(conn, self.program, batch,
                                                    now=self.clock.now(), actor="test"))

    def purchase(self, member_id: int, total: int, order_id: str):
        [outcome] = self.send_events(self._event(member_id, "purchase", {
            "order_id": order_id, "currency": "USD", "total": total,
            "lines": [{"sku": "X", "category": "x", "quantity": 1, "amount": total}]}))
        return outcome

    def return_order(self, member_id: int, order_id: str):
        [outcome] = self.send_events(self._event(member_id, "return", {"order_id": order_id}))
        return outcome

    def _event(self, member_id: int, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"id": f"e-{self.program.id}-{next(_keys)}", "type": kind,
                "member": {"id": member_id}, "occurred_at": self.clock.now().isoformat(),
                "data": data}

    # ------------------------------------------------------------------ households

    def household(self, owner: int):
        return self.db.transact(lambda conn: households.create_household(
            conn, self.program, HouseholdCreate(name="The Smiths", owner_member_id=owner),
            now=self.clock.now(), actor="test"))

    def join(self, household_id: int, member_id: int, role: str = "adult") -> None:
        self.db.transact(lambda conn: households.add_member(
            conn, self.program, household_id, member_id, role, now=self.clock.now(),
            actor="test"))

    # ------------------------------------------------------------------ transfers

    def send(self, sender: int, receiver: int, points: int, key: str | None = None,
             message: str | None = None, attempts: int = 8):
        payload = TransferCreate(to_member_id=receiver, points=points,
                                 idempotency_key=key or f"t-{next(_keys)}", message=message)
        return self.db.transact(lambda conn: service.transfer(
            conn, self.program, sender, payload, actor="test", now=self.clock.now()),
            attempts=attempts)[0]

    def transfers(self, member_id: int, before: int | None = None, limit: int = 50):
        return self.db.read(lambda conn: service.member_transfers(
            conn, self.program, member_id, before, limit))

    # ------------------------------------------------------------------ reading back

    def balance(self, member_id: int):
        return self.db.read(lambda conn: balance(conn, self.program, member_id))

    def points(self, member_id: int) -> int:
        return self.balance(member_id).available

    def ledger(self, member_id: int):
        return self.db.read(lambda conn: ledger_page(conn, self.program, member_id, None,
                                                     50)).items

    def exact(self, *, member_id: int | None = None, account_id: int | None = None) -> Any:
        """The account row, checked: balances equal the sums of entries and of lots."""
        def check(conn):
            if account_id is None:
                account = ledger_repository.accounts_by_member(
                    conn, self.program.id, [member_id])[member_id]
            else:
                account = ledger_repository.account_row(conn, account_id)
            totals = ledger_repository.ledger_totals(conn, account.id)
            assert account.available == totals["available"] == totals["open_lots"]
            assert account.pending == totals["pending"] == totals["pending_lots"] >= 0
            return account
        return self.db.read(check)
