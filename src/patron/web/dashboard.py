"""The dashboard: the program's headline figures and charts, from the analytics reports.

Every figure comes from the same report ``patron analytics`` and
``GET /api/v1/analytics/…`` build, so the console and the reports never disagree: the
five reports it shows are built over one snapshot (``run_reports``, each table read once
for all of them), the points report as its overview (its months, totals and liability,
by the same code, without the earn cohorts and rules that read every lot and every
earn's rule), and the top rewards are the rewards report's catalog rows
(``catalog_figures``, which leaves out the points spends the dashboard does not show).
Members per tier is the tiers domain's count (``tier_distribution``: the rule that gives
a member their tier, paid plans' floors included), and a running campaign's lift is its
results (``campaign_results``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection

from patron.analytics.query import ReportQuery
from patron.analytics.schemas import CohortsReport
from patron.analytics.service import catalog_figures, run_reports
from patron.auth.service import Permission
from patron.campaigns.results import campaign_results
from patron.campaigns.service import list_campaigns
from patron.tiers.service import NoTiers, tier_distribution
from patron.program.service import Program, get_program
from patron.web.pages import render
from patron.web.session import Staff

router = APIRouter()

RECENT_DAYS = 30
ACTIVE_DAYS = 90
TOP_REWARDS = 5
COHORTS = 12
"""The heat map shows the latest twelve join months and their first twelve months."""
CAMPAIGNS = 3
SHADES = 5


def _tiers(conn: Connection, program: Program, now: datetime) -> list[dict[str, Any]] | None:
    try:
        return tier_distribution(conn, program, now)
    except NoTiers:
        return None


def _cohorts(report: CohortsReport) -> dict[str, Any]:
    """The cohorts report's latest rows, each cell a share with a shade band (0–4)."""
    rows = [dict(cohort=c.cohort.strftime("%Y-%m"), members=c.members, cells=[
        None if r is None else (r, min(int(r * SHADES), SHADES - 1))
        for r in c.retention[:COHORTS]]) for c in report.cohorts[-COHORTS:]]
    return dict(as_of=report.as_of, rows=rows,
                months=max((len(r["cells"]) for r in rows), default=0))


def _running(conn: Connection, program: Program, now: datetime) -> list[Any]:
    """Running campaigns with their results (the lift, where there is a holdout)."""
    running = [c for c in list_campaigns(conn, program, now) if c.status == "running"]
    return [campaign_results(conn, program, c.id, now) for c in running[:CAMPAIGNS]]


def _figures(conn: Connection, program: Program, now: datetime) -> dict[str, Any]:
    today = now.astimezone(program.settings.zone).date()
    members, points, recent, rfm, cohorts = run_reports(conn, program, [
        ("members", ReportQuery(lapsed_days=ACTIVE_DAYS)), ("points-overview", ReportQuery()),
        ("points-overview", ReportQuery(start=today - timedelta(days=RECENT_DAYS - 1))),
        ("rfm", ReportQuery()), ("cohorts", ReportQuery())], now)
    top = sorted(catalog_figures(conn, program, now).rewards,
                 key=lambda r: (-r.redemptions, r.name))[:TOP_REWARDS]
    tiers = _tiers(conn, program, now)
    return dict(members=members, points=points, recent=recent.summary, top_rewards=top,
                rfm=rfm, tiers=tiers, cohorts=_cohorts(cohorts),
                campaigns=_running(conn, program, now), charts={
        "tiers": {"labels": [t["name"] for t in tiers or []],
                  "members": [t["members"] for t in tiers or []]},
        "rfm": {"labels": [s.segment for s in rfm.segments if s.members],
                "members": [s.members for s in rfm.segments if s.members]},
        "members": {"labels": [g.month.strftime("%Y-%m") for g in members.growth],
                    "total": [g.total_members for g in members.growth],
                    "new": [g.new_members for g in members.growth]},
        "points": {"labels": [m.month.strftime("%Y-%m") for m in points.monthly],
                   "issued": [m.issued for m in points.monthly],
                   "spent": [m.spent for m in points.monthly],
                   "expired": [m.expired for m in points.monthly]},
        "activity": {"labels": [c.key.replace("_", " ") for c in members.activity],
                     "members": [c.members for c in members.activity]}})


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, session: Staff) -> HTMLResponse:
    """Headline figures for everyone; the charts need the analytics permission."""
    state = request.app.state
    now = state.clock.now()

    def read(conn: Connection) -> dict[str, Any]:
        program = get_program(conn, session.program_id)
        figures = _figures(conn, program, now) if session.may(Permission.ANALYTICS) else {}
        return dict(program=program, **figures)
    return render(request, "dashboard.html", recent_days=RECENT_DAYS, active_days=ACTIVE_DAYS,
                  **state.db.read(read))
