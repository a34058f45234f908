"""What a replay needs to know of members' badges and challenge holdouts.

Badges a member held before the replayed range are not given again (their progress
rows say when each was earned); who is in a challenge's holdout follows the live
bucket rule, by member id (``patron.engagement.batch.held_out``). A member a replay
knows only by identity has held nothing and is held out of nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from patron.engagement.batch import held_out
from patron.engagement.repository import badges_held_before
from patron.program.document import ProgramDocument


@dataclass
class EngagementHistory:
    program_id: int | None = None
    held: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def load(self, conn: Connection, program_id: int, member_ids: Collection[int],
             before: datetime | None) -> None:
        """The badges a chunk of new members held before ``before`` (None: nothing to
        read, the replay is of given events)."""
        self.program_id = program_id
        if before is None or not member_ids:
            return
        for member_id, badge_id, level in badges_held_before(conn, program_id, member_ids,
                                                             before):
            self.held.setdefault(f"id:{member_id}", []).append((badge_id, level))

    def badges(self, key: str) -> list[tuple[str, str]]:
        return self.held.get(key, [])

    def held_out(self, document: ProgramDocument) -> Callable[[str, str], bool]:
        """(member key, challenge id) → whether the member is in its holdout."""
        shares = {c.id: c.holdout for c in document.challenges}

        def lookup(key: str, challenge_id: str) -> bool:
            if self.program_id is None or not key.startswith("id:"):
                return False
            return held_out(self.program_id, challenge_id, int(key.removeprefix("id:")),
                            shares[challenge_id])
        return lookup
