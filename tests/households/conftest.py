"""A shop with households: publish the household rules, make members and families."""

from __future__ import annotations

from typing import Any

import pytest

from patron.households import service
from patron.households.schemas import HouseholdCreate
from patron.ledger import repository as ledger_repository
from patron.ledger.service import adjust_points
from patron.program.service import get_program
from patron.program.versions import publish
from patron.program.document import ProgramDocument
from tests.flows.test_ingest import BASE, Shop

POOLED = {"pooled_points": True, "max_members": 4, "leaving_member_points": "leave_with_member"}


class FamilyShop(Shop):
    """``Shop`` (1 point per $1 on purchases) whose document also has ``households``."""

    def __init__(self, db, clock, households: dict[str, Any] | None = None, **settings):
        self.households = {**POOLED, **(households or {})}
        super().__init__(db, clock, [BASE], **settings)

    def publish(self, program, rules, **settings):
        from tests.flows.test_ingest import SETTINGS

        document = ProgramDocument.model_validate(
            {"name": "Shop", "settings": {**SETTINGS, **settings}, "earn_rules": rules,
             "households": self.households})
        self.db.transact(lambda conn: publish(conn, program, document, actor="test",
                                              now=self.clock.now()))
        return self.db.read(lambda conn: get_program(conn, program.id))

    def republish(self, **households: Any) -> None:
        self.households = {**self.households, **households}
        self.program = self.publish(self.program, [BASE])

    def credit(self, member_id: int, points: int) -> None:
        key = f"credit-{member_id}-{points}-{self.clock.now().isoformat()}"
        self.db.transact(lambda conn: adjust_points(conn, self.program, member_id,
                                                    points=points, reason="opening balance",
                                                    key=key, actor="test",
                                                    now=self.clock.now()))

    def household(self, owner: int, name: str = "The Smiths"):
        return self.db.transact(lambda conn: service.create_household(
            conn, self.program, HouseholdCreate(name=name, owner_member_id=owner),
            now=self.clock.now(), actor="test"))

    def join(self, household_id: int, member_id: int, role: str = "adult"):
        return self.db.transact(lambda conn: service.add_member(
            conn, self.program, household_id, member_id, role, now=self.clock.now(),
            actor="test"))

    def leave(self, household_id: int, member_id: int):
        return self.db.transact(lambda conn: service.remove_member(
            conn, self.program, household_id, member_id, now=self.clock.now(), actor="test"))

    def account(self, *, member_id: int | None = None, household_id: int | None = None):
        """An account row, checked exact: balances equal the sums of entries and lots."""
        def read(conn):
            if household_id is not None:
                row = service.repository.household_row(conn, self.program.id, household_id)
                account = ledger_repository.account_row(conn, row.account_id)
            else:
                account = ledger_repository.accounts_by_member(
                    conn, self.program.id, [member_id])[member_id]
            totals = ledger_repository.ledger_totals(conn, account.id)
            assert account.available == totals["available"] == totals["open_lots"]
            assert account.pending == totals["pending"] == totals["pending_lots"] >= 0
            return account
        return self.db.read(read)


@pytest.fixture
def shop(database, clock) -> FamilyShop:
    return FamilyShop(database, clock)
