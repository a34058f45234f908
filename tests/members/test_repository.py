"""Member lookups in chunks: more ids than one ``IN`` list holds, on SQLite and PostgreSQL."""

from __future__ import annotations

from patron.members import repository
from patron.members.service import enrol
from tests.conftest import make_program

COUNT = 1_201  # three chunks of at most 500


def test_lookups_cross_chunk_boundaries(database, program, clock):
    emails = [f"m{n}@example.com" for n in range(COUNT)]
    ids = database.transact(lambda conn: enrol(
        conn, program, clock.now(), [{} for _ in emails],
        [[("email", email, "web"), ("external_id", f"x{n}", None)]
         for n, email in enumerate(emails)]))
    unknown = max(ids) + 1_000_000

    def read(conn):
        return (repository.identities_of(conn, ids),
                repository.members_by_identity(conn, program.id, [("email", e) for e in emails]
                                               + [("email", "nobody@example.com")]),
                repository.existing_member_ids(conn, program.id, [*ids, unknown]))
    identities, owners, existing = database.read(read)
    assert [[(i.type, i.value) for i in identities[m]] for m in (ids[0], ids[-1])] == [
        [("email", emails[0]), ("external_id", "x0")],
        [("email", emails[-1]), ("external_id", f"x{COUNT - 1}")]]
    assert sum(len(found) for found in identities.values()) == 2 * COUNT
    assert owners == {("email", e): m for e, m in zip(emails, ids)}
    assert existing == set(ids)


def test_identity_lookups_answer_the_same_for_a_few_keys_and_for_many(database, program,
                                                                       clock):
    """One or two (type, value) keys go in scalar parameters; more as two arrays (one
    statement, PostgreSQL) or in chunks (SQLite): each answers for the program's own
    identities only, by type and value together."""
    other = make_program(database, clock)
    people = [[("email", f"k{n}@example.com", "web"), ("phone", f"+614000{n:05d}", None)]
              for n in range(600)]
    ids = database.transact(lambda conn: enrol(conn, program, clock.now(),
                                               [{} for _ in people], people))
    database.transact(lambda conn: enrol(conn, other, clock.now(), [{}],
                                         [[("email", "elsewhere@example.com", "web")]]))
    known = {(kind, value): member for member, keys in zip(ids, people)
             for kind, value, _ in keys}
    crossed = [("phone", "k1@example.com"), ("email", "+61400000001")]  # value of the other
    asked = [("email", "k0@example.com"), ("email", "elsewhere@example.com"), *crossed,
             ("phone", "+61400000007"), *list(known)[100:700]]

    def read(conn):
        found = {}
        for count in (1, 2, 3, len(asked)):
            keys = asked[:count]
            owners = repository.members_by_identity(conn, program.id, keys)
            with_ids = repository.identity_owners(conn, program.id, keys)
            identity_ids = repository.identity_ids(conn, program.id, keys)
            assert {k: owner for k, (owner, _) in with_ids.items()} == owners
            assert {k: identity for k, (_, identity) in with_ids.items()} == identity_ids
            found[count] = owners
        return found
    found = database.read(read)
    expect = {key: known[key] for key in asked if key in known}
    assert found == {count: {key: expect[key] for key in asked[:count] if key in expect}
                     for count in (1, 2, 3, len(asked))}
    assert found[1] == {("email", "k0@example.com"): ids[0]} and len(found[len(asked)]) == 602
