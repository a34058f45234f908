"""The console's staff pages in real Chromium: households, the member page's staff actions
(tier by hand, block and unblock, merge and undo) and the merge review queue."""

from __future__ import annotations

import os
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from patron.clock import SystemClock
from patron.db import create_database
from patron.demo.seed import SLUG
from patron.households.tables import household_members
from patron.matching import candidates
from patron.members.tables import identities, members
from patron.program.service import get_program_by_slug
from tests.web.conftest import CHROMIUM, sign_in

if not CHROMIUM.exists() and os.environ.get("CI") != "true":
    pytest.skip("no /usr/bin/chromium (apt-get install chromium); required under CI",
                allow_module_level=True)


@pytest.fixture(scope="module")
def demo(site):
    """The demo site's database: planted look-alike pairs and free members (in no pair,
    no household: the demo's family pools its Beans in one)."""
    db = create_database(site["database_url"])
    planted = db.read(lambda conn: list(conn.execute(
        select(identities.c.member_id).where(identities.c.value.like("+1202555090%"))
        .order_by(identities.c.value)).scalars()))
    housed = db.read(lambda conn: set(conn.execute(
        select(household_members.c.member_id)).scalars()))
    taken = set(planted) | housed
    people = db.read(lambda conn: [m for m in conn.execute(
        select(members.c.id).where(members.c.status == "active").order_by(members.c.id.desc())
        .limit(60)).scalars() if m not in taken])
    yield db, planted, people
    db.dispose()


def test_households_search_add_and_remove(watched, site, demo):
    db, _, people = demo
    owner, joining = people[0], people[1]
    page = sign_in(watched, site["password"])
    watched.go(f"/console/members/{owner}")
    page.get_by_label("Start a household, owned by this member, named").fill("The Okafors")
    page.get_by_role("button", name="Start household").click()
    expect(page.get_by_role("status")).to_have_text("Household created.")
    household_id = int(page.url.split("/households/")[1].split("?")[0])
    page.get_by_role("link", name="Households", exact=True).click()
    page.get_by_label("Household name, household id or a member's id").fill("okafor")
    page.locator("#households a", has_text="The Okafors").wait_for()
    watched.check("households")
    page.locator("#households a", has_text="The Okafors").click()
    page.wait_for_url(f"**/console/households/{household_id}")
    page.get_by_label("Member id").fill(str(joining))
    page.get_by_label("Role").select_option("child")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("status")).to_have_text("Member added.")
    expect(page.locator("#member-count")).to_contain_text("2")
    page.get_by_label("Member id").fill(str(joining))
    page.get_by_role("button", name="Add").click()
    expect(page.locator("#member-error")).to_contain_text("already belongs")
    watched.check("household")
    page.get_by_role("button", name=f"Remove member #{joining}").click()
    expect(page.get_by_role("status")).to_have_text("Member removed.")
    page.get_by_role("link", name=f"#{owner}").first.click()
    expect(page.locator("#household-link")).to_have_text(f"Household #{household_id}")


def test_member_page_tier_block_unblock_merge_and_undo(watched, site, demo):
    _, _, people = demo
    member, other = people[2], people[3]
    page = sign_in(watched, site["password"])
    watched.go(f"/console/members/{member}")
    page.locator("#tier-level").select_option("gold")
    page.get_by_label("Until (the earned tier resumes that day)").fill(
        (date.today() + timedelta(days=60)).isoformat())
    page.locator("#tier-reason").fill("Made up for a late order")
    page.get_by_role("button", name="Set tier").click()
    expect(page.get_by_role("status")).to_have_text("Tier set.")
    expect(page.locator("#tier-heading + p")).to_contain_text("Gold")
    page.locator("#status-reason").fill("Card reported stolen")
    page.get_by_role("button", name="Block").click()
    expect(page.locator("#member-status")).to_have_text("blocked")
    page.locator("#status-reason").fill("Card found")
    page.get_by_role("button", name="Unblock").click()
    expect(page.locator("#member-status")).to_have_text("active")
    before = int(page.locator("#balance-available").inner_text().replace(",", ""))
    watched.check("member-staff")
    page.get_by_label("The other member's id, email, phone or card").fill(str(other))
    page.locator("#merge-reason").fill("Same person, two cards")
    page.get_by_role("button", name="Review the merge").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Merge member #{other} into #{member}?")
    watched.check("merge-confirm")
    page.get_by_role("button", name=f"Merge #{other} into #{member}").click()
    expect(page.get_by_role("status")).to_have_text("Member merged into this one.")
    merged = int(page.locator("#balance-available").inner_text().replace(",", ""))
    assert merged >= before
    page.locator("#merges button").first.click()
    expect(page.get_by_role("status")).to_have_text("Merge undone.")
    expect(page.locator("#balance-available")).to_have_text(f"{before:,}")
    expect(page.locator("#merges")).to_contain_text("undone")
    assert watched.errors == []


def test_merge_candidates_accept_and_reject(watched, site, demo):
    db, planted, _ = demo
    program_id = db.read(lambda conn: get_program_by_slug(conn, SLUG).id)
    now = SystemClock().now()
    owners = db.read(lambda conn: list(conn.execute(
        select(identities.c.member_id, identities.c.value).where(
            identities.c.value.like("%@example.net")).order_by(identities.c.member_id))))
    assert len(planted) >= 2 and len(owners) >= 2, (planted, owners)
    made = []
    for till, (web, _) in zip(planted[:2], owners[:2]):
        family = db.read(lambda conn, b=web: conn.execute(select(members.c.family_name).where(
            members.c.id == b)).scalar())
        made.append(db.transact(lambda conn, a=till, b=web, f=family: candidates.suggest(
            conn, program_id, a, b, probability=0.93, rule="model", now=now, evidence={
                "family_name": {"left": f, "right": f, "level": "exact", "weight": 4.1}})))
    page = sign_in(watched, site["password"])
    page.get_by_role("link", name="Merges").click()
    page.locator(f"#candidate-{made[0]}").wait_for()
    watched.check("merge-candidates")
    page.locator(f"#candidate-{made[0]}").get_by_role("button", name="Accept: merge").click()
    expect(page.get_by_role("status")).to_have_text("The pair was merged.")
    page.locator(f"#reject-{made[1]}").fill("Different people, same street")
    page.locator(f"#candidate-{made[1]}").get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status")).to_have_text("The pair was rejected.")
    page.get_by_role("link", name="rejected").click()
    expect(page.locator(f"#candidate-{made[1]}")).to_contain_text("Different people")
    assert watched.errors == []


def test_a_form_that_fails_validation_shows_a_page(watched, site, demo):
    _, _, people = demo
    page = sign_in(watched, site["password"])
    watched.go(f"/console/members/{people[4]}")
    page.evaluate("document.getElementById('adjust-points').removeAttribute('required')")
    page.get_by_label("Reason (the member sees it)").fill("Nothing")
    page.get_by_role("button", name="Adjust").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Please check the form")
    expect(page.locator("#problems")).to_contain_text("points")
    watched.errors.clear()  # the browser logs the 422 itself; nothing else may
    watched.check("form-problems")


def test_an_htmx_request_that_fails_validation_shows_its_problem_in_place(watched, site):
    page = sign_in(watched, site["password"])
    page.get_by_role("link", name="Members").click()
    page.get_by_label("Email, phone, card, external id or name").fill("x" * 201)
    expect(page.locator("#results [role=alert]")).to_contain_text("need correcting")
    expect(page.locator("#results li")).to_contain_text("at most 200 characters")
    watched.errors.clear()  # the browser logs the 422 itself; nothing else may
    watched.check("members-problem")
