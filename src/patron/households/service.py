"""Household use cases: create, join, leave, hand over, dissolve, spend; see ``domain``
for the rules and what happens to points.

A household's pool is an ordinary ledger account. Accounts belong to a member
(``accounts.member_id`` is required and unique per program), so each household
gets a member row of its own, status ``household``, that holds the pool and is
never a person: it cannot join a household or spend, and its entries are the
pool's releases, expiries and settlements.

Locks, in the ledger's order: the household row (membership changes), then the
members' own accounts in id order, then the pool. Ingest and spends take the
last two in the same order, so a member's points never move while one of their
earns or spends is half done.

Joining and leaving are announced (``hooks.HouseholdChanged``) in the same
transaction; what follows from them elsewhere, such as a shared tier, is a
subscriber's business (``patron.flows.subscribers``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection

from patron import hooks
from patron.errors import Conflict
from patron.households import domain, repository
from patron.households.domain import (AlreadyInHousehold, HouseholdDissolved,
                                      HouseholdMemberNotFound, HouseholdNotFound,
                                      HouseholdRoleForbidden, Role)
from patron.households.schemas import (Household, HouseholdBalance, HouseholdCreate,
                                       HouseholdMember, HouseholdSpendCreate, MembershipPeriod)
from patron.ledger import domain as ledger_domain
from patron.ledger import repository as ledger_repository
from patron.ledger import service as ledger_service
from patron.ledger.schemas import Expiring, Posted
from patron.ledger.transfers import TransferMeta, transfer_lots
from patron.members import repository as member_repository
from patron.members.service import MemberNotFound
from patron.members.standing import require_spending
from patron.program.service import Program
from patron.program.versions import versions
from patron.program.membership import Households

HOLDER_STATUS = member_repository.HOLDER


class OwnerRoleChange(Conflict):
    code = "owner_role_change"
    title = "The owner's role changes by handing over ownership"


def rules(conn: Connection, program: Program) -> Households:
    """The program document's ``households`` section, as currently published."""
    return versions.compiled(conn, program, program.version).document.households


def _require_person(conn: Connection, program: Program, member_id: int) -> None:
    status = repository.member_status(conn, program.id, member_id)
    if status is None or status == HOLDER_STATUS:
        raise MemberNotFound(f"member {member_id} does not exist in this program",
                             member_id=member_id)


def _refuse_member_elsewhere(conn: Connection, member_id: int) -> None:
    found = repository.membership(conn, member_id)
    if found is not None:
        raise AlreadyInHousehold(f"member {member_id} already belongs to household "
                                 f"{found.household_id}", member_id=member_id,
                                 household_id=found.household_id)


def _household(conn: Connection, program: Program, household_id: int, *,
               lock: bool = False, active: bool = True) -> Any:
    row = repository.household_row(conn, program.id, household_id, lock=lock)
    if row is None:
        raise HouseholdNotFound(f"household {household_id} does not exist in this program",
                                household_id=household_id)
    if active and row.status != "active":
        raise HouseholdDissolved(f"household {household_id} was dissolved",
                                 household_id=household_id)
    return row


def _member_of(conn: Connection, household: Any, member_id: int) -> Any:
    found = repository.membership(conn, member_id)
    if found is None or found.household_id != household.id:
        raise HouseholdMemberNotFound(f"member {member_id} is not a member of household "
                                      f"{household.id}", member_id=member_id,
                                      household_id=household.id)
    return found


def _lock(conn: Connection, program: Program, household: Any,
          member_ids: list[int]) -> tuple[dict[int, Any], Any]:
    """Members' own accounts (id order), then the pool: the ledger's lock order."""
    own = ledger_repository.accounts_by_member(conn, program.id, member_ids)
    locked = ledger_repository.accounts_by_id(conn, [a.id for a in own.values()], lock=True)
    pool = ledger_repository.accounts_by_id(conn, [household.account_id], lock=True)
    return ({m: locked[a.id] for m, a in own.items()}, pool[household.account_id])


def _join(conn: Connection, program: Program, household: Any, member_id: int, role: Role,
          *, now: datetime, actor: str) -> None:
    period_id = repository.add_member(conn, program_id=program.id, household_id=household.id,
                                      member_id=member_id, role=role.value, now=now,
                                      actor=actor)
    hooks.emit(conn, hooks.HouseholdChanged(program, household.id, member_id, "joined", now,
                                            actor))
    if not rules(conn, program).pooled_points:
        return
    own, pool = _lock(conn, program, household, [member_id])
    meta = TransferMeta(
        f"household:{household.id}:join:{period_id}",
        f"Points moved to the household pool of {household.name!r} on joining",
        f"Points brought into the household pool by member {member_id} on joining",
        actor, member_id, {"household_id": household.id})
    transfer_lots(conn, program, source=own[member_id], target=pool,
                  lots=ledger_repository.live_lots(conn, own[member_id].id), meta=meta, now=now)


def _leave(conn: Connection, program: Program, household: Any, member_id: int, *,
           now: datetime, actor: str, reason: Literal["left", "dissolved"]) -> None:
    """Remove the member; their points go with them if the program says so."""
    period_id = repository.remove_member(conn, household.id, member_id, now, reason)
    hooks.emit(conn, hooks.HouseholdChanged(program, household.id, member_id, reason, now,
                                            actor))
    policy = rules(conn, program).leaving_member_points
    if policy != "leave_with_member":
        return
    own, pool = _lock(conn, program, household, [member_id])
    lots = domain.leaving_lots(ledger_repository.live_lots_by_earner(conn, pool.id),
                               member_id, policy)
    meta = TransferMeta(
        f"household:{household.id}:leave:{period_id}",
        f"Points member {member_id} earned, taken with them on leaving the household",
        f"Points you earned in household {household.name!r}, yours again on leaving",
        actor, member_id, {"household_id": household.id})
    transfer_lots(conn, program, source=pool, target=own[member_id], lots=lots, meta=meta,
                  now=now)


def create_household(conn: Connection, program: Program, payload: HouseholdCreate, *,
                     now: datetime, actor: str) -> Household:
    """A new household owned by ``owner_member_id``, with an empty pool of its own."""
    owner = payload.owner_member_id
    _require_person(conn, program, owner)
    _refuse_member_elsewhere(conn, owner)
    row = member_repository.new_member_row(program.id, now, name=payload.name)
    [holder] = member_repository.insert_members(conn, [{**row, "status": HOLDER_STATUS}])
    ledger_repository.open_accounts(conn, program.id, [holder], now)
    account = ledger_repository.accounts_by_member(conn, program.id, [holder])[holder]
    household_id = repository.insert_household(
        conn, program_id=program.id, name=payload.name, account_id=account.id,
        status="active", created_at=now)
    household = _household(conn, program, household_id)
    _join(conn, program, household, owner, Role.OWNER, now=now, actor=actor)
    return get_household(conn, program, household_id)


def add_member(conn: Connection, program: Program, household_id: int, member_id: int,
               role: str, *, now: datetime, actor: str) -> Household:
    household = _household(conn, program, household_id, lock=True)
    _require_person(conn, program, member_id)
    _refuse_member_elsewhere(conn, member_id)
    domain.check_room(repository.count_members(conn, household.id),
                      rules(conn, program).max_members)
    _join(conn, program, household, member_id, Role(role), now=now, actor=actor)
    return get_household(conn, program, household_id)


def remove_member(conn: Connection, program: Program, household_id: int, member_id: int, *,
                  now: datetime, actor: str) -> Household:
    household = _household(conn, program, household_id, lock=True)
    domain.check_can_leave(_member_of(conn, household, member_id).role)
    _leave(conn, program, household, member_id, now=now, actor=actor, reason="left")
    return get_household(conn, program, household_id)


def change_role(conn: Connection, program: Program, household_id: int, member_id: int,
                role: str, *, now: datetime, actor: str) -> Household:
    """Adult to child or back; the owner's role changes only by handing ownership over."""
    household = _household(conn, program, household_id, lock=True)
    current = _member_of(conn, household, member_id)
    if current.role == Role.OWNER:
        raise OwnerRoleChange("hand ownership to another adult member first",
                              member_id=member_id)
    if current.role != role:
        repository.change_role(conn, program_id=program.id, household_id=household.id,
                               member_id=member_id, role=role, now=now, actor=actor)
    return get_household(conn, program, household_id)


def hand_over(conn: Connection, program: Program, household_id: int, member_id: int, *,
              now: datetime, actor: str) -> Household:
    """Make an adult member the owner; the previous owner stays, as an adult."""
    household = _household(conn, program, household_id, lock=True)
    new_owner = _member_of(conn, household, member_id)
    if new_owner.role == Role.OWNER:
        return get_household(conn, program, household_id)
    domain.check_new_owner(new_owner.role)
    [old] = [m for m in repository.current_members(conn, household.id) if m.role == Role.OWNER]
    for who, role in ((old.member_id, Role.ADULT), (member_id, Role.OWNER)):
        repository.change_role(conn, program_id=program.id, household_id=household.id,
                               member_id=who, role=role.value, now=now, actor=actor)
    return get_household(conn, program, household_id)


def dissolve(conn: Connection, program: Program, household_id: int, *, now: datetime,
             actor: str) -> Household:
    """Everyone leaves (points as the leaving policy says); what is left goes to the owner."""
    household = _household(conn, program, household_id, lock=True)
    members = repository.current_members(conn, household.id)
    own, pool = _lock(conn, program, household, [m.member_id for m in members])
    owner = next(m.member_id for m in members if m.role == Role.OWNER)
    for member in members:
        if member.member_id != owner:
            _leave(conn, program, household, member.member_id, now=now, actor=actor,
                   reason="dissolved")
    period_id = repository.remove_member(conn, household.id, owner, now, "dissolved")
    hooks.emit(conn, hooks.HouseholdChanged(program, household.id, owner, "dissolved", now,
                                            actor))
    meta = TransferMeta(
        f"household:{household.id}:dissolve:{period_id}",
        f"Household {household.name!r} dissolved: its points go to its owner",
        f"Points of household {household.name!r}, yours as its owner when it dissolved",
        actor, owner, {"household_id": household.id})
    transfer_lots(conn, program, source=pool, target=own[owner],
                  lots=ledger_repository.live_lots(conn, pool.id), meta=meta, now=now)
    repository.set_dissolved(conn, household.id, now)
    return get_household(conn, program, household_id)


def spend(conn: Connection, program: Program, household_id: int,
          payload: HouseholdSpendCreate, *, key: str, now: datetime, actor: str) -> Posted:
    """An owner or adult pays with the pool's points; the entry names them."""
    household = _household(conn, program, household_id)
    own = ledger_repository.accounts_by_member(conn, program.id, [payload.member_id])
    if payload.member_id in own:  # serialise with the member joining or leaving
        ledger_repository.accounts_by_id(conn, [own[payload.member_id].id], lock=True)
    member = _member_of(conn, household, payload.member_id)
    require_spending(conn, program.id, payload.member_id)
    if not domain.may_spend(member.role):
        raise HouseholdRoleForbidden(
            f"member {payload.member_id} is a {member.role} of household {household.id} and "
            "may not spend its points", household_id=household.id, role=member.role)
    pool = ledger_repository.account_row(conn, household.account_id)
    holding = ledger_service.Holding(payload.member_id, own[payload.member_id], pool,
                                     household.id, member.role, pooled=True,
                                     role_may_spend=True)
    return ledger_service.spend_from(conn, program, holding, points=payload.points,
                                     reason=payload.reason, key=key, actor=actor, now=now,
                                     order_id=payload.order_id)


def get_household(conn: Connection, program: Program, household_id: int) -> Household:
    household = _household(conn, program, household_id, active=False)
    section = rules(conn, program)
    members = repository.current_members(conn, household.id)
    account = ledger_repository.account_row(conn, household.account_id)
    return Household(
        id=household.id, name=household.name, status=household.status,
        owner_member_id=next((m.member_id for m in members if m.role == Role.OWNER), None),
        account_member_id=account.member_id, pooled_points=section.pooled_points,
        max_members=section.max_members, leaving_member_points=section.leaving_member_points,
        members=[HouseholdMember(member_id=m.member_id, role=m.role, joined_at=m.joined_at)
                 for m in members],
        history=[MembershipPeriod(member_id=p.member_id, role=p.role, joined_at=p.joined_at,
                                  left_at=p.left_at, end_reason=p.end_reason)
                 for p in repository.periods(conn, household.id)],
        created_at=household.created_at, dissolved_at=household.dissolved_at)


def household_balance(conn: Connection, program: Program, household_id: int) -> HouseholdBalance:
    household = _household(conn, program, household_id, active=False)
    account = ledger_repository.account_row(conn, household.account_id)
    lots = ledger_repository.live_lots(conn, account.id)
    return HouseholdBalance(
        household_id=household.id, pooled_points=rules(conn, program).pooled_points,
        available=account.available, pending=account.pending,
        lifetime_earned=account.lifetime_earned,
        expiring=[Expiring(points=p, expires_at=at)
                  for p, at in ledger_domain.expiring_summary(lots)])


def pool_account_id(conn: Connection, program: Program, household_id: int) -> int:
    """The ledger account of the household's pool, dissolved households' included."""
    return _household(conn, program, household_id, active=False).account_id


def household_of(conn: Connection, program_id: int,
                 member_ids: list[int] | set[int]) -> dict[int, tuple[int, str]]:
    """``member_id -> (household_id, role)`` for the members that belong to one."""
    return {m: (row.household_id, row.role)
            for m, row in repository.memberships_of(conn, program_id, member_ids).items()}


def members_of(conn: Connection, household_id: int) -> list[HouseholdMember]:
    """The household's current members, earliest to join first."""
    return [HouseholdMember(member_id=m.member_id, role=m.role, joined_at=m.joined_at)
            for m in repository.current_members(conn, household_id)]


def find_households(conn: Connection, program: Program, text: str = "", limit: int = 50
                    ) -> list[tuple[Household, HouseholdBalance]]:
    """Households by name, id or a member's id (all, newest first, when ``text`` is empty),
    each with its pool's balance."""
    return [(get_household(conn, program, household_id),
             household_balance(conn, program, household_id))
            for household_id in repository.find_households(conn, program.id, text, limit)]
