"""Sales reports' payloads: by store, by product level, category trends per month,
and the headline figures per segment. Money is integer minor units."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from patron.analytics.query import ReportBase


class SalesFigures(BaseModel):
    revenue: int = Field(description="What members paid, minor units")
    orders: int
    members: int = Field(description="Distinct members who bought")
    units: int = Field(description="Quantities of the order lines")
    discount: int = Field(description="Discounts taken, minor units (stores: order and line "
                                      "discounts; products: line discounts)")
    share_of_revenue: float | None


class _Store(BaseModel):
    store_id: str = Field(description="The store; 'unknown' for orders that name none")


class StoreSales(SalesFigures, _Store):  # the store first, in tables and CSV
    average_basket: int | None = Field(description="Revenue per order, minor units")
    coupon_value: int = Field(description="Value of coupons applied, minor units")


class SalesSummary(BaseModel):
    level: str = Field(description="What the rows are: store, or a product level")
    keys: int = Field(description="Stores or products listed")
    revenue: int
    orders: int
    members: int
    units: int
    discount: int


class StoresReport(ReportBase):
    report: Literal["stores"] = "stores"
    summary: SalesSummary
    stores: list[StoreSales] = Field(description="Most revenue first")


class _Product(BaseModel):
    key: str = Field(description="The department, category, … ('unknown' when not given)")


class ProductSales(SalesFigures, _Product):  # the product key first, in tables and CSV
    pass


class ProductsReport(ReportBase):
    report: Literal["products"] = "products"
    summary: SalesSummary
    products: list[ProductSales] = Field(description="Most revenue first")


class TrendMonth(BaseModel):
    month: date = Field(description="First day of the month, program timezone")
    key: str
    revenue: int
    units: int
    orders: int
    members: int
    share_of_month: float | None = Field(description="Share of the month's revenue")


class TrendsSummary(BaseModel):
    level: str
    months: int
    keys: int
    revenue: int


class CategoryTrendsReport(ReportBase):
    report: Literal["category-trends"] = "category-trends"
    summary: TrendsSummary
    trends: list[TrendMonth] = Field(description="By month, then most revenue first")


class SegmentFigures(BaseModel):
    segment: str = Field(description="Segment key")
    name: str
    kind: str
    members: int = Field(description="Members in the segment now")
    active_members: int = Field(description="Of them, bought at most lapsed_days before as_of")
    purchasers: int = Field(description="Of them, bought in the period")
    orders: int
    revenue: int
    spend_per_member: int | None = Field(description="Revenue per member, minor units")
    points_balance: int = Field(description="Points they hold now (available + pending)")


class SegmentsSummary(BaseModel):
    segments: int
    members_in_a_segment: int


class SegmentsReport(ReportBase):
    report: Literal["segments"] = "segments"
    summary: SegmentsSummary
    segments: list[SegmentFigures] = Field(description="Active segments, by key")
