"""Find members by whatever a customer gives at the counter: an identity or a name.

The text is tried as every kind of identity it can be read as (an email, a phone
number in any format the program's region knows, a card number, an external id),
each normalised the way enrolment stored it, and as part of a name. Identity
matches come first: they name one member exactly, a name may fit many.
"""

from __future__ import annotations

from sqlalchemy import Connection

from patron.members import repository
from patron.members import service as members
from patron.members.domain import IdentityType, InvalidIdentity, normalise_identity
from patron.members.schemas import Member
from patron.program.service import Program


def search_members(conn: Connection, program: Program, text: str, limit: int = 20
                   ) -> list[Member]:
    text = text.strip()
    if not text:
        return []
    keys = []
    for kind in IdentityType:
        try:
            keys.append((kind.value, normalise_identity(kind, text,
                                                        program.settings.default_region)))
        except InvalidIdentity:
            continue
    found = list(dict.fromkeys(repository.members_by_identity(conn, program.id, keys).values()))
    for member_id in repository.member_ids_by_name(conn, program.id, text, limit):
        if member_id not in found:
            found.append(member_id)
    return [members.get_member(conn, program, member_id) for member_id in found[:limit]]
