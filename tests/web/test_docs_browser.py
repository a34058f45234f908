"""/docs in real Chromium, offline: Swagger UI from the package's own copy, an Authorize
button that takes an API key, and the payload examples (``patron.api.openapi_examples``)
shown on an operation and accepted when tried out."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import Route, expect

from patron.auth.service import Role, create_key
from patron.clock import SystemClock
from patron.db import create_database
from patron.demo.seed import SLUG
from patron.program.service import get_program_by_slug
from tests.web.conftest import CHROMIUM

if not CHROMIUM.exists() and os.environ.get("CI") != "true":
    pytest.skip("no /usr/bin/chromium (apt-get install chromium); required under CI",
                allow_module_level=True)


def _admin_key(database_url: str) -> str:
    db = create_database(database_url)
    try:
        return db.transact(lambda conn: create_key(
            conn, program_id=get_program_by_slug(conn, SLUG).id, role=Role.ADMIN,
            name="docs browser test", now=SystemClock().now()).key)
    finally:
        db.dispose()


def test_docs_load_offline_authorize_and_try_an_example(watched, site):
    outside: list[str] = []

    def only_this_server(route: Route) -> None:
        if route.request.url.startswith(site["base"]):
            route.continue_()
        else:  # the network is not there: a CDN asset would leave the page blank
            outside.append(route.request.url)
            route.abort()

    page = watched.page
    page.route("**/*", only_this_server)
    watched.go("/docs")
    # the page renders once /openapi.json arrives; the server builds it on the first ask,
    # which takes seconds on a busy machine (one CI run missed Playwright's 5 s default)
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Patron", timeout=30_000)
    authorize = page.get_by_role("button", name="Authorize").first
    expect(authorize).to_be_visible()
    watched.check("docs")

    authorize.click()
    dialog = page.locator(".dialog-ux .modal-ux")
    expect(dialog).to_contain_text("Authorization: Bearer <key>")
    watched.check("docs-authorize")
    dialog.get_by_label("Value:").fill(_admin_key(site["database_url"]))
    dialog.get_by_role("button", name="Apply credentials").click()
    expect(dialog).to_contain_text("Authorized")
    dialog.get_by_role("button", name="Close", exact=True).click()
    expect(dialog).to_have_count(0)

    operation = page.locator("#operations-members-create_member_api_v1_members_post")
    operation.locator(".opblock-summary").click()
    body = operation.locator(".opblock-section-request-body")
    expect(body).to_contain_text("Ann@Example.com")
    expect(operation.locator(".examples-select select").first).to_contain_text(
        "Ann joins on the web shop")
    expect(operation.locator(".responses-wrapper")).to_contain_text("+12025550143")
    watched.check("docs-operation")

    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    answer = operation.locator(".live-responses-table .response")
    expect(answer.locator(".response-col_status").first).to_have_text("201")
    expect(answer).to_contain_text("ann@example.com")  # the example, enrolled and normalised
    watched.check("docs-tried")
    assert outside == []
