"""The households' answer to the ledger's pool directory (``patron.ledger.pools``).

The ledger does not read households' tables or the program document's
``households`` section: it asks this directory, registered once in
``patron.flows.subscribers``, which member sits in which household's pool, in
which role, and whether the program pools points at all.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection

from patron.households import domain, repository
from patron.ledger.pools import PoolSeat
from patron.program.service import Program
from patron.program.versions import versions


class HouseholdPools:
    """Seats from ``household_members`` and ``households``; pooling from the document."""

    def accounts(self, conn: Connection, program_id: int, member_ids: Collection[int], *,
                 lock: bool = False) -> tuple[dict[int, Any], dict[int, PoolSeat]]:
        rows = repository.accounts_with_households(conn, program_id, member_ids, lock=lock)
        return rows, _seats(rows)

    def pools_points(self, conn: Connection, program: Program) -> bool:
        """Whether the current program document pools households' points."""
        document = versions.compiled(conn, program, program.version).document
        return document.households.pooled_points


def _seats(rows: dict[int, Any]) -> dict[int, PoolSeat]:
    """The seats of the members whose account row names a household or holds a pool."""
    found: dict[int, PoolSeat] = {}
    for member_id, row in rows.items():
        if row.holds_household_id is not None:
            found[member_id] = PoolSeat(row.holds_household_id, row.id, None,
                                        may_spend=False, holder=True)
        elif row.household_id is not None:
            found[member_id] = PoolSeat(row.household_id, row.pool_account_id,
                                        row.household_role,
                                        may_spend=domain.may_spend(row.household_role))
    return found
