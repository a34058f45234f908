"""Who a replay treats as in a campaign's treatment group.

A member recorded in ``campaign_members`` keeps the group recorded; anyone else
in the campaign's target now (its segment's current members, or every member
for a campaign without one) is placed by the same bucket rule assignment uses,
with the simulated document's holdout share. So a draft campaign shows what its
treatment group would earn, and a running one what its actual group earned.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from patron.campaigns.domain import assign
from patron.campaigns.tables import campaign_members
from patron.program.document import Campaign, ProgramDocument
from patron.segments.membership import SegmentNotFound, in_segment


@dataclass
class CampaignHistory:
    """Recorded groups and segment membership of the replay's members, by member key."""

    program_id: int | None = None
    campaign_ids: set[str] = field(default_factory=set)
    segment_keys: set[str] = field(default_factory=set)
    recorded: dict[str, dict[str, str]] = field(default_factory=dict)
    segments: dict[str, set[str]] = field(default_factory=dict)
    members: set[str] = field(default_factory=set)

    def want(self, documents: Iterable[ProgramDocument | None]) -> None:
        """The campaigns of the documents about to be replayed."""
        for document in documents:
            for campaign in document.campaigns if document is not None else ():
                self.campaign_ids.add(campaign.id)
                if campaign.segment:
                    self.segment_keys.add(campaign.segment)

    def load(self, conn: Connection, program_id: int, member_ids: Collection[int]) -> None:
        """Read the groups and segment membership of a chunk of new members."""
        self.program_id = program_id
        if not self.campaign_ids or not member_ids:
            return
        self.members.update(f"id:{m}" for m in member_ids)
        c = campaign_members.c
        for member_id, campaign_id, group in conn.execute(
                select(c.member_id, c.campaign_id, c.group).where(
                    c.program_id == program_id, c.campaign_id.in_(sorted(self.campaign_ids)),
                    c.member_id.in_(sorted(member_ids)))):
            self.recorded.setdefault(f"id:{member_id}", {})[campaign_id] = group
        for key in self.segment_keys:
            try:
                found = in_segment(conn, program_id, key, member_ids)
            except SegmentNotFound:
                found = set()
            self.segments.setdefault(key, set()).update(f"id:{m}" for m in found)

    def lookup(self, document: ProgramDocument) -> Callable[[str], frozenset[str]]:
        """Member key → the document's campaigns whose treatment the member is in."""
        campaigns = [c for c in document.campaigns if c.active]
        return lambda key: frozenset(c.id for c in campaigns if self._treated(key, c))

    def _treated(self, key: str, campaign: Campaign) -> bool:
        recorded = self.recorded.get(key, {}).get(campaign.id)
        if recorded is not None:
            return recorded == "treatment"
        if key not in self.members or self.program_id is None:
            return False
        if campaign.segment and key not in self.segments.get(campaign.segment, ()):
            return False
        member_id = int(key.removeprefix("id:"))
        return assign(self.program_id, campaign.id, member_id, campaign.holdout)[1] == "treatment"
