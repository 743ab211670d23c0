"""Household routes: the secretary's setup, and a household's status as each role sees it."""

from __future__ import annotations

from store.models import Role


def test_a_secretary_sets_up_a_household_and_a_cadre_sees_it(client, token_for, home):
    secretary = token_for(Role.secretary)
    building = client.post("/api/v1/buildings", json={"name": "3号楼"}, headers=secretary)
    assert building.status_code == 201, building.text
    building_id = building.json()["id"]
    household = client.post("/api/v1/households", json={"building_id": building_id, "unit": "2-502"},
                            headers=secretary)
    assert household.status_code == 201, household.text
    household_id = household.json()["id"]
    resident = client.post(f"/api/v1/households/{household_id}/residents", headers=secretary,
                           json={"display_name": "董阿姨", "phones": ["138 0000 0000"], "notes": "女儿在上海"})
    assert resident.status_code == 201, resident.text
    cadre_id = client.post("/api/v1/users", json={"name": "李娟", "role": "cadre"}, headers=secretary).json()
    cadre = {"Authorization": f"Bearer {cadre_id['token']}"}
    # 东湖社区's cadres see every household: turn that off, so she sees only hers.
    client.patch(f"/api/v1/communities/{home['community']}", json={"cadres_see_all": False}, headers=secretary)
    assert client.get(f"/api/v1/households/{household_id}", headers=cadre).status_code == 404
    assigned = client.put(f"/api/v1/households/{household_id}/cadres/{cadre_id['user']['id']}", headers=secretary)
    assert [c["name"] for c in assigned.json()["cadres"]] == ["李娟"]
    status = client.get(f"/api/v1/households/{household_id}", headers=cadre).json()
    assert (status["building"], status["unit"], status["open_alerts"]) == ("3号楼", "2-502", 0)
    assert status["residents"][0]["phones"] == ["138 0000 0000"]
    # The property manager of 3号楼 links its meter, and never sees who lives there.
    manager_headers = token_for(Role.property_manager)
    manager = client.get("/api/v1/users/me", headers=manager_headers).json()
    client.put(f"/api/v1/buildings/{building_id}/managers/{manager['id']}", headers=secretary)
    linked = client.put(f"/api/v1/households/{household_id}/meter", json={"meter_id": "wm-0001"},
                        headers=manager_headers)
    assert linked.status_code == 200, linked.text
    assert linked.json()["household"]["meter"]["meter_id"] == "wm-0001"
    assert linked.json()["household"]["residents"] is None
    assert client.get(f"/api/v1/households/{household_id}/residents", headers=manager_headers).status_code == 403
    bad = client.put(f"/api/v1/households/{household_id}/meter", json={"meter_id": "no spaces"},
                     headers=manager_headers)
    assert bad.status_code == 422 and "MQTT" in bad.json()["detail"]
    # Residents: the secretary changes and removes them; the cadre may not.
    resident_id = resident.json()["id"]
    assert client.patch(f"/api/v1/residents/{resident_id}", json={"notes": "x"}, headers=cadre).status_code == 403
    assert client.patch(f"/api/v1/residents/{resident_id}", json={"phones": []},
                        headers=secretary).json()["phones"] == []
    assert client.delete(f"/api/v1/residents/{resident_id}", headers=secretary).status_code == 204
    assert client.get(f"/api/v1/households/{household_id}/residents", headers=cadre).json()["total"] == 0
