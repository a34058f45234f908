"""Matching on enrolment: a new member who is someone already known is merged or queued.

Runs as a ``MembersEnrolled`` subscriber, inside the enrolment's transaction, so
a merge commits or rolls back with the enrolment itself. For each new member:

1. its match keys (``members.family_key``, ``postcode_key``) are written, so later
   enrolments find it;
2. existing active members sharing a blocking key are fetched through the
   ``ix_members_match_*`` indexes: the same birthdate (and family name key, when
   every rule that blocks on birthdate names the family name), the same postcode
   (likewise) — only the lookups the program's rules need;
3. the program's rules decide (``patron.matching.rules``): an auto-merge rule merges
   the new member into the existing one (the survivor: the older record keeps its
   history and ids), a suggest rule queues the pair for review;
4. when the program has a trained model (``patron.matching.scorer``), pairs no rule
   decided are scored and merged or queued by ``matching.auto_merge_probability``
   and ``matching.suggest_probability``.

The first auto-merge ends the new member's matching: it no longer exists on its
own. Members enrolled together in one batch are matched against each other too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from patron import hooks
from patron.matching import candidates, repository
from patron.matching.normalise import blocking_keys
from patron.matching.records import MatchRecord
from patron.matching.rules import MatchProfile, decide
from patron.matching.scorer import model_by_id
from patron.program.document import Matching
from patron.program.versions import versions

ACTOR = "matching"
Lookup = tuple[str, bool]
"""A blocking lookup: ``("birthdate" | "postcode", with the family name key)``."""

MODEL_LOOKUPS: frozenset[Lookup] = frozenset({("birthdate", True), ("postcode", True)})


def lookups_for(section: Matching) -> frozenset[Lookup]:
    """The index lookups that find every pair one of the rules could match."""
    found: set[Lookup] = set()
    for _, rule in section.rules():
        key = "birthdate" if "birthdate" in rule.fields else (
            "postcode" if "postcode" in rule.fields else None)
        if key is not None:
            found.add((key, "family_name" in rule.fields))
    # a lookup without the family key already finds what the narrower one would
    return frozenset(lookup for lookup in found
                     if not (lookup[1] and (lookup[0], False) in found))


KEYED_FIELDS = frozenset({"family_name", "postcode"})
"""Profile columns the match keys (``members.family_key``, ``postcode_key``) come from."""


def on_member_profile_changed(conn: Connection, happened: hooks.MemberProfileChanged) -> None:
    """Keep the member's match keys current when its family name or postcode is edited,
    so later enrolments look it up by what it is called now."""
    if not happened.fields & KEYED_FIELDS:
        return
    for row in repository.member_rows(conn, happened.program.id, [happened.member_id]):
        repository.set_match_keys(conn, [(row.id, *blocking_keys(row.family_name,
                                                                 row.postcode))])


def stored_keys(row: Any) -> tuple[str | None, str | None]:
    """The member's match keys: as stored when the enrolment wrote them with the row
    (``patron.flows.enrolment``), else worked out here (and then written)."""
    if (row.family_key is not None or row.family_name is None) and (
            row.postcode_key is not None or row.postcode is None):
        return row.family_key, row.postcode_key
    return blocking_keys(row.family_name, row.postcode)


@dataclass(frozen=True)
class Verdict:
    action: str
    """``auto_merge`` or ``suggest``."""
    rule: str
    probability: float
    evidence: dict[str, Any]


class EnrolmentMatcher:
    """The ``MembersEnrolled`` subscriber. ``merge_factory()`` gives the merge callable
    (``patron.flows.merging.merge_members``), asked for only when a pair merges;
    ``load_model(conn, program_id, model_id)`` the program's latest model, given its id
    (None before one is trained)."""

    def __init__(self, merge_factory: Callable[[], Callable[..., int]],
                 load_model: Callable[[Connection, int, int | None], Any] = model_by_id
                 ) -> None:
        self.merge_factory = merge_factory
        self.load_model = load_model

    def __call__(self, conn: Connection, happened: hooks.MembersEnrolled) -> None:
        program = happened.program
        ids = [joined.member_id for joined in happened.members]
        rows = repository.enrolled_rows(conn, program.id, ids)
        keys = {row.id: stored_keys(row) for row in rows}
        missing = [(row.id, *keys[row.id]) for row in rows
                   if keys[row.id] != (row.family_key, row.postcode_key)]
        repository.set_match_keys(conn, missing)
        section = versions.compiled(conn, program, program.version).document.matching
        if not section.on_enrolment:
            return
        model = self.load_model(conn, program.id, rows[0].model_id if rows else None)
        lookups = lookups_for(section) | (MODEL_LOOKUPS if model is not None else frozenset())
        if not lookups:
            return
        gone: set[int] = set()
        for row in rows:
            if row.id not in gone:
                self._match(conn, happened, section, model, row, keys[row.id], lookups, gone)

    def _match(self, conn: Connection, happened: hooks.MembersEnrolled, section: Matching,
               model: Any, row: Any, keys: tuple[str | None, str | None],
               lookups: frozenset[Lookup], gone: set[int]) -> None:
        program = happened.program
        others = [other for other in repository.look_alikes(
            conn, program.id, row.id, birthdate=row.birthdate, family_key=keys[0],
            postcode_key=keys[1], lookups=lookups) if other.id not in gone]
        if not others:
            return
        loaded: dict[int, list[Any]] = {}
        given = next((joined.identities for joined in happened.members
                      if joined.member_id == row.id), None)
        if given is not None:  # the enrolment said what the new member enrolled with
            loaded[row.id] = list(given)

        def identities(member_id: int) -> list[Any]:
            """Identities of all, in one query when a rule or the model first needs them
            (a rule compares an identity only when the new member has one of its kind)."""
            if member_id not in loaded:
                loaded.update(repository.identities_of(
                    conn, [i for i in (row.id, *(o.id for o in others)) if i not in loaded]))
            return loaded[member_id]

        region = program.settings.default_region
        new = MatchProfile.from_rows(row, lambda: identities(row.id), region)
        # the happening carries no clock: a candidate is dated when the member joined
        now = max(joined.joined_at for joined in happened.members)
        for other in others:
            verdict = self._verdict(section, model, new, row, other, identities, region)
            if verdict is None:
                continue
            if verdict.action == "auto_merge":
                survivor, merged = sorted((row.id, other.id))
                self.merge_factory()(conn, program, survivor, merged,
                                     reason=f"matched on enrolment by {verdict.rule}",
                                     actor=ACTOR, source="enrolment")
                gone.add(merged)
                return
            candidates.suggest(conn, program.id, row.id, other.id,
                               probability=verdict.probability, rule=verdict.rule,
                               evidence=verdict.evidence, now=now)

    @staticmethod
    def _verdict(section: Matching, model: Any, new: MatchProfile, row: Any, other: Any,
                 identities: Callable[[int], list[Any]], region: str) -> Verdict | None:
        decision = decide(section, new, MatchProfile.from_rows(
            other, lambda: identities(other.id), region))
        if decision is not None:
            return Verdict(decision.action, decision.rule, 1.0, decision.evidence)
        if model is None:
            return None
        scored = model.score(MatchRecord.from_rows(row, identities(row.id)),
                             MatchRecord.from_rows(other, identities(other.id)))
        probability = float(scored.probability)
        if probability >= section.auto_merge_probability:
            return Verdict("auto_merge", "model", probability, dict(scored.evidence))
        if probability >= section.suggest_probability:
            return Verdict("suggest", "model", probability, dict(scored.evidence))
        return None
