"""Shared by the console's and the portal's browser tests: the demo site served by uvicorn,
one Chromium for the session, and a page watcher that checks console errors and axe and keeps
a screenshot (``$PATRON_ARTEFACTS``, default ``tests/web/artefacts``)."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import select

from patron.api.app import create_app
from patron.auth.service import Role
from patron.auth.staff import create_staff
from patron.clock import SystemClock
from patron.db import create_database
from patron.db.migrate import upgrade
from patron.demo.seed import SLUG, seed
from patron.members.tables import identities
from patron.program.service import get_program_by_slug

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).with_name("axe.min.js")
ARTEFACTS = Path(os.environ.get("PATRON_ARTEFACTS", Path(__file__).with_name("artefacts")))
EMAIL = "admin@demo-coffee.example"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """uvicorn in a thread, serving the demo program with 40 members and a staff admin."""
    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'demo.db'}"
    db = create_database(url)
    upgrade(db)
    now = SystemClock().now()
    seed(db, now, members=40)
    password = secrets.token_urlsafe(12)
    db.transact(lambda conn: create_staff(
        conn, program_id=get_program_by_slug(conn, SLUG).id, email=EMAIL, password=password,
        role=Role.ADMIN, name="Demo admin", now=now))
    stored = db.read(lambda conn: conn.execute(select(identities.c.value).where(
        identities.c.type == "phone").order_by(identities.c.id)).scalars().first())
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(db), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:  # readiness, not timing: nothing asserts how long it took
        if not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    # typed the way a customer says it: "+12025551000" as "(202) 555-1000"
    typed = f"({stored[2:5]}) {stored[5:8]}-{stored[8:]}"
    yield {"base": f"http://127.0.0.1:{port}", "password": password, "phone": typed,
           "database_url": url}
    server.should_exit = True
    thread.join()
    db.dispose()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Chromium for this package's tests, closed after them: Playwright's synchronous API
    keeps an event loop running in the main thread while it is open, and later tests
    (the worker's) start event loops of their own there."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Watched:
    """A page whose console errors and uncaught exceptions are collected."""

    def __init__(self, page: Page, base: str) -> None:
        self.page, self.base, self.errors = page, base, []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def go(self, path: str) -> Page:
        response = self.page.goto(self.base + path)
        assert response is not None and response.ok, (path, response and response.status)
        return self.page

    def check(self, name: str) -> None:
        """No console error, no serious or critical axe violation, and a screenshot."""
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)
        assert self.errors == [], self.errors
        self.page.add_script_tag(path=str(AXE))
        result = self.page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        serious = [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
                   for v in result["violations"] if v["impact"] in ("serious", "critical")]
        assert serious == [], serious


@pytest.fixture
def watched(browser: Browser, site: dict[str, str]) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield Watched(context.new_page(), site["base"])
    context.close()


def sign_in(watched: Watched, password: str) -> Page:
    """Sign the demo admin in through the console's login form; the dashboard's page."""
    page = watched.go("/console/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")
    return page
