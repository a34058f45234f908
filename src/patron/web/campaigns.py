"""Campaign pages: the program's campaigns, and one campaign's results.

The list is ``patron.campaigns.service.list_campaigns`` (``GET /api/v1/campaigns``);
a campaign's page is ``patron.campaigns.results.campaign_results``, the same figures
``GET /api/v1/analytics/campaigns/{id}`` and ``patron campaigns results`` give.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from patron.auth.service import Permission
from patron.campaigns.results import campaign_results
from patron.campaigns.results_schemas import CampaignResults
from patron.campaigns.service import get_campaign, list_campaigns
from patron.program.service import get_program
from patron.web.pages import render
from patron.web.session import Staff

router = APIRouter(prefix="/campaigns")
CampaignId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


def window(starts: datetime, ends: datetime, zone: ZoneInfo) -> str:
    """The days a window covers, both included, in the program's timezone: a window
    ending at midnight (a document's inclusive end date) ends on the day before."""
    last: date = (ends.astimezone(zone) - timedelta(microseconds=1)).date()
    return f"{starts.astimezone(zone).date()} to {last}"


@router.get("", response_class=HTMLResponse)
def campaigns(request: Request, session: Staff) -> HTMLResponse:
    """Every campaign of the current version: status, window, target, groups, budget."""
    session.require(Permission.ANALYTICS)
    state = request.app.state

    def read(conn):
        program = get_program(conn, session.program_id)
        return dict(program=program,
                    campaigns=list_campaigns(conn, program, state.clock.now()))
    return render(request, "campaigns.html", window=window, **state.db.read(read))


def chart_of(results: CampaignResults, exponent: int) -> dict[str, Any] | None:
    """Spend per member of both groups in major units, and the holdout's mean plus the
    lift's interval (treatment's spend at the interval's ends), for the chart."""
    lift = results.spend_lift
    if lift is None or results.holdout is None:
        return None
    unit = 10 ** exponent
    interval = None
    if lift.low is not None and lift.high is not None:
        interval = [round((lift.holdout_mean + lift.low) / unit, 2),
                    round((lift.holdout_mean + lift.high) / unit, 2)]
    return {"labels": ["Holdout", "Treatment"], "currency": results.currency,
            "means": [round(lift.holdout_mean / unit, 2), round(lift.treatment_mean / unit, 2)],
            "interval": interval}


@router.get("/{campaign_id}", response_class=HTMLResponse)
def campaign(request: Request, session: Staff, campaign_id: CampaignId) -> HTMLResponse:
    """One campaign's results: reach and cost, treatment against holdout, the lift with
    its 95% interval (Welch), or the before/after view when there is no holdout."""
    session.require(Permission.ANALYTICS)
    state = request.app.state
    now = state.clock.now()

    def read(conn):
        program = get_program(conn, session.program_id)
        results = campaign_results(conn, program, campaign_id, now)
        return dict(program=program, campaign=get_campaign(conn, program, campaign_id, now),
                    results=results,
                    chart=chart_of(results, program.settings.minor_exponent))
    return render(request, "campaign.html", window=window, **state.db.read(read))
