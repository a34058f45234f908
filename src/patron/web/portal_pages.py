"""The member portal's pages: home, history, rewards (with redeem) and refer a friend.

Each reads what the API reads for the same question: the balance the ledger
service gives ``GET /members/{id}/balance``, the tier progress of ``GET
/members/{id}/tier``, the statement's explained lines, the rewards catalog and the
redemption flow of ``POST /members/{id}/redemptions``, the referral summary, the
badges, challenges and streaks of ``GET /members/{id}/challenges`` and friends (with
``POST …/join``), and the stored lists of ``GET /members/{id}/recommendations``. A member only ever sees their own: every page takes the member from
the session.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from patron.auth.portal import PortalSession
from patron.config import get_settings
from patron.engagement import service as engagement
from patron.errors import PatronError
from patron.flows import redemption
from patron.flows.statement import ledger_page
from patron.households import service as households
from patron.ledger import service as ledger
from patron.members import service as members
from patron.ledger.schemas import Expiring
from patron.program.service import Program, get_program
from patron.recommendations import service as recommendations
from patron.referrals import service as referrals
from patron.rewards import service as rewards
from patron.schemas_common import MAX_INT
from patron.tiers import service as tiers
from patron.tiers.schemas import MemberTier
from patron.web.portal_session import SignedIn, SignedInPost, day, money, render

router = APIRouter()
PAGE = 15
SUGGESTIONS = 3
"""Rewards and categories the home page suggests, of each."""
RewardId = Annotated[str, Path(min_length=1, max_length=100)]


def tier_sentence(tier: MemberTier, program: Program) -> str | None:
    """What is left to reach the next tier, in the metric the program counts."""
    following = tier.next_tier
    if following is None:
        return None
    points_name = program.settings.points_name
    needed = {"qualifying_spend": f"Spend {money(following.remaining, program.settings.currency)}",
              "orders": f"Make {following.remaining:,} more "
                        f"{'order' if following.remaining == 1 else 'orders'}",
              }.get(tier.metric.name, f"Earn {following.remaining:,} more {points_name}")
    if tier.metric.name == "qualifying_spend":
        needed += " more"
    by = f" by {day(following.by, program, end=True)}" if following.by else ""
    return f"{needed}{by} to reach {following.name}"


def _tier(conn: Connection, program: Program, member_id: int, now: datetime
          ) -> MemberTier | None:
    try:
        return MemberTier(**tiers.member_tier(conn, program, member_id, now))
    except tiers.NoTiers:
        return None


def _household(conn: Connection, program: Program, member_id: int) -> dict[str, Any] | None:
    found = households.household_of(conn, program.id, [member_id]).get(member_id)
    if found is None:
        return None
    household = households.get_household(conn, program, found[0])
    names = [(members.get_member(conn, program, m.member_id).profile.name
              or f"Member #{m.member_id}", m.role, m.member_id == member_id)
             for m in household.members]
    return dict(name=household.name, role=found[1], members=names)


def expiring_soon(expiring: list[Expiring], now: datetime, days: int) -> list[Expiring]:
    """The points that expire within the notice period the expiry notices use
    (``PATRON_EXPIRY_NOTICE_DAYS``): what the member would be told about, not next
    year's expiries."""
    end = now + timedelta(days=days)
    return [lot for lot in expiring if lot.expires_at <= end]


def _suggestions(conn: Connection, program: Program, member_id: int, now: datetime
                 ) -> dict[str, Any]:
    """The rewards and categories stored for the member (popular ones for a member the
    model has no list for); empty lists before the first training."""
    found = recommendations.member_recommendations(conn, program, member_id, now,
                                                   SUGGESTIONS)
    return dict(rewards=found["rewards"], categories=found["categories"])


def _context(conn: Connection, session: PortalSession) -> dict[str, Any]:
    program = get_program(conn, session.program_id)
    return dict(program=program, member=members.get_member(conn, program, session.member_id))


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SignedIn) -> HTMLResponse:
    return _home(request, session)


def _home(request: Request, session: PortalSession, **context: Any) -> HTMLResponse:
    state = request.app.state
    now = state.clock.now()

    def read(conn: Connection) -> dict[str, Any]:
        page = _context(conn, session)
        program = page["program"]
        tier = _tier(conn, program, session.member_id, now)
        balance = ledger.balance(conn, program, session.member_id)
        notice_days = get_settings().expiry_notice_days
        return dict(page, balance=balance, tier=tier, notice_days=notice_days,
                    expiring=expiring_soon(balance.expiring, now, notice_days),
                    suggestions=_suggestions(conn, program, session.member_id, now),
                    tier_sentence=tier and tier_sentence(tier, program),
                    household=_household(conn, program, session.member_id),
                    engagement=engagement.member_engagement(conn, program,
                                                            session.member_id, now))
    return render(request, "home.html", nav="home", **state.db.read(read), **context)


@router.post("/challenges/{challenge_id}/join", response_class=HTMLResponse)
def join_challenge(request: Request, session: SignedInPost,
                   challenge_id: Annotated[str, Path(min_length=1, max_length=64)]) -> Response:
    """Join an opt-in challenge from the home page; a refusal (it ended) shows there."""
    state = request.app.state
    try:
        state.db.transact(lambda conn: engagement.join_challenge(
            conn, get_program(conn, session.program_id), session.member_id, challenge_id,
            state.clock.now()))
    except PatronError as error:
        return _home(request, session, joined_error=(challenge_id, error.detail))
    return RedirectResponse(f"/portal/#challenge-{challenge_id}", status_code=303)


@router.get("/history", response_class=HTMLResponse)
def history(request: Request, session: SignedIn,
            before: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None) -> HTMLResponse:
    """The explained ledger lines; htmx asks for the next ones alone (``before``)."""
    state = request.app.state

    def read(conn: Connection) -> dict[str, Any]:
        page = _context(conn, session)
        lines = ledger_page(conn, page["program"], session.member_id, before, PAGE)
        return dict(page, entries=lines.items, older=lines.next_cursor)
    found = state.db.read(read)
    more = bool(before) and bool(request.headers.get("HX-Request"))
    return render(request, "history_rows.html" if more else "history.html", nav="history",
                  **found)


def _rewards_page(request: Request, session: PortalSession, status: int = 200,
                  **context: Any) -> HTMLResponse:
    state = request.app.state

    def read(conn: Connection) -> dict[str, Any]:
        page = _context(conn, session)
        offered = rewards.catalog(conn, page["program"], session.member_id, state.clock.now())
        return dict(page, catalog=offered, offers=[o for o in offered.items if o.eligible])
    return render(request, "rewards.html", status, nav="rewards", key=uuid.uuid4().hex,
                  **state.db.read(read), **context)


@router.get("/rewards", response_class=HTMLResponse)
def reward_list(request: Request, session: SignedIn) -> HTMLResponse:
    return _rewards_page(request, session)


@router.post("/rewards/{reward_id}/redeem", response_class=HTMLResponse)
def redeem(request: Request, session: SignedInPost, reward_id: RewardId,
           idempotency_key: Annotated[str, Form(min_length=1, max_length=100)]) -> Response:
    """A refusal (too few points, out of stock, …) shows beside the reward, never a 500."""
    state = request.app.state
    try:
        done, _ = state.db.transact(lambda conn: redemption.redeem(
            conn, get_program(conn, session.program_id), session.member_id,
            reward_id=reward_id, key=f"portal:{idempotency_key}",
            actor=f"member:{session.member_id}", now=state.clock.now()))
    except PatronError as error:
        return _rewards_page(request, session, refused=reward_id, error=error.detail)
    return RedirectResponse(f"/portal/redemptions/{done.id}", status_code=303)


@router.get("/redemptions/{redemption_id}", response_class=HTMLResponse)
def redeemed(request: Request, session: SignedIn,
             redemption_id: Annotated[int, Path(ge=1, le=MAX_INT)]) -> HTMLResponse:
    """What the member got; another member's redemption is as unknown as a missing one."""
    state = request.app.state

    def read(conn: Connection) -> dict[str, Any]:
        page = _context(conn, session)
        found = rewards.get_redemption(conn, page["program"], redemption_id)
        if found.member_id != session.member_id:
            raise rewards.RedemptionNotFound(f"redemption {redemption_id} does not exist")
        return dict(page, redemption=found)
    return render(request, "redeemed.html", nav="rewards", **state.db.read(read))


@router.get("/referrals", response_class=HTMLResponse)
def referral_page(request: Request, session: SignedIn) -> HTMLResponse:
    """The member's code is made the first time they look, as the API does."""
    state = request.app.state

    def read(conn: Connection) -> dict[str, Any]:
        page = _context(conn, session)
        return dict(page, referral=referrals.summary(conn, page["program"], session.member_id,
                                                     state.clock.now()))
    return render(request, "referrals.html", nav="referrals", **state.db.transact(read))
