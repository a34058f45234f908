"""Answers kept for retries that quote an erased member.

``Idempotency-Key`` retries get the first answer again, stored as it was sent, and some
answers quote a member's profile and identities (an enrolment; a merge candidate's
decision). An erasure renders each such answer again as it reads now, so a retry still
gets a valid answer of the same shape, without the data the erasure took out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from patron.idempotency import repository
from patron.matching import candidates
from patron.matching import repository as matching_repository
from patron.members import service as members
from patron.program.service import Program


@dataclass(frozen=True)
class StoredAnswer:
    operations: tuple[str, ...]
    """The ``run_once`` operations whose answers quote members."""
    member_paths: tuple[tuple[str, ...], ...]
    """Where in the answer a member's id is."""
    render: Callable[[Connection, Program, dict[str, Any]], dict[str, Any]]
    """The same answer as it reads now."""


def _member(conn: Connection, program: Program, body: dict[str, Any]) -> dict[str, Any]:
    return members.get_member(conn, program, body["id"]).model_dump(mode="json")


def _candidate(conn: Connection, program: Program, body: dict[str, Any]) -> dict[str, Any]:
    row = matching_repository.candidate_by_id(conn, body["id"])
    return candidates.view(conn, program.id, [row])[0].model_dump(mode="json")


STORED_ANSWERS: list[StoredAnswer] = [
    StoredAnswer(("create_member",), (("id",),), _member),
    StoredAnswer(("accept_merge_candidate", "reject_merge_candidate"),
                 (("member_a", "id"), ("member_b", "id")), _candidate),
]


def render_again(conn: Connection, program: Program, member_ids: Sequence[int]) -> int:
    """Render again every stored answer that quotes one of ``member_ids``; how many."""
    done = 0
    for stored in STORED_ANSWERS:
        for record in repository.records_naming(conn, program.id, stored.operations,
                                                 stored.member_paths, member_ids):
            repository.replace_response(conn, record.id,
                                        stored.render(conn, program, record.response))
            done += 1
    return done
