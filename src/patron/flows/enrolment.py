"""Enrolment: new members, their points accounts, and everyone told they joined.

The members domain creates the member and their identities; the ledger opens
their points account; then ``MembersEnrolled`` is announced in the same
transaction, so a referral code given at sign-up is attributed (or, when the
member asked directly, an unknown code refuses the whole enrolment).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron import hooks
from patron.ledger import repository as ledger_repository
from patron.matching.normalise import blocking_keys
from patron.members import service as member_service
from patron.members.schemas import Member, MemberCreate
from patron.program.service import Program


def enrol(conn: Connection, program: Program, now: datetime,
          profiles: Sequence[dict[str, Any]],
          identity_sets: Sequence[Sequence[tuple[str, str, str | None]]],
          joined: Sequence[datetime] | None = None,
          referral_codes: Sequence[str | None] | None = None,
          strict: bool = False) -> list[int]:
    """Enrol members in bulk (see ``members.service.enrol``); returns their ids. Each
    row is written with its match keys, which enrolment matching looks members up by;
    ``MembersEnrolled`` carries each row as written, with its identities, so matching
    reads neither back."""
    written = [with_match_keys(p) for p in profiles]
    ids = member_service.enrol(conn, program, now, written, identity_sets, joined)
    ledger_repository.open_accounts(conn, program.id, ids, now)
    since = list(joined) if joined is not None else [now] * len(ids)
    codes = list(referral_codes) if referral_codes is not None else [None] * len(ids)
    hooks.emit(conn, hooks.MembersEnrolled(program, tuple(
        hooks.Enrolment(member_id, at, profile.get("join_channel"), code,
                        tuple(hooks.EnrolledIdentity(*identity) for identity in identities),
                        profile)
        for member_id, at, profile, code, identities
        in zip(ids, since, written, codes, identity_sets, strict=True)), strict=strict))
    return ids


def with_match_keys(profile: dict[str, Any]) -> dict[str, Any]:
    """The profile with ``members.family_key`` and ``postcode_key``."""
    family, code = blocking_keys(profile.get("family_name"), profile.get("postcode"))
    return dict(profile, family_key=family, postcode_key=code)


def create_member(conn: Connection, program: Program, payload: MemberCreate,
                  now: datetime, *, actor: str = "enrolment") -> Member:
    """One member someone asked to enrol (``POST /members``, an import, the demo); the
    member it was merged into when enrolment matching found it was someone known."""
    return enrol_member(conn, program, payload, now, actor=actor)[0]


def enrol_member(conn: Connection, program: Program, payload: MemberCreate,
                 now: datetime, *, actor: str = "enrolment") -> tuple[Member, bool]:
    """Enrol one member; returns the member and whether it was new. An auto-merge rule
    (``matching`` in the program document) may merge the new record into an existing
    member in this same transaction: then the answer is that existing member (the
    survivor, holding the new identities) and ``False``."""
    profile, identities = member_service.new_member(conn, program, payload, now, actor=actor)
    [member_id] = enrol(conn, program, now, [profile], [identities],
                        referral_codes=[payload.referral_code], strict=True)
    member = member_service.surviving_member(conn, program, member_id)
    return member, member.id == member_id
