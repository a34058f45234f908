"""Members and their identities: one member recognised across every channel."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron import hooks
from patron.errors import Conflict, InvalidInput, NotFound
from patron.members import consents, repository
from patron.members.domain import IdentityType, normalise_identity, refuse_future_birthdate
from patron.members.profile import with_display_name
from patron.members.repository import HOLDER
from patron.members.schemas import (ConsentChanges, IdentityIn, Member, MemberConsents,
                                    MemberCreate, MemberStatus, MemberUpdate, StatusChange,
                                    StatusChangeRecord, consent_decisions, consent_record,
                                    member_out, profile_row, standing_out)
from patron.members.standing import MemberErased, Status, change_status
from patron.program.service import Program


class MemberNotFound(NotFound):
    code = "member_not_found"
    title = "Member not found"


class IdentityTaken(Conflict):
    code = "identity_taken"
    title = "Identity belongs to another member"


def normalised(program: Program, items: Sequence[IdentityIn]) -> list[tuple[str, str, str | None]]:
    """Normalise and de-duplicate the identities of one request."""
    seen: set[tuple[str, str]] = set()
    result = []
    for index, item in enumerate(items):
        try:
            value = normalise_identity(item.type, item.value, program.settings.default_region)
        except InvalidInput as exc:
            exc.extra["field"] = f"identities[{index}].value"
            raise
        if (item.type.value, value) in seen:
            raise InvalidInput(f"identity {item.type.value}:{value} is listed twice",
                               field=f"identities[{index}]")
        seen.add((item.type.value, value))
        result.append((item.type.value, value, item.channel))
    return result


def _refuse_taken(conn: Connection, program: Program, keys: list[tuple[str, str]],
                  member_id: int | None = None) -> None:
    owners = repository.members_by_identity(conn, program.id, keys)
    for (kind, value), owner in owners.items():
        if owner != member_id:
            raise IdentityTaken(f"{kind}:{value} already belongs to member {owner}",
                                member_id=owner, identity={"type": kind, "value": value})


def enrol(conn: Connection, program: Program, now: datetime,
          profiles: Sequence[dict[str, Any]],
          identity_sets: Sequence[Sequence[tuple[str, str, str | None]]],
          joined: Sequence[datetime] | None = None) -> list[int]:
    """Create members with their identities, in bulk (``patron.flows.enrolment`` opens
    their points accounts and announces them).

    ``joined`` dates each member (default ``now``): a member enrolled by events that
    arrive late joined at the first of them, which is what membership-year tier
    windows, cohorts and "new member" checks count from.
    """
    since = list(joined) if joined is not None else [now] * len(profiles)
    rows = [repository.new_member_row(program.id, at, **profile)
            for profile, at in zip(profiles, since, strict=True)]
    ids = repository.insert_members(conn, rows)
    consents.record_enrolled(conn, program.id, [
        (member_id, profile["consents"]) for member_id, profile in zip(ids, profiles)
        if profile.get("consents")])
    repository.insert_identities(conn, [
        dict(program_id=program.id, member_id=member_id, type=kind, value=value,
             channel=channel, created_at=at)
        for member_id, idents, at in zip(ids, identity_sets, since)
        for kind, value, channel in idents])
    return ids


def new_member(conn: Connection, program: Program, payload: MemberCreate, now: datetime, *,
               actor: str = "enrolment"
               ) -> tuple[dict[str, Any], list[tuple[str, str, str | None]]]:
    """The profile row and normalised identities of a member someone asks to enrol;
    409 ``identity_taken`` when one of the identities already has a member. Consents
    given at enrolment are recorded as given by ``actor`` on the join channel."""
    idents = normalised(program, payload.identities)
    _refuse_taken(conn, program, [(k, v) for k, v, _ in idents])
    return dict(with_display_name(profile_row(payload.profile)),
                consents=enrolment_consents(payload, actor=actor, now=now)), idents


def enrolment_consents(payload: MemberCreate, *, actor: str, now: datetime) -> dict[str, Any]:
    """``members.consents`` of a member enrolled with ``payload`` (given at ``now``)."""
    return consents.state_of(consent_decisions(payload.consents, payload.profile.join_channel),
                             actor=actor, now=now)


def get_member(conn: Connection, program: Program, member_id: int) -> Member:
    row = repository.member_row(conn, program.id, member_id)
    if row is None:
        raise MemberNotFound(f"member {member_id} does not exist in this program",
                             member_id=member_id)
    return member_out(row, repository.identities_of(conn, [member_id])[member_id])


def surviving_member(conn: Connection, program: Program, member_id: int) -> Member:
    """The member ``member_id`` stands for now: itself, or the member it was merged into
    (``repository.surviving_row``)."""
    row = repository.surviving_row(conn, program.id, member_id)
    if row is None:
        raise MemberNotFound(f"member {member_id} does not exist in this program",
                             member_id=member_id)
    return member_out(row, repository.identities_of(conn, [row.id])[row.id])


def require_member(conn: Connection, program: Program, member_id: int) -> None:
    if not repository.existing_member_ids(conn, program.id, [member_id]):
        raise MemberNotFound(f"member {member_id} does not exist in this program",
                             member_id=member_id)


def update_member(conn: Connection, program: Program, member_id: int, payload: MemberUpdate,
                  now: datetime, *, actor: str = "api") -> Member:
    if payload.profile is not None:
        refuse_future_birthdate(payload.profile.birthdate, now, program.settings.zone)
    row = repository.member_row(conn, program.id, member_id)
    if row is None:
        raise MemberNotFound(f"member {member_id} does not exist in this program",
                             member_id=member_id)
    refuse_erased(row)
    values: dict[str, Any] = {"updated_at": now}
    if payload.profile is not None:
        sent = profile_row(payload.profile, only_sent=True)
        attributes = sent.pop("attributes", None)
        values.update(with_display_name(sent, row))
        if attributes is not None:
            merged = dict(row.attributes or {})
            for key, value in attributes.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            values["attributes"] = merged
    repository.update_member(conn, member_id, values)
    if payload.consents:
        consents.record(conn, program.id, member_id, consent_decisions(payload.consents),
                        actor=actor, now=now)
    changed = frozenset(values) - {"updated_at"}
    if changed:
        hooks.emit(conn, hooks.MemberProfileChanged(program, member_id, changed, now))
    return get_member(conn, program, member_id)


def add_identity(conn: Connection, program: Program, member_id: int, item: IdentityIn,
                 now: datetime) -> Member:
    refuse_erased(person_row(conn, program, member_id))
    [(kind, value, channel)] = normalised(program, [item])
    owners = repository.members_by_identity(conn, program.id, [(kind, value)])
    if owners.get((kind, value)) not in (None, member_id):
        _refuse_taken(conn, program, [(kind, value)], member_id)
    if (kind, value) not in owners:
        repository.insert_identities(conn, [dict(
            program_id=program.id, member_id=member_id, type=kind, value=value,
            channel=channel, created_at=now)])
        repository.update_member(conn, member_id, {"updated_at": now})
    return get_member(conn, program, member_id)


def find_by_identity(conn: Connection, program: Program, kind: IdentityType,
                     value: str) -> list[Member]:
    value = normalise_identity(kind, value, program.settings.default_region)
    owner = repository.members_by_identity(conn, program.id, [(kind.value, value)])
    return [get_member(conn, program, member_id) for member_id in owner.values()]


def list_members(conn: Connection, program: Program, after: int | None,
                 limit: int) -> tuple[list[Member], int | None]:
    rows = repository.page_members(conn, program.id, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    idents = repository.identities_of(conn, [r.id for r in rows])
    items = [member_out(r, idents[r.id]) for r in rows]
    return items, (rows[-1].id if more and rows else None)


def person_row(conn: Connection, program: Program, member_id: int) -> Any:
    """The member's row; 404 for an unknown member or a household's placeholder."""
    row = repository.member_row(conn, program.id, member_id)
    if row is None or row.status == HOLDER:
        raise MemberNotFound(f"member {member_id} does not exist in this program",
                             member_id=member_id)
    return row


def refuse_erased(row: Any) -> None:
    """409 ``member_erased``: nothing about an erased member is recorded any more (a
    profile, an identity, a consent), so the erasure cannot be undone by an edit."""
    if row.status == Status.ERASED:
        raise MemberErased(f"member {row.id} was erased: nothing more is recorded about them",
                           member_id=row.id, status=row.status)


def set_status(conn: Connection, program: Program, member_id: int, payload: StatusChange, *,
               actor: str, now: datetime) -> MemberStatus:
    """Block, close or reactivate a member (see ``patron.members.standing``).

    Asking for the status the member already has changes nothing, so a retry is
    harmless; a change that is not allowed is 409 ``status_change_not_allowed``.
    """
    row = person_row(conn, program, member_id)
    change_status(conn, program, row, payload.status, reason=payload.reason, actor=actor,
                  now=now)
    return standing_out(repository.member_row(conn, program.id, member_id))


def status_history(conn: Connection, program: Program, member_id: int
                   ) -> list[StatusChangeRecord]:
    person_row(conn, program, member_id)
    return [StatusChangeRecord(id=r.id, status=r.status, previous_status=r.previous_status,
                               reason=r.reason, actor=r.actor, created_at=r.created_at)
            for r in repository.status_changes(conn, member_id)]


def member_consents(conn: Connection, program: Program, member_id: int) -> MemberConsents:
    """The member's consents now and their whole history (404 for an unknown member)."""
    person_row(conn, program, member_id)
    rows = consents.history(conn, [member_id])
    return MemberConsents(member_id=member_id,
                          current=[consent_record(r) for r in consents.current(rows)],
                          history=[consent_record(r) for r in rows])


def change_consents(conn: Connection, program: Program, member_id: int,
                    payload: ConsentChanges, *, actor: str, now: datetime) -> MemberConsents:
    """Record consents given or withdrawn; one already standing records nothing again.
    An erased member's consents stay withdrawn (409 ``member_erased``)."""
    refuse_erased(person_row(conn, program, member_id))
    consents.record(conn, program.id, member_id, consent_decisions(payload.consents),
                    actor=actor, now=now)
    return member_consents(conn, program, member_id)
