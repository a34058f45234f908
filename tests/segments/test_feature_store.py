"""The set-based refresh against a plain reading of the features' definitions.

A small shop with varied histories (ties, a return, tags, a referral, tiers, a closed
member, a purchase after ``now``) is refreshed by the job, and every column of every
row is compared with features computed member by member in Python from the rows the
definitions name (``segments/features.py``), on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

import numpy as np
from sqlalchemy import insert, select, update

from patron.earning.tables import order_returns
from patron.events.tables import order_lines, orders
from patron.ledger.tables import accounts, lots
from patron.members.tables import members
from patron.referrals.tables import referrals
from patron.segments import domain, service
from patron.segments.features import refresh_features
from patron.segments.tables import member_features, member_tags
from patron.tiers.tables import tier_states
from tests.flows.test_ingest import BASE, Shop
from tests.tiers.test_tiers import LADDER

EPOCH = date(1970, 1, 1)


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _straightforward(conn, program, now: datetime) -> dict[int, dict]:
    """Each eligible member's features, one member at a time, from the definitions."""
    pid, today = program.id, now.astimezone(UTC).date()
    people = [m for m in conn.execute(select(members).where(members.c.program_id == pid))
              if m.merged_into is None and m.status not in ("closed", "erased")
              and _utc(m.created_at) <= now]
    lines = defaultdict(list)
    for line in conn.execute(select(order_lines)):
        lines[line.order_pk].append(line)
    returned = Counter()
    for back in conn.execute(select(order_returns).where(order_returns.c.program_id == pid)):
        if _utc(back.recorded_at) <= now:
            line = next(x for x in lines[back.order_pk] if x.line_no == back.line_index)
            returned[back.order_pk] += line.amount * back.quantity // line.quantity
    bought = defaultdict(list)
    for order in conn.execute(select(orders).where(orders.c.program_id == pid)):
        if _utc(order.occurred_at) <= now:
            bought[order.member_id].append(order)
    account = {a.member_id: a for a in conn.execute(select(accounts)
                                                    .where(accounts.c.program_id == pid))}
    expiring = Counter()
    for lot in conn.execute(select(lots).where(lots.c.program_id == pid, lots.c.state == "open")):
        if now < _utc(lot.expires_at) <= now + timedelta(days=domain.EXPIRING_DAYS):
            expiring[lot.account_id] += lot.remaining
    tiers = {}
    for state in conn.execute(select(tier_states).where(tier_states.c.program_id == pid)):
        manual = state.manual_tier_id is not None and (
            state.manual_until is None or _utc(state.manual_until) > now)
        tiers[state.member_id] = state.manual_tier_id if manual else state.tier_id
    made = Counter(r.referrer_id for r in conn.execute(
        select(referrals).where(referrals.c.program_id == pid)))
    tags = defaultdict(list)
    for tag in conn.execute(select(member_tags).where(member_tags.c.program_id == pid)):
        tags[tag.member_id].append(tag.tag)
    out = {}
    for m in people:
        mine = bought[m.id]
        spend = {o.id: max(o.total - returned[o.id], 0) for o in mine}
        days = sorted({_utc(o.occurred_at).date() for o in mine})
        revenue, count = Counter(), Counter(o.channel for o in mine if o.channel is not None)
        for o in mine:
            for line in lines[o.id]:
                if line.category:
                    revenue[line.category] += line.amount
        acct = account.get(m.id)
        out[m.id] = {
            "joined_on": _utc(m.created_at).date(),
            "last_purchase_on": days[-1] if days else None,
            "recency_days": (today - days[-1]).days if days else None,
            "days_since_last_purchase": (today - days[-1]).days if days else None,
            "frequency": len(mine), "monetary": sum(spend.values()),
            "tier": tiers.get(m.id), "age_band": domain.age_band(m.birthdate, today),
            "region": m.region, "join_channel": m.join_channel,
            "favourite_category": min(revenue, key=lambda c: (-revenue[c], c), default=None),
            "favourite_channel": min(count, key=lambda c: (-count[c], c), default=None),
            "points_balance": acct.available if acct else 0,
            "expiring_points": expiring[acct.id] if acct else 0,
            "referral_count": made[m.id], "tags": sorted(tags[m.id]),
            "_days": [(d - EPOCH).days for d in days],
            "_first_spend": sum(spend[o.id] for o in mine
                                if days and _utc(o.occurred_at).date() == days[0]),
        }
    _score(out, (today - EPOCH).days, program.settings.minor_exponent)
    return out


def _score(out: dict[int, dict], today: int, minor_exponent: int) -> None:
    """RFM among buyers and the lifetime models, through the domain's own functions."""
    buyers = sorted(m for m, f in out.items() if f["frequency"])
    for m in out:
        out[m].update(r_score=None, f_score=None, m_score=None, rfm_segment=None,
                      churn_probability=None, expected_purchases=None, expected_value=None)
    if not buyers:
        return
    col = {k: np.array([out[m][k] for m in buyers], dtype=np.int64)
           for k in ("frequency", "monetary", "_first_spend")}
    first = np.array([out[m]["_days"][0] for m in buyers])
    last = np.array([out[m]["_days"][-1] for m in buyers])
    repeats = np.array([len(out[m]["_days"]) - 1 for m in buyers])
    r, f, s, named = domain.buyer_rfm(np.array(buyers), today - last, col["frequency"],
                                      col["monetary"])
    repeat_spend = np.where(repeats > 0, (col["monetary"] - col["_first_spend"])
                            / np.maximum(repeats, 1), 0.0)
    models = domain.model_figures(repeats, last - first, today - first, repeat_spend,
                                  minor_exponent)
    for i, m in enumerate(buyers):
        out[m].update(r_score=r[i], f_score=f[i], m_score=s[i], rfm_segment=named[i],
                      churn_probability=models.churn_probability[i],
                      expected_purchases=models.expected_purchases[i],
                      expected_value=models.expected_value[i])


def _written(conn, program_id: int) -> dict[int, dict]:
    rows = conn.execute(select(member_features).where(member_features.c.program_id
                                                      == program_id))
    return {row.member_id: {k: v for k, v in row._mapping.items()
                            if k not in ("member_id", "program_id", "computed_at")}
            for row in rows}


def _shop_with_history(database, clock) -> tuple[Shop, list[int]]:
    shop = Shop(database, clock, [BASE], expiry={"days": 40})
    shop.program = shop.publish_full(shop.program, [BASE], settings={"expiry": {"days": 40}},
                                     tiers={"metric": "qualifying_spend", "levels": LADDER})
    rng = random.Random(15)
    people = [shop.member(birthdate=f"{rng.randint(1950, 2010)}-{rng.randint(1, 12):02d}-"
                                    f"{rng.randint(1, 28):02d}",
                          region=rng.choice(("north", "south")),
                          join_channel=rng.choice(("web", "store")))
              for _ in range(36)] + [shop.member()]
    events = []
    for member in people[:30]:
        for _ in range(rng.randint(1, 5)):
            lines = [(f"S{rng.randint(1, 9)}", rng.choice(("shoes", "socks", "", "bags")),
                      rng.randint(1, 3), rng.choice((10_00, 25_00, 7_50)))
                     for _ in range(rng.randint(1, 3))]
            event = shop.purchase(member, lines, at=clock.now() - timedelta(
                days=rng.randint(0, 300), hours=rng.randint(0, 23)))
            event["channel"] = rng.choice(("web", "store", "app"))
            events.append(event)
    later = shop.purchase(people[31], [("S1", "shoes", 1, 99_00)])  # after the refresh's now
    shop.send(*events)
    first_order = next(e for e in events if e["member"]["id"] == people[0])
    line = first_order["data"]["lines"][0]
    [back] = shop.send(shop.event(people[0], "return", {
        "order_id": first_order["data"]["order_id"],
        "lines": [{"sku": line["sku"], "quantity": 1}]}))
    assert back.status == "processed", back.error
    for member, tag in ((people[1], "vip"), (people[1], "alpha"), (people[2], "vip")):
        database.transact(lambda conn, m=member, t=tag: service.add_tag(
            conn, shop.program, m, t, "test", clock.now()))
    database.transact(lambda conn: (
        conn.execute(insert(referrals).values(program_id=shop.program.id,
                                              referrer_id=people[3], referee_id=people[4],
                                              code="R1", state="attributed",
                                              attributed_at=clock.now())),
        conn.execute(update(members).where(members.c.id == people[5])
                     .values(status="closed"))))
    clock.advance(hours=1)
    shop.send(later)
    return shop, people


def test_refresh_writes_what_the_definitions_give_member_by_member(database, clock):
    shop, people = _shop_with_history(database, clock)
    at = clock.now() - timedelta(minutes=30)  # before the last purchase was sent
    expected = database.read(lambda conn: _straightforward(conn, shop.program, at))
    assert people[5] not in expected and len(expected) == len(people) - 1
    assert any(f["churn_probability"] is not None for f in expected.values())
    for refresh in range(2):  # a second refresh rewrites rows already there
        database.transact(lambda conn: refresh_features(conn, shop.program, at))
        written = database.read(lambda conn: _written(conn, shop.program.id))
        assert sorted(written) == sorted(expected)
        for member, features in expected.items():
            got = written[member]
            for name in got:
                if isinstance(features[name], float):
                    assert abs(got[name] - features[name]) < 1e-9, (member, name, refresh)
                else:
                    assert got[name] == features[name], (member, name, refresh)
