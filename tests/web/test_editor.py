"""The console's program editor over HTTP: validate, publish, simulate, versions and roles."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from patron.auth.service import Role
from patron.web.editor import diff_lines, line_of, path_lines
from tests.factories import member_payload, purchase
from tests.web.test_console import console  # noqa: F401 - the signed-in client fixture

BAD = "per_currency_unit: '-1'"
GOOD = "per_currency_unit: '1'"
DOUBLE = "per_currency_unit: '2'"


def editor_text(console) -> str:  # noqa: F811
    page = console.client.get("/console/program")
    assert page.status_code == 200
    found = re.search(r'<textarea id="source"[^>]*>(.*?)</textarea>', page.text, re.S)
    return html.unescape(found.group(1))


def test_the_editor_shows_the_current_document(console):  # noqa: F811
    console.sign_in(Role.ADMIN)
    text = editor_text(console)
    assert "earn_rules:" in text and GOOD in text
    page = console.client.get("/console/program").text
    assert 'id="publish"' in page and "readonly" not in page


def test_validate_lists_each_problem_at_its_path_and_line(console):  # noqa: F811
    token = console.sign_in(Role.ADMIN)
    text = editor_text(console)
    bad = text.replace(GOOD, BAD)
    shown = console.client.post("/console/program/validate",
                                data={"source": bad}, headers={"X-CSRF-Token": token})
    assert shown.status_code == 200 and "<html" not in shown.text
    assert '<code class="path">earn_rules[0].points.per_currency_unit</code>: must be &gt; 0' \
        in shown.text
    line = bad.splitlines().index("    " + BAD) + 1
    assert f'data-line="{line}"' in shown.text
    fine = console.client.post("/console/program/validate",
                               data={"source": text}, headers={"X-CSRF-Token": token})
    assert "No problems" in fine.text


def test_a_syntax_error_points_at_its_line():
    message = "YAML syntax error at 3:4: expected ',' or ']'"
    assert line_of("", message, {}) == 3
    lines = path_lines("a:\n  b:\n    - x: 1\n    - y: 2\n")
    assert line_of("a.b[1].y", "m", lines) == 4
    assert line_of("a.b[1].nope.deeper", "m", lines) == 4  # the nearest part known
    assert line_of("zzz", "m", lines) is None


def test_publish_is_refused_with_problems_then_accepted_once_fixed(console, api):  # noqa: F811
    token = console.sign_in(Role.ADMIN)
    text = editor_text(console)
    before = api.get("/program").json()["version"]
    refused = console.client.post("/console/program/publish", data={
        "source": text.replace(GOOD, BAD), "note": "broken", "csrf_token": token})
    assert refused.status_code == 200 and 'id="publish-error"' in refused.text
    assert "earn_rules[0].points.per_currency_unit" in refused.text
    assert BAD in html.unescape(refused.text)  # the text typed is kept
    assert api.get("/program").json()["version"] == before

    fixed = text.replace(GOOD, DOUBLE).replace("\n", "\r\n")  # as a browser sends it
    done = console.client.post("/console/program/publish", data={
        "source": fixed, "note": "Double points", "csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == f"/console/program?published={before + 1}&created=true"
    assert f"Published version {before + 1}." in console.client.get(done.headers["location"]).text
    program = api.get("/program").json()
    assert program["version"] == before + 1 and program["source"] == text.replace(GOOD, DOUBLE)
    assert program["document"]["earn_rules"][0]["points"]["per_currency_unit"] == "2"
    [latest, *_] = api.get("/program/versions").json()["items"]
    assert latest["note"] == "Double points" and latest["published_by"].startswith("staff:")

    again = console.client.post("/console/program/publish", data={
        "source": fixed, "csrf_token": token}, follow_redirects=False)
    assert again.headers["location"].endswith(f"published={before + 1}&created=false")
    assert api.get("/program").json()["version"] == before + 1


def test_publish_refuses_a_campaign_on_an_unknown_segment(console, api):  # noqa: F811
    token = console.sign_in(Role.ADMIN)
    text = editor_text(console).replace("campaigns: []", (
        "campaigns:\n- id: spring\n  name: Spring\n  segment: nobody_here\n"
        "  starts: '2026-03-01'\n  ends: '2026-04-01'\n"))
    shown = console.client.post("/console/program/validate", data={"source": text},
                                headers={"X-CSRF-Token": token})
    assert "campaigns[0].segment" in shown.text and "unknown segment" in shown.text
    before = api.get("/program").json()["version"]
    console.client.post("/console/program/publish", data={"source": text, "csrf_token": token})
    assert api.get("/program").json()["version"] == before


def test_analysts_and_integrations_read_the_document_only(console, api):  # noqa: F811
    for role in (Role.ANALYST, Role.INTEGRATION):
        console.client.cookies.clear()
        token = console.sign_in(role)
        page = console.client.get("/console/program").text
        assert "readonly" in page and 'id="publish"' not in page
        text = editor_text(console)
        denied = console.client.post("/console/program/publish", data={
            "source": text.replace(GOOD, DOUBLE), "csrf_token": token})
        assert denied.status_code == 403
    assert api.get("/program").json()["version"] == 1


def test_editor_posts_need_the_session_token(console, api):  # noqa: F811
    console.sign_in(Role.ADMIN)
    text = editor_text(console)
    for path in ("validate", "simulate", "publish"):
        forged = console.client.post(f"/console/program/{path}", data={
            "source": text.replace(GOOD, DOUBLE), "csrf_token": "forged"})
        assert forged.status_code == 403, path
    assert api.get("/program").json()["version"] == 1


def _simulate(console, token, text, **days):  # noqa: F811
    return console.client.post("/console/program/simulate", data={"source": text, **days},
                               headers={"X-CSRF-Token": token})


def test_simulate_shows_each_rule_current_beside_draft(console, api, clock):  # noqa: F811
    member = api.post("/members", json=member_payload()).json()
    sent = api.post("/events", json=purchase({"id": member["id"]}, 12_00,
                                             clock.now() - timedelta(hours=2)))
    assert sent.status_code == 201, sent.text
    token = console.sign_in(Role.ADMIN)
    shown = _simulate(console, token, editor_text(console).replace(GOOD, DOUBLE))
    assert shown.status_code == 200 and "<html" not in shown.text
    rule = re.search(r'<table class="striped" id="sim-rules">.*?</table>', shown.text, re.S)
    cells = re.findall(r'<td class="num">([^<]*)</td>', rule.group(0))
    assert cells == ["12", "24", "0", "0", "1", "1", "0.12 USD", "0.24 USD"]
    assert 'id="sim-chart-data"' in shown.text and "sim-empty" not in shown.text
    assert re.search(r'"current": \[12\], "draft": \[24\]', shown.text)


def test_simulate_says_when_no_events_were_replayed(console, clock):  # noqa: F811
    token = console.sign_in(Role.ADMIN)
    text = editor_text(console)
    empty = _simulate(console, token, text, **{"from": "2025-01-01", "to": "2025-01-31"})
    assert 'id="sim-empty"' in empty.text and "No events were replayed" in empty.text
    too_long = _simulate(console, token, text, **{"from": "2024-01-01", "to": "2026-01-01"})
    assert 'role="alert"' in too_long.text and "366" in too_long.text
    broken = _simulate(console, token, text.replace(GOOD, BAD))
    assert "fix them to simulate" in broken.text and "per_currency_unit" in broken.text


def test_versions_list_and_diff_with_the_previous_one(console, api):  # noqa: F811
    token = console.sign_in(Role.ADMIN)
    text = editor_text(console).replace("name: Test program", "name: <b>Beans</b> & co")
    console.client.post("/console/program/publish", data={
        "source": text, "note": "Renamed", "csrf_token": token})
    listed = console.client.get("/console/program/versions").text
    assert '<a href="/console/program/versions/2">2</a>' in listed and "Renamed" in listed
    diff = console.client.get("/console/program/versions/2").text
    assert '<span class="diff-add">+name: &lt;b&gt;Beans&lt;/b&gt; &amp; co</span>' in diff
    assert '<span class="diff-del">-name: Test program</span>' in diff
    assert "<b>Beans</b>" not in diff
    first = console.client.get("/console/program/versions/1")
    assert first.status_code == 200 and "Nothing came before it." in first.text
    assert console.client.get("/console/program/versions/99").status_code == 404


def test_diff_lines_marks_each_kind():
    kinds = [kind for kind, _ in diff_lines("a\nb\n", "a\nc\n", "v1", "v2")]
    assert kinds == ["head", "head", "hunk", "same", "del", "add"]


# --- analytics pages -----------------------------------------------------------------------


def test_a_report_page_shows_its_table_and_the_apis_csv(console, api, clock):  # noqa: F811
    member = api.post("/members", json=member_payload()).json()
    api.post("/events", json=purchase({"id": member["id"]}, 30_00,
                                      clock.now() - timedelta(days=3)))
    console.sign_in(Role.ANALYST)
    assert '/console/analytics/rfm"' in console.client.get("/console/analytics").text
    page = console.client.get("/console/analytics/points")
    assert page.status_code == 200 and 'id="report-table"' in page.text
    assert "Table: monthly" in page.text and "/console/analytics/points.csv?table=monthly" \
        in page.text
    csv = console.client.get("/console/analytics/points.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert 'filename="points-monthly.csv"' in csv.headers["content-disposition"]
    assert csv.text == api.get("/analytics/points", params={"format": "csv"}).text
    assert csv.text.splitlines()[1].split(",")[1] == "30"  # 30 points issued this month
    other = console.client.get("/console/analytics/members", params={"table": "activity"})
    assert "Table: activity" in other.text


def test_report_pages_refuse_what_the_api_refuses(console):  # noqa: F811
    console.sign_in(Role.ANALYST)
    assert console.client.get("/console/analytics/nonsense").status_code == 404
    backwards = console.client.get("/console/analytics/points",
                                   params={"start": "2026-03-01", "end": "2026-02-01"})
    assert 'role="alert"' in backwards.text and "after end" in backwards.text
    unknown = console.client.get("/console/analytics/points", params={"table": "nope"})
    assert 'role="alert"' in unknown.text and "no table" in unknown.text
    console.client.cookies.clear()
    console.sign_in(Role.INTEGRATION)
    assert "/console/analytics" not in console.client.get("/console/members").text
    assert console.client.get("/console/analytics/points").status_code == 403
    assert console.client.get("/console/analytics/points.csv").status_code == 403


# --- rewards and coupons -------------------------------------------------------------------

CATALOG = ("coupons:\n- id: five_off\n  name: Five off\n  discount: {amount: 500}\n"
           "  prefix: FIVE-\n", "rewards:\n- id: mug\n  name: A mug\n  type: gift\n"
           "  cost_points: 100\n  stock: 5\n")


def _with_catalog(console, token):  # noqa: F811
    text = editor_text(console).replace("coupons: []\n", CATALOG[0]).replace(
        "rewards: []\n", CATALOG[1])
    done = console.client.post("/console/program/publish", data={
        "source": text, "csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303, done.text


def test_the_rewards_page_lists_the_catalog_with_its_stock(console):  # noqa: F811
    _with_catalog(console, console.sign_in(Role.ADMIN))
    page = console.client.get("/console/rewards").text
    assert "A mug" in page and 'id="left-mug">5 of 5<' in page
    assert 'id="redeemed-mug">0<' in page


def test_an_admin_generates_a_batch_once_per_form_and_exports_it(console, api):  # noqa: F811
    token = console.sign_in(Role.ADMIN)
    _with_catalog(console, token)
    page = console.client.get("/console/coupons").text
    assert "Five off" in page
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    form = {"coupon_type": "five_off", "count": "3", "name": "Flyer",
            "idempotency_key": key, "csrf_token": token}
    first, again = (console.client.post("/console/coupons/batches", data=form,
                                        follow_redirects=False) for _ in range(2))
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    batch_id = int(first.headers["location"].rsplit("/", 1)[1])
    shown = console.client.get(first.headers["location"]).text
    assert 'id="batch-count">3<' in shown and "Flyer" in shown
    csv = console.client.get(f"/console/coupons/batches/{batch_id}/codes.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert len(lines) == 4 and all(line.startswith("FIVE-") for line in lines[1:])
    assert csv.text == api.get(f"/coupons/batches/{batch_id}/codes.csv").text
    unknown = console.client.post("/console/coupons/batches", data={
        **form, "coupon_type": "nope", "idempotency_key": "other"})
    assert 'id="batch-error"' in unknown.text and "nope" in unknown.text


def test_only_admins_generate_and_export_batches(console):  # noqa: F811
    _with_catalog(console, console.sign_in(Role.ADMIN))
    console.client.cookies.clear()
    token = console.sign_in(Role.ANALYST)
    page = console.client.get("/console/coupons").text
    assert "Five off" in page and "Generate" not in page
    denied = console.client.post("/console/coupons/batches", data={
        "coupon_type": "five_off", "count": "3", "idempotency_key": "k", "csrf_token": token})
    assert denied.status_code == 403
    assert console.client.get("/console/coupons/batches/1/codes.csv").status_code == 403


def test_the_editor_escapes_what_was_typed(console):  # noqa: F811
    token = console.sign_in(Role.ADMIN)
    typed = editor_text(console) + "\n# </textarea><script>alert(1)</script>\n"
    page = console.client.post("/console/program/publish", data={
        "source": typed.replace(GOOD, BAD), "csrf_token": token})
    assert "<script>alert(1)" not in page.text
    assert "&lt;/textarea&gt;&lt;script&gt;alert(1)" in page.text
    odd_day = _simulate(console, token, editor_text(console), **{"from": "someday"})
    assert 'role="alert"' in odd_day.text and "from must be a date" in odd_day.text
