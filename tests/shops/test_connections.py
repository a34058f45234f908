"""Connecting shops: the admin API on SQLite and PostgreSQL, and ``patron shops``."""

from __future__ import annotations

from typer.testing import CliRunner

from patron.cli.main import app
from tests.conftest import make_program
from tests.shops.helpers import SECRET, SHOPIFY_SHOP

runner = CliRunner()


def test_connect_list_remove_and_connect_again(shops):
    made = shops.connect(shop=f"https://{SHOPIFY_SHOP.upper()}/", channel="web",
                         store_id="online")
    assert made["shop"] == SHOPIFY_SHOP and made["secret"] is None  # Shopify's own secret
    assert made["webhook_path"] == f"/api/v1/shops/shopify/{made['id']}"
    assert made["topics"] == ["orders/create", "orders/paid", "refunds/create"]
    woo = shops.connect("woocommerce", "https://shop.example.com/", secret=None)
    assert len(woo["secret"]) >= 32 and woo["store_id"] == "shop.example.com"
    listed = shops.get("/shops/connections")
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()["items"]] == [made["id"], woo["id"]]
    assert SECRET not in listed.text and woo["secret"] not in listed.text
    twice = shops.post("/shops/connections", json={"platform": "shopify", "shop": SHOPIFY_SHOP,
                                                   "secret": SECRET})
    assert (twice.status_code, twice.json()["code"]) == (409, "shop_already_connected")
    assert twice.json()["connection_id"] == made["id"]
    for _ in range(2):  # removing is idempotent
        assert shops.request("DELETE", f"/shops/connections/{made['id']}").status_code == 204
    assert [c["id"] for c in shops.get("/shops/connections").json()["items"]] == [woo["id"]]
    back = shops.connect(secret="a-new-secret-after-rotation")
    assert back["id"] == made["id"]


def test_a_retried_connect_answers_its_first_result(shops):
    body = {"platform": "woocommerce", "shop": "shop.example.com"}
    key = {"Idempotency-Key": "connect-woo-1"}
    first = shops.post("/shops/connections", json=body, headers=key)
    again = shops.post("/shops/connections", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = shops.post("/shops/connections", json={**body, "channel": "app"}, headers=key)
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")


def test_bad_connections_are_refused_with_a_code(shops):
    for body, status, code in (
            ({"platform": "shopify", "shop": SHOPIFY_SHOP}, 422, "shop_secret_required"),
            ({"platform": "magento", "shop": "x.com", "secret": SECRET}, 422,
             "unknown_shop_platform"),
            ({"platform": "shopify", "shop": "not a shop", "secret": SECRET}, 422,
             "invalid_shop"),
            ({"platform": "shopify", "shop": SHOPIFY_SHOP, "secret": "short"}, 422,
             "validation_error")):
        refused = shops.post("/shops/connections", json=body)
        assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
    assert shops.get("/shops/connections").json()["items"] == []
    missing = shops.request("DELETE", "/shops/connections/999999")
    assert (missing.status_code, missing.json()["code"]) == (404, "shop_connection_not_found")
    analyst = shops.get("/shops/connections", role="analyst")
    assert analyst.status_code == 403
    integration = shops.post("/shops/connections", role="integration",
                             json={"platform": "woocommerce", "shop": "shop.example.com"})
    assert integration.status_code == 403


def test_connections_of_another_program_are_not_this_ones(shops, database, clock):
    made = shops.connect()
    from_elsewhere = other_program_api(shops, database, clock)
    gone = from_elsewhere.request("DELETE", f"/shops/connections/{made['id']}")
    assert gone.status_code == 404
    assert from_elsewhere.get("/shops/connections").json()["items"] == []


def other_program_api(shops, database, clock):
    return type(shops)(shops.client, database, make_program(database, clock), clock)


def test_patron_shops_connect_list_and_remove(tmp_path):
    url = str(tmp_path / "shops.db")
    assert runner.invoke(app, ["db", "upgrade", "--db", url]).exit_code == 0
    runner.invoke(app, ["programs", "create", "roast", "--name", "Roasters", "--db", url])
    made = runner.invoke(app, ["shops", "connect", "shopify", SHOPIFY_SHOP, "--program",
                               "roast", "--secret-stdin", "--db", url], input=SECRET + "\n")
    assert made.exit_code == 0, made.output
    assert "/api/v1/shops/shopify/1" in made.output and SECRET not in made.output
    woo = runner.invoke(app, ["shops", "connect", "woocommerce", "https://shop.example.com/",
                              "--program", "roast", "--db", url])
    assert woo.exit_code == 0 and "secret (shown once" in woo.output
    asked = runner.invoke(app, ["shops", "connect", "shopify", "two.myshopify.com",
                                "--program", "roast", "--db", url], input=SECRET + "\n")
    assert asked.exit_code == 0, asked.output  # the secret is asked for, hidden
    listed = runner.invoke(app, ["shops", "list", "--program", "roast", "--db", url])
    assert listed.exit_code == 0
    assert SHOPIFY_SHOP in listed.output and "shop.example.com" in listed.output
    assert SECRET not in listed.output
    again = runner.invoke(app, ["shops", "connect", "shopify", SHOPIFY_SHOP, "--program",
                                "roast", "--secret-stdin", "--db", url], input=SECRET + "\n")
    assert again.exit_code == 2 and "shop_already_connected" in again.output
    removed = runner.invoke(app, ["shops", "remove", "1", "--program", "roast", "--db", url])
    assert removed.exit_code == 0
    listed = runner.invoke(app, ["shops", "list", "--program", "roast", "--db", url])
    assert SHOPIFY_SHOP not in listed.output
    unknown = runner.invoke(app, ["shops", "remove", "42", "--program", "roast", "--db", url])
    assert unknown.exit_code == 2 and "shop_connection_not_found" in unknown.output
    bad = runner.invoke(app, ["shops", "connect", "magento", "x.com", "--program", "roast",
                              "--db", url])
    assert bad.exit_code == 2 and "unknown_shop_platform" in bad.output
