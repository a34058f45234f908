"""Use cases of tags and segments: add and remove tags, define, preview and refresh
segments, and upload a static segment's members.

A refresh diffs the condition's members with the segment's current ones and
records only the change: leavers get ``left_at``, entrants a new row, and a
count row says how many are in it. Refreshing twice with nothing changed writes
no membership row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection

from patron import hooks
from patron.errors import Conflict, InvalidInput, NotFound
from patron.members import repository as members_repository
from patron.members.domain import normalise_identity, parse_identity_query
from patron.members.service import person_row, refuse_erased, require_member
from patron.program.service import Program
from patron.program.versions import VersionNotFound, versions
from patron.program.cel import Condition
from patron.segments import domain, repository, translate
from patron.segments.membership import SegmentNotFound
from patron.segments.schemas import SegmentCreate, SegmentUpdate

PREVIEW_SAMPLE = 20


class TagNotFound(NotFound):
    code = "tag_not_found"
    title = "The member does not carry this tag"


class RuleTag(Conflict):
    code = "rule_tag"
    title = "A rule tag cannot be removed by hand"


class FeaturesNotComputed(NotFound):
    code = "features_not_computed"
    title = "Features not computed yet"


class SegmentExists(Conflict):
    code = "segment_exists"
    title = "A different segment has this key"


class WrongSegmentKind(Conflict):
    code = "wrong_segment_kind"
    title = "Not possible for this kind of segment"


# --------------------------------------------------------------------------- tags

def add_tag(conn: Connection, program: Program, member_id: int, tag: str, actor: str,
            now: datetime) -> None:
    """Idempotent: a tag the member already carries (by hand or by rule) stays as it is.
    An erased member is tagged no more (409 ``member_erased``)."""
    refuse_erased(person_row(conn, program, member_id))
    if repository.member_tag(conn, member_id, tag) is None:
        repository.add_tag(conn, program.id, member_id, tag, "manual", actor[:200], now)
        repository.set_feature_tags(conn, program.id, [member_id])


def remove_tag(conn: Connection, program: Program, member_id: int, tag: str) -> None:
    require_member(conn, program, member_id)
    found = repository.member_tag(conn, member_id, tag)
    if found is None:
        raise TagNotFound(f"member {member_id} has no tag {tag!r}", field="tag")
    if found.source == "rule":
        raise RuleTag(f"{tag!r} comes from a program tags rule; change the rule instead",
                      field="tag")
    repository.remove_tag(conn, member_id, tag)
    repository.set_feature_tags(conn, program.id, [member_id])


def member_tags(conn: Connection, program: Program, member_id: int) -> dict[str, Any]:
    require_member(conn, program, member_id)
    return {"member_id": member_id, "tags": [
        {"tag": r.tag, "source": r.source, "added_by": r.added_by, "added_at": r.added_at}
        for r in repository.tags_of(conn, member_id)]}


def apply_rule_tags(conn: Connection, program: Program, now: datetime) -> tuple[int, int]:
    """Give and take back the current program version's rule tags; (added, removed)."""
    rules = tag_rules(conn, program, now)
    found = _all_matching(conn, program, [cond for _, cond in rules])
    wanted = {tag: set(ids.tolist()) for (tag, _), ids in zip(rules, found)}
    current, manual = repository.tag_sources(conn, program.id)
    add, remove = domain.tag_changes(current, wanted)
    add = [(m, t) for m, t in add if (m, t) not in manual]
    repository.apply_rule_tags(conn, program.id, add, remove, now)
    repository.set_feature_tags(conn, program.id, {m for m, _ in add} | {m for m, _ in remove})
    return len(add), len(remove)


def tag_rules(conn: Connection, program: Program, now: datetime) -> list[tuple[str, Any]]:
    try:
        _, compiled = versions.version_at(conn, program, now)
    except VersionNotFound:
        return []
    return [(rule.tag, domain.feature_condition(rule.when, "tags.when"))
            for rule in compiled.document.tags]


def _all_matching(conn: Connection, program: Program, conditions: Sequence[Condition]
                  ) -> list[np.ndarray]:
    """The members each condition holds for (ids ascending): in the database for the
    conditions ``translate`` can write as SQL, else over one fetch of the columns the
    others read, in Python."""
    where = [translate.sql_condition(conn, cond.source) for cond in conditions]
    rest = [cond for cond, sql in zip(conditions, where) if sql is None]
    columns = tuple(sorted({c for cond in rest for c in domain.read_columns(cond)}))
    ids, values = repository.feature_columns(conn, program.id, columns) if rest else ([], [])
    return [repository.ids_where(conn, program.id, sql) if sql is not None
            else _matching(cond, columns, ids, values) for cond, sql in zip(conditions, where)]


def _matching(condition: Condition, columns: Sequence[str], ids: Sequence[int],
              values: Sequence[Sequence[Any]]) -> np.ndarray:
    """Members one condition holds for, given the columns several conditions read."""
    wanted = domain.read_columns(condition)
    return domain.matching_columns(condition, wanted, ids,
                                   [values[columns.index(c)] for c in wanted])


def features(conn: Connection, program: Program, member_id: int) -> dict[str, Any]:
    require_member(conn, program, member_id)
    row = repository.feature_row(conn, program.id, member_id)
    if row is None:
        raise FeaturesNotComputed(f"features of member {member_id} were not computed yet; "
                                  "run `patron features refresh`", member_id=member_id)
    return dict(row._mapping)


# --------------------------------------------------------------------------- segments

def create_segment(conn: Connection, program: Program, payload: SegmentCreate, actor: str,
                   now: datetime) -> dict[str, Any]:
    """Idempotent on the key: the same definition again returns the segment as it is."""
    _check_definition(payload.kind, payload.condition)
    found = repository.segment_row(conn, program.id, payload.key)
    wanted = {"name": payload.name, "description": payload.description, "kind": payload.kind,
              "condition": payload.condition}
    if found is not None:
        if any(getattr(found, k) != v for k, v in wanted.items()):
            raise SegmentExists(f"segment {payload.key!r} exists with another definition; "
                                "change it with PATCH", field="key")
        return segment(conn, program, payload.key)
    repository.insert_segment(conn, {"program_id": program.id, "key": payload.key, **wanted,
                                     "active": True, "created_by": actor[:200],
                                     "created_at": now, "updated_at": now})
    if payload.kind == "dynamic":  # filled at once from the features as they stand
        refresh_segment(conn, program, payload.key, now)
    return segment(conn, program, payload.key)


def _check_definition(kind: str, condition: str | None) -> None:
    if kind == "dynamic" and not condition:
        raise InvalidInput("a dynamic segment needs a condition", field="condition")
    if kind == "static" and condition:
        raise InvalidInput("a static segment has no condition; upload its members",
                           field="condition")
    if condition:
        domain.feature_condition(condition)


def update_segment(conn: Connection, program: Program, key: str, payload: SegmentUpdate,
                   now: datetime) -> dict[str, Any]:
    row = _row(conn, program, key)
    changes = payload.model_dump(exclude_unset=True)
    if changes.get("name", "") is None or changes.get("active", False) is None:
        raise InvalidInput("name and active cannot be null", field="name")
    if "condition" in changes:
        _check_definition(row.kind, changes["condition"])
    if any(getattr(row, k) != v for k, v in changes.items()):
        repository.update_segment(conn, row.id, {**changes, "updated_at": now})
        if row.condition != changes.get("condition", row.condition):
            refresh_segment(conn, program, key, now)  # members follow the new condition
    return segment(conn, program, key)


def _row(conn: Connection, program: Program, key: str) -> Any:
    row = repository.segment_row(conn, program.id, key)
    if row is None:
        raise SegmentNotFound(f"program {program.id} has no segment {key!r}", field="segment")
    return row


def segment(conn: Connection, program: Program, key: str) -> dict[str, Any]:
    row = _row(conn, program, key)
    return _out(row, repository.sizes(conn, [row.id]).get(row.id, 0))


def list_segments(conn: Connection, program: Program) -> list[dict[str, Any]]:
    rows = repository.segment_rows(conn, program.id)
    sizes = repository.sizes(conn, [r.id for r in rows])
    return [_out(r, sizes.get(r.id, 0)) for r in rows]


def _out(row: Any, size: int) -> dict[str, Any]:
    return {**{k: v for k, v in row._mapping.items() if k not in {"id", "program_id"}},
            "members": size}


def matching_members(conn: Connection, program: Program, condition: str,
                     field: str = "condition") -> list[int]:
    return matching_ids(conn, program, condition, field).tolist()


def matching_ids(conn: Connection, program: Program, condition: str,
                 field: str = "condition") -> np.ndarray:
    """Ids of the members the condition holds for, ascending."""
    return _all_matching(conn, program, [domain.feature_condition(condition, field)])[0]


def preview(conn: Connection, program: Program, condition: str, now: datetime
            ) -> dict[str, Any]:
    found = matching_members(conn, program, condition)
    return {"members": len(found), "sample": found[:PREVIEW_SAMPLE], "evaluated_at": now}


@dataclass(frozen=True)
class Change:
    key: str
    members: int
    entered: int
    left: int
    refreshed_at: datetime


def refresh_segment(conn: Connection, program: Program, key: str, now: datetime) -> Change:
    row = _row(conn, program, key)
    if row.kind != "dynamic":
        raise WrongSegmentKind(f"segment {key!r} is static: upload its members instead",
                               field="segment")
    return _apply(conn, row, matching_ids(conn, program, row.condition), now)


def refresh_all(conn: Connection, program: Program, now: datetime) -> list[Change]:
    """Every active dynamic segment: in the database where its condition translates to
    SQL, else over one fetch of the columns the other conditions read."""
    rows = repository.segment_rows(conn, program.id, active_dynamic=True)
    found = _all_matching(conn, program, [domain.feature_condition(r.condition) for r in rows])
    return [_apply(conn, row, ids, now) for row, ids in zip(rows, found)]


def _apply(conn: Connection, row: Any, wanted: Any, now: datetime) -> Change:
    """``wanted``: the member ids that should be in the segment (any iterable of ints)."""
    wanted = np.unique(wanted if isinstance(wanted, np.ndarray)
                       else np.fromiter(wanted, dtype=np.int64))
    current = repository.current_member_ids(conn, row.id)
    entered = np.setdiff1d(wanted, current, assume_unique=True).tolist()
    left = np.setdiff1d(current, wanted, assume_unique=True).tolist()
    repository.record_changes(conn, row.id, entered, left, len(wanted), now)
    return Change(row.key, len(wanted), len(entered), len(left), now)


def upload_members(conn: Connection, program: Program, key: str, member_ids: Sequence[int],
                   identities: Sequence[str], now: datetime) -> Change:
    """Replace a static segment's members; ids that are not (eligible) members, and
    identities that name no member, are refused with the first of them named."""
    row = _row(conn, program, key)
    if row.kind != "static":
        raise WrongSegmentKind(f"segment {key!r} is dynamic: its condition decides",
                               field="segment")
    wanted = set(member_ids) | set(_identity_members(conn, program, identities))
    known = repository.eligible_ids(conn, program.id, sorted(wanted))
    unknown = sorted(wanted - known)
    if unknown:
        raise InvalidInput(f"{len(unknown)} member ids are not members of this program, e.g. "
                           f"{unknown[0]}", field="member_ids", unknown=unknown[:20])
    return _apply(conn, row, wanted, now)


def _identity_members(conn: Connection, program: Program, identities: Sequence[str]
                      ) -> list[int]:
    keys = []
    for i, text in enumerate(identities):
        try:
            kind, value = parse_identity_query(text)
            keys.append((kind.value, normalise_identity(kind, value,
                                                        program.settings.default_region)))
        except InvalidInput as exc:
            raise InvalidInput(exc.detail, field=f"identities[{i}]") from None
    found = members_repository.members_by_identity(conn, program.id, keys)
    missing = [identities[i] for i, k in enumerate(keys) if k not in found]
    if missing:
        raise InvalidInput(f"{len(missing)} identities name no member, e.g. {missing[0]!r}",
                           field="identities")
    return list(found.values())


def members_page(conn: Connection, program: Program, key: str, after: int, limit: int
                 ) -> dict[str, Any]:
    row = _row(conn, program, key)
    rows = repository.member_page(conn, row.id, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [{"member_id": r.member_id, "entered_at": r.entered_at} for r in rows],
            "next_after": rows[-1].member_id if more and rows else None}


def history(conn: Connection, program: Program, key: str, limit: int) -> dict[str, Any]:
    row = _row(conn, program, key)
    return {"key": key, "items": [dict(r._mapping) for r in
                                  repository.history(conn, row.id, limit)]}


def member_segments(conn: Connection, program: Program, member_id: int) -> dict[str, Any]:
    require_member(conn, program, member_id)
    return {"member_id": member_id, "items": [
        dict(r._mapping) for r in repository.segments_of_member(conn, program.id, member_id)]}


def on_member_erased(conn: Connection, happened: hooks.MemberErased) -> None:
    """Tags and features describe the person: an erased member keeps none, and leaves every
    segment (the segment's history still says, by member id only, who was in it when)."""
    repository.forget_members(conn, happened.records, happened.at)
