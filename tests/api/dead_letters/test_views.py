"""Dead-letter route: raw payloads, shown as text and as exact bytes."""

from __future__ import annotations

import base64
from datetime import timedelta

from store.dead_letters import Rejection, add_dead_letters
from store.models import Role
from tests.api.conftest import NOW, link_to_home


def test_dead_letters_newest_first_with_raw_payloads(client, database, token_for):
    broken = b'{"meter_id": "m1", "total_l": \xff\xfe}'
    with database.session() as session:
        add_dead_letters(
            session,
            [
                Rejection("meters/m1/readings", broken, "not UTF-8", NOW - timedelta(hours=2), meter_id="m1"),
                Rejection("meters/m2/readings", '[{"ts": "昨天"}]'.encode(), "bad ts", NOW, "m2", item_index=0),
            ],
        )
    response = client.get("/api/v1/dead-letters", headers=token_for(Role.admin))
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2
    newest, oldest = body["items"]
    assert newest["payload"] == '[{"ts": "昨天"}]'
    assert (newest["meter_id"], newest["item_index"], newest["reason"]) == ("m2", 0, "bad ts")
    assert newest["received_at"] == "2026-11-22T13:00:00+08:00"
    assert oldest["topic"] == "meters/m1/readings"
    assert oldest["item_index"] is None
    assert oldest["payload"] == '{"meter_id": "m1", "total_l": \ufffd\ufffd}'
    assert base64.b64decode(oldest["payload_base64"]) == broken


def test_dead_letters_filter_and_pages(client, database, token_for):
    with database.session() as session:
        add_dead_letters(
            session,
            [Rejection("t", f"{i}".encode(), "r", NOW, meter_id="m1" if i % 2 else "m2") for i in range(5)],
        )
    headers = token_for(Role.admin)
    m1 = client.get("/api/v1/dead-letters?meter_id=m1", headers=headers).json()
    assert [d["payload"] for d in m1["items"]] == ["3", "1"]
    page = client.get("/api/v1/dead-letters?limit=2&offset=1", headers=headers).json()
    assert [d["payload"] for d in page["items"]] == ["3", "2"]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)
    assert client.get("/api/v1/dead-letters?offset=-1", headers=headers).status_code == 422


def test_a_manager_reads_the_dead_letters_of_his_meters_only(client, database, home, token_for):
    with database.session() as session:
        link_to_home(session, home, ["mine"])
        add_dead_letters(session, [Rejection("t", b"1", "r", NOW, meter_id="mine"),
                                   Rejection("t", b"2", "r", NOW, meter_id="theirs"),
                                   Rejection("t", b"3", "r", NOW)])
    body = client.get("/api/v1/dead-letters", headers=token_for(Role.property_manager)).json()
    assert [d["payload"] for d in body["items"]] == ["1"]
    for role in (Role.cadre, Role.analyst):
        response = client.get("/api/v1/dead-letters", headers=token_for(role))
        assert response.status_code == 403 and "admin" in response.json()["detail"]
