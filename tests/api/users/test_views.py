"""User routes: who am I, and the users a secretary may create."""

from __future__ import annotations

from store.models import Role


def test_a_secretary_creates_cadres_of_her_community_and_their_token_works(client, token_for, home):
    secretary = token_for(Role.secretary)
    me = client.get("/api/v1/users/me", headers=secretary).json()
    assert (me["role"], me["community_id"], me["community"]) == ("secretary", home["community"], "东湖社区")
    made = client.post("/api/v1/users", json={"name": "李娟", "role": "cadre", "password": "long-enough"},
                       headers=secretary)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["user"]["community_id"] == home["community"] and body["user"]["has_password"]
    cadre = {"Authorization": f"Bearer {body['token']}"}
    assert client.get("/api/v1/users/me", headers=cadre).json()["name"] == "李娟"
    # A new token replaces the old one.
    renewed = client.post(f"/api/v1/users/{body['user']['id']}/token", headers=secretary).json()["token"]
    assert client.get("/api/v1/users/me", headers=cadre).status_code == 401
    assert client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {renewed}"}).status_code == 200
    # She may not make an admin or another secretary; names are unique.
    assert client.post("/api/v1/users", json={"name": "boss", "role": "admin"}, headers=secretary).status_code == 403
    assert client.post("/api/v1/users", json={"name": "李娟", "role": "cadre"}, headers=secretary).status_code == 422
    names = {u["name"] for u in client.get("/api/v1/users", headers=secretary).json()["items"]}
    assert names == {"secretary-user", "李娟"}


def test_an_admin_must_say_which_community(client, admin):
    response = client.post("/api/v1/users", json={"name": "x", "role": "cadre"}, headers=admin)
    assert response.status_code == 422 and "community_id" in response.json()["detail"]
    assert client.post("/api/v1/users", json={"name": "y", "role": "analyst"}, headers=admin).status_code == 201
