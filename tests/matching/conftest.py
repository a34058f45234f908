"""Members with the One ID profile fields, and programs with matching rules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import insert, update

from patron import hooks
from patron.db import Database
from patron.flows import enrolment, subscribers
from patron.matching.enrolment import EnrolmentMatcher
from patron.members.tables import members
from patron.members.tables import merges as merges_table
from patron.program.document import Matching
from patron.program.service import Program, get_program
from patron.program.versions import get_version, publish
from tests.conftest import T0

RULES = {"auto_merge": [{"name": "name_and_birthdate",
                         "fields": ["given_name", "family_name", "birthdate"]},
                        {"name": "phone_and_birthdate", "fields": ["phone", "birthdate"]}],
         "suggest": [{"name": "family_birthdate_postcode",
                      "fields": ["family_name", "birthdate", "postcode"]},
                     {"name": "email_and_postcode", "fields": ["email", "postcode"]}]}


def with_matching(db: Database, program: Program, clock: Any,
                  section: dict[str, Any] = RULES) -> Program:
    """Publish the program's document again with this ``matching`` section."""
    def change(conn):
        document = get_version(conn, program).document
        publish(conn, program, document.model_copy(
            update={"matching": Matching.model_validate(section)}), actor="test",
            now=clock.now())
        return get_program(conn, program.id)
    return db.transact(change)


def enrol(db: Database, program: Program, clock: Any, *people: dict[str, Any]) -> list[int]:
    """Enrol people in one batch: profile fields, plus ``identities`` as (type, value)."""
    profiles, identity_sets = [], []
    for person in people:
        person = dict(person)
        identity_sets.append([(kind, value, None) for kind, value in
                              person.pop("identities", [])])
        profiles.append(person)
    return db.transact(lambda conn: enrolment.enrol(conn, program, clock.now(), profiles,
                                                    identity_sets))


def person(given: str | None, family: str | None, born: date | None = None,
           **more: Any) -> dict[str, Any]:
    return dict(given_name=given, family_name=family, birthdate=born, **more)


class RecordingMerge:
    """A merge callable that records what it was asked and marks the merged member."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, conn, program, survivor_id, merged_id, *, reason, actor, source,
                 enrolled_now=False) -> int:
        conn.execute(update(members).where(members.c.id == merged_id)
                     .values(merged_into=survivor_id))
        self.calls.append(dict(program=program.id, survivor=survivor_id, merged=merged_id,
                               reason=reason, actor=actor, source=source))
        return conn.execute(insert(merges_table).values(
            program_id=program.id, survivor_id=survivor_id, merged_id=merged_id, state="merged",
            reason=reason, actor=actor, source=source, moved={}, created_at=T0)
            .returning(merges_table.c.id)).scalar_one()


@pytest.fixture
def merges() -> Iterator[RecordingMerge]:
    """Enrolment matching merges through a recording callable for the test's length."""
    recording = RecordingMerge()
    matcher = EnrolmentMatcher(lambda: recording)
    hooks.unsubscribe(hooks.MembersEnrolled, subscribers.enrolment_matcher)
    hooks.subscribe(hooks.MembersEnrolled, matcher)
    try:
        yield recording
    finally:
        hooks.unsubscribe(hooks.MembersEnrolled, matcher)
        hooks.subscribe(hooks.MembersEnrolled, subscribers.enrolment_matcher)

