"""Matching on enrolment: a new member who is someone already known is merged or queued.

Runs as a ``MembersEnrolled`` subscriber, inside the enrolment's transaction, so
a merge commits or rolls back with the enrolment itself. The enrolment announces
each new member's row and identities as it wrote them, so none is read back. For
each new member:

1. its match keys (``members.family_key``, ``postcode_key``) are written, so later
   enrolments find it (the enrolment writes them with the row: then nothing is done);
2. existing active members sharing a blocking key are fetched through the
   ``ix_members_match_*`` indexes: the same birthdate (and family name key, when
   every rule that blocks on birthdate names the family name), the same postcode
   (likewise) — only the lookups the program's rules and a model need — in one
   statement that also brings the program's latest model id and, when a rule
   compares an identity kind the new member has, each look-alike's identities.
   A lookup only rules that compare an identity use (``[email, postcode]``) finds
   only members carrying that identity as an imported attribute, unless the new
   member carries it so (identities are unique: see ``repository.Lookup``);
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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from patron import hooks
from patron.matching import candidates, repository
from patron.matching.repository import Lookup
from patron.matching.normalise import blocking_keys
from patron.matching.records import MatchRecord
from patron.matching.rules import MatchProfile, decide
from patron.matching.scorer import model_by_id
from patron.program.document import IDENTITY_KINDS, Matching
from patron.program.versions import versions

ACTOR = "matching"
ANY: frozenset[str] = frozenset()
"""A lookup's identity kinds when it has no such restriction (``repository.Lookup``)."""

MODEL_LOOKUPS: frozenset[Lookup] = frozenset({("birthdate", True, ANY), ("postcode", True, ANY)})


def covers(wide: Lookup, narrow: Lookup) -> bool:
    """``wide`` finds everyone ``narrow`` would (and is not the same lookup)."""
    return (wide != narrow and wide[0] == narrow[0] and (not wide[1] or narrow[1])
            and (not wide[2] or bool(narrow[2]) and narrow[2] <= wide[2]))


def narrowest(found: set[Lookup] | frozenset[Lookup]) -> frozenset[Lookup]:
    """The lookups without those another already covers."""
    return frozenset(lookup for lookup in found
                     if not any(covers(other, lookup) for other in found))


def lookups_for(section: Matching) -> frozenset[Lookup]:
    """The index lookups that find every pair one of the rules could match: a rule that
    compares an identity kind looks only among members carrying it as an attribute
    (rules on the same key share one lookup, unrestricted when one of them compares no
    identity)."""
    kinds: dict[tuple[str, bool], frozenset[str]] = {}
    for _, rule in section.rules():
        key = "birthdate" if "birthdate" in rule.fields else (
            "postcode" if "postcode" in rule.fields else None)
        if key is None:
            continue
        compared = frozenset(f for f in rule.fields if f in IDENTITY_KINDS)
        range_ = (key, "family_name" in rule.fields)
        known = kinds.get(range_, compared)
        kinds[range_] = compared | known if compared and known else ANY
    return narrowest({(key, family, found) for (key, family), found in kinds.items()})


def relaxed(lookups: frozenset[Lookup], carried: frozenset[str]) -> frozenset[Lookup]:
    """The lookups for a new member who carries ``carried`` identity kinds as attributes:
    then a member holding one of them as an identity may agree, so a lookup restricted
    to those kinds looks at everyone."""
    if not carried:
        return lookups
    return frozenset((key, family, ANY if kinds & carried else kinds)
                     for key, family, kinds in lookups)


@dataclass(frozen=True)
class Plan:
    """What enrolment matching does for a program's rules, worked out once per compiled
    document: the lookups the rules need and the identity kinds they compare; for each
    set of identity kinds a new member carries as attributes, the lookups to run with
    the model's (in the same statement; what only the model's find is dropped while the
    program has no model)."""

    rules: frozenset[Lookup]
    identity_kinds: frozenset[str]
    _carrying: dict[frozenset[str], tuple[frozenset[Lookup], frozenset[Lookup]]] = field(
        default_factory=dict, compare=False, repr=False)

    def for_member(self, attributes: Any) -> tuple[frozenset[Lookup], frozenset[Lookup]]:
        """``(lookups, for_rules)`` for a new member with these imported attributes:
        every lookup to run, and those that find what a rule's lookup would (the rest
        only what the model's would)."""
        carried = frozenset(kind for kind in self.identity_kinds
                            if isinstance(attributes, Mapping)
                            and attributes.get(kind) is not None)
        found = self._carrying.get(carried)
        if found is None:
            rules = relaxed(self.rules, carried)
            lookups = narrowest(rules | MODEL_LOOKUPS)
            found = self._carrying[carried] = (lookups, frozenset(
                lookup for lookup in lookups
                if lookup in rules or any(covers(lookup, rule) for rule in rules)))
        return found


_PLANS: dict[int, tuple[Matching, Plan]] = {}


def plan_for(section: Matching) -> Plan:
    found = _PLANS.get(id(section))
    if found is None or found[0] is not section:
        if len(_PLANS) >= 64:
            _PLANS.clear()
        found = _PLANS[id(section)] = (section, Plan(
            lookups_for(section), frozenset(f for _, rule in section.rules()
                                            for f in rule.fields if f in IDENTITY_KINDS)))
    return found[1]


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


class WrittenRow(dict):
    """A new member's row as the enrolment wrote it (``hooks.Enrolment.profile`` with the
    member's id), read like a ``members`` row: by attribute, None for a column not written."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return self.get(name)


def written_rows(conn: Connection, happened: hooks.MembersEnrolled) -> list[Any]:
    """The new members' rows, oldest first: as the enrolment announced them, else read
    (with the program's latest model id, which a written row leaves to the look-alikes)."""
    joined = sorted(happened.members, key=lambda member: member.member_id)
    if all(member.profile is not None for member in joined):
        return [WrittenRow(member.profile, id=member.member_id) for member in joined]
    return repository.enrolled_rows(conn, happened.program.id,
                                    [member.member_id for member in joined])


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
        rows = written_rows(conn, happened)
        keys = {row.id: stored_keys(row) for row in rows}
        missing = [(row.id, *keys[row.id]) for row in rows
                   if keys[row.id] != (row.family_key, row.postcode_key)]
        repository.set_match_keys(conn, missing)
        section = versions.compiled(conn, program, program.version).document.matching
        if not section.on_enrolment:
            return
        plan = plan_for(section)
        given = {joined.member_id: joined.identities for joined in happened.members}
        gone: set[int] = set()
        for row in rows:
            if row.id not in gone:
                self._match(conn, happened, section, plan, row, keys[row.id],
                            given.get(row.id), gone)

    def _look_alikes(self, conn: Connection, program_id: int, plan: Plan, row: Any,
                     keys: tuple[str | None, str | None], with_identities: bool,
                     gone: set[int]) -> tuple[list[Any], Any]:
        """The new member's look-alikes a rule (or the program's model) compares it with,
        and the model (None before one is trained): one statement."""
        lookups, for_rules = plan.for_member(row.attributes)
        found = [other for other in repository.look_alikes(
            conn, program_id, row.id, birthdate=row.birthdate, family_key=keys[0],
            postcode_key=keys[1], lookups=lookups, for_rules=for_rules,
            with_identities=with_identities) if other.id not in gone]
        if not found:
            return [], None
        model = self.load_model(conn, program_id, found[0].model_id)
        return [other for other in found if model is not None or other.for_rules], model

    def _match(self, conn: Connection, happened: hooks.MembersEnrolled, section: Matching,
               plan: Plan, row: Any, keys: tuple[str | None, str | None],
               given: Sequence[Any] | None, gone: set[int]) -> None:
        program = happened.program
        region = program.settings.default_region
        loaded: dict[int, list[Any]] = {} if given is None else {row.id: list(given)}
        others: list[Any] = []

        def identities(member_id: int) -> list[Any]:
            """Identities not known yet, all in one query when a rule or the model first
            needs them."""
            if member_id not in loaded:
                loaded.update(repository.identities_of(
                    conn, [i for i in (row.id, *(o.id for o in others)) if i not in loaded]))
            return loaded[member_id]

        new = MatchProfile.from_rows(row, lambda: identities(row.id), region)
        # look-alikes come with their identities when a rule compares a kind the new
        # member has (not knowing what it enrolled with: whenever a rule compares one)
        with_identities = (bool(plan.identity_kinds) if given is None else any(
            new.compared(kind) is not None for kind in plan.identity_kinds))
        others[:], model = self._look_alikes(conn, program.id, plan, row, keys,
                                             with_identities, gone)
        if with_identities:
            loaded.update((o.id, repository.identity_rows(o.identity_list)) for o in others)
        if not others:
            return
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
                                     actor=ACTOR, source="enrolment",
                                     enrolled_now=True)
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
