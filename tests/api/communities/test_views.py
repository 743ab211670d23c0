"""Community routes: an admin creates, a secretary reads and runs her own."""

from __future__ import annotations

from store.models import Role


def test_an_admin_creates_a_community_and_its_secretary_lets_cadres_see_all(client, admin, token_for, home):
    created = client.post("/api/v1/communities", json={"name": "西湖社区"}, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["cadres_see_all"] is False
    assert client.post("/api/v1/communities", json={"name": "西湖社区"}, headers=admin).status_code == 422
    secretary = token_for(Role.secretary)
    assert [c["id"] for c in client.get("/api/v1/communities", headers=secretary).json()["items"]] == \
        [home["community"]]
    patched = client.patch(f"/api/v1/communities/{home['community']}", json={"cadres_see_all": False},
                           headers=secretary)
    assert patched.status_code == 200 and patched.json()["cadres_see_all"] is False
    assert client.patch(f"/api/v1/communities/{created.json()['id']}", json={"cadres_see_all": True},
                        headers=secretary).status_code == 404
    denied = client.post("/api/v1/communities", json={"name": "x"}, headers=secretary)
    assert denied.status_code == 403 and "admin" in denied.json()["detail"]


def test_text_the_database_cannot_store_is_422_not_500(client, admin, database):
    """PostgreSQL refuses a NUL character in text; the client is told what to change (SQLite stores it)."""
    response = client.post("/api/v1/communities", headers=admin, json={"name": "东湖\x00社区"})
    if database.engine.dialect.name == "postgresql":
        assert response.status_code == 422, response.text
        assert "NUL" in response.json()["detail"]
    else:
        assert response.status_code == 201, response.text
    after = client.post("/api/v1/communities", headers=admin, json={"name": "西湖社区"})
    assert after.status_code == 201  # the refusal left nothing half-done behind
