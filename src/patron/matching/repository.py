"""SQL for matching: members' match keys, look-alikes by index, and merge candidates."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (Connection, and_, bindparam, false, or_, select, true, union_all,
                        update)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from patron.hooks import EnrolledIdentity
from patron.members.tables import identities, match_models, members, merge_candidates
from patron.program.document import IDENTITY_KINDS

LOOK_ALIKES = 50
"""Most existing members one blocking key brings back for one new member: a key shared by
more (a common family name at a big city postcode) is too weak to decide on alone."""


# --- match keys and look-alikes -------------------------------------------------------------
# Enrolment runs these for every new member, so they are built once: building a statement
# costs more than running it through an index.

PROFILE = [members.c[name] for name in (
    "id", "status", "merged_into", "name", "given_name", "family_name", "birthdate", "gender",
    "address_line1", "address_line2", "city", "postcode", "state", "country", "region",
    "join_channel", "attributes", "created_at")]
"""What matching and the review queue read of a member (not consents or bookkeeping)."""

_SET_KEYS = (update(members).where(members.c.id == bindparam("member_id"))
             .values(family_key=bindparam("family"), postcode_key=bindparam("code")))
_MEMBER_ROWS = (select(*PROFILE).where(members.c.program_id == bindparam("program_id"),
                                       members.c.id.in_(bindparam("ids", expanding=True)))
                .order_by(members.c.id))
_LATEST_MODEL_ID = (select(match_models.c.id)
                    .where(match_models.c.program_id == members.c.program_id)
                    .order_by(match_models.c.created_at.desc(), match_models.c.id.desc())
                    .limit(1).correlate(members).scalar_subquery())
_ENROLLED = (select(*PROFILE, members.c.family_key, members.c.postcode_key,
                    _LATEST_MODEL_ID.label("model_id"))
             .where(members.c.program_id == bindparam("program_id"),
                    members.c.id.in_(bindparam("ids", expanding=True)))
             .order_by(members.c.id))
_IDENTITIES = (select(identities.c.member_id, identities.c.type, identities.c.value,
                      identities.c.channel)
               .where(identities.c.member_id.in_(bindparam("ids", expanding=True)))
               .order_by(identities.c.id))
_KEYS = {"birthdate": members.c.birthdate, "postcode": members.c.postcode_key}
_PROGRAM_MODEL_ID = (select(match_models.c.id)
                     .where(match_models.c.program_id == bindparam("program_id"))
                     .order_by(match_models.c.created_at.desc(), match_models.c.id.desc())
                     .limit(1).scalar_subquery())


class IdentityList(ColumnElement[Any]):
    """A member's identities as one JSON array of ``[type, value, channel]``, oldest first
    (a correlated subquery): look-alikes come back with their identities in the statement
    that finds them. ``identity_rows`` reads the value."""

    inherit_cache = True
    _traverse_internals = [("member_id", InternalTraversal.dp_clauseelement)]

    def __init__(self, member_id: Any) -> None:
        self.member_id = member_id


@compiles(IdentityList, "postgresql")
def _identity_list_postgresql(element: IdentityList, compiler: Any, **kw: Any) -> str:
    member_id = compiler.process(element.member_id, **kw)
    return ("(SELECT json_agg(json_build_array(mi.type, mi.value, mi.channel) ORDER BY mi.id)"
            f" FROM identities AS mi WHERE mi.member_id = {member_id})")


@compiles(IdentityList)
def _identity_list(element: IdentityList, compiler: Any, **kw: Any) -> str:
    # SQLite aggregates in the order the ordered subquery gives the rows
    return ("(SELECT json_group_array(json_array(mi.type, mi.value, mi.channel)) FROM"
            " (SELECT type, value, channel FROM identities"
            f" WHERE member_id = {compiler.process(element.member_id, **kw)} ORDER BY id) AS mi)")


class CarriesAttribute(ColumnElement[bool]):
    """The member carries one of these identity kinds as an imported attribute
    (``attributes.phone``): a rule that compares an identity can only agree with a
    member who carries it there, when the other holds it as an identity."""

    inherit_cache = True
    _traverse_internals = [("kinds", InternalTraversal.dp_string_list)]

    def __init__(self, kinds: Iterable[str]) -> None:
        self.kinds = sorted(kinds)
        if not self.kinds or not set(self.kinds) <= set(IDENTITY_KINDS):
            raise ValueError(f"not identity kinds: {self.kinds}")


@compiles(CarriesAttribute, "postgresql")
def _carries_attribute_postgresql(element: CarriesAttribute, compiler: Any, **kw: Any) -> str:
    return "(" + " OR ".join(f"members.attributes -> '{kind}' IS NOT NULL"
                             for kind in element.kinds) + ")"


@compiles(CarriesAttribute)
def _carries_attribute(element: CarriesAttribute, compiler: Any, **kw: Any) -> str:
    return "(" + " OR ".join(f"json_extract(members.attributes, '$.{kind}') IS NOT NULL"
                             for kind in element.kinds) + ")"


def identity_rows(value: Any) -> list[EnrolledIdentity]:
    """A look-alike's ``identity_list`` as identity rows (type, value, channel)."""
    if value is None:
        return []
    return [EnrolledIdentity(*item) for item in (json.loads(value) if isinstance(value, str)
                                                 else value)]


Lookup = tuple[str, bool, frozenset[str]]
"""A blocking lookup: ``("birthdate" | "postcode", with the family name key, identity
kinds)`` (see ``look_alikes``). With identity kinds, only members who carry one of them as
an imported attribute are found: identities are unique per program, so a rule that
compares one agrees only where one member holds it as an identity and the other carries
it as an attribute (``patron.matching.rules``); no kinds: no such restriction."""
Lookups = tuple[Lookup, ...]


def _look_alikes_query(lookups: Lookups, for_rules: frozenset[Lookup],
                       with_identities: bool) -> Any:
    """One statement for all of an enrolment's lookups: each its own index range (and its
    own limit), joined by UNION ALL, so a new member costs one round trip, not one per
    lookup. Each row says whether a rule's lookup found it (``for_rules``; else only the
    model's did), carries the program's latest model id (``model_id``: enrolment needs it
    only when it found someone) and, ``with_identities``, its identities."""
    parts = []
    for lookup in lookups:
        key, with_family, kinds = lookup
        condition = _KEYS[key] == bindparam(f"value_{key}")
        if with_family:
            condition = condition & (members.c.family_key == bindparam("family"))
        if kinds:
            condition = condition & CarriesAttribute(kinds)
        extra = [_PROGRAM_MODEL_ID.label("model_id"),
                 (true() if lookup in for_rules else false()).label("for_rules")]
        if with_identities:
            extra.append(IdentityList(members.c.id).label("identity_list"))
        part = select(*PROFILE, *extra).where(
            members.c.program_id == bindparam("program_id"), condition,
            members.c.id != bindparam("member_id"), members.c.status == "active",
            members.c.merged_into.is_(None)).limit(LOOK_ALIKES)
        parts.append(part)
    if len(parts) == 1:
        return parts[0]
    # SQLite takes a LIMIT inside a compound select only in a subquery
    return union_all(*(select(*part.subquery().c) for part in parts))


_LOOK_ALIKES: dict[tuple[Lookups, frozenset[Lookup], bool], Any] = {}
"""Built once per set of lookups (a program's rules use one or two sets)."""


def set_match_keys(conn: Connection, keys: Sequence[tuple[int, str | None, str | None]]) -> None:
    """``(member_id, family_key, postcode_key)`` for each member."""
    if keys:
        conn.execute(_SET_KEYS, [dict(member_id=i, family=f, code=p) for i, f, p in keys])


def member_rows(conn: Connection, program_id: int, ids: Sequence[int]) -> list[Any]:
    return list(conn.execute(_MEMBER_ROWS, dict(program_id=program_id, ids=list(ids))))


def enrolled_rows(conn: Connection, program_id: int, ids: Sequence[int]) -> list[Any]:
    """New members' profiles with their stored match keys, each with the id of the
    program's latest trained model (None before one is trained): one statement tells
    enrolment matching both whom to match and whether the model it holds is current."""
    return list(conn.execute(_ENROLLED, dict(program_id=program_id, ids=list(ids))))


def identities_of(conn: Connection, member_ids: Sequence[int]) -> dict[int, list[Any]]:
    """Each member's identities (type, value, channel), oldest first."""
    found: dict[int, list[Any]] = {i: [] for i in member_ids}
    for row in conn.execute(_IDENTITIES, dict(ids=list(member_ids))):
        found[row.member_id].append(row)
    return found


def look_alikes(conn: Connection, program_id: int, member_id: int, *,
                birthdate: date | None, family_key: str | None, postcode_key: str | None,
                lookups: Iterable[Lookup], for_rules: Iterable[Lookup] | None = None,
                with_identities: bool = False) -> list[Any]:
    """Active, unmerged members other than ``member_id`` sharing a blocking key, oldest
    first, in one statement.

    Each lookup is ``("birthdate" | "postcode", with_family, kinds)``: one range of an
    ``ix_members_match_*`` index, the family key too when ``with_family``, and with
    ``kinds`` (identity kinds) only members who carry one of them as an imported
    attribute (``attributes.email``). A lookup whose key the member lacks finds nobody
    (a missing field never matches). Each row
    has the profile (``PROFILE``), ``model_id`` (the program's latest model, None before
    one is trained), ``for_rules`` (found by one of ``for_rules``, default all
    ``lookups``) and, ``with_identities``, ``identity_list`` (see ``identity_rows``).
    """
    values = {"birthdate": birthdate, "postcode": postcode_key}
    usable = tuple(sorted(
        ((key, with_family, frozenset(kinds)) for key, with_family, kinds in lookups
         if values[key] is not None and not (with_family and family_key is None)),
        key=lambda lookup: (lookup[0], lookup[1], sorted(lookup[2]))))
    if not usable:
        return []
    ruled = frozenset(usable if for_rules is None else for_rules) & frozenset(usable)
    cache_key = (usable, ruled, with_identities)
    statement = _LOOK_ALIKES.get(cache_key)
    if statement is None:
        statement = _LOOK_ALIKES[cache_key] = _look_alikes_query(usable, ruled, with_identities)
    params = dict(program_id=program_id, member_id=member_id, family=family_key,
                  **{f"value_{key}": values[key] for key, _, _ in usable})
    found: dict[int, Any] = {}
    for row in conn.execute(statement, params):
        if row.id not in found or row.for_rules:
            found[row.id] = row
    return [found[i] for i in sorted(found)]


# --- merge candidates -----------------------------------------------------------------------


def insert_candidate(conn: Connection, **values: Any) -> int | None:
    """The new candidate's id, or None when the pair is already known (queued, merged or
    rejected): one statement that leaves a known pair as it is."""
    return conn.execute(_INSERT_CANDIDATE[conn.dialect.name == "postgresql"], values).scalar()


_INSERT_CANDIDATE = {
    on_postgresql: dialect.insert(merge_candidates).on_conflict_do_nothing()
    .returning(merge_candidates.c.id)
    for on_postgresql, dialect in ((True, postgresql), (False, sqlite))}
"""Built once: enrolment queues a pair for every look-alike a suggest rule finds."""


def candidate(conn: Connection, program_id: int, candidate_id: int, *,
              lock: bool = False) -> Any:
    query = select(merge_candidates).where(merge_candidates.c.program_id == program_id,
                                           merge_candidates.c.id == candidate_id)
    return conn.execute(query.with_for_update() if lock else query).first()


def candidate_by_id(conn: Connection, candidate_id: int) -> Any:
    return conn.execute(select(merge_candidates)
                        .where(merge_candidates.c.id == candidate_id)).first()


def candidate_page(conn: Connection, program_id: int, state: str, after: int | None,
                   limit: int) -> list[Any]:
    query = select(merge_candidates).where(merge_candidates.c.program_id == program_id,
                                           merge_candidates.c.state == state)
    if after is not None:
        query = query.where(merge_candidates.c.id > after)
    return list(conn.execute(query.order_by(merge_candidates.c.id).limit(limit)))


def decide_candidate(conn: Connection, candidate_id: int, *, state: str, actor: str,
                     at: datetime, reason: str | None = None, merge_id: int | None = None
                     ) -> bool:
    """Move a pending candidate to ``state``; False when it was no longer pending."""
    done = conn.execute(update(merge_candidates).where(
        merge_candidates.c.id == candidate_id, merge_candidates.c.state == "pending")
        .values(state=state, decided_by=actor, decided_at=at, reason=reason,
                merge_id=merge_id))
    return done.rowcount == 1


def forget_candidates(conn: Connection, program_id: int, member_ids: Sequence[int], *,
                      actor: str, now: datetime) -> None:
    """Pairs with these members lose their evidence and reasons; pending ones are rejected."""
    ids = list(member_ids)
    involved = and_(merge_candidates.c.program_id == program_id,
                    or_(merge_candidates.c.member_a.in_(ids),
                        merge_candidates.c.member_b.in_(ids)))
    conn.execute(update(merge_candidates).where(involved).values(evidence={}, reason=None))
    conn.execute(update(merge_candidates).where(involved, merge_candidates.c.state == "pending")
                 .values(state="rejected", decided_by=actor[:200], decided_at=now,
                         reason="member erased"))
