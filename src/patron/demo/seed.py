"""The demo program: "Demo Coffee Rewards", ~1,000 members, ~6 months of history.

Everything goes through the real services: members are enrolled by the member
service or by their first purchase event, and every purchase is an event sent
through ingest in batches, exactly as a shop's integration would send it. A family
pools its Beans in a household, a member pays for the Coffee Club and friends join with
a referral code (``patron.demo.together``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.resources import files

from patron.campaigns.repository import assigned
from patron.campaigns.service import assign_campaign
from patron.db import Database
from patron.db.engine import chunks
from patron.demo.together import bring_friends, start_household
from patron.events.schemas import EventIn
from patron.flows.ingest import ingest
from patron.flows.redemption import redeem
from patron.ledger import jobs
from patron.ledger.repository import accounts_by_member
from patron.members.repository import page_members
from patron.ledger.service import spend_points
from patron.members.schemas import MemberCreate
from patron.flows.enrolment import create_member
from patron.program.service import Program, create_program, get_program
from patron.program.document import ProgramDocument
from patron.program.validate import format_problems, validate_text
from patron.program.versions import publish
from patron.segments.jobs import refresh_program
from patron.segments.schemas import SegmentCreate
from patron.segments.service import create_segment

SLUG = "demo-coffee"
CHANNELS = ("web", "pos", "app")
REGIONS = ("North", "South", "East", "West", "Central")
FIRST = (("Ben", "male"), ("Chloe", "female"), ("Dev", "male"), ("Elif", "female"),
         ("Femi", "male"), ("Gus", "male"), ("Hana", "female"), ("Ivan", "male"),
         ("Joanna", "female"), ("Kai", "male"), ("Lea", "female"), ("Mohammed", "male"),
         ("Nia", "female"), ("Omar", "male"), ("Pia", "female"), ("Quinn", "female"),
         ("Rui", "male"), ("Sara", "female"), ("Tom", "male"), ("Uma", "female"),
         ("Victor", "male"), ("Wen", "female"), ("Yusuf", "male"), ("Zoe", "female"))
LAST = ("Ali", "Berg", "Costa", "Diaz", "Evans", "Fox", "Garcia", "Ho", "Ito", "Jones",
        "Khan", "Lopez", "Moreau", "Novak", "Okafor", "Park", "Rossi", "Singh", "Tanaka",
        "Walsh", "Nguyen", "Schmidt", "Kowalski", "Haddad", "Murphy", "Silva", "Olsen")
STREETS = ("Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Elm St", "Park Rd", "Hill St",
           "Lake Ave", "River Rd", "Pine St", "Church St", "Mill Ln")
CITIES = (("Washington", "DC", "20001"), ("Washington", "DC", "20009"),
          ("Arlington", "VA", "22201"), ("Alexandria", "VA", "22314"),
          ("Bethesda", "MD", "20814"), ("Silver Spring", "MD", "20910"),
          ("Rockville", "MD", "20850"), ("Fairfax", "VA", "22030"))
DUPLICATES = (("Jonathan", "Jonathan", "male"), ("Katherine", "Katharine", "female"),
              ("Stephen", "Stephen", "male"), ("Margaret", "Margret", "female"),
              ("Isabelle", "Isabel", "female"))
"""Given names of people who enrolled twice: at the till, whose form has one name field,
with a phone; then online with an email, some typing their given name another way
(``patron members match`` finds each pair)."""
MENU = (  # sku, category, price in cents
    ("ESP-1", "drinks", 320), ("LAT-1", "drinks", 450), ("CAP-1", "drinks", 430),
    ("TEA-1", "drinks", 350), ("CRO-1", "food", 380), ("SAN-1", "food", 790),
    ("BNS-ETH", "beans", 1650), ("BNS-COL", "beans", 1490), ("MUG-1", "merch", 1800),
)
PRODUCTS = {  # sku: department, subcategory, brand (the category is the menu's)
    "ESP-1": ("cafe", "espresso", "Demo Coffee"),
    "LAT-1": ("cafe", "milk drinks", "Demo Coffee"),
    "CAP-1": ("cafe", "milk drinks", "Demo Coffee"), "TEA-1": ("cafe", "tea", "Leaf & Co"),
    "CRO-1": ("cafe", "pastry", "Rise Bakery"), "SAN-1": ("cafe", "sandwiches", "Rise Bakery"),
    "BNS-ETH": ("retail", "single origin", "Demo Coffee"),
    "BNS-COL": ("retail", "single origin", "Demo Coffee"),
    "MUG-1": ("retail", "mugs", "Demo Coffee"),
}
STORES = {"pos": ("dupont-circle", "union-market", "georgetown"), "web": ("web-shop",),
          "app": ("app",)}
"""Where a purchase was made, by channel: three stores' tills, the web shop and the app."""
BATCH = 500
DOCUMENT = "demo_coffee.yaml"
SPEND = 200
"""Beans a few members already paid with (one Bean is worth one cent)."""
REWARDS = (("free_drink", 450), ("plant_a_tree", 100), ("cash_back", 250))
"""Catalog rewards (and their Beans) a few members already redeemed."""
CAMPAIGN_DAYS = (45, 14)
"""The demo campaign opens 45 days before the seed's ``now`` and closes 14 days after it."""
LIFT = 0.6
"""Share of treatment members the offer brings back for more orders (the demo's lift)."""
LAPSING = 0.3
"""Share of members who stop coming at some point of the history (so churn models and
win-back segments have someone to find)."""
LAPSING_SEED = 11
REGULARS = SegmentCreate(key="regulars", name="Regulars",
                         description="Members with three orders or more",
                         condition="member.features.frequency >= 3")
CAMPAIGN = """
campaigns:                        # the demo seed adds this version with dates around its history
  - id: regulars_double
    name: Double Beans for regulars
    description: Regulars earn 2× Beans on purchases; a fifth of them are held out.
    starts: {starts}
    ends: {ends}
    segment: regulars
    holdout: "0.2"
    attribution_days: 14
    earn_rules:
      - id: regulars_double_beans
        name: Double Beans for regulars
        on: purchase
        points:
          multiplier: "2"
          of: [base_spend]
    budget:
      points: 500000
"""
ENGAGEMENT = """
badges:                           # the same version brings a badge, a challenge and a streak
  - id: regular
    name: Regular
    description: Your fifth order with us
    on: [purchase]
    when: member.purchase_count >= 5
    reward: {{points: 50}}
challenges:
  - id: three_visits
    name: Three visits a month
    description: Come by three times this month for 100 bonus Beans
    starts: {starts}
    ends: {ends}
    every: month
    on: [purchase]
    goal: {{measure: count, target: 3, unit: visits}}
    reward: {{points: 100}}
    budget: {{points: 200000}}
streaks:
  - id: weekly_coffee
    name: Weekly coffee
    description: An order, a reusable cup or a share every week
    period: week
    on: [purchase, eco_action, social_share]
    grace: {{missed: 1, per: 4}}
    milestones:
      - {{periods: 4, reward: {{points: 40}}}}
      - {{periods: 8, reward: {{points: 100, coupon: pastry_15}}}}
"""


@dataclass
class DemoResult:
    program: Program
    members: int
    events: int
    points_issued: int
    duplicates: list[tuple[int, int]]
    """The planted pairs: the member enrolled at the till, and the same person online."""
    household_id: int
    family: list[int]
    """The household's members, its owner (member 1 of a fresh database) first."""
    subscriber: int
    """The Coffee Club's paying member (member 2 of a fresh database)."""
    friends: list[int]
    """Members the household's owner referred: one qualified, one pending."""


def demo_document() -> tuple[ProgramDocument, str]:
    """The demo program's document (``rules/examples/demo_coffee.yaml``) and its text."""
    source = (files("patron.program") / "examples" / DOCUMENT).read_text(encoding="utf-8")
    document, problems = validate_text(source, DOCUMENT)
    if document is None:
        raise ValueError(f"{DOCUMENT} is not a valid program document:\n"
                         f"{format_problems(problems)}")
    return document, source


def _lines(rng: random.Random) -> list[dict]:
    picks = rng.choices(MENU, k=rng.choice((1, 1, 2, 2, 3, 4)))
    return [{"sku": sku, "category": cat, "quantity": 1, "amount": price,
             "department": PRODUCTS[sku][0], "subcategory": PRODUCTS[sku][1],
             "brand": PRODUCTS[sku][2]} for sku, cat, price in picks]


def _purchases(rng: random.Random, member: dict, start: datetime, end: datetime,
               counter: list[int]) -> list[EventIn]:
    events = []
    joined = member["joined"]
    last = member.get("lapses", end)
    visits = max(1, int(rng.expovariate(1 / member["rate"])))
    for _ in range(visits):
        at = joined + timedelta(seconds=rng.uniform(0, (last - joined).total_seconds()))
        lines = _lines(rng)
        counter[0] += 1
        order = f"D-{counter[0]:06d}"
        channel = rng.choice(member["channels"])
        stores = STORES.get(channel, ("web-shop",))
        events.append(EventIn.model_validate({
            "id": f"demo-purchase-{order}", "type": "purchase",
            "member": member["ref"], "occurred_at": at.isoformat(), "channel": channel,
            "data": {"order_id": order, "currency": "USD",
                     "store_id": stores[counter[0] % len(stores)],
                     "total": sum(line["amount"] for line in lines), "lines": lines}}))
    return events


def _person(rng: random.Random) -> dict:
    """A profile as a shop's sign-up form would take it."""
    (first, gender), last = rng.choice(FIRST), rng.choice(LAST)
    city, state, postcode = rng.choice(CITIES)
    return {"given_name": first, "family_name": last, "gender": gender,
            "birthdate": datetime(rng.randint(1955, 2005), rng.randint(1, 12),
                                  rng.randint(1, 28)).date(),
            "address": {"line1": f"{rng.randint(1, 2400)} {rng.choice(STREETS)}",
                        "city": city, "state": state, "postcode": postcode, "country": "US"}}


def _member_specs(rng: random.Random, count: int, start: datetime,
                  end: datetime) -> list[dict]:
    specs = []
    drift = random.Random(LAPSING_SEED)  # its own draws: the rest of the demo stays as it was
    for n in range(count):
        person = _person(rng)
        first, last = person["given_name"], person["family_name"]
        joined = start + timedelta(seconds=rng.uniform(0, (end - start).total_seconds() * 0.8))
        channel = rng.choices(CHANNELS, weights=(4, 4, 2))[0]
        specs.append({
            "n": n, "person": person, "email": f"{first}.{last}.{n}@example.com".lower(),
            # 202-555-1000 onwards: the README's tour enrols 202-555-0143
            "phone": f"+1202555{1000 + n:04d}" if n < 9000 else None,
            "joined": joined, "channel": channel, "region": rng.choice(REGIONS),
            "channels": rng.sample(CHANNELS, k=rng.randint(1, 3)),
            "rate": rng.choice((2, 4, 6, 10, 16)),
        })
        if drift.random() < LAPSING:
            share = drift.uniform(0.2, 0.8)
            specs[-1]["lapses"] = joined + (end - joined) * share
    return specs


def _enrol(db: Database, program: Program, rng: random.Random, person: dict,
           identities: list[dict], channel: str, region: str, joined: datetime) -> int:
    payload = MemberCreate.model_validate({
        "identities": identities,
        "profile": dict(person, birthdate=person["birthdate"].isoformat(),
                        region=region, join_channel=channel),
        "consents": {"email_marketing": rng.random() < 0.6}})
    return db.transact(lambda conn: create_member(conn, program, payload, joined)).id


def _plant_duplicates(db: Database, program: Program, rng: random.Random, start: datetime
                      ) -> list[tuple[int, int]]:
    """A few people enrol twice: first at the till with a phone and their whole name in
    one field, then online with an email and given and family names (so no rule, which
    compares given and family names, merges them at once: the model's work)."""
    pairs = []
    for n, (till, web, gender) in enumerate(DUPLICATES):
        person = dict(_person(rng), given_name=till, gender=gender)
        region, joined = rng.choice(REGIONS), start + timedelta(days=20 * n + 3)
        at_till = {key: value for key, value in person.items()
                   if key not in ("given_name", "family_name")}
        first = _enrol(db, program, rng, dict(at_till, name=f"{till} {person['family_name']}"),
                       [{"type": "phone", "value": f"+1202555{900 + n:04d}", "channel": "pos"}],
                       "pos", region, joined)
        email = f"{web}.{person['family_name']}@example.net".lower()
        second = _enrol(db, program, rng, dict(person, given_name=web),
                        [{"type": "email", "value": email, "channel": "web"}], "web", region,
                        joined + timedelta(days=9))
        pairs.append((first, second))
    return pairs


def seed(db: Database, now: datetime, *, members: int = 1000, seed_value: int = 7,
         progress: Callable[[int, int], None] | None = None) -> DemoResult:
    rng = random.Random(seed_value)
    start = now - timedelta(days=182)
    document, source = demo_document()
    program = db.transact(lambda conn: create_program(
        conn, slug=SLUG, name=document.name, settings=document.settings, now=start,
        document=document, source=source, actor="demo"))
    specs = _member_specs(rng, members, start, now)
    # Two thirds enrol at the counter or online with email and phone; the rest are
    # enrolled by their first purchase, recognised by email alone.
    for spec in specs:
        if spec["n"] % 3:
            spec["ref"] = {"id": _enrol(db, program, rng, spec["person"], [
                {"type": "email", "value": spec["email"], "channel": spec["channel"]},
                {"type": "phone", "value": spec["phone"], "channel": spec["channel"]}],
                spec["channel"], spec["region"], spec["joined"])}
        else:
            spec["ref"] = {"identity": {"type": "email", "value": spec["email"],
                                        "channel": spec["channel"]}}
    duplicates = _plant_duplicates(db, program, rng, start)
    counter = [0]
    events = sorted((e for spec in specs for e in _purchases(rng, spec, start, now, counter)),
                    key=lambda e: e.occurred_at)
    opens = _campaign_start(program, now)
    before = [e for e in events if e.occurred_at < opens]
    sent = Sent(len(events), progress)
    sent.ingest(db, program, before, now)
    treated = _open_campaign(db, program, source, opens, now)
    program = db.read(lambda conn: get_program(conn, program.id))
    extra = _campaign_visits(rng, treated, opens, now, counter)
    owner, subscriber = specs[1]["ref"]["id"], specs[2]["ref"]["id"]
    household_id, family, pooled = start_household(db, program, owner, subscriber, opens, now)
    extra += pooled
    sent.total += len(extra)
    sent.ingest(db, program, sorted([e for e in events if e.occurred_at >= opens] + extra,
                                    key=lambda e: e.occurred_at), now)
    friends = bring_friends(db, program, owner, now)
    jobs.run_all(db, now)
    _spend_some(db, program, rng, now)
    if not db.is_sqlite:
        # Months of history were just written: PostgreSQL plans on statistics that
        # autovacuum gathers only some time later, and until then it took a campaign's
        # results (a join of its members with their spends) for a few rows and read the
        # ledger once per member: 3.5 s instead of 9 ms.
        db.transact(lambda conn: conn.exec_driver_sql("ANALYZE"))
    return DemoResult(program, members, sent.sent, sent.issued, duplicates, household_id,
                      family, subscriber, friends)


@dataclass
class Sent:
    total: int
    progress: Callable[[int, int], None] | None
    sent: int = 0
    issued: int = 0

    def ingest(self, db: Database, program: Program, events: list[EventIn],
               now: datetime) -> None:
        for chunk in chunks(events, BATCH):
            outcomes = db.transact(lambda conn: ingest(conn, program, chunk, now=now,
                                                       actor="demo"))
            self.issued += sum(o.points for o in outcomes)
            self.sent += len(chunk)
            if self.progress:
                self.progress(self.sent, self.total)


def _campaign_start(program: Program, now: datetime) -> datetime:
    day = (now - timedelta(days=CAMPAIGN_DAYS[0])).astimezone(program.settings.zone).date()
    return datetime.combine(day, datetime.min.time(), program.settings.zone)


def _open_campaign(db: Database, program: Program, source: str, opens: datetime,
                   now: datetime) -> list[int]:
    """At the campaign's start: features as they stood, the regulars segment, the version
    with the campaign (and a badge, a monthly challenge and a weekly streak), and its
    members assigned (the treatment member ids)."""
    ends = (now + timedelta(days=CAMPAIGN_DAYS[1])).astimezone(program.settings.zone).date()
    dates = dict(starts=opens.date().isoformat(), ends=ends.isoformat())
    text = source + CAMPAIGN.format(**dates) + ENGAGEMENT.format(**dates)
    document, problems = validate_text(text, DOCUMENT)
    if document is None:
        raise ValueError(f"the demo campaign is not valid:\n{format_problems(problems)}")

    def work(conn):
        refresh_program(conn, program, opens)
        create_segment(conn, program, REGULARS, "demo", opens)
        publish(conn, program, document, actor="demo", now=opens, source=text,
                note="Double Beans for regulars, with a holdout; a badge, a challenge and "
                     "a streak")
        assign_campaign(conn, program, document.campaigns[0].id, opens, document=document)
        return [m for m, group in assigned(conn, program.id, document.campaigns[0].id).items()
                if group == "treatment"]
    return db.transact(work)


def _campaign_visits(rng: random.Random, treated: list[int], opens: datetime, now: datetime,
                     counter: list[int]) -> list[EventIn]:
    """The offer works: some treatment members come back more often during the window."""
    events = []
    for member_id in treated:
        if rng.random() < LIFT:
            events.extend(_purchases(rng, {"joined": opens, "rate": 3, "ref": {"id": member_id},
                                           "channels": ["pos"]}, opens, now, counter))
    return events


def _spend_some(db: Database, program: Program, rng: random.Random, now: datetime) -> None:
    """A few members already paid with their points, so ledgers show spends: some for a
    cookie at the till, some for a catalog reward (the dashboard's top rewards)."""
    def work(conn):
        rows = page_members(conn, program.id, None, 10_000)
        accounts = accounts_by_member(conn, program.id, [r.id for r in rows])
        for n, row in enumerate(rng.sample(rows, k=min(150, len(rows)))):
            available = accounts[row.id].available
            reward = REWARDS[n % len(REWARDS)]
            if n % 2 and available >= reward[1]:
                redeem(conn, program, row.id, reward_id=reward[0], key=f"demo-reward-{row.id}",
                       actor="demo", now=now)
            elif available >= SPEND:
                spend_points(conn, program, row.id, points=SPEND, reason="Free cookie",
                             key=f"demo-spend-{row.id}", actor="demo", now=now)
    db.transact(work)
