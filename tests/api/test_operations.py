"""Operations: metrics, request ids, JSON logs, liveness and readiness."""

from __future__ import annotations

import io
import json
import logging
import uuid

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from patron.api.app import create_app
from patron.db import create_database
from patron.db.migrate import upgrade
from patron.logs import handler_for
from patron.members.tables import merge_candidates
from tests.factories import member_payload, purchase


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_by_route_template_and_status(api):
    member = api.post("/members", json=member_payload()).json()
    before = scrape(api.client)
    for _ in range(3):
        assert api.get(f"/members/{member['id']}").status_code == 200
    assert api.get("/members/999999999").status_code == 404
    after = scrape(api.client)
    route = "/api/v1/members/{member_id}"
    ok = dict(method="GET", route=route, status="200")
    missing = dict(method="GET", route=route, status="404")
    assert value(after, "patron_http_requests_total", **ok) - value(
        before, "patron_http_requests_total", **ok) == 3
    assert value(after, "patron_http_requests_total", **missing) - value(
        before, "patron_http_requests_total", **missing) == 1
    latency = dict(method="GET", route=route)
    assert value(after, "patron_http_request_duration_seconds_count", **latency) - value(
        before, "patron_http_request_duration_seconds_count", **latency) == 4
    routes = {dict(labels).get("route", "") for _, labels in after}
    assert f"/api/v1/members/{member['id']}" not in routes, "ids never become label values"


def test_metrics_count_ingest_outcomes_by_type(api, clock):
    member = {"id": api.post("/members", json=member_payload()).json()["id"]}
    event = purchase(member, 1000, clock.now(), event_id=f"e-{uuid.uuid4().hex}")
    before = scrape(api.client)
    assert api.post("/events", json=event).status_code == 201
    assert api.post("/events", json=event).status_code == 200
    stranger = purchase({"id": 999_999_999}, 1000, clock.now(), event_id=f"e-{uuid.uuid4().hex}")
    batch = api.post("/events/batch", json={"events": [stranger]})
    assert batch.json()["rejected"] == 1
    after = scrape(api.client)

    def delta(outcome: str) -> float:
        labels = dict(type="purchase", outcome=outcome)
        return (value(after, "patron_events_ingested_total", **labels)
                - value(before, "patron_events_ingested_total", **labels))

    assert (delta("accepted"), delta("duplicate"), delta("rejected")) == (1, 1, 1)


def test_metrics_show_the_merge_queue_read_at_scrape_time(api, database, clock):
    a = api.post("/members", json=member_payload()).json()["id"]
    b = api.post("/members", json=member_payload()).json()["id"]
    slug = api.program.slug
    assert value(scrape(api.client), "patron_merge_candidates_pending", program=slug) == 0
    database.transact(lambda conn: conn.execute(insert(merge_candidates).values(
        program_id=api.program.id, member_a=min(a, b), member_b=max(a, b), probability=0.9,
        evidence={}, state="pending", created_at=clock.now())))
    assert value(scrape(api.client), "patron_merge_candidates_pending", program=slug) == 1


def test_request_id_round_trip_and_in_problem_details(api):
    sent = api.get("/members", headers={"X-Request-ID": "req-abc.123"})
    assert sent.headers["X-Request-ID"] == "req-abc.123"
    made = api.get("/members")
    assert len(made.headers["X-Request-ID"]) == 32
    assert made.headers["X-Request-ID"] != api.get("/members").headers["X-Request-ID"]
    hostile = api.get("/members", headers={"X-Request-ID": "x" * 300})
    assert hostile.headers["X-Request-ID"] != "x" * 300
    missing = api.get("/members/999999999", headers={"X-Request-ID": "trace-42"})
    assert missing.status_code == 404 and missing.json()["request_id"] == "trace-42"
    invalid = api.post("/members", content=b"{", headers={"X-Request-ID": "trace-43",
                                                          "Content-Type": "application/json"})
    assert invalid.json()["code"] == "validation_error"
    assert invalid.json()["request_id"] == "trace-43"


def test_every_log_line_of_a_request_carries_its_id_as_json(api):
    stream = io.StringIO()
    handler = handler_for("json")
    handler.setStream(stream)
    logger = logging.getLogger("patron")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        api.get("/members", headers={"X-Request-ID": "log-7"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    mine = [line for line in lines if line["request_id"] == "log-7"]
    assert mine and mine[-1]["route"] == "/api/v1/members" and mine[-1]["status"] == 200
    assert {"time", "level", "logger", "message"} <= set(mine[-1])


def test_text_logs_carry_the_request_id_too():
    record = logging.makeLogRecord({"msg": "hello", "levelno": 20, "levelname": "INFO"})
    handler = handler_for("text")
    handler.filter(record)
    assert "[-] hello" in handler.format(record)


def test_healthz_needs_no_database_and_readyz_says_it_is_unreachable():
    app = create_app(create_database("postgresql+psycopg://postgres@127.0.0.1:1/nowhere"))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        down = client.get("/readyz")
    assert down.status_code == 503 and down.json()["code"] == "database_unreachable"
    assert down.headers["content-type"].startswith("application/problem+json")


def test_readyz_is_ready_at_head(api):
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


@pytest.fixture(params=["sqlite", "postgresql"])
def old_database(request, tmp_path):
    if request.param == "sqlite":
        db = create_database(str(tmp_path / "old.db"))
        yield db
        db.dispose()
        return
    url = make_url(request.getfixturevalue("postgresql_url"))
    name = f"{url.database}_old_{uuid.uuid4().hex[:6]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = create_database(url.set(database=name).render_as_string(hide_password=False))
    yield db
    db.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_readyz_is_503_while_migrations_are_behind(old_database):
    upgrade(old_database, "0019_portal")
    with TestClient(create_app(old_database), raise_server_exceptions=False) as client:
        behind = client.get("/readyz")
        assert client.get("/healthz").status_code == 200
    assert behind.status_code == 503
    body = behind.json()
    assert body["code"] == "migrations_pending" and body["current_revision"] == "0019_portal"
    assert body["head_revision"] != "0019_portal" and body["request_id"]
    upgrade(old_database)
    with TestClient(create_app(old_database), raise_server_exceptions=False) as client:
        assert client.get("/readyz").status_code == 200
