"""The ``privacy`` section of a program document: how long personal data is kept.

Nothing is removed unless the program says so. Both settings are applied by the
scheduled sweep (``patron jobs run``, ``patron.flows.privacy.retention``):

- ``erase_closed_after_days``: a member closed that long ago is erased as
  ``POST /members/{id}/erase`` would (profile, identities and free text
  pseudonymised; points, orders and every accounting total untouched);
- ``keep_event_data_days``: an event received that long ago keeps only the fields
  of its ``data`` that rules can read (the built-in types' fields and those the
  program declares); whatever else a channel sent along (customer details, notes,
  addresses) is dropped.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Privacy(BaseModel):
    """How long Patron keeps personal data it no longer needs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    erase_closed_after_days: int | None = Field(
        None, ge=1, le=36500, description="Erase a closed member's personal data this many "
        "days after the closure, as POST /members/{id}/erase does (points and orders "
        "stay); null: never")
    keep_event_data_days: int | None = Field(
        None, ge=1, le=36500, description="Keep an event's whole payload this many days "
        "after Patron received it; then only the fields rules read stay (order, amounts, "
        "lines, declared fields) and the rest is dropped; null: keep it")


def privacy_problems(privacy: Privacy | None, pending_days: int) -> list[tuple[str, str, str]]:
    """Retention that would leave points behind: a closed member's pending points settle
    and are forfeited within the return window, and an erased member's are never."""
    if privacy is None or privacy.erase_closed_after_days is None:
        return []
    days = privacy.erase_closed_after_days
    if days <= pending_days:
        return [("privacy.erase_closed_after_days",
                 f"{days} is not after settings.pending_days ({pending_days}): a closed "
                 "member's pending points settle and are forfeited only after the return "
                 "window, and an erased member's never are", "error")]
    return []
