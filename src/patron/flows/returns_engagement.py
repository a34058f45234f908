"""A return takes back what its order gave badges, challenges and streaks.

What is taken back is decided by ``patron.engagement.returns`` (pure) from what the
purchase gave at ingest (``engagement_contributions``); this reads those rows, the
member's progress and the rewards standing, writes the progress back, and takes a
reward's points back as the order's own points are (``patron.ledger.service.claw_back``:
pending first, never more than the program's negative-balance setting allows, an
entry that says why). Each piece is taken back once: a contribution taken back whole
is settled, a reward taken back is marked with the return, and the ledger entry's key
names the return, so a retried return (answered from its first outcome anyway)
cannot take anything twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.engagement import repository
from patron.engagement.returns import remaining, take_back
from patron.events.schemas import Award, EventIn, Progress
from patron.ledger.service import EntryMeta, claw_back
from patron.program.context import Purchase
from patron.program.engagement_plan import engagement_plan
from patron.program.returns import clawback_reason
from patron.program.service import Program
from patron.program.versions import versions


def return_engagement(conn: Connection, program: Program, member_id: int, order: Any,
                      purchase: Purchase, already: dict[int, int], after: dict[int, int],
                      event: EventIn, event_pk: int, *, actor: str, now: datetime
                      ) -> tuple[list[Award], list[Progress]]:
    """Take back what the order's purchase gave (``already``/``after``: quantities
    returned before and with this return); the outcome's awards and progress lines."""
    given = repository.contributions_of_event(conn, order.event_id)
    if not given:
        return [], []
    compiled = versions.version_at(conn, program, order.occurred_at)[1]
    plan = engagement_plan(compiled.document)
    items = {c.item_id for c in given}
    state = repository.member_states(conn, program.id, member_id)
    standing = repository.standing_awards(conn, program.id, member_id, items)
    done = take_back(
        plan, order.order_id, given, state,
        repository.kept_elsewhere(conn, program.id, member_id, order.event_id, items),
        remaining(purchase, already), remaining(purchase, after),
        awarded=set(standing), badge_names={b.id: b.name for b in compiled.document.badges})
    repository.save_states(conn, program.id, [(member_id, s) for s in done.changed], now)
    repository.settle(conn, done.settled, now)
    awards = []
    for reversal in done.reversals:
        award = standing[(reversal.kind, reversal.item_id, reversal.key)]
        repository.mark_reversed(conn, award.id, event_pk, now)
        if not award.points or award.entry_id is None:
            continue
        meta = EntryMeta(event.occurred_at,
                         f"event:{event.id}:{reversal.kind}:{reversal.item_id}:{reversal.key}",
                         reversal.reason, actor, event_pk=event_pk,
                         order_id=order.order_id,
                         details={reversal.kind: reversal.item_id, "award": reversal.key,
                                  "program_version": award.program_version,
                                  "returned_from_entry": award.entry_id})

        def explain(taken: int, forgiven: int, owed: int, what: str = reversal.reason) -> str:
            return clawback_reason(what, taken, forgiven=forgiven, owed=owed)
        moved = claw_back(conn, program, member_id, points=award.points,
                          own_lot_id=award.lot_id, meta=meta, now=now, explain=explain)
        points = moved.taken_pending + moved.taken_available + moved.debt
        awards.append(Award(member_id=member_id, kind="reverse", points=-points,
                            forgiven=moved.forgiven or None,
                            status="pending" if moved.taken_pending == points and points
                            else "posted",
                            reason=explain(points, moved.forgiven, moved.debt),
                            rule_id=reversal.item_id, program_version=award.program_version))
    progress = [Progress.model_validate(dict(kind=t.kind, id=t.id, name=t.name,
                                             status="taken_back", value=t.value,
                                             target=t.target, text=t.text))
                for t in done.progress]
    return awards, progress
