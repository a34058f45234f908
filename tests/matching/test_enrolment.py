"""Matching on enrolment: a new member who matches someone known is merged or queued."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from patron import hooks
from patron.errors import Conflict
from patron.matching import candidates
from patron.matching.enrolment import ANY, EnrolmentMatcher, lookups_for, plan_for
from patron.members.tables import members
from patron.program.document import Matching
from tests.matching.conftest import RULES, enrol, person, with_matching

BORN = date(1990, 5, 1)


@pytest.fixture
def ruled(database, program, clock):
    return with_matching(database, program, clock)


def test_same_names_and_birthdate_merge_the_new_member_into_the_old(database, ruled, clock,
                                                                    merges):
    [old] = enrol(database, ruled, clock, person("Zoë", "O'Brien", BORN))
    [new] = enrol(database, ruled, clock, person("zoe", "OBRIEN", BORN))
    assert merges.calls == [dict(program=ruled.id, survivor=old, merged=new,
                                 reason="matched on enrolment by name_and_birthdate",
                                 actor="matching", source="enrolment")]


def test_a_suggest_rule_queues_the_pair_with_its_evidence(database, ruled, clock, merges):
    [old] = enrol(database, ruled, clock, person("Ann", "Lee", BORN, postcode="SW1A 1AA"))
    [new] = enrol(database, ruled, clock, person("Anna", "Lee", BORN, postcode="sw1a1aa"))
    assert merges.calls == []
    [candidate], _ = database.read(lambda conn: candidates.pending(conn, ruled.id))
    assert (candidate.member_a.id, candidate.member_b.id) == (old, new)
    assert (candidate.rule, candidate.probability) == ("family_birthdate_postcode", 1.0)
    assert candidate.evidence["postcode"]["values"] == {str(new): "sw1a1aa",
                                                        str(old): "SW1A 1AA"}


def test_an_identity_matches_the_same_phone_imported_as_an_attribute(database, ruled, clock,
                                                                     merges):
    [old] = enrol(database, ruled, clock, dict(
        person(None, "Ng", BORN), attributes={"phone": "+1 415 555 0123"}))
    [new] = enrol(database, ruled, clock, dict(person(None, None, BORN),
                                               identities=[("phone", "+14155550123")]))
    assert [(c["survivor"], c["merged"]) for c in merges.calls] == [(old, new)]
    assert "phone_and_birthdate" in merges.calls[0]["reason"]


def test_different_people_and_missing_fields_match_nobody(database, ruled, clock, merges):
    enrol(database, ruled, clock, person("Ann", "Lee", BORN), person("Bo", None, None))
    enrol(database, ruled, clock, person("Ann", "Lee", date(1990, 5, 2)),
          person("Bo", None, None))
    assert merges.calls == []
    assert database.read(lambda conn: candidates.pending(conn, ruled.id))[0] == []


def test_look_alikes_enrolled_in_one_batch_merge_into_the_first(database, ruled, clock, merges):
    first, second = enrol(database, ruled, clock, person("Kai", "Berg", BORN),
                          person("KAI", "berg", BORN))
    assert [(c["survivor"], c["merged"]) for c in merges.calls] == [(first, second)]


def test_keys_are_written_even_when_matching_on_enrolment_is_off(database, program, clock,
                                                                 merges):
    off = with_matching(database, program, clock, {**RULES, "on_enrolment": False})
    enrol(database, off, clock, person("Zoë", "Müller-Lüdenscheidt", BORN, postcode="10 115"))
    [new] = enrol(database, off, clock, person("Zoe", "Muller Ludenscheidt", BORN))
    assert merges.calls == []
    keys = database.read(lambda conn: conn.execute(
        select(members.c.family_key, members.c.postcode_key)
        .where(members.c.program_id == off.id).order_by(members.c.id)).all())
    assert [tuple(k) for k in keys] == [("mullerludenscheidt", "10115"),
                                        ("mullerludenscheidt", None)]
    assert new


def test_a_failing_merge_refuses_the_whole_enrolment(database, ruled, clock):
    def refuse(*args, **kwargs):
        raise Conflict("cannot merge now")

    matcher = EnrolmentMatcher(lambda: refuse)
    [old] = enrol(database, ruled, clock, person("Ida", "Holm", BORN))
    before = database.read(lambda conn: conn.execute(
        select(members.c.id).where(members.c.program_id == ruled.id)).scalars().all())
    from patron.flows import subscribers

    hooks.unsubscribe(hooks.MembersEnrolled, subscribers.enrolment_matcher)
    hooks.subscribe(hooks.MembersEnrolled, matcher)
    try:
        with pytest.raises(Conflict):
            enrol(database, ruled, clock, person("Ida", "Holm", BORN))
    finally:
        hooks.unsubscribe(hooks.MembersEnrolled, matcher)
        hooks.subscribe(hooks.MembersEnrolled, subscribers.enrolment_matcher)
    after = database.read(lambda conn: conn.execute(
        select(members.c.id).where(members.c.program_id == ruled.id)).scalars().all())
    assert before == after == [old]


class ScoredPair:
    def __init__(self, probability, evidence):
        self.probability, self.evidence = probability, evidence


class FamilyModel:
    """Scores by the family name alone: 0.995 when equal, else 0.95 for the same birthdate."""

    def score(self, a, b):
        same = a.family_name == b.family_name
        return ScoredPair(0.995 if same else 0.95, {"family_name": {"agrees": same}})


def test_a_model_merges_and_queues_by_the_programs_thresholds(database, program, clock,
                                                             merges):
    from patron.flows import subscribers

    plain = with_matching(database, program, clock, {"auto_merge_probability": 0.99,
                                                     "suggest_probability": 0.9})
    matcher = EnrolmentMatcher(lambda: merges, load_model=lambda conn, pid, model_id: FamilyModel())
    hooks.unsubscribe(hooks.MembersEnrolled, next(
        s for s in hooks.subscribers_of(hooks.MembersEnrolled)
        if isinstance(s, EnrolmentMatcher)))
    hooks.subscribe(hooks.MembersEnrolled, matcher)
    try:
        [old] = enrol(database, plain, clock, person("Al", "Roe", BORN, postcode="2000"))
        [same] = enrol(database, plain, clock, dict(  # scored with what it enrolled with
            person("Alan", "Roe", BORN), identities=[("email", "alan.roe@example.com")]))
        [near] = enrol(database, plain, clock, person("Al", "Rowe", None, postcode="2000"))
    finally:
        hooks.unsubscribe(hooks.MembersEnrolled, matcher)
    assert subscribers.enrolment_matcher not in hooks.subscribers_of(hooks.MembersEnrolled)
    assert [(c["survivor"], c["merged"]) for c in merges.calls] == [(old, same)]
    assert "by model" in merges.calls[0]["reason"]
    # the model blocks on the family key: Rowe shares neither birthdate nor family with Roe
    assert database.read(lambda conn: candidates.pending(conn, plain.id))[0] == []
    assert near


def test_lookups_are_the_narrowest_that_find_every_rule():
    # an identity rule looks only among members carrying that identity as an attribute
    assert lookups_for(Matching.model_validate(RULES)) == {
        ("birthdate", True, ANY), ("birthdate", False, frozenset({"phone"})),
        ("postcode", False, frozenset({"email"}))}
    assert lookups_for(Matching.model_validate({"suggest": [
        {"name": "a", "fields": ["family_name", "postcode"]},
        {"name": "b", "fields": ["given_name", "family_name", "birthdate"]}]})) == {
        ("birthdate", True, ANY), ("postcode", True, ANY)}
    assert lookups_for(Matching.model_validate({"suggest": [
        {"name": "a", "fields": ["email", "postcode"]},
        {"name": "b", "fields": ["phone", "postcode"]},
        {"name": "c", "fields": ["family_name", "postcode"]}]})) == {
        ("postcode", False, frozenset({"email", "phone"})), ("postcode", True, ANY)}
    assert lookups_for(Matching.model_validate({"suggest": [
        {"name": "a", "fields": ["email", "postcode"]},
        {"name": "b", "fields": ["given_name", "postcode"]}]})) == {("postcode", False, ANY)}
    assert lookups_for(Matching.model_validate({"suggest": [
        {"name": "n", "fields": ["given_name", "family_name"]}]})) == frozenset()


def test_look_alikes_by_birthdate_and_by_postcode_come_from_one_statement(database, program,
                                                                          clock):
    from sqlalchemy import event

    from patron.matching import repository

    by_birthdate, by_postcode, neither, new = enrol(
        database, program, clock, person("Ann", "Lee", BORN, postcode="1000"),
        person("Bo", "Kim", date(1971, 1, 1), postcode="2000"),
        person("Cy", "Lee", date(1972, 1, 1), postcode="3000"),
        person("Di", "Lee", BORN, postcode="2000"))
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        found = database.read(lambda conn: repository.look_alikes(
            conn, program.id, new, birthdate=BORN, family_key="lee", postcode_key="2000",
            lookups=[("birthdate", False, ANY), ("postcode", False, ANY)]))
        with_family = database.read(lambda conn: repository.look_alikes(
            conn, program.id, new, birthdate=BORN, family_key="lee", postcode_key="2000",
            lookups=[("birthdate", True, ANY), ("postcode", True, ANY)]))
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
    assert [row.id for row in found] == [by_birthdate, by_postcode]
    assert [row.id for row in with_family] == [by_birthdate]
    assert neither not in {row.id for row in found}
    assert len([s for s in statements if "FROM members" in s]) == 2  # one per look-up call


def statements_sent(database, work):
    """The SQL statements ``work`` sends, in order."""
    from sqlalchemy import event

    sent: list[str] = []

    def record(conn, cursor, statement, *args):
        sent.append(" ".join(statement.split()))

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        work()
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    return sent


def test_a_look_alikes_identity_decides_a_rule_from_the_statement_that_finds_it(
        database, ruled, clock, merges):
    [old] = enrol(database, ruled, clock, dict(person("Ann", "Lee", None, postcode="2000"),
                                               identities=[("email", "ann@example.com")]))
    sent = statements_sent(database, lambda: enrol(database, ruled, clock, dict(
        person("Annie", "Leigh", BORN, postcode="2000"),
        attributes={"email": "Ann@Example.com"})))
    [candidate], _ = database.read(lambda conn: candidates.pending(conn, ruled.id))
    assert (candidate.member_a.id, candidate.rule) == (old, "email_and_postcode")
    assert candidate.evidence["email"]["key"] == "ann@example.com"
    # matching read nothing back: neither the new member nor anyone's identities apart
    reads = [s for s in sent if s.startswith("SELECT")]
    assert len(reads) == 1 and "AS identity_list" in reads[0], reads


def test_a_new_member_without_identity_a_rule_compares_reads_no_identities(database, ruled,
                                                                          clock, merges):
    enrol(database, ruled, clock, dict(person("Ann", "Lee", BORN, postcode="2000"),
                                       identities=[("email", "ann@example.com")]))
    sent = statements_sent(database, lambda: enrol(database, ruled, clock, person(
        "Bea", "Lee", BORN, postcode="2000")))
    assert not any("identities" in s for s in sent if s.startswith("SELECT")), sent
    [candidate], _ = database.read(lambda conn: candidates.pending(conn, ruled.id))
    assert candidate.rule == "family_birthdate_postcode"


def test_members_announced_without_their_rows_are_read_and_matched(database, ruled, clock,
                                                                   merges):
    """An enrolling path that announces only the new member's id (an import) still has
    it matched: its row and everyone's identities are read."""
    from patron.members import service as member_service

    [old] = enrol(database, ruled, clock, dict(person("Ann", "Lee", None, postcode="2000"),
                                               identities=[("email", "ann@example.com")]))

    def announce_bare(conn):
        [new] = member_service.enrol(conn, ruled, clock.now(), [dict(
            person("Annie", "Leigh", None, postcode="2000"),
            attributes={"email": "ann@example.com"})], [[]])
        hooks.emit(conn, hooks.MembersEnrolled(ruled, (hooks.Enrolment(new, clock.now()),)))
        return new

    new = database.transact(announce_bare)
    [candidate], _ = database.read(lambda conn: candidates.pending(conn, ruled.id))
    assert (candidate.member_a.id, candidate.member_b.id) == (old, new)
    assert candidate.rule == "email_and_postcode"
    keys = database.read(lambda conn: conn.execute(
        select(members.c.family_key, members.c.postcode_key).where(members.c.id == new)).one())
    assert tuple(keys) == ("leigh", "2000")


def test_what_only_a_models_lookup_finds_is_left_alone_while_there_is_no_model(
        database, program, clock, merges):
    """The look-alikes statement also runs the lookups a model would need; without a
    model, whom only those find is not compared: a rule enrolment cannot look up by index
    (names alone) does not fire at enrolment, as ``validate`` warns."""
    names_only = with_matching(database, program, clock, {
        "auto_merge": [{"name": "same_person", "fields": ["given_name", "family_name",
                                                          "birthdate"]}],
        "suggest": [{"name": "same_names", "fields": ["given_name", "family_name"]}]})
    enrol(database, names_only, clock, person("Al", "Roe", BORN, postcode="2000"))
    enrol(database, names_only, clock, person("Al", "Roe", date(1980, 1, 1), postcode="2000"))
    assert merges.calls == []
    assert database.read(lambda conn: candidates.pending(conn, names_only.id))[0] == []
    enrol(database, names_only, clock, person("AL", "ROE", BORN, postcode="9999"))
    assert [c["reason"] for c in merges.calls] == ["matched on enrolment by same_person"]


def test_an_identity_rule_looks_only_among_members_carrying_that_identity(database, ruled,
                                                                          clock, merges):
    """Identities are unique, so ``email_and_postcode`` can agree only with a member who
    carries the email as an imported attribute: the postcode's other members are not
    even read."""
    from patron.matching import repository

    carrier, _neighbour = enrol(
        database, ruled, clock,
        dict(person("Ann", "Lee", None, postcode="2000"), attributes={"email": "ANN@example.com"}),
        person("Bo", "Kim", None, postcode="2000"))
    found = database.read(lambda conn: repository.look_alikes(
        conn, ruled.id, 0, birthdate=None, family_key=None, postcode_key="2000",
        lookups=[("postcode", False, frozenset({"email"}))]))
    assert [row.id for row in found] == [carrier]
    [new] = enrol(database, ruled, clock, dict(person("Annie", "Leigh", None, postcode="2000"),
                                               identities=[("email", "ann@example.com")]))
    [candidate], _ = database.read(lambda conn: candidates.pending(conn, ruled.id))
    assert (candidate.member_a.id, candidate.member_b.id, candidate.rule) == (
        carrier, new, "email_and_postcode")


def test_a_rule_lookup_the_models_covers_still_counts_as_the_rules(database, program, clock,
                                                                   merges):
    """``[email, family_name, postcode]`` looks up the postcode and family key among
    email carriers, which the model's postcode-and-family lookup already covers: that one
    runs, and what it finds is compared by the rule even without a model."""
    section = {"suggest": [{"name": "email_family_postcode",
                            "fields": ["email", "family_name", "postcode"]}]}
    plan = plan_for(Matching.model_validate(section))
    assert plan.for_member(None) == (
        {("birthdate", True, ANY), ("postcode", True, ANY)}, {("postcode", True, ANY)})
    assert plan.for_member({"email": "a@example.com"})[1] == {("postcode", True, ANY)}
    ruled = with_matching(database, program, clock, section)
    [old] = enrol(database, ruled, clock, dict(person("Ann", "Lee", None, postcode="2000"),
                                               attributes={"email": "ann@example.com"}))
    [new] = enrol(database, ruled, clock, dict(person("Annie", "Lee", None, postcode="2000"),
                                               identities=[("email", "ann@example.com")]))
    [candidate], _ = database.read(lambda conn: candidates.pending(conn, ruled.id))
    assert (candidate.member_a.id, candidate.member_b.id) == (old, new)
