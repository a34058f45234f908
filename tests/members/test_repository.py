"""Member lookups in chunks: more ids than one ``IN`` list holds, on SQLite and PostgreSQL."""

from __future__ import annotations

from patron.members import repository
from patron.members.service import enrol

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
