"""The per-program batch loop the scheduled sweeps share, on SQLite and PostgreSQL."""

from __future__ import annotations

from patron.program.jobs import every_program_in_batches
from tests.conftest import make_program


def test_each_program_is_asked_again_until_a_batch_comes_back_short(database, clock):
    first, second = make_program(database, clock), make_program(database, clock)
    due = {first.id: 5, second.id: 4}
    calls: list[tuple[int, int]] = []

    def step(conn, program, limit):
        n = min(limit, due.get(program.id, 0))
        if program.id in due:
            due[program.id] -= n
            calls.append((program.id, n))
        return n

    results = every_program_in_batches(database, step, int, 2)
    assert due == {first.id: 0, second.id: 0}
    # A full batch may have left rows behind: 4 due take two full batches and an empty one.
    assert calls == [(first.id, 2), (first.id, 2), (first.id, 1),
                     (second.id, 2), (second.id, 2), (second.id, 0)]
    assert sum(results) == 9
