"""The sections of a member's export: every table that holds something about a member.

One ``Section`` per table, saying which of its rows are the member's: a column that
names the member (``about``), or a parent row that is theirs (``under``: an order's
lines, an account's lots). ``tests/flows/test_privacy_export.py`` walks the schema
for every table that names a member or hangs off one and fails when one has no
section here (or in ``NOT_EXPORTED``, with the reason), so a new table cannot be left
out of exports silently. An extension adds its own tables with ``register``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, or_, select

from patron.audit.tables import audit_log
from patron.auth.tables import portal_links, portal_sessions
from patron.campaigns.tables import campaign_members
from patron.coupons.tables import coupon_redemptions, coupons
from patron.earning.tables import awards, order_refunds, order_returns, rule_usage
from patron.engagement.tables import (engagement_awards, engagement_contributions,
                                      member_engagement)
from patron.events.tables import events, order_lines, orders
from patron.households.tables import household_member_periods, household_members, households
from patron.ledger.tables import (accounts, expiry_notices, ledger_entries, lot_moves,
                                  lot_transfers, lots)
from patron.members.tables import (consent_changes, identities, member_status_changes,
                                   members, merge_candidates, merges)
from patron.memberships.tables import membership_transitions, memberships
from patron.notifications.tables import notifications
from patron.recommendations.tables import recommendations
from patron.referrals.tables import referral_codes, referrals
from patron.rewards.tables import gift_grants, redemptions
from patron.segments.tables import member_features, member_tags, segment_members
from patron.tiers.tables import qualification_entries, tier_changes, tier_states
from patron.transfers.tables import point_transfers
from patron.wallet.tables import cashback_awards, wallet_accounts, wallet_entries, wallet_holds
from patron.webhooks.tables import webhook_attempts, webhook_messages

Ids = Sequence[int]


@dataclass(frozen=True)
class Section:
    name: str
    table: Table
    description: str
    rows: Callable[[Ids], ColumnElement[bool]]
    """The condition that picks the member's rows, given the member's record ids."""
    omit: tuple[str, ...] = ()
    """Columns never exported: secrets such as token hashes."""

    def query(self, member_ids: Ids) -> Select[Any]:
        columns = [c for c in self.table.columns if c.name not in self.omit]
        return (select(*columns).where(self.rows(member_ids))
                .order_by(*self.table.primary_key.columns))


def about(*columns: str) -> Callable[[Table], Callable[[Ids], ColumnElement[bool]]]:
    """Rows whose column (any of ``columns``) names one of the member's records."""
    def for_table(table: Table) -> Callable[[Ids], ColumnElement[bool]]:
        return lambda ids: or_(*(table.c[column].in_(list(ids)) for column in columns))
    return for_table


def under(column: str, parent: Table, parent_rows: Callable[[Ids], ColumnElement[bool]],
          parent_key: str = "id") -> Callable[[Table], Callable[[Ids], ColumnElement[bool]]]:
    """Rows whose ``column`` points at a parent row that is the member's."""
    def for_table(table: Table) -> Callable[[Ids], ColumnElement[bool]]:
        return lambda ids: table.c[column].in_(
            select(parent.c[parent_key]).where(parent_rows(ids)))
    return for_table


def section(name: str, table: Table, rows: Callable[[Table], Callable[[Ids], Any]],
            description: str, omit: tuple[str, ...] = ()) -> Section:
    return Section(name, table, description, rows(table), omit)


_member = about("member_id")
_own_accounts = _member(accounts)
_own_entries = _member(ledger_entries)
_own_orders = _member(orders)
_own_memberships = about("member_id", "live_member_id")(memberships)
_seats = about("member_id")(household_member_periods)

SECTIONS: list[Section] = [
    section("member", members, about("id"), "The member record: profile, status, "
            "attributes, consents now (and any record merged into it)"),
    section("identities", identities, _member, "Emails, phones, cards and external ids, "
            "with the channel each came from"),
    section("consent_changes", consent_changes, _member, "Every consent given or "
            "withdrawn: channel, purpose, source, notice, who recorded it and when"),
    section("status_changes", member_status_changes, _member, "Blocks, closures, "
            "reactivations and the erasure, with who and why"),
    section("merges", merges, about("survivor_id", "merged_id"), "Merges the member took "
            "part in, as survivor or as the merged record"),
    section("merge_candidates", merge_candidates, about("member_a", "member_b"),
            "Pairs matching suggested as one person, with the evidence"),
    section("accounts", accounts, _member, "Points accounts and their balances"),
    section("ledger_entries", ledger_entries, _member, "Every points entry: earn, spend, "
            "expire, adjust, reverse, transfer, with its reason"),
    section("lots", lots, under("account_id", accounts, _own_accounts), "The points of each "
            "earn, with what remains and when it expires"),
    section("lot_moves", lot_moves, under("entry_id", ledger_entries, _own_entries),
            "Which lots each entry took points from or gave them to"),
    section("lot_transfers", lot_transfers, under("entry_id", ledger_entries, _own_entries),
            "Lots copied from one account to another by a transfer or a merge"),
    section("awards", awards, _member, "Why each earn happened: rule, program version, "
            "explanation"),
    section("rule_usage", rule_usage, _member, "How much of each rule's per-member limit "
            "the member used, per period"),
    section("events", events, _member, "Everything channels sent about the member "
            "(purchases, returns, sign-ups, reviews, ...) with its outcome"),
    section("orders", orders, _member, "Orders with their amounts"),
    section("order_lines", order_lines, under("order_pk", orders, _own_orders),
            "The lines of the member's orders"),
    section("order_returns", order_returns, under("order_pk", orders, _own_orders),
            "Lines returned from the member's orders"),
    section("order_refunds", order_refunds, under("order_pk", orders, _own_orders),
            "Money refunded on the member's orders without naming lines"),
    section("wallet_accounts", wallet_accounts, _member, "Cashback wallets and balances"),
    section("wallet_entries", wallet_entries, _member, "Every wallet entry"),
    section("wallet_holds", wallet_holds,
            under("account_id", wallet_accounts, _member(wallet_accounts)),
            "Cashback held through the return window"),
    section("cashback_awards", cashback_awards, _member, "Why each cashback was given"),
    section("coupons", coupons, _member, "Coupons issued to the member"),
    section("coupon_redemptions", coupon_redemptions, _member, "Coupons the member used, "
            "with the order amounts"),
    section("redemptions", redemptions, _member, "Rewards redeemed with points"),
    section("gift_grants", gift_grants, _member, "Gifts given with purchases"),
    section("point_transfers", point_transfers, about("from_member_id", "to_member_id"),
            "Points given to or received from other members"),
    section("referral_codes", referral_codes, _member, "The member's referral code"),
    section("referrals", referrals, about("referrer_id", "referee_id"), "Referrals the "
            "member made or came through"),
    section("tier_states", tier_states, _member, "The member's tier now"),
    section("tier_changes", tier_changes, _member, "Every tier move"),
    section("qualification_entries", qualification_entries, _member, "What counted towards "
            "the member's tier"),
    section("memberships", memberships, about("member_id", "live_member_id"), "Paid "
            "memberships"),
    section("membership_transitions", membership_transitions,
            under("membership_id", memberships, _own_memberships),
            "Every move of the member's paid memberships, with payments"),
    section("households", households, under("id", household_member_periods, _seats,
                                            parent_key="household_id"),
            "Households the member belongs or belonged to"),
    section("household_members", household_members, _member, "The member's seat in a "
            "household"),
    section("household_member_periods", household_member_periods, _member, "Every stretch "
            "the member spent in a household, with the role"),
    section("tags", member_tags, _member, "Tags the member carries"),
    section("features", member_features, _member, "What the features job computed about "
            "the member (RFM, churn, favourites, ...)"),
    section("segment_members", segment_members, _member, "Segments the member was in, "
            "and when"),
    section("campaign_members", campaign_members, _member, "Campaigns the member was "
            "assigned to (treatment or holdout)"),
    section("portal_links", portal_links, _member, "Sign-in links to the member portal "
            "(never the token)", omit=("token_hash",)),
    section("portal_sessions", portal_sessions, _member, "Member portal sessions (never "
            "the tokens)", omit=("token_hash", "csrf_token")),
    section("audit_entries", audit_log, _member, "Every write made about the member: who, "
            "what, when"),
    section("engagement", member_engagement, _member, "Progress on badges, challenges and "
            "streaks"),
    section("engagement_awards", engagement_awards, _member, "Badges earned, challenges "
            "completed and streak milestones reached, with what each gave"),
    section("engagement_contributions", engagement_contributions, _member, "What each "
            "purchase added to badges, challenges and streaks (taken back if returned)"),
    section("recommendations", recommendations, _member, "Rewards, categories and products "
            "the member is likely to want next, as last trained, with the reasons"),
    section("expiry_notices", expiry_notices, _member, "Points announced as expiring soon, "
            "per expiry day"),
    section("notifications", notifications, _member, "Messages to the member (points "
            "earned, expiring, tier changes, rewards) with their text, sent or to be sent"),
    section("webhook_messages", webhook_messages, _member, "Webhook messages about the "
            "member sent (or to be sent) to the program's systems, with their payloads"),
    section("webhook_attempts", webhook_attempts,
            under("message_id", webhook_messages, _member(webhook_messages)),
            "Each delivery attempt of those messages"),
]

NOT_EXPORTED: dict[str, str] = {}
"""Tables that name a member yet are not exported, each with the reason (none today)."""


def register(new: Section) -> None:
    """Add an extension's table to every export."""
    if any(existing.name == new.name for existing in SECTIONS):
        raise ValueError(f"an export section named {new.name!r} exists already")
    SECTIONS.append(new)
