"""Signing in on the web page, signing out, and the sign-in cookie on the JSON API (with its CSRF check)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from api.deps import SESSION_COOKIE
from store.models import AlertKind, User, WebSession
from store.users import hash_token
from store.web_sessions import start_session
from tests.api.conftest import NOW, episode
from tests.api.web.conftest import ORIGIN


def test_the_page_sends_a_stranger_to_sign_in(web_client):
    response = web_client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    page = web_client.get("/login")
    assert page.status_code == 200 and "用户名" in page.text and "密码" in page.text


def test_sign_in_with_a_password_sets_a_safe_cookie_and_stores_only_its_hash(web_client, world, database):
    response = web_client.post("/login", data={"name": "cadre-li", "password": "cadre-li-pw"}, headers=ORIGIN,
                               follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=2592000" in cookie
    token = web_client.cookies[SESSION_COOKIE]
    with database.session() as session:
        stored = session.scalar(select(WebSession.token_hash))
    assert stored == hash_token(token)
    home = web_client.get("/")
    assert home.status_code == 200 and "cadre-li" in home.text


def test_sign_in_with_a_token(web_client, world):
    response = web_client.post("/login", data={"token": world.tokens["cadre-zhao"]}, headers=ORIGIN)
    assert response.status_code == 200 and "cadre-zhao" in response.text


def test_a_wrong_password_says_what_to_do(web_client, world):
    response = web_client.post("/login", data={"name": "cadre-li", "password": "guess"}, headers=ORIGIN)
    assert response.status_code == 401
    assert "用户名或密码不对" in response.text and "社区书记" in response.text
    assert SESSION_COOKIE not in web_client.cookies
    english = web_client.post("/login?lang=en", data={"token": "made-up"}, headers=ORIGIN)
    assert english.status_code == 401 and "ask an administrator for a new one" in english.text
    empty = web_client.post("/login", data={"name": "cadre-li"}, headers=ORIGIN)  # English is remembered
    assert empty.status_code == 401 and "Fill in your name and password, or your token" in empty.text


def test_a_sign_in_form_posted_from_another_site_is_refused(web_client, world):
    response = web_client.post("/login", data={"name": "cadre-li", "password": "cadre-li-pw"},
                               headers={"Origin": "https://evil.example"})
    assert response.status_code == 403 and SESSION_COOKIE not in web_client.cookies


def test_sign_out_ends_the_session_on_the_page_and_the_api(sign_in, database):
    client = sign_in("cadre-li")
    token = client.cookies[SESSION_COOKIE]
    assert client.get("/api/v1/alerts").status_code == 200
    response = client.post("/logout", headers=ORIGIN, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    with database.session() as session:
        assert session.scalar(select(WebSession.id)) is None
    client.cookies.set(SESSION_COOKIE, token)  # a copy of the old cookie is worth nothing now
    assert client.get("/api/v1/alerts").status_code == 401
    assert client.get("/", follow_redirects=False).status_code == 303


def test_an_expired_session_is_signed_out(web_client, world, database):
    with database.session() as session:
        user = session.scalar(select(User).where(User.name == "cadre-li"))
        token = start_session(session, user=user, now=NOW - timedelta(days=31), days=30)
    web_client.cookies.set(SESSION_COOKIE, token)
    assert web_client.get("/", follow_redirects=False).status_code == 303
    response = web_client.get("/api/v1/alerts")
    assert response.status_code == 401 and "/login" in response.json()["detail"]


def test_the_cookie_works_on_the_json_api_within_its_scope(sign_in, world, raise_alerts):
    mine, theirs = raise_alerts(AlertKind.inactivity, episode("m-dong", AlertKind.inactivity, hours_ago=14),
                                episode("m-far", AlertKind.inactivity, hours_ago=14))
    client = sign_in("cadre-li")
    listed = client.get("/api/v1/alerts").json()
    assert [a["id"] for a in listed["items"]] == [mine]
    assert client.get(f"/api/v1/alerts/{theirs}").status_code == 404
    acked = client.post(f"/api/v1/alerts/{mine}/ack", headers=ORIGIN)
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "cadre-li"
    resolved = client.post(f"/api/v1/alerts/{mine}/resolve", json={"outcome": "resident_fine", "note": "在家"},
                           headers={"Referer": "http://testserver/households/1"})
    assert resolved.status_code == 200 and resolved.json()["outcome"] == "resident_fine"


def test_cookie_requests_that_change_things_must_come_from_our_page(sign_in, world, raise_alerts):
    (alert,) = raise_alerts(AlertKind.inactivity, episode("m-dong", AlertKind.inactivity, hours_ago=14))
    client = sign_in("cadre-li")
    for headers in ({}, {"Origin": "https://evil.example"}, {"Referer": "https://evil.example/page"},
                    {"Origin": "null"}, {"Origin": "http://testserver.evil.example"}):
        refused = client.post(f"/api/v1/alerts/{alert}/ack", headers=headers)
        assert refused.status_code == 403, headers
        assert "Authorization: Bearer" in refused.json()["detail"]
    assert client.get(f"/api/v1/alerts/{alert}").json()["status"] == "open"
    assert client.get(f"/api/v1/alerts/{alert}").status_code == 200  # reading needs no Origin


def test_bearer_requests_are_not_subject_to_the_origin_check(web_client, world, raise_alerts):
    (alert,) = raise_alerts(AlertKind.inactivity, episode("m-dong", AlertKind.inactivity, hours_ago=14))
    headers = {"Authorization": f"Bearer {world.tokens['cadre-li']}", "Origin": "https://elsewhere.example"}
    response = web_client.post(f"/api/v1/alerts/{alert}/ack", headers=headers)
    assert response.status_code == 200 and response.json()["status"] == "acknowledged"
