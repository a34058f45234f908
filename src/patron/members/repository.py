from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (ARRAY, JSON, Connection, Text, and_, bindparam, func, insert, or_,
                        select, true, tuple_, update)

from patron.db.engine import FEW, chunks, insert_rows, insert_rows_returning_ids, rows_of
from patron.members.tables import identities, member_status_changes, members, merges


def insert_members(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """New members' rows (``new_member_row``); their ids, in order. Many go in with
    reserved ids through COPY or executemany (``insert_rows_returning_ids``): a statement
    of a few hundred members' values was thousands of parameters the driver parsed anew."""
    return insert_rows_returning_ids(conn, members, rows)


def insert_identities(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    insert_rows(conn, identities, rows)


def member_row(conn: Connection, program_id: int, member_id: int) -> Any:
    return conn.execute(select(members).where(members.c.program_id == program_id,
                                              members.c.id == member_id)).first()


def identities_of(conn: Connection, member_ids: Iterable[int]) -> dict[int, list[Any]]:
    ids = list(member_ids)
    found: dict[int, list[Any]] = {i: [] for i in ids}
    for chunk in chunks(ids):
        rows = conn.execute(select(identities).where(
            identities.c.member_id.in_(chunk)).order_by(identities.c.id))
        for row in rows:
            found[row.member_id].append(row)
    return found


def members_by_identity(conn: Connection, program_id: int,
                        keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Member ids for (type, normalised value) pairs that are known."""
    return {(row.type, row.value): row.member_id
            for row in _by_keys(conn, program_id, keys, "member_id")}


def identity_owners(conn: Connection, program_id: int, keys: Iterable[tuple[str, str]]
                    ) -> dict[tuple[str, str], tuple[int, int]]:
    """``members_by_identity`` with each identity's row id: (member id, identity id)."""
    return {(row.type, row.value): (row.member_id, row.id)
            for row in _by_keys(conn, program_id, keys, "member_id", "id")}


def identity_ids(conn: Connection, program_id: int,
                 keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Identity row ids for (type, normalised value) pairs that are known."""
    return {(row.type, row.value): row.id for row in _by_keys(conn, program_id, keys, "id")}


def _by_keys(conn: Connection, program_id: int, keys: Iterable[tuple[str, str]],
             *columns: str) -> Iterator[Any]:
    """The program's identities with these (type, value) keys: ``type``, ``value`` and
    ``columns``, through statements built once (``_keys_statement``). On PostgreSQL
    more than a few keys go as two arrays in one statement; on SQLite in chunks."""
    wanted = list(set(keys))
    dialect = conn.dialect.name
    if not wanted:
        return
    if len(wanted) <= FEW:  # each key in scalar parameters of its own, as one_of_few
        yield from rows_of(conn, _keys_statement(columns, dialect, len(wanted)), {
            "program": program_id, **{f"{part}_{i}": key[j] for i, key in enumerate(wanted)
                                      for j, part in enumerate(("type", "value"))}})
    elif dialect == "postgresql":
        types, values = zip(*wanted)
        yield from rows_of(conn, _keys_statement(columns, dialect), {
            "program": program_id, "types": list(types), "values": list(values)})
    else:
        for chunk in chunks(wanted):
            yield from rows_of(conn, _keys_statement(columns, dialect),
                               {"program": program_id, "keys": [list(key) for key in chunk]})


@functools.cache
def _keys_statement(columns: tuple[str, ...], dialect: str, few: int = 0) -> Any:
    """The select of ``_by_keys``: for ``few`` keys in scalar parameters; else, on
    PostgreSQL, the keys as two arrays joined through the unique (program, type, value)
    index: one prepared statement whatever their number, where a tuple list of a
    thousand keys was parsed and planned anew each time (two thousand parameters) and
    took 16 ms an import batch; on SQLite the keys as one JSON array of pairs
    (``json_each``), where an expanding tuple list was rendered anew on every call."""
    query = select(identities.c.type, identities.c.value,
                   *(identities.c[name] for name in columns)).where(
        identities.c.program_id == bindparam("program"))
    if few:
        return query.where(or_(*(and_(identities.c.type == bindparam(f"type_{i}"),
                                      identities.c.value == bindparam(f"value_{i}"))
                                 for i in range(few))))
    if dialect == "postgresql":
        keys = func.unnest(bindparam("types", type_=ARRAY(Text())),
                           bindparam("values", type_=ARRAY(Text()))
                           ).table_valued("type", "value").render_derived(name="keys")
        # each key looks its identity up (LATERAL; its LIMIT, one identity per key
        # anyway, keeps PostgreSQL from flattening it into a join): a join left to the
        # planner, on a table not analysed yet (an import's first batches), read the
        # whole array again for every identity of the program
        found = query.where(identities.c.type == keys.c.type,
                            identities.c.value == keys.c.value).limit(1).lateral("found")
        return select(found).select_from(keys).join(found, true())
    pairs = func.json_each(bindparam("keys", type_=JSON)).table_valued("value")
    return query.where(tuple_(identities.c.type, identities.c.value).in_(select(
        func.json_extract(pairs.c.value, "$[0]"), func.json_extract(pairs.c.value, "$[1]"))))


HOLDER = "household"
"""Status of the placeholder member that holds a household's pooled points account."""


def existing_member_ids(conn: Connection, program_id: int, ids: Iterable[int]) -> set[int]:
    """Ids of members (people: not household placeholders) among ``ids``."""
    wanted = list(set(ids))
    found: set[int] = set()
    for chunk in chunks(wanted):
        found.update(conn.execute(select(members.c.id).where(
            members.c.program_id == program_id, members.c.status != HOLDER,
            members.c.id.in_(chunk))).scalars())
    return found


_EFFECTIVE = select(members.c.id, members.c.merged_into).where(
    members.c.program_id == bindparam("program_id"), members.c.status != HOLDER,
    members.c.id.in_(bindparam("ids", expanding=True)))
"""Built once: ingest runs it for every event sent by member id."""


def effective_member_ids(conn: Connection, program_id: int, ids: Iterable[int]) -> dict[int, int]:
    """Each member id among ``ids`` that exists (people, not household placeholders) with
    the member it stands for now: itself, or for a merged record the member it was merged
    into (following merges of merges), so events sent by an old id land on the survivor."""
    found: dict[int, int] = {}
    for chunk in chunks(list(set(ids))):
        for row in conn.execute(_EFFECTIVE, {"program_id": program_id, "ids": chunk}):
            found[row.id] = row.id if row.merged_into is None else (
                survivor_of(conn, program_id, row.id) or row.id)
    return found


def update_member(conn: Connection, member_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(members).where(members.c.id == member_id).values(**values))


def page_members(conn: Connection, program_id: int, after: int | None, limit: int) -> list[Any]:
    query = select(members).where(members.c.program_id == program_id,
                                  members.c.status != HOLDER)
    if after is not None:
        query = query.where(members.c.id > after)
    return list(conn.execute(query.order_by(members.c.id).limit(limit)))


def member_rows(conn: Connection, program_id: int, ids: Sequence[int]) -> list[Any]:
    return list(conn.execute(select(members).where(members.c.program_id == program_id,
                                                   members.c.id.in_(ids))
                             .order_by(members.c.id)))


PROFILE_COLUMNS = ("name", "given_name", "family_name", "birthdate", "gender", "address_line1",
                   "address_line2", "city", "postcode", "state", "country", "region",
                   "join_channel")


def new_member_row(program_id: int, now: datetime, *, attributes: dict | None = None,
                   consents: dict | None = None, family_key: str | None = None,
                   postcode_key: str | None = None, **profile: Any) -> dict[str, Any]:
    """An active member's row; ``profile`` takes the ``PROFILE_COLUMNS`` (None when absent).
    The match keys, when the enrolment worked them out, are written with the row, so
    matching does not update it straight after."""
    unknown = set(profile) - set(PROFILE_COLUMNS)
    if unknown:
        raise TypeError(f"not profile columns: {sorted(unknown)}")
    return dict({column: profile.get(column) for column in PROFILE_COLUMNS},
                program_id=program_id, status="active", attributes=attributes or {},
                consents=consents or {}, created_at=now, updated_at=now,
                family_key=family_key, postcode_key=postcode_key)


_NEXT = members.alias("next")
_TWO_HOPS = (select(members.c.merged_into, _NEXT.c.merged_into.label("then"))
             .select_from(members.outerjoin(_NEXT, _NEXT.c.id == members.c.merged_into))
             .where(members.c.program_id == bindparam("program_id"),
                    members.c.id == bindparam("member_id")))
"""A member's ``merged_into`` and that member's own: two steps of a chain per statement."""


def survivor_of(conn: Connection, program_id: int, member_id: int) -> int | None:
    """The member a merged member's id now stands for (following merges of merges), or
    None when ``member_id`` was not merged: how member-id paths follow a merge. One
    statement for a record merged once (or not at all)."""
    survivor, seen = None, {member_id}
    while True:
        row = conn.execute(_TWO_HOPS, {"program_id": program_id, "member_id": member_id}
                           ).first()
        if row is None or row.merged_into is None or row.merged_into in seen:
            return survivor
        survivor = row.merged_into
        seen.add(survivor)
        if row.then is None or row.then in seen:
            return survivor
        survivor = member_id = row.then
        seen.add(member_id)


_MERGED_INTO = (select(_NEXT.c.merged_into)
                .where(_NEXT.c.program_id == bindparam("program_id"),
                       _NEXT.c.id == bindparam("member_id")).scalar_subquery())
_SURVIVING = select(members).where(
    members.c.program_id == bindparam("program_id"),
    members.c.id == func.coalesce(_MERGED_INTO, bindparam("member_id")))


def surviving_row(conn: Connection, program_id: int, member_id: int) -> Any:
    """The row of the member ``member_id`` stands for now: its own, or for a merged
    record its survivor's (following merges of merges, as ``survivor_of``); None when
    there is no such member. One statement for a record merged once or not at all."""
    given = {"program_id": program_id, "member_id": member_id}
    row = conn.execute(_SURVIVING, given).first()
    if row is not None and row.merged_into is not None:  # the survivor was merged too
        survivor = survivor_of(conn, program_id, member_id)
        row = member_row(conn, program_id, survivor) if survivor is not None else row
    return row


_MERGED_INTO = (select(members.c.merged_into)
                .where(members.c.program_id == bindparam("extra_program_id"),
                       members.c.id == bindparam("extra_member_id"))
                .scalar_subquery())


def merged_into_of(program_id: int, member_id: int) -> tuple[Any, dict[str, Any]]:
    """A scalar subquery: the member's ``merged_into`` (None when not merged or unknown),
    for folding into another statement; built once, its parameters beside it."""
    return _MERGED_INTO, {"extra_program_id": program_id, "extra_member_id": member_id}


def status_of(conn: Connection, program_id: int, member_id: int) -> Any:
    """The member's ``status`` and ``merged_into`` (None: no such member)."""
    return conn.execute(select(members.c.status, members.c.merged_into).where(
        members.c.program_id == program_id, members.c.id == member_id)).first()


def statuses_among(conn: Connection, program_id: int, member_ids: Iterable[int],
                   statuses: Sequence[str]) -> dict[int, str]:
    """The members among ``member_ids`` whose status is one of ``statuses``."""
    found: dict[int, str] = {}
    for chunk in chunks(sorted(set(member_ids))):
        found.update((row.id, row.status) for row in conn.execute(
            select(members.c.id, members.c.status).where(
                members.c.program_id == program_id, members.c.id.in_(chunk),
                members.c.status.in_(statuses))))
    return found


def move_status(conn: Connection, member_id: int, current: str, wanted: str, *,
                reason: str | None, actor: str, now: datetime) -> bool:
    """Set the status if it is still ``current``; whether it was."""
    return conn.execute(update(members).where(
        members.c.id == member_id, members.c.status == current).values(
        status=wanted, status_reason=reason, status_changed_by=actor, status_changed_at=now,
        updated_at=now)).rowcount == 1


def insert_status_change(conn: Connection, row: dict[str, Any]) -> int:
    return conn.execute(insert(member_status_changes).values(**row).returning(
        member_status_changes.c.id)).scalar_one()


def status_changes(conn: Connection, member_id: int) -> list[Any]:
    """Every status change of the member, oldest first."""
    return list(conn.execute(select(member_status_changes).where(
        member_status_changes.c.member_id == member_id).order_by(member_status_changes.c.id)))


def ids_with_status(conn: Connection, status: str) -> list[tuple[int, int]]:
    """(program id, member id) of every member whose status changed to ``status`` and who
    still has it: the status change history is small, the members table is not."""
    changed = select(member_status_changes.c.member_id).where(
        member_status_changes.c.status == status).distinct().scalar_subquery()
    return [(row.program_id, row.id) for row in conn.execute(
        select(members.c.program_id, members.c.id).where(
            members.c.id.in_(changed), members.c.status == status)
        .order_by(members.c.program_id, members.c.id))]


def merges_of(conn: Connection, member_id: int) -> list[Any]:
    """Every merge the member took part in, as survivor or as the merged record, oldest
    first."""
    return list(conn.execute(select(merges).where(
        (merges.c.survivor_id == member_id) | (merges.c.merged_id == member_id))
        .order_by(merges.c.id)))


def member_ids_by_name(conn: Connection, program_id: int, text: str, limit: int) -> list[int]:
    """Members whose name, given or family name contains ``text`` (any case), newest first."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    names = [members.c.name, members.c.given_name, members.c.family_name]
    return list(conn.execute(
        select(members.c.id)
        .where(members.c.program_id == program_id, members.c.status != HOLDER,
               or_(*(column.ilike(pattern, escape="\\") for column in names)))
        .order_by(members.c.id.desc()).limit(limit)).scalars())


def closed_before(conn: Connection, program_id: int, cutoff: datetime) -> list[int]:
    """Members of the program closed at or before ``cutoff`` (and still closed), by id."""
    closures = select(member_status_changes.c.member_id).where(
        member_status_changes.c.program_id == program_id,
        member_status_changes.c.status == "closed",
        member_status_changes.c.created_at <= cutoff).scalar_subquery()
    return list(conn.execute(select(members.c.id).where(
        members.c.id.in_(closures), members.c.status == "closed")
        .order_by(members.c.id)).scalars())
