"""Schemathesis against the OpenAPI schema: generated requests to every route, as an admin, on SQLite and
PostgreSQL. No route may answer 500, and every status it gives must be one its schema documents."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import status_code_conformance
from fastapi.testclient import TestClient

from api.app import create_app
from store.models import AlertKind, Role
from tests.api.conftest import NOW, episode

# Enough to reach every parameter's edge cases; more only makes CI slower.
EXAMPLES = 12


@pytest.fixture
def seeded_app(settings, database, sqlite_readings, raise_alerts, token_for):
    """The app over a community with alerts, so that ids in paths sometimes exist."""
    raise_alerts(AlertKind.inactivity, episode("m1", AlertKind.inactivity, hours_ago=20))
    raise_alerts(AlertKind.meter_offline, episode("m2", AlertKind.meter_offline, hours_ago=3))
    app = create_app(settings=settings, db=database, readings=sqlite_readings, clock=lambda: NOW)
    app.state.admin_headers = token_for(Role.admin, "schemathesis")
    with TestClient(app):  # runs the app's startup
        yield app


@pytest.fixture
def api_schema(seeded_app):
    # The JSON API; the web page (/, /login, the /events stream) is tested in a real browser instead.
    return schemathesis.openapi.from_asgi("/openapi.json", seeded_app).include(path_regex=r"^/(api/v1/|health)")


def test_no_route_answers_500_and_every_status_is_documented(api_schema, seeded_app):
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        # derandomize: the same examples every run, so CI is repeatable (random runs found the bugs it guards)
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  derandomize=True)
        def check(case) -> None:
            response = case.call(headers=seeded_app.state.admin_headers)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} {case.query or ''} answered {response.status_code}: "
                f"{response.text[:300]}")
            status_code_conformance(None, response, case)

        try:
            check()
        except Exception as exc:  # every failing operation is reported, not just the first
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
