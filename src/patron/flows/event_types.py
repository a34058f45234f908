"""Every event type ingest knows, and how it records each one.

The names of the built-in types and the data fields their conditions may read
are the program document's (``patron.program.catalog``): a program is validated
against them before it is published. This registry says what ingest does with
an event of each type: the payload model its ``data`` must fit (None: free
data), the handler that records it (see ``patron.flows.handlers``), and whether
it may enrol an identity no member has yet (only a purchase or a sign-up
introduces a new customer; a review from a stranger is refused). A type a
program declares for itself just earns, as ``DECLARED``.

Adding a built-in event type is one entry here (and its fields in the catalog)
plus, if it does more than earn, one handler module beside
``patron.flows.purchases``, ``patron.flows.returns`` and ``patron.flows.payments``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from patron.events.schemas import PaymentData, PurchaseData, ReturnData
from patron.flows.handlers import EARNS, Handler
from patron.flows.payments import MEMBERSHIP_PAYMENTS
from patron.flows.purchases import PURCHASES
from patron.flows.returns import RETURNS


@dataclass(frozen=True)
class EventType:
    handler: Handler
    data: type[BaseModel] | None = None
    """The payload model the event's ``data`` is checked against (None: free data)."""
    enrols: bool = False
    """Whether the event may enrol an unknown identity (when the program auto-enrols)."""


DECLARED = EventType(EARNS)
"""A type the program declares under ``event_types``: it just earns."""

BUILT_IN: dict[str, EventType] = {
    "purchase": EventType(PURCHASES, PurchaseData, enrols=True),
    "return": EventType(RETURNS, ReturnData),
    "sign_up": EventType(EARNS, enrols=True),
    "profile_completed": EventType(EARNS),
    "review": EventType(EARNS),
    "check_in": EventType(EARNS),
    "social_share": EventType(EARNS),
    "eco_action": EventType(EARNS),
    "referral": EventType(EARNS),
    "campaign_participation": EventType(EARNS),
    "membership_payment": EventType(MEMBERSHIP_PAYMENTS, PaymentData),
}


def event_type(name: str) -> EventType:
    """How ingest records events of type ``name``; whether the program knows the type is
    the earn step's to judge (``patron.flows.earning``)."""
    return BUILT_IN.get(name, DECLARED)
