"""Generated requests from the OpenAPI document: none may end in a server error.

Schemathesis sends valid and invalid payloads, path values and query strings to
every operation, with an admin key, on both databases.
"""

from __future__ import annotations

import os
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from patron.api.app import create_app
from patron.db import create_database


# The document does not depend on the database, so it is loaded once; each test
# points the app at the database under test.
APP = create_app(create_database(os.path.join(tempfile.gettempdir(), "patron-fuzz-unused.db")))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture
def fuzz_app(database, clock):
    APP.state.db, APP.state.clock = database, clock
    return APP


@schema.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_request_yields_a_server_error(case, api, fuzz_app):
    response = case.call(headers={"Authorization": f"Bearer {api.key('admin')}"})
    not_a_server_error_status(response)


def not_a_server_error_status(response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"][0].startswith("application/problem+json")
        assert "code" in response.json()
