"""The app as a whole: health, authentication, the OpenAPI document, errors as JSON."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import get_current_user
from store.db import Database
from store.models import Role, User
from store.sqlite_readings import SqliteReadingsStore
from tests.api.conftest import NOW

ROUTES = {
    ("get", "/health"),
    ("get", "/metrics"),
    ("get", "/api/v1/alerts"),
    ("get", "/api/v1/alerts/{alert_id}"),
    ("post", "/api/v1/alerts/{alert_id}/ack"),
    ("post", "/api/v1/alerts/{alert_id}/resolve"),
    ("get", "/api/v1/meters"),
    ("get", "/api/v1/meters/{meter_id}/readings"),
    ("get", "/api/v1/meters/{meter_id}/hourly"),
    ("get", "/api/v1/dead-letters"),
}
PROTECTED = sorted((m, p.replace("{alert_id}", "1").replace("{meter_id}", "m1")) for m, p in ROUTES
                   if p not in ("/health", "/metrics"))


def test_health_needs_no_token(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_health_is_503_when_the_database_does_not_answer(settings, readings_store):
    db = Database("postgresql://postgres@127.0.0.1:5432/anxin_no_such_database")
    try:
        client = TestClient(create_app(settings=settings, db=db, readings=readings_store))
        response = client.get("/health")
    finally:
        db.dispose()
    assert response.status_code == 503
    assert "database" in response.json()["detail"]
    assert "ANXIN_DATABASE_URL" in response.json()["detail"]


def test_health_is_503_when_the_readings_store_does_not_answer(settings, sqlite_db, tmp_path):
    path = tmp_path / "gone" / "readings.db"
    readings = SqliteReadingsStore(path)
    readings.close()
    for f in path.parent.iterdir():
        f.unlink()
    path.mkdir()  # a directory where the file was: SQLite cannot open it
    response = TestClient(create_app(settings=settings, db=sqlite_db, readings=readings)).get("/health")
    assert response.status_code == 503
    assert "ANXIN_READINGS_URL" in response.json()["detail"]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_api_route_needs_a_token(client, method, path):
    response = client.request(method, path)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "anxin users create NAME --role" in response.json()["detail"]


@pytest.mark.parametrize(
    "authorization", ["Bearer not-a-token-anyone-was-given", "Basic YWRhOnNlY3JldA==", "Bearer", "token"]
)
def test_a_bad_token_is_401(client, token_for, authorization):
    token_for(Role.admin)  # a real user exists; the header still names nobody
    response = client.get("/api/v1/alerts", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "anxin users create" in response.json()["detail"]


def test_a_known_token_is_let_in(client, token_for):
    response = client.get("/api/v1/alerts", headers=token_for(Role.analyst))
    assert response.status_code == 200


def test_tests_can_replace_the_current_user(settings, sqlite_db, readings_store):
    app = create_app(settings=settings, db=sqlite_db, readings=readings_store)
    app.dependency_overrides[get_current_user] = lambda: User(id=1, name="ghost", role="admin", created_at=NOW)
    assert TestClient(app).get("/api/v1/alerts").status_code == 200


def test_openapi_lists_every_route(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "anxin"
    listed = {(method, path) for path, ops in document["paths"].items() for method in ops}
    # tests/api/test_scopes.py keeps the complete inventory of /api/v1; these must be among them.
    assert listed >= ROUTES
    for method, path in listed - ROUTES:  # and every other route under /api/v1 needs a token too
        if path.startswith("/api/v1"):
            concrete = path.replace("{", "").replace("}", "")  # any value: the token is checked first
            assert client.request(method, concrete).status_code == 401, (method, path)
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "/health" in document["paths"] and "security" not in document["paths"]["/health"]["get"]
    ack = document["paths"]["/api/v1/alerts/{alert_id}/ack"]["post"]
    assert set(ack["responses"]) >= {"200", "401", "403", "404", "409", "422"}
    assert ack["responses"]["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorMessage")


def test_docs_are_served(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert "/openapi.json" in response.text


def test_an_unknown_route_is_a_json_404_pointing_at_the_docs(client, admin):
    response = client.get("/api/v1/no-such-thing", headers=admin)
    assert response.status_code == 404
    assert "/docs" in response.json()["detail"]


def test_a_wrong_method_is_a_json_405(client, admin):
    response = client.delete("/api/v1/alerts", headers=admin)
    assert response.status_code == 405
    assert "DELETE" in response.json()["detail"]


def test_a_route_answers_503_in_json_when_the_database_is_down(settings, readings_store):
    db = Database("postgresql://postgres@127.0.0.1:1/anxin")  # nothing listens on port 1
    try:
        client = TestClient(create_app(settings=settings, db=db, readings=readings_store))
        response = client.get("/api/v1/alerts", headers={"Authorization": "Bearer whatever"})
    finally:
        db.dispose()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "retry" in response.json()["detail"]
