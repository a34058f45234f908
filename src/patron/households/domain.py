"""Households as plain rules: roles, who may spend, who may leave, what leaves with whom.

A household is a family sharing one loyalty identity. It has exactly one
*owner*, who administers it; *adults* may spend its pooled points like the
owner; *children* earn into the pool but cannot spend from it. The program
document's ``households`` section says whether points are pooled, how many
members a household may have and what happens to a leaving member's points.

Points, when pooled (``households.pooled_points: true``):

- **Joining** moves everything in the member's own account into the pool: one
  transfer entry on each side (posted and pending points apart), each lot copied
  with its expiry, availability and earn date, so nothing expires sooner or
  becomes spendable earlier than it would have. A balance owed after a return
  moves too and is paid off from the pool's points.
- **Earning** while a member goes to the pool; every entry names the member who
  earned (or spent) it.
- **Leaving** follows ``leaving_member_points``: ``stay`` leaves every point in
  the pool; ``leave_with_member`` gives the member back what the pool still
  holds of what they brought or earned (the unspent remainders of their lots,
  pending ones included, and any balance their returns made the pool owe),
  expiry unchanged. Spends take soonest-expiring points whoever earned them, so
  "what they earned that the household still holds" is exactly those remainders.
- **Dissolving** makes every other member leave under the same policy, then
  gives what is left in the pool to the owner.

When the document does not pool points, members earn and spend in their own
accounts; joining moves nothing, and owners and adults may still spend what a
pool holds from a time it was pooled. Pooling is read from the current
document at each operation; turning it on later does not move points members
already hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from patron.errors import Conflict, NotFound
from patron.ledger.domain import Lot, LotState
from patron.ledger.pools import HouseholdRoleForbidden  # noqa: F401  (the ledger refuses too)


class Role(StrEnum):
    OWNER = "owner"
    ADULT = "adult"
    CHILD = "child"


class HouseholdNotFound(NotFound):
    code = "household_not_found"
    title = "Household not found"


class HouseholdMemberNotFound(NotFound):
    code = "household_member_not_found"
    title = "Not a member of this household"


class AlreadyInHousehold(Conflict):
    code = "already_in_household"
    title = "Member already belongs to a household"


class HouseholdFull(Conflict):
    code = "household_full"
    title = "Household has the most members the program allows"


class OwnerCannotLeave(Conflict):
    code = "owner_cannot_leave"
    title = "The owner cannot leave the household"


class HouseholdDissolved(Conflict):
    code = "household_dissolved"
    title = "Household was dissolved"


class OwnerMustBeAdult(Conflict):
    code = "owner_must_be_adult"
    title = "Only an adult member can become the owner"


def may_spend(role: str | None) -> bool:
    """Owners and adults spend the pool; children earn into it only."""
    return role in (Role.OWNER, Role.ADULT)


def check_room(members: int, max_members: int) -> None:
    if members >= max_members:
        raise HouseholdFull(f"the household already has {members} members, the most this "
                            f"program allows", max_members=max_members)


def check_can_leave(role: str) -> None:
    """The owner administers the household: hand over ownership or dissolve it first."""
    if role == Role.OWNER:
        raise OwnerCannotLeave("the owner cannot leave: hand ownership to an adult member "
                               "first, or dissolve the household")


def check_new_owner(role: str) -> None:
    if role == Role.CHILD:
        raise OwnerMustBeAdult("a child cannot own a household: make them an adult first")


def leaving_lots(lots: Iterable[tuple[Lot, int]], member_id: int, policy: str) -> list[Lot]:
    """The pool's lots that go with a leaving member: ``(lot, earner)`` pairs in."""
    if policy != "leave_with_member":
        return []
    return [lot for lot, earner in lots if earner == member_id and lot.remaining != 0
            and lot.state in (LotState.OPEN, LotState.PENDING, LotState.DEBT)]
