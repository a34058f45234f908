"""What every report is asked and what it answers first: the query's filters and
options, and the header every report carries (see ``schemas`` for the reports)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from patron.schemas_common import Channel, Day, Name

REPORTS = ("members", "points", "rewards", "behaviour", "rfm", "clv", "cohorts", "stores",
           "products", "category-trends", "segments")
ReportName = Literal["members", "points", "rewards", "behaviour", "rfm", "clv", "cohorts",
                     "stores", "products", "category-trends", "segments"]
ProductLevel = Literal["department", "category", "subcategory", "brand", "sku"]
MAX_BANDS = 20


class ReportQuery(BaseModel):
    """Filters and options; each report uses those that make sense for it."""

    model_config = ConfigDict(extra="forbid")

    start: Day | None = Field(None, description="First day counted, in the program's timezone")
    end: Day | None = Field(
        None, description="Last day counted; the report is as of the end of that day "
                          "(default: today; for members, rfm, clv, cohorts and segments on "
                          "data ending over 30 days ago, the data's last day)")
    region: Name | None = Field(None, description="Only members of this region")
    join_channel: Channel | None = Field(None, description="Only members who joined here")
    channel: Channel | None = Field(None, description="Only orders (and events) of this channel")
    lapsed_days: int = Field(90, ge=1, le=3650,
                             description="members: lapsed after this many days without a purchase")
    point_value: Decimal | None = Field(
        None, gt=0, le=1000, max_digits=12, decimal_places=6,
        description="points, rewards: what one point costs the program, in currency units "
                    "(default: the program document's settings.point_value_minor)")
    calibration_end: Day | None = Field(
        None, description="clv: last day of the calibration period (default: the end); "
                          "purchases after it are the holdout the predictions are checked on")
    time_unit: Literal["day", "week"] = Field("week", description="clv: time unit of the models")
    horizon_days: int = Field(90, ge=1, le=3650,
                              description="clv: predict purchases and value over this many days")
    segment: str | None = Field(None, max_length=40,
                                description="rfm: only members of this named segment")
    limit: int | None = Field(1000, ge=1, le=1_000_000,
                              description="rfm, clv, rewards: rows in per-member/per-reward lists")
    level: ProductLevel = Field("category", description="products, category-trends: the "
                                "product level to group lines by")
    bands: str | None = Field(
        None, max_length=200, description="behaviour: lowest order count of each frequency "
        "band, e.g. 1,2,4,12,26,52 (default: the fixed bands 1, 2, 3, 4-5, 6-10, 11-20, 21+, "
        "or bands at quantiles of the data when a quarter of purchasers would be in 21+)")

    @field_validator("bands")
    @classmethod
    def _increasing_counts(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = [part.strip() for part in value.split(",")]
        if not all(part.isdigit() for part in parts):
            raise ValueError("bands are whole numbers of orders, separated by commas")
        counts = [int(part) for part in parts]
        if counts[0] < 1 or any(b <= a for a, b in zip(counts, counts[1:])):
            raise ValueError("bands start at 1 or more and increase")
        if len(counts) > MAX_BANDS:
            raise ValueError(f"at most {MAX_BANDS} bands")
        return ",".join(map(str, counts))

    @property
    def band_lows(self) -> tuple[int, ...] | None:
        return tuple(int(part) for part in self.bands.split(",")) if self.bands else None


class ReportBase(BaseModel):
    report: ReportName
    program: str = Field(description="Program slug")
    currency: str = Field(description="ISO-4217 code of every money amount (minor units)")
    minor_exponent: int = Field(description="Digits of the minor unit (2: cents)")
    start: date | None = Field(description="First day counted")
    as_of: date = Field(description="Last day counted: recency and lapsing are measured from it")
    as_of_basis: Literal["end", "today", "data_end"] = Field(
        description="Why that day: the end date given; today; or, for members, rfm, clv, "
                    "cohorts and segments with no end date on data ending over 30 days ago, "
                    "the last day with recorded activity")
    data_end: date | None = Field(
        description="Last day with recorded activity (orders, events, points, redemptions) "
                    "in what the report read; null without any")
    warnings: list[str] = Field(
        description="What an analyst should know before reading the figures, e.g. that the "
                    "data ends long before the as-of day")
    generated_at: datetime
    source: Literal["scan", "fetch"] = Field(
        description="How the rows were read: DuckDB scanner or SQLAlchemy fetch")


class Count(BaseModel):
    key: str
    members: int
    share: float | None
