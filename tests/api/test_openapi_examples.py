"""The examples /docs shows (``patron.api.openapi_examples``) are payloads Patron takes and
answers: each fits its model and its schema in the served document, and each sits on the
operations that carry its model. An example that drifts from its payload fails here."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from patron.api.app import create_app
from patron.api.openapi_examples import EXAMPLES, Example, component_names
from patron.db import create_database
from patron.events.schemas import EventBatch, EventIn
from patron.flows.event_types import event_type

CASES = [pytest.param(model, example, id=f"{model.__name__}-{key}")
         for model, examples in EXAMPLES.items() for key, example in examples.items()]
MAIN = [  # operations a newcomer tries first: both their request and their answer show one
    ("post", "/api/v1/members", "201"), ("post", "/api/v1/events", "200"),
    ("post", "/api/v1/members/{member_id}/spends", "201"),
    ("post", "/api/v1/members/{member_id}/redemptions", "201"),
    ("post", "/api/v1/coupons/validate", "200"),
    ("post", "/api/v1/members/{member_id}/transfers", "201"),
]


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """/openapi.json as the app serves it (no database is touched)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'unused.db'}"
    with TestClient(create_app(create_database(url))) as client:
        answer = client.get("/openapi.json")
    assert answer.status_code == 200
    return answer.json()


def _events(model: type[BaseModel], value: dict[str, Any]) -> list[dict[str, Any]]:
    return [value] if model is EventIn else value["events"] if model is EventBatch else []


@pytest.mark.parametrize(("model", "example"), CASES)
def test_each_example_fits_its_model(model: type[BaseModel], example: Example):
    model.model_validate(example.value)
    for event in _events(model, example.value):  # its data as ingest checks it, per type
        data = event_type(event["type"]).data
        if data is not None:
            data.model_validate(event["data"])


@pytest.mark.parametrize(("model", "example"), CASES)
def test_each_example_fits_its_schema_in_the_served_document(
        document: dict[str, Any], model: type[BaseModel], example: Example):
    name = component_names(document)[model]
    validator = jsonschema_rs.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": document["components"]})
    problems = [str(error) for error in validator.iter_errors(example.value)]
    assert problems == []
    assert example.value in document["components"]["schemas"][name]["examples"]


def test_every_model_with_examples_shows_them_on_an_operation(document: dict[str, Any]):
    names = component_names(document)
    assert set(names) == set(EXAMPLES)  # a renamed model would lose its examples
    shown = {}
    for methods in document["paths"].values():
        for operation in methods.values():
            bodies = [operation.get("requestBody", {})] + list(operation["responses"].values())
            for body in bodies:
                content = body.get("content", {}).get("application/json", {})
                for key, example in content.get("examples", {}).items():
                    shown.setdefault(key, []).append(example["value"])
    for model, examples in EXAMPLES.items():
        for key, example in examples.items():
            assert example.value in shown.get(key, []), (model.__name__, key)


@pytest.mark.parametrize(("method", "path", "status"), MAIN)
def test_the_main_operations_show_a_request_and_an_answer(
        document: dict[str, Any], method: str, path: str, status: str):
    operation = document["paths"][path][method]
    request = operation["requestBody"]["content"]["application/json"]
    answer = operation["responses"][status]["content"]["application/json"]
    assert request["examples"] and answer["examples"]
    for shown in (request, answer):
        assert all(example["summary"] and example["value"]
                   for example in shown["examples"].values())


def test_the_api_names_its_bearer_key_so_the_docs_offer_authorize(document: dict[str, Any]):
    schemes = document["components"]["securitySchemes"]
    assert [scheme["scheme"] for scheme in schemes.values()] == ["bearer"]
    (name,) = schemes
    # a shop's own webhooks carry no key: their HMAC signature is their authentication
    signed = {"/api/v1/shops/{platform}/{connection_id}"}
    operations = [operation for path, methods in document["paths"].items()
                  if path.startswith("/api/v1/") and path not in signed
                  for operation in methods.values()]
    assert operations and all({name: []} in operation.get("security", [])
                               for operation in operations)
