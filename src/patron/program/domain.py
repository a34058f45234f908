"""A program's settings are the ``settings`` section of its program document.

There is one model for them (``patron.program.document.Settings``): the program row
keeps a copy of the current version's settings, so the ledger and the API can
read them without loading the whole document.
"""

from __future__ import annotations

from decimal import Decimal

from patron.program.document import EarnRule, ProgramDocument, Settings

ProgramSettings = Settings


def starter_document(name: str, settings: Settings, earn_rate: Decimal = Decimal(1)
                     ) -> ProgramDocument:
    """Version 1 of a new program: one earn rule, ``earn_rate`` points per currency unit."""
    rate = Decimal(f"{earn_rate.normalize():f}")  # 10, not 1E+1
    rule = EarnRule(id="base_spend", name=f"{rate:f} {settings.points_name} per "
                    f"{settings.currency} 1", on="purchase",
                    points={"per_currency_unit": rate})
    return ProgramDocument(name=name, settings=settings, earn_rules=[rule])
