"""The features job on SQLite and PostgreSQL: values checked by hand on a small shop,
rule tags given and taken back, and earn rules reading member.features and member.tags."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import insert

from patron.referrals.tables import referrals
from patron.segments import jobs, service
from patron.segments.domain import age_band
from patron.segments.features import refresh_features
from tests.flows.test_ingest import BASE, Shop, rule
from tests.tiers.test_tiers import LADDER

TIERS = {"metric": "qualifying_spend", "levels": LADDER}


def _shop(database, clock, rules=(BASE,), **sections):
    shop = Shop(database, clock, list(rules), expiry={"days": 40})
    if sections:
        shop.program = shop.publish_full(shop.program, list(rules),
                                         settings={"expiry": {"days": 40}}, **sections)
    return shop


def _buy(shop, member, lines, days_ago, channel):
    event = shop.purchase(member, lines, at=shop.clock.now() - timedelta(days=days_ago))
    event["channel"] = channel
    return event


def _features(shop, member):
    return shop.db.read(lambda conn: service.features(conn, shop.program, member))


def test_features_of_a_small_shop_match_a_hand_count(database, clock):
    shop = _shop(database, clock, tiers=TIERS)
    ann = shop.member(birthdate="1990-06-01", region="north", join_channel="store")
    bob = shop.member(birthdate="2004-03-03")
    shop.send(_buy(shop, ann, [("S1", "shoes", 1, 80_00), ("S2", "socks", 1, 5_00)], 20, "web"),
              _buy(shop, ann, [("S3", "socks", 1, 30_00)], 12, "web"),
              _buy(shop, ann, [("S4", "socks", 1, 10_00)], 5, "store"))
    database.transact(lambda conn: conn.execute(insert(referrals).values(
        program_id=shop.program.id, referrer_id=ann, referee_id=bob, code="ANN1",
        state="attributed", attributed_at=clock.now())))
    done = database.transact(lambda conn: refresh_features(conn, shop.program, clock.now()))
    assert done.members == 2
    a = _features(shop, ann)
    assert (a["frequency"], a["monetary"], a["recency_days"]) == (3, 125_00, 5)
    assert a["last_purchase_on"] == (clock.now() - timedelta(days=5)).date()
    assert a["favourite_category"] == "shoes" and a["favourite_channel"] == "web"
    # 1 point per $1; lots expire 40 days after they were earned: 85 + 30 within 30 days
    assert (a["points_balance"], a["expiring_points"]) == (125, 115)
    assert a["referral_count"] == 1 and a["tier"] == "silver"
    assert (a["age_band"], a["region"], a["join_channel"]) == ("35-44", "north", "store")
    assert a["r_score"] in range(1, 6) and a["rfm_segment"]
    b = _features(shop, bob)
    assert (b["frequency"], b["monetary"], b["recency_days"], b["r_score"]) == (0, 0, None, None)
    assert (b["age_band"], b["referral_count"], b["points_balance"]) == ("18-24", 0, 0)
    assert b["churn_probability"] is None and b["tier"] is None  # never placed in a tier


def test_rule_tags_are_given_and_taken_back_and_manual_tags_left_alone(database, clock):
    tags = [{"tag": "regular", "when": "member.features.frequency >= 2"}]
    shop = _shop(database, clock, tags=tags)
    ann, bob = shop.member(), shop.member()
    shop.send(_buy(shop, ann, [("S1", "shoes", 1, 10_00)], 3, "web"),
              _buy(shop, ann, [("S1", "shoes", 1, 10_00)], 2, "web"),
              _buy(shop, bob, [("S1", "shoes", 1, 10_00)], 2, "web"))
    database.transact(lambda conn: service.add_tag(conn, shop.program, bob, "regular", "staff",
                                                   clock.now()))
    done = database.transact(lambda conn: jobs.refresh_program(conn, shop.program, clock.now()))
    assert (done.tags_added, done.tags_removed) == (1, 0)
    tags_of = lambda m: {t["tag"]: t["source"] for t in database.read(  # noqa: E731
        lambda conn: service.member_tags(conn, shop.program, m))["tags"]}
    assert tags_of(ann) == {"regular": "rule"} and tags_of(bob) == {"regular": "manual"}
    assert _features(shop, ann)["tags"] == ["regular"]
    shop.program = shop.publish_full(shop.program, [BASE], settings={"expiry": {"days": 40}},
                                     tags=[{"tag": "regular",
                                            "when": "member.features.frequency >= 5"}])
    done = database.transact(lambda conn: jobs.refresh_program(conn, shop.program, clock.now()))
    assert (done.tags_added, done.tags_removed) == (0, 1)
    assert tags_of(ann) == {} and tags_of(bob) == {"regular": "manual"}


def test_earn_rules_read_member_features_and_tags(database, clock):
    vip = rule("vip", "purchase", {"fixed": 100},
               when='member.features.frequency >= 1 && "vip" in member.tags')
    shop = _shop(database, clock, [BASE, vip])
    ann, bob = shop.member(), shop.member()
    shop.send(_buy(shop, ann, [("S1", "shoes", 1, 10_00)], 3, "web"),
              _buy(shop, bob, [("S1", "shoes", 1, 10_00)], 3, "web"))
    for member in (ann, bob):
        database.transact(lambda conn, m=member: service.add_tag(
            conn, shop.program, m, "vip", "staff", clock.now()))
    database.transact(lambda conn: service.remove_tag(conn, shop.program, bob, "vip"))
    database.transact(lambda conn: refresh_features(conn, shop.program, clock.now()))
    [a, b] = shop.send(_buy(shop, ann, [("S1", "shoes", 1, 10_00)], 0, "web"),
                       _buy(shop, bob, [("S1", "shoes", 1, 10_00)], 0, "web"))
    assert {x.rule_id: x.points for x in a.awards} == {"base": 10, "vip": 100}
    assert {x.rule_id: x.points for x in b.awards} == {"base": 10}


def test_a_member_never_computed_reads_zero_features(database, clock):
    big = rule("big", "purchase", {"fixed": 7}, when="member.features.frequency == 0")
    shop = _shop(database, clock, [big])
    ann = shop.member()
    [done] = shop.send(_buy(shop, ann, [("S1", "shoes", 1, 10_00)], 0, "web"))
    assert {x.rule_id: x.points for x in done.awards} == {"big": 7}


def test_age_bands():
    from_today = date(2026, 3, 2)
    assert age_band(date(2008, 3, 3), from_today) == "under-18"
    assert age_band(date(2008, 3, 2), from_today) == "18-24"
    assert age_band(date(1960, 1, 1), from_today) == "65+"
    assert age_band(None, from_today) is None


def test_age_bands_and_tags_written_by_the_database_match_the_domain(database, clock):
    shop = _shop(database, clock)
    today = clock.now().date()
    born = ["2008-03-01", "2008-03-02", "2008-03-03", "2004-02-29", "2001-03-02", "2001-03-03",
            "1961-03-02", "1961-03-03"]
    ids = [shop.member(birthdate=b) for b in born]
    for tag in ("zeta", "alpha", "mid"):
        database.transact(lambda conn, t=tag: service.add_tag(conn, shop.program, ids[0], t,
                                                             "test", clock.now()))
    database.transact(lambda conn: refresh_features(conn, shop.program, clock.now()))
    for member, birthdate in zip(ids, born):
        features = _features(shop, member)
        assert features["age_band"] == age_band(date.fromisoformat(birthdate), today), birthdate
        assert features["joined_on"] == today
    assert _features(shop, ids[0])["tags"] == ["alpha", "mid", "zeta"]
    assert _features(shop, ids[1])["tags"] == []
    database.transact(lambda conn: service.add_tag(conn, shop.program, ids[0], "beta", "test",
                                                   clock.now()))
    assert _features(shop, ids[0])["tags"] == ["alpha", "beta", "mid", "zeta"]
    for tag in ("alpha", "beta", "mid", "zeta"):
        database.transact(lambda conn, t=tag: service.remove_tag(conn, shop.program, ids[0], t))
    assert _features(shop, ids[0])["tags"] == []


def test_monetary_is_net_of_returned_lines(database, clock):
    shop = _shop(database, clock)
    ann = shop.member()
    shop.send(_buy(shop, ann, [("S1", "shoes", 1, 80_00), ("S2", "socks", 3, 9_00)], 20, "web"),
              _buy(shop, ann, [("S3", "socks", 1, 30_00)], 12, "web"))
    [back] = shop.send(shop.event(ann, "return", {"order_id": "o-1",
                                                  "lines": [{"sku": "S2", "quantity": 2}]}))
    assert back.status == "processed", back.error
    database.transact(lambda conn: refresh_features(conn, shop.program, clock.now()))
    a = _features(shop, ann)
    # two of three socks at $9.00 for three came back: $6.00 off the first order
    assert (a["frequency"], a["monetary"]) == (2, 80_00 + 9_00 + 30_00 - 6_00)
