"""Point transfer use cases: give points to another member, list a member's transfers.

A transfer is one transaction. Both members' accounts are locked in the
ledger's order (own accounts by id, then household pools by id), so two members
giving to each other at once queue instead of deadlocking, and the sender's
idempotency key and their points sent today are read with nothing in between.
The rules of the program version current now are checked (see ``domain``),
then ``patron.ledger.transfers`` moves the points behind the ledger's guarded
debit and the transfer is recorded. Any refusal rolls all of it back. It never
commits.

A pooled member's points come out of (or land in) their household's pool; the
entries there name the member, so each member's ledger shows the transfer.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron import hooks
from patron.errors import IdempotencyKeyReused
from patron.ledger import repository as ledger_repository
from patron.ledger.service import EntryMeta, Holding, holdings, refuse_spend
from patron.ledger.transfers import Party, transfer_points
from patron.members.repository import HOLDER
from patron.members.service import MemberNotFound
from patron.members.standing import refuse_spending
from patron.program.service import Program
from patron.program.versions import versions
from patron.transfers import domain, repository
from patron.transfers.schemas import ReceivedLot, Transfer, TransferCreate, TransferPage


def _locked(conn: Connection, program: Program, sender_id: int,
            receiver_id: int) -> tuple[Holding, Holding]:
    """Both members' holdings, their accounts locked in the ledger's order.

    Own accounts first, by id; joining or leaving a household takes the same
    lock, so the holdings read under it stay true. Then the household pools the
    points are in, by id. The holdings carry the rows read under the locks.
    """
    ids = (sender_id, receiver_id)
    repository.lock_own_accounts(conn, program.id, ids)
    found = holdings(conn, program, ids)
    pools = ledger_repository.accounts_by_id(
        conn, [h.account.id for h in found.values() if h.pooled], lock=True)
    sender, receiver = (replace(found[m], account=pools.get(found[m].account.id,
                                                            found[m].account))
                        for m in ids)
    return sender, receiver


def _replay(conn: Connection, existing: Any, sender_id: int, payload: TransferCreate
            ) -> Transfer:
    """The first transfer made with this key, if the request is the same."""
    if ((existing.to_member_id, existing.points, existing.message)
            != (payload.to_member_id, payload.points, payload.message)):
        raise IdempotencyKeyReused(f"idempotency_key {payload.idempotency_key!r} was used "
                                   "for a different transfer", key=payload.idempotency_key)
    return view(conn, existing, sender_id)


def transfer(conn: Connection, program: Program, sender_id: int, payload: TransferCreate, *,
             actor: str, now: datetime) -> tuple[Transfer, bool]:
    """Give ``payload.points`` of the sender's available points to ``payload.to_member_id``;
    returns the transfer and whether it is new (a retry returns the first one)."""
    receiver_id, points = payload.to_member_id, payload.points
    domain.check_not_self(sender_id, receiver_id)
    statuses = _statuses(conn, program, (sender_id, receiver_id))
    refuse_spending(sender_id, statuses[sender_id])
    sender, receiver = _locked(conn, program, sender_id, receiver_id)
    existing = repository.transfer_by_key(conn, program.id, sender_id, payload.idempotency_key)
    if existing is not None:
        return _replay(conn, existing, sender_id, payload), False
    compiled = versions.compiled(conn, program, program.version)
    rules = compiled.document.transfers
    domain.check_enabled(rules)
    domain.check_members(sender_id, statuses[sender_id], receiver_id, statuses[receiver_id],
                         same_pool=sender.account.id == receiver.account.id)
    refuse_spend(sender)
    day = domain.local_day(now, compiled.zone)
    sent_today = (0 if rules.daily_maximum_points is None
                  else repository.sent_on(conn, program.id, sender_id, day))
    domain.check_amount(rules, points, sent_today=sent_today, day=day)
    transfer_id = repository.next_transfer_id(conn)
    giver, taker = _parties(program, transfer_id, sender, receiver, payload,
                            compiled.settings.points_name, actor, now)
    given = transfer_points(conn, program, points, giver=giver, receiver=taker, now=now)
    row = dict(id=transfer_id, program_id=program.id, from_member_id=sender_id,
               to_member_id=receiver_id, points=points, idempotency_key=payload.idempotency_key,
               local_day=day.isoformat(), out_entry_id=given.out_entry_id,
               in_entry_id=given.in_entry_id, message=payload.message, actor=actor,
               created_at=now)
    repository.insert_transfer(conn, row)
    return _view(row, sender_id, [ReceivedLot(lot_id=lot.id, points=lot.points,
                                              expires_at=lot.expires_at)
                                  for lot in given.lots]), True


def _parties(program: Program, transfer_id: int, sender: Holding, receiver: Holding,
             payload: TransferCreate, points_name: str, actor: str,
             now: datetime) -> tuple[Party, Party]:
    """Each side's account and the words on its entry, each naming the other member."""
    sender_id, receiver_id, points = sender.member_id, receiver.member_id, payload.points
    details: dict[str, Any] = {"transfer_id": transfer_id, "program_version": program.version}
    if payload.message is not None:
        details["message"] = payload.message
    out = EntryMeta(now, f"transfer:{transfer_id}:out",
                    f"Sent {points} {points_name} to member {receiver_id}", actor,
                    details={**details, "to_member_id": receiver_id})
    into = EntryMeta(now, f"transfer:{transfer_id}:in",
                     f"Received {points} {points_name} from member {sender_id}", actor,
                     details={**details, "from_member_id": sender_id})
    return Party(sender.account, sender_id, out), Party(receiver.account, receiver_id, into)


def _view(row: Any, member_id: int, lots: list[ReceivedLot] | None = None) -> Transfer:
    get = row.get if isinstance(row, dict) else row._mapping.get
    fields = {name: get(name) for name in Transfer.model_fields
              if name not in ("direction", "lots")}
    direction = "sent" if fields["from_member_id"] == member_id else "received"
    return Transfer(**fields, direction=direction, lots=lots)


def view(conn: Connection, row: Any, member_id: int) -> Transfer:
    """One transfer as ``member_id`` sees it, with the lots it made for the receiver."""
    return _view(row, member_id, [
        ReceivedLot(lot_id=lot.id, points=lot.points, expires_at=lot.expires_at)
        for lot in repository.lots_of_entry(conn, row.in_entry_id)])


def _statuses(conn: Connection, program: Program, member_ids: tuple[int, ...]
              ) -> dict[int, str]:
    """Each member's status; 404 for an unknown member or a household's pool holder
    (a member row that is not a person)."""
    found = repository.member_statuses(conn, program.id, member_ids)
    for member_id in member_ids:
        if found.get(member_id, HOLDER) == HOLDER:
            raise MemberNotFound(f"member {member_id} does not exist in this program",
                                 member_id=member_id)
    return found


def member_transfers(conn: Connection, program: Program, member_id: int, before: int | None,
                     limit: int) -> TransferPage:
    """What the member sent and received, newest first."""
    _statuses(conn, program, (member_id,))
    rows = repository.member_transfers(conn, program.id, member_id, before, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return TransferPage(items=[_view(r, member_id) for r in rows],
                        next_cursor=rows[-1].id if more and rows else None)


def on_member_erased(conn: Connection, happened: hooks.MemberErased) -> None:
    """A message between members is their own words: the erased member's transfers, sent
    or received, lose theirs, also where their ledger entries quote it. Points stay."""
    entries = repository.clear_messages(conn, happened.program.id, happened.records)
    ledger_repository.drop_detail(conn, entries, "message")
