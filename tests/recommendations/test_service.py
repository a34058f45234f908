"""Training and reading recommendations on SQLite and PostgreSQL: what is stored, what a
member is told, cold start, rewards a member cannot redeem, determinism, the job."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import scipy.sparse as sp
from sqlalchemy import event, func, select

from patron.engagement.tables import member_engagement
from patron.flows import jobs as flow_jobs
from patron.ledger.tables import ledger_entries
from patron.members import repository as members_repository
from patron.members.standing import change_status
from patron.recommendations import jobs, model, repository
from patron.recommendations.model import Parameters
from patron.program.validate import validate_document
from patron.recommendations.tables import recommendation_models, recommendations
from tests.recommendations.factories import COFFEE, REWARDS, TEA, TIERS, Shop


def _stored(shop: Shop) -> list[tuple]:
    return shop.db.read(lambda conn: [tuple(r) for r in conn.execute(
        select(recommendations.c.member_id, recommendations.c.kind, recommendations.c.item,
               recommendations.c.rank, recommendations.c.score, recommendations.c.source,
               recommendations.c.reason)
        .where(recommendations.c.program_id == shop.program.id)
        .order_by(recommendations.c.member_id, recommendations.c.kind,
                  recommendations.c.rank))])


def _names(items, field):
    return [i[field] for i in items]


def test_training_stores_lists_that_follow_what_members_buy_together(database, clock):
    shop = Shop(database, clock)
    coffee = [shop.coffee_lover() for _ in range(4)]
    tea = [shop.tea_lover() for _ in range(3)]
    newcomer = shop.member(points=1000)
    shop.buy(newcomer, [("BNS-1", "coffee")])       # coffee beans only, nothing redeemed
    done = shop.train()
    assert (done.members, done.ranked) == (8, 8)
    assert done.rows == len([r for r in _stored(shop) if r[0] is not None])
    found = shop.recommendations(newcomer)
    assert found["basis"] == "member" and found["model"]["algorithm"] == "cosine"
    assert _names(found["categories"], "category")[:2] == ["coffee", "filters"]
    assert found["categories"][0]["reason"] == "bought in 1 order"
    assert found["categories"][1]["reason"] == "members who buy coffee also buy filters"
    assert _names(found["products"], "sku")[:2] == ["BNS-1", "FLT-1"]
    mug = found["rewards"][0]
    assert (mug["reward_id"], mug["name"], mug["cost_points"]) == ("mug", "Coffee mug", 300)
    assert mug["reason"] == "members who buy coffee also redeem Coffee mug"
    assert mug["source"] == "model" and mug["score"] > 0
    tea_view = shop.recommendations(tea[0])
    assert tea_view["rewards"][0]["reward_id"] == "teapot"
    # cups (3 orders) say more than the one teapot redeemed (ties go by name)
    assert tea_view["rewards"][0]["reason"] == "members who buy cups also redeem Teapot"
    assert _names(tea_view["categories"], "category")[:2] in (["tea", "cups"], ["cups", "tea"])
    assert shop.recommendations(coffee[0])["rewards"][0]["reward_id"] == "mug"
    limited = shop.recommendations(newcomer, limit=1)
    assert [len(limited[k]) for k in ("rewards", "categories", "products")] == [1, 1, 1]


def test_cold_start_falls_back_to_popularity(database, clock):
    shop = Shop(database, clock)
    for _ in range(3):
        shop.coffee_lover()
    shop.tea_lover()
    quiet = shop.member()                            # no history when trained
    shop.train()
    later = shop.member()                            # enrolled after the training
    for member in (quiet, later):
        found = shop.recommendations(member)
        assert found["basis"] == "popular"
        assert _names(found["categories"], "category")[:2] == ["coffee", "filters"]
        assert {c["source"] for c in found["categories"]} == {"popular"}
        assert found["categories"][0]["reason"] == "popular: bought by 3 members"
        # popular rewards open to every member only: mug and teapot, most redeemed first
        assert _names(found["rewards"], "reward_id") == ["mug", "teapot"]
        assert found["rewards"][0]["reason"] == "popular: redeemed by 3 members"


def test_rewards_the_member_cannot_redeem_are_never_recommended(database, clock):
    shop = Shop(database, clock)
    gold = shop.coffee_lover(redeem=None)
    shop.set_tier(gold, "gold")
    shop.redeem(gold, "lounge")
    blue = shop.coffee_lover(redeem=None)
    tea = [shop.tea_lover(redeem="sampler") for _ in range(2)]   # the sampler's stock: gone
    once = shop.coffee_lover(redeem="welcome")                    # lifetime limit of one
    shop.coffee_lover(redeem="welcome")
    shop.train()
    assert "lounge" in shop.rewards_of(gold)
    assert "lounge" not in shop.rewards_of(blue)                  # gold members only
    assert "sampler" not in shop.rewards_of(tea[0])               # out of stock
    assert "welcome" not in shop.rewards_of(once)                 # limit reached
    assert "welcome" in shop.rewards_of(blue)                     # ... not for this one
    stored = {(m, item) for m, kind, item, *_ in _stored(shop) if kind == "reward"}
    assert (blue, "lounge") not in stored and (tea[1], "sampler") not in stored


def test_changes_after_training_are_followed_when_the_list_is_read(database, clock):
    shop = Shop(database, clock)
    gold = shop.coffee_lover(redeem=None)
    shop.set_tier(gold, "gold")
    shop.redeem(gold, "lounge")
    vip = shop.coffee_lover(redeem=None)
    shop.set_tier(vip, "gold")
    shop.coffee_lover(redeem="welcome")
    buyer = shop.coffee_lover(redeem=None)
    shop.tea_lover(redeem="sampler")         # one of the two samplers left
    shop.tea_lover(redeem="teapot")
    shop.train()
    assert "welcome" in shop.rewards_of(buyer) and "sampler" in shop.rewards_of(buyer)
    shop.redeem(buyer, "welcome")            # its limit reached: it leaves the list at once
    shop.redeem(buyer, "sampler")            # the last unit: out of stock for everyone
    assert "welcome" not in shop.rewards_of(buyer)
    assert "sampler" not in shop.rewards_of(gold)
    assert "lounge" in shop.rewards_of(gold)
    shop.set_tier(gold, "blue")              # no longer gold: the lounge goes
    assert "lounge" not in shop.rewards_of(gold)
    assert "lounge" in shop.rewards_of(vip)
    shop.publish([r for r in REWARDS if r["id"] != "mug"], tiers=TIERS)
    assert "mug" not in shop.rewards_of(buyer)      # gone from the catalog
    assert shop.rewards_of(buyer) == ["teapot"]     # open to all, in stock: still shown
    assert "lounge" not in shop.rewards_of(vip)     # for gold only: judged by a training
    shop.train()
    assert "lounge" in shop.rewards_of(vip) and "lounge" not in shop.rewards_of(gold)


def test_a_blocked_member_gets_no_rewards(database, clock):
    shop = Shop(database, clock)
    members = [shop.coffee_lover() for _ in range(3)]
    shop.train()

    def block(conn):
        row = members_repository.member_row(conn, shop.program.id, members[0])
        change_status(conn, shop.program, row, "blocked", reason="test", actor="test",
                      now=clock.now())
    shop.db.transact(block)
    found = shop.recommendations(members[0])
    assert found["rewards"] == [] and found["categories"]


def test_training_is_deterministic_given_the_seed(database, clock):
    shop = Shop(database, clock)
    for _ in range(5):
        shop.coffee_lover()
    for _ in range(4):
        shop.tea_lover()
    for parameters in ({}, {"algorithm": "als", "seed": 11}, {"algorithm": "bm25"}):
        shop.train(**parameters)
        first = _stored(shop)
        shop.train(**parameters)
        assert _stored(shop) == first and first


def test_a_training_replaces_the_model_before_it(database, clock):
    shop = Shop(database, clock)
    member = shop.coffee_lover()
    shop.tea_lover(redeem=None)
    shop.train()
    shop.buy(member, TEA)
    shop.train(top=3)

    def counts(conn):
        return (conn.execute(select(func.count()).where(
                    recommendation_models.c.program_id == shop.program.id)).scalar(),
                conn.execute(select(func.count(recommendations.c.model_id.distinct())).where(
                    recommendations.c.program_id == shop.program.id)).scalar())
    assert shop.db.read(counts) == (1, 1)
    stored = shop.db.read(lambda conn: repository.ready_model(conn, shop.program.id,
                                                              with_blob=True))
    arrays = model.load_arrays(stored.model)
    assert list(arrays["keys"]) == ["coffee", "cups", "filters", "tea", "BNS-1", "CUP-1",
                                    "FLT-1", "TEA-1", "mug"]
    assert stored.parameters["top"] == 3 and (stored.members, stored.items) == (2, 9)
    # the stored model scores the member as the stored list ranks: log1p(counts) @ similarity
    similarity = sp.csr_matrix((arrays["similarity_data"], arrays["similarity_indices"],
                                arrays["similarity_indptr"]),
                               shape=tuple(arrays["similarity_shape"]))
    bought = np.log1p(np.array([3, 1, 3, 1, 3, 1, 3, 1, 1], dtype=np.float32))
    scores = bought @ similarity.toarray()
    keys = list(arrays["keys"])
    listed = [c["category"] for c in shop.recommendations(member)["categories"]]
    assert listed == sorted(keys[:4], key=lambda k: (-scores[keys.index(k)], k))[:3]


def test_history_before_a_time_only(database, clock):
    shop = Shop(database, clock)
    member = shop.member()
    shop.buy(member, COFFEE, days_ago=10)
    shop.buy(member, TEA, days_ago=1)
    jobs.train_program(shop.db, shop.program.id, clock.now(), Parameters(),
                       until=clock.now() - timedelta(days=5))
    assert _names(shop.recommendations(member)["categories"], "category") == [
        "coffee", "filters"]


def test_an_empty_program_trains_and_answers(database, clock):
    shop = Shop(database, clock)
    member = shop.member()
    done = shop.train()
    assert (done.members, done.items, done.rows) == (0, 0, 0)
    found = shop.recommendations(member)
    assert found["basis"] == "popular" and found["model"] is not None
    assert found["rewards"] == found["categories"] == found["products"] == []


def test_the_features_job_trains_every_program(database, clock):
    shop = Shop(database, clock)
    member = shop.coffee_lover()
    result = flow_jobs.run_features(shop.db, clock.now())
    assert result["recommendations"]["programs"] >= 1
    assert shop.recommendations(member)["basis"] == "member"


def test_a_list_is_read_in_one_statement_and_a_cold_start_in_two(database, clock):
    shop = Shop(database, clock)
    member = shop.coffee_lover()
    newcomer = shop.member()
    shop.train()
    shop.recommendations(member)                   # the catalog is compiled and cached once
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):  # not SQLite's BEGIN
            statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        assert shop.recommendations(member)["basis"] == "member"
        own = len(statements)
        assert shop.recommendations(newcomer)["basis"] == "popular"
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
    assert (own, len(statements)) == (1, 3)


TEA_FANS = {"id": "tea-fans", "name": "Tea picks", "on": "purchase",
            "when": '"tea" in member.recommended.categories', "points": {"fixed": 25}}


def _earned(shop: Shop, member: int) -> int:
    return shop.db.read(lambda conn: conn.execute(
        select(func.count()).select_from(ledger_entries).where(
            ledger_entries.c.member_id == member,
            ledger_entries.c.reason.like("%Tea picks%"))).scalar_one())


def test_earn_rules_and_badges_target_members_by_their_recommendations(database, clock):
    shop = Shop(database, clock, earn_rules=[TEA_FANS], badges=[
        {"id": "tea-pick", "name": "Tea pick", "on": ["purchase"],
         "when": '"tea" in member.recommended.categories'}])
    for _ in range(3):
        shop.tea_lover(redeem=None)
    tea_fan, coffee_fan = shop.tea_lover(redeem=None), shop.coffee_lover(redeem=None)
    assert _earned(shop, tea_fan) == 0  # no model yet: empty lists
    shop.train(top=2)  # each member's two best categories: their own
    shop.buy(tea_fan, [("CUP-1", "cups")], days_ago=0)
    shop.buy(coffee_fan, [("BNS-1", "coffee")], days_ago=0)
    assert (_earned(shop, tea_fan), _earned(shop, coffee_fan)) == (1, 0)
    badges = shop.db.read(lambda conn: conn.execute(
        select(member_engagement.c.member_id).where(
            member_engagement.c.program_id == shop.program.id,
            member_engagement.c.kind == "badge")).scalars().all())
    assert badges == [tea_fan]


def test_recommended_lists_are_read_only_when_a_rule_names_them(database, clock):
    shop = Shop(database, clock)
    member = shop.tea_lover(redeem=None)
    shop.train()
    sent: list[str] = []

    def record(conn, cursor, statement, *args):
        sent.append(statement)
    event.listen(database.engine, "before_cursor_execute", record)
    try:
        shop.buy(member, TEA)
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    assert [s for s in sent if "FROM recommendations" in s] == []


def test_a_rule_naming_an_unknown_list_is_refused_at_its_path(database, clock):
    data = {"name": "P", "settings": {"currency": "USD"}, "earn_rules": [
        {**TEA_FANS, "when": '"tea" in member.recommended.colours'}]}
    found, problems = validate_document(data)
    assert found is None
    assert [(p.path, "colours" in p.message) for p in problems] == [("earn_rules[0].when", True)]
