"""Campaign results over HTTP: treatment against holdout, lift with its interval, ROI.

The router lives with the other face modules (not in ``patron.campaigns``) because it
needs the request context of :mod:`patron.api.deps`, which the campaigns layer may not
import.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from patron.api.deps import Analyst, problem_responses
from patron.campaigns.results import campaign_results
from patron.campaigns.results_schemas import CampaignResults
from patron.program.document import RULE_ID

router = APIRouter(prefix="/analytics/campaigns", tags=["analytics"])


@router.get("/{campaign_id}", response_model=CampaignResults,
            responses=problem_responses(401, 403, 404, 422))
def get_campaign_results(
        ctx: Analyst,
        campaign_id: Annotated[str, Path(max_length=64, pattern=RULE_ID,
                                         description="The campaign's id in the document")],
        version: Annotated[int | None, Query(ge=1, le=1_000_000, description="Program "
                                             "version whose campaign to read (default: "
                                             "current)")] = None,
        attribution_days: Annotated[int | None, Query(ge=0, le=365, description="Override "
                                                      "the campaign's attribution days")] = None,
) -> CampaignResults:
    """Reach, activation, revenue and spend per member of treatment against holdout over
    the window plus attribution days; the lift in spend and orders per member (Welch
    difference in means, 95% interval; relative lift by the delta method); incremental
    revenue, cost and ROI. A campaign without a holdout answers a ``before_after`` block
    instead, labelled ``causal: false``. An upcoming campaign answers zeros."""
    return ctx.read(lambda conn, program: campaign_results(
        conn, program, campaign_id, ctx.clock.now(), version=version,
        attribution_days=attribution_days))
