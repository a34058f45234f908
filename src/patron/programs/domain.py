"""A program's settings: what the ledger and the flat earn rate need to know.

The program document (earn rules, tiers, rewards) grows around these settings;
until a program publishes one, purchases earn at one flat rate.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, available_timezones

from babel.numbers import get_currency_precision, list_currencies
from pydantic import BaseModel, ConfigDict, Field, field_validator

from patron.ledger.domain import ExpiryPolicy

Rounding = Literal["floor", "ceiling", "half_up", "half_even"]


@lru_cache
def _currencies() -> frozenset[str]:
    return frozenset(list_currencies())


@lru_cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def minor_exponent(currency: str) -> int:
    """Digits after the decimal point of a currency (JPY 0, USD 2, BHD 3)."""
    return get_currency_precision(currency)


class ExpirySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int | None = Field(365, ge=1, le=36500,
                             description="Days after becoming available; null: never expire")
    round_to_month_end: bool = Field(False, description="Expire at the end of that month")


class ProgramSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: str = Field("USD", description="ISO-4217 code of the program's money")
    timezone: str = Field("UTC", description="IANA timezone for calendar logic")
    default_region: str = Field("US", description="Region for phone numbers without +country")
    points_name: str = Field("points", min_length=1, max_length=40)
    points_per_unit: Decimal = Field(Decimal(1), gt=0, le=10_000,
                                     description="Points per whole currency unit spent")
    rounding: Rounding = "floor"
    pending_days: int = Field(14, ge=0, le=365,
                              description="Purchase points stay pending for the return window")
    expiry: ExpirySettings = Field(default_factory=ExpirySettings)
    auto_enrol: bool = Field(True, description="Enrol unknown identities on purchase events")

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        value = value.upper()
        if value not in _currencies():
            raise ValueError(f"unknown ISO-4217 currency {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if value not in _timezones():
            raise ValueError(f"unknown IANA timezone {value!r}")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def expiry_policy(self) -> ExpiryPolicy:
        return ExpiryPolicy(self.expiry.days, self.expiry.round_to_month_end, self.timezone)

    @property
    def minor_exponent(self) -> int:
        return minor_exponent(self.currency)
