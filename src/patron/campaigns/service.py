"""Campaigns: assigning a target to treatment or holdout, and giving treatment its gifts.

Assignment is recorded once per member (``campaign_members``) and never changed:
a later version with another holdout share or segment leaves everyone already
assigned where they are. Newly assigned treatment members get the campaign's
coupons and reward at once; their fixed value counts against the money budget,
and once that is spent later treatment members get none (they still earn by the
campaign's rules while its points budget lasts).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron import hooks
from patron.campaigns import domain, repository, schemas
from patron.coupons.service import issue
from patron.campaigns.domain import campaign_of
from patron.errors import Conflict
from patron.program.campaign_checks import window
from patron.program.document import Campaign, ProgramDocument
from patron.program.service import Program
from patron.program.versions import get_version
from patron.segments.membership import SegmentNotFound, members_of

Progress = Callable[[int], None]
CHUNK = 1000


class CampaignNotRunning(Conflict):
    code = "campaign_not_running"
    title = "Campaign is not running"


def document_of(conn: Connection, program: Program) -> ProgramDocument:
    return get_version(conn, program).document


def list_campaigns(conn: Connection, program: Program, now: datetime) -> list[schemas.Campaign]:
    document = document_of(conn, program)
    counts = repository.group_counts(conn, program.id)
    spent = repository.budgets_used(conn, program.id, [c.id for c in document.campaigns])
    return [_view(document, c, counts.get(c.id, {}), spent.get(c.id, (0, 0)), now)
            for c in document.campaigns]


def get_campaign(conn: Connection, program: Program, campaign_id: str,
                 now: datetime) -> schemas.Campaign:
    document = document_of(conn, program)
    campaign = campaign_of(document, campaign_id)
    counts = repository.group_counts(conn, program.id).get(campaign_id, {})
    spent = repository.budgets_used(conn, program.id, [campaign_id])[campaign_id]
    return _view(document, campaign, counts, spent, now)


def _view(document: ProgramDocument, campaign: Campaign, counts: dict[str, int],
          spent: tuple[int, int], now: datetime) -> schemas.Campaign:
    starts, ends = window(campaign, document.settings)
    budget = campaign.budget
    spend = None if budget is None else schemas.CampaignSpend(
        points=spent[0], money=spent[1], budget_points=budget.points, budget_money=budget.money)
    return schemas.Campaign(
        id=campaign.id, name=campaign.name, description=campaign.description, starts=starts,
        ends=ends, status=domain.status(starts, ends, now), active=campaign.active,
        segment=campaign.segment, holdout=campaign.holdout,
        assigned=schemas.CampaignGroups(treatment=counts.get("treatment", 0),
                                        holdout=counts.get("holdout", 0)), spend=spend)


def assign(conn: Connection, program: Program, now: datetime,
           progress: Progress | None = None) -> list[schemas.Assigned]:
    """Assign the targets of every active campaign running now (the scheduled sweep).
    A campaign whose segment was removed since publishing is skipped, not fatal."""
    document = document_of(conn, program)
    done = []
    for campaign in document.campaigns:
        if campaign.active and _running(document, campaign, now):
            try:
                done.append(assign_campaign(conn, program, campaign.id, now, progress,
                                            document=document))
            except SegmentNotFound:
                continue
    return done


def announce_started(conn: Connection, program: Program, now: datetime) -> int:
    """Announce (``hooks.CampaignStarted``) each active campaign running now whose start
    was not announced yet; returns how many. A campaign that ended before a sweep saw it
    running is not announced: it never started as far as anyone could see."""
    document = document_of(conn, program)
    told = repository.announced(conn, program.id)
    starting = [c for c in document.campaigns
                if c.active and c.id not in told and _running(document, c, now)]
    if not starting:
        return 0
    windows = [window(c, document.settings) for c in starting]
    repository.insert_starts(conn, [
        {"program_id": program.id, "campaign_id": c.id, "starts": starts, "announced_at": now}
        for c, (starts, _) in zip(starting, windows)])
    for campaign, (starts, ends) in zip(starting, windows):
        hooks.emit(conn, hooks.CampaignStarted(program, campaign.id, campaign.name, starts,
                                               ends, now))
    return len(starting)


def _running(document: ProgramDocument, campaign: Campaign, now: datetime) -> bool:
    starts, ends = window(campaign, document.settings)
    return domain.status(starts, ends, now) == "running"


def assign_campaign(conn: Connection, program: Program, campaign_id: str, now: datetime,
                    progress: Progress | None = None, *,
                    document: ProgramDocument | None = None) -> schemas.Assigned:
    """Record the group of every target member not assigned yet, and give the new
    treatment members their coupons and reward. Running it again assigns nothing new."""
    document = document or document_of(conn, program)
    campaign = campaign_of(document, campaign_id)
    if not campaign.active or not _running(document, campaign, now):
        raise CampaignNotRunning(f"campaign {campaign_id!r} is not running: members are "
                                 "assigned only inside its window", field="campaign_id")
    target = (members_of(conn, program.id, campaign.segment) if campaign.segment
              else repository.active_members(conn, program.id))
    spent = repository.add_budget(conn, program.id, {campaign.id: (0, 0)})[campaign.id]  # lock
    known = repository.assigned(conn, program.id, campaign.id)
    rows = []
    for member_id in target:
        if member_id not in known:
            number, group = domain.assign(program.id, campaign.id, member_id, campaign.holdout)
            rows.append({"program_id": program.id, "campaign_id": campaign.id,
                         "member_id": member_id, "group": group, "bucket": number,
                         "assigned_at": now, "segment_key": campaign.segment})
    for start in range(0, len(rows), CHUNK):
        repository.insert_assignments(conn, rows[start:start + CHUNK])
        if progress is not None:
            progress(len(rows[start:start + CHUNK]))
    treated = [r["member_id"] for r in rows if r["group"] == "treatment"]
    given = _give(conn, program, document, campaign, treated, spent, now)
    return schemas.Assigned(campaign_id=campaign.id, target=len(target),
                            treatment=len(treated), holdout=len(rows) - len(treated), **given)


def _give(conn: Connection, program: Program, document: ProgramDocument, campaign: Campaign,
          members: list[int], spent: tuple[int, int], now: datetime) -> dict[str, Any]:
    """Coupons and the reward for new treatment members, as far as the money budget goes."""
    types = [(c.type, c.count) for c in campaign.coupons]
    reward = document.reward(campaign.reward) if campaign.reward else None
    if reward is not None:
        types.append((reward.coupon_type, 1))
    values = [domain.coupon_value(document.coupon_type(t).discount.amount) * n for t, n in types]
    each = sum(values)
    budget = campaign.budget.money if campaign.budget else None
    able = domain.affordable(each, len(members), spent[1], budget) if types else 0
    source = domain.coupon_source(campaign.id)
    for member_id in members[:able]:
        for type_id, count in types:
            for _ in range(count):
                issue(conn, program, type_id, member_id=member_id, now=now, source=source)
    money = each * able
    if money:
        repository.add_budget(conn, program.id, {campaign.id: (0, money)})
    return {"coupons": able * sum(c.count for c in campaign.coupons),
            "rewards": able if reward is not None else 0, "money": money,
            "skipped_for_budget": len(members) - able if types else 0}


def on_coupon_used(conn: Connection, happened: hooks.CouponUsed) -> None:
    """A campaign's percent or free-shipping coupon costs its money budget what it took
    off the order (a release gives it back); fixed-amount coupons were charged when
    issued. The use itself is never refused: the member holds the coupon already, and a
    budget spent stops the campaign's further awards and gifts."""
    campaign_id = domain.campaign_of_source(happened.source)
    if campaign_id is not None and domain.charged_at_use(happened.kind):
        repository.add_budget(conn, happened.program.id, {campaign_id: (0, happened.discount)})


def members_page(conn: Connection, program: Program, campaign_id: str, group: str | None,
                 after: int | None, limit: int) -> schemas.CampaignMemberPage:
    campaign_of(document_of(conn, program), campaign_id)
    rows = repository.members_page(conn, program.id, campaign_id, group, after, limit + 1)
    items = [schemas.CampaignMember(member_id=r.member_id, group=r.group, bucket=r.bucket,
                                    assigned_at=r.assigned_at, segment_key=r.segment_key)
             for r in rows[:limit]]
    return schemas.CampaignMemberPage(
        items=items, next_cursor=items[-1].member_id if len(rows) > limit else None)


def member_campaigns(conn: Connection, program: Program,
                     member_id: int) -> list[tuple[Campaign, datetime, datetime]]:
    """The campaigns whose treatment group the member is in, with their windows; a
    holdout is never shown to the member."""
    ids = repository.member_treatments(conn, program.id, member_id)
    if not ids:
        return []
    document = document_of(conn, program)
    found = []
    for campaign_id in ids:
        try:
            campaign = document.campaign(campaign_id)
        except KeyError:
            continue
        found.append((campaign, *window(campaign, document.settings)))
    return found
