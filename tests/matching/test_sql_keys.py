"""The match keys built in DuckDB for batch matching equal ``MatchRecord.from_rows``'s."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from patron.matching import batch
from patron.matching.records import MatchRecord

COLUMNS = batch.MEMBER_COLUMNS

MEMBERS: list[dict[str, Any]] = [
    dict(given_name="Zoë", family_name="O'Brien-Smith", birthdate="1980-02-29", gender="Female",
         address_line1="12 Rue de l'Église", address_line2="Apt. 3", city="Saint-Étienne",
         postcode="sw1a 1aa", state="N.S.W.", country=" au "),
    dict(given_name="Łukasz", family_name="Żółć", birthdate="2001-12-01", gender="male",
         address_line1="ul. Długa 007a", city="Łódź", postcode="90-001", country="PL"),
    dict(given_name="张", family_name="伟", city="北京", address_line1="长安街 1号",
         gender="prefer not to say"),
    dict(given_name="Дмитрий", family_name="Иванов", city="Москва", state="Московская обл.",
         gender="Man", postcode="101 000"),
    dict(given_name="Jürgen", family_name="Müller", address_line1="Straße 0",
         address_line2="Hof 12", city="Köln", gender="non-binary"),
    dict(name="  Mary Ann   van der Berg ", address_line1="Flat 000, High St", gender="U"),
    dict(name="Cher"),
    dict(name="  "),
    dict(given_name="  ", family_name="--", address_line1="...", city="", postcode=" - ",
         state="\t", gender="   "),
    dict(given_name="Anne\tMarie", family_name="d’Arcy", birthdate="1999-1-1",
         address_line1="Unit 4/56 Smith_St", city="St. Kilda  East", gender="W O M A N"),
    dict(given_name="José", family_name="Nuñez", address_line1="no number lane",
         address_line2="7", city="São Paulo", postcode="01310-100", country="br"),
    dict(),
]

IDENTITIES: dict[int, list[tuple[str, str]]] = {
    0: [("email", "b@example.com"), ("email", "a@example.com"), ("phone", "+61400000001"),
        ("card", "C-9"), ("external_id", "X-1"), ("push_token", "ignored")],
    2: [("phone", "+8613800000000")],
    5: [("external_id", "ext-5"), ("external_id", "ext-5b")],
}


def _rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    members = [{c: (i + 1 if c == "id" else person.get(c)) for c in COLUMNS}
               for i, person in enumerate(MEMBERS)]
    identities = [dict(member_id=i + 1, type=t, value=v)
                  for i, found in IDENTITIES.items() for t, v in found]
    return members, identities


def test_sql_keys_equal_the_python_keys():
    members, identities = _rows()
    member_rows = batch._arrow_from_rows([tuple(m.values()) for m in members], COLUMNS)
    identity_rows = batch._arrow_from_rows(
        [(i["member_id"], i["type"], i["value"]) for i in identities],
        ("member_id", "type", "value"))
    table = batch.key_table(member_rows, identity_rows)
    in_sql = [{k: (tuple(v) if isinstance(v, list) else v) for k, v in row.items()}
              for row in table.to_pylist()]
    in_python = []
    for m in members:
        record = MatchRecord.from_rows(m, [i for i in identities if i["member_id"] == m["id"]])
        row = record.as_row()
        in_python.append({k: (tuple(v) if isinstance(v, list) else v) for k, v in row.items()})
    for sql_row, python_row, person in zip(in_sql, in_python, MEMBERS, strict=True):
        assert sql_row == python_row, person
    assert in_python[1]["city"] == "lodz" and in_python[2]["given_name"] == "zhang"
    assert in_python[0]["emails"] == ("a@example.com", "b@example.com")


def test_a_table_without_non_ascii_values_or_identities_is_keyed_too():
    members, _ = _rows()
    plain = [m for m in members if all(v is None or isinstance(v, int) or v.isascii()
                                       for v in m.values())]
    table = batch.key_table(batch._arrow_from_rows([tuple(m.values()) for m in plain], COLUMNS),
                            batch._arrow_from_rows([], ("member_id", "type", "value")))
    assert [r["member_id"] for r in table.to_pylist()] == [m["id"] for m in plain]
    assert all(r["emails"] is None for r in table.to_pylist())
    expected = [asdict(MatchRecord.from_rows(m)) for m in plain]
    got = [{k: tuple(v or ()) if k in ("emails", "phones", "external_ids") else v
            for k, v in r.items() if k in expected[0]} for r in table.to_pylist()]
    assert got == expected
