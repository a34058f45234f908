"""The rows a merge hands to the survivor that are not ledger: re-pointed, and listed.

Identities, orders (their lines hang on the order), events, awards, cashback
awards, coupons, referrals, referral codes, a household seat, the tier history,
campaign assignments, tags, and badges, challenge and streak progress and their
rewards change hands by re-pointing their member column (a campaign the survivor was
already assigned in keeps the survivor's group, and a tag, badge level or challenge
goal the survivor already has stays the survivor's: the merged member's row stays put). Each re-pointed row's
id is recorded in ``merges.moved`` under the name of its ``Repoint`` here, so an
undo puts back exactly those rows and no others (rows the survivor gained after
the merge stay with the survivor).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (Column, ColumnElement, Connection, Table, bindparam, exists, select, true,
                        update)

from patron.campaigns.tables import campaign_members
from patron.coupons.tables import coupons
from patron.db.engine import chunks, one_of
from patron.earning.tables import awards
from patron.engagement.tables import (engagement_awards, engagement_contributions,
                                      member_engagement)
from patron.events.tables import events, orders
from patron.households.tables import household_member_periods, household_members
from patron.members.tables import identities
from patron.referrals.tables import referral_codes, referrals
from patron.segments.tables import member_tags
from patron.tiers.tables import qualification_entries, tier_changes
from patron.wallet.tables import cashback_awards


@dataclass(frozen=True)
class Repoint:
    """Rows of ``table`` whose ``column`` names the merged member go to the survivor."""

    name: str
    table: Table
    column: str
    only_if_survivor_has_none: bool = False
    """For one-per-member rows (a referral code, being someone's referee, a seat): moved
    only when the survivor has none of its own."""
    extra: Any = None
    """A further condition on the rows moved (an open household period only)."""
    per: tuple[str, ...] = ()
    """For rows that are one per member and key (a campaign's assignment, a tag): a
    row is moved only when the survivor has none with the same key columns."""

    @property
    def col(self) -> Column[Any]:
        return self.table.c[self.column]

    def where(self) -> ColumnElement[bool]:
        return self.extra(self.table) if self.extra is not None else true()


REPOINTS: tuple[Repoint, ...] = (
    Repoint("identities", identities, "member_id"),
    Repoint("orders", orders, "member_id"),
    Repoint("events", events, "member_id"),
    Repoint("awards", awards, "member_id"),
    Repoint("cashback_awards", cashback_awards, "member_id"),
    Repoint("coupons", coupons, "member_id"),
    Repoint("referrals_as_referrer", referrals, "referrer_id"),
    Repoint("referrals_as_referee", referrals, "referee_id", only_if_survivor_has_none=True),
    Repoint("referral_codes", referral_codes, "member_id", only_if_survivor_has_none=True),
    Repoint("household_seat", household_members, "member_id", only_if_survivor_has_none=True),
    Repoint("household_period", household_member_periods, "member_id",
            only_if_survivor_has_none=True, extra=lambda t: t.c.left_at.is_(None)),
    Repoint("qualification_entries", qualification_entries, "member_id"),
    Repoint("tier_changes", tier_changes, "member_id"),
    Repoint("campaign_assignments", campaign_members, "member_id",
            per=("program_id", "campaign_id")),
    Repoint("tags", member_tags, "member_id", per=("tag",)),
    Repoint("engagement", member_engagement, "member_id",
            per=("program_id", "kind", "item_id", "period")),
    Repoint("engagement_awards", engagement_awards, "member_id",
            per=("program_id", "kind", "item_id", "award_key")),
    Repoint("engagement_contributions", engagement_contributions, "member_id"),
)
BY_NAME = {r.name: r for r in REPOINTS}


def _set(conn: Connection, repoint: Repoint, ids: Sequence[int], member_id: int) -> None:
    for chunk in chunks(ids):
        conn.execute(update(repoint.table).where(one_of(conn, repoint.table.c.id, chunk))
                     .values({repoint.column: member_id}))


def _handover(repoint: Repoint) -> Any:
    """``UPDATE … SET member = :survivor WHERE member = :merged … RETURNING id``: the
    repoint as one statement, built once, its conditions (the survivor holds none of
    its own, none with the same key) inside it. The program is named too: some tables
    index the member's column only after the program's."""
    table, column = repoint.table, repoint.column
    statement = update(table).where(table.c.program_id == bindparam("program"),
                                    repoint.col == bindparam("merged"), repoint.where())
    if repoint.only_if_survivor_has_none or repoint.per:
        held = table.alias("held")
        statement = statement.where(~exists().where(
            held.c.program_id == bindparam("program"), held.c[column] == bindparam("survivor"),
            *((repoint.extra(held),) if repoint.extra is not None else ()),
            *(held.c[key] == table.c[key] for key in repoint.per)))
    return statement.values({column: bindparam("survivor")}).returning(table.c.id)


HANDOVERS = tuple((repoint.name, _handover(repoint)) for repoint in REPOINTS)


def _held(repoint: Repoint) -> ColumnElement[bool]:
    """Whether the merged member has rows of this kind."""
    table = repoint.table
    return exists().where(table.c.program_id == bindparam("program"),
                          repoint.col == bindparam("merged"), repoint.where())


HELD: dict[str, ColumnElement[bool]] = {repoint.name: _held(repoint) for repoint in REPOINTS}
"""Per kind of row, whether the merged member (``merged`` in ``program``) has any."""


def move_rows(conn: Connection, program_id: int, survivor_id: int, merged_id: int,
              kinds: Collection[str]) -> dict[str, list[int]]:
    """Re-point the merged member's rows to the survivor (one statement per kind of row
    among ``kinds``, those it has: see ``HELD``); returns their ids by kind."""
    given = {"program": program_id, "survivor": survivor_id, "merged": merged_id}
    return {name: sorted(conn.execute(statement, given).scalars()) if name in kinds else []
            for name, statement in HANDOVERS}


def restore_rows(conn: Connection, moved: dict[str, Sequence[int]], merged_id: int) -> None:
    """Give the rows a merge moved back to the merged member."""
    for name, ids in moved.items():
        if name in BY_NAME:
            _set(conn, BY_NAME[name], list(ids), merged_id)


def after_merge_events(conn: Connection, moved: dict[str, Sequence[int]],
                       survivor_id: int) -> list[int]:
    """The survivor's events since the merge that came through an identity the merged
    member brought: on undo they are the merged member's again."""
    brought, before = list(moved.get("identities") or []), set(moved.get("events") or [])
    found: list[int] = []
    for chunk in chunks(brought):
        found += [i for i in conn.execute(select(events.c.id).where(
            events.c.member_id == survivor_id, one_of(conn, events.c.identity_id, chunk))
            .order_by(events.c.id)).scalars() if i not in before]
    return found


def give_back_events(conn: Connection, event_ids: Sequence[int], merged_id: int) -> list[int]:
    """Hand ``event_ids`` and the orders (with their lines) they recorded to the merged
    member; returns the orders' ids."""
    order_ids: list[int] = []
    for chunk in chunks(event_ids):
        order_ids += conn.execute(select(orders.c.id).where(one_of(conn, orders.c.event_id,
                                                                   chunk))).scalars()
    _set(conn, BY_NAME["events"], event_ids, merged_id)
    _set(conn, BY_NAME["orders"], order_ids, merged_id)
    return order_ids


def rows_by_id(conn: Connection, table: Table, ids: Iterable[int]) -> list[Any]:
    found: list[Any] = []
    for chunk in chunks(ids):
        found += conn.execute(select(table).where(one_of(conn, table.c.id, chunk)))
    return found

