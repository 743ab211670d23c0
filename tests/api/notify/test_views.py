"""Channel and delivery routes, role by role: her own channels for everyone, others' for admins
and secretaries of the community, and the record of delivery to those who may see it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.notify.runner import Notifier
from store.alerts import Episode, sync_episodes
from store.models import Community, Role, User
from store.users import create_user, new_token
from tests.api.notify.conftest import MINUTE, T0, build_site

ME = "/api/v1/users/me/channels"


@pytest.fixture
def site(sqlite_db):
    return build_site(sqlite_db)


@pytest.fixture
def client(notify_settings, sqlite_db, sqlite_readings):
    app = create_app(settings=notify_settings, db=sqlite_db, readings=sqlite_readings, clock=lambda: T0)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def auth(sqlite_db, site):
    """Headers for a user of the site by role name, or for a secretary of another community."""
    made: dict[str, dict[str, str]] = {}

    def headers(who: str) -> dict[str, str]:
        if who in made:  # a new token would revoke the one given before
            return made[who]
        with sqlite_db.session() as session:
            if who == "stranger":
                elsewhere = Community(name="西湖社区", cadres_see_all=True, created_at=T0)
                session.add(elsewhere)
                session.flush()
                _, token = create_user(session, name="stranger", role=Role.secretary, now=T0,
                                       community_id=elsewhere.id)
            elif who == "analyst":
                _, token = create_user(session, name="sun", role=Role.analyst, now=T0, community_id=site.community)
            else:
                token = new_token(session, session.get(User, getattr(site, who)))
        made[who] = {"Authorization": f"Bearer {token}"}
        return made[who]

    return headers


def test_a_cadre_sets_up_her_wecom_robot_and_tests_it(client, sqlite_db, site, auth, receiver, clock,
                                                      notify_settings):
    cadre = auth("cadre")
    url = f"{receiver.url}/cgi-bin/webhook/send?key=693a91f6-secret"
    created = client.post(ME, json={"kind": "wecom", "url": url}, headers=cadre)
    assert created.status_code == 201, created.text
    channel = created.json()
    assert channel["url"] == f"{receiver.url}/…cret" and channel["has_secret"] is False and channel["enabled"]
    listed = client.get(ME, headers=cadre).json()
    assert (listed["total"], listed["items"][0]["id"]) == (1, channel["id"])

    queued = client.post(f"{ME}/{channel['id']}/test", headers=cadre)
    assert queued.status_code == 202
    assert (queued.json()["status"], queued.json()["event"], queued.json()["recipient"]) == ("pending", "test", "wang")
    Notifier(db=sqlite_db, settings=notify_settings, clock=clock).tick()
    (request,) = receiver.requests
    assert request.body["text"]["content"].startswith("【安心】测试消息")
    assert request.body["text"]["mentioned_mobile_list"] == ["13900000001"]
    record = client.get("/api/v1/deliveries", params={"status": "sent"}, headers=auth("admin")).json()
    assert [(d["event"], d["recipient"], d["channel_kind"], d["attempts"]) for d in record["items"]] == [
        ("test", "wang", "wecom", 1)]


def test_the_body_is_checked(client, auth):
    cadre = auth("cadre")
    for body in ({"kind": "wecom", "url": "https://qyapi.weixin.qq.com/x?key=1", "secret": "SECx"},
                 {"kind": "webhook", "url": "ftp://example.com/hook"},
                 {"kind": "sms", "url": "https://example.com/hook"},
                 {"kind": "webhook", "url": "https://exa mple.com/hook"}):
        answer = client.post(ME, json=body, headers=cadre)
        assert answer.status_code == 422, body
        assert answer.json()["detail"]
    signed = client.post(ME, json={"kind": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?access_token=t",
                                   "secret": "SECabc"}, headers=cadre)
    assert signed.status_code == 201 and signed.json()["has_secret"] is True
    assert "SECabc" not in signed.text


def test_only_admins_and_the_community_secretary_manage_other_peoples_channels(client, site, auth):
    body = {"kind": "webhook", "url": "https://example.com/hook"}
    other = f"/api/v1/users/{site.other_cadre}/channels"
    denied = client.post(other, json=body, headers=auth("cadre"))
    assert denied.status_code == 403 and "/api/v1/users/me/channels" in denied.json()["detail"]
    assert client.get(other, headers=auth("manager")).status_code == 403
    assert client.post(other, json=body, headers=auth("secretary")).status_code == 201
    assert client.post(other, json=body, headers=auth("admin")).status_code == 201
    assert client.get(other, headers=auth("secretary")).json()["total"] == 2
    # A secretary of another community cannot even learn the user exists.
    assert client.get(other, headers=auth("stranger")).status_code == 404
    assert client.post(other, json=body, headers=auth("stranger")).status_code == 404
    assert client.get(f"/api/v1/users/{2**31 - 1}/channels", headers=auth("admin")).status_code == 404


def test_a_channel_with_a_record_of_delivery_is_disabled_not_deleted(client, sqlite_db, auth, clock,
                                                                      notify_settings):
    cadre = auth("cadre")
    unused = client.post(ME, json={"kind": "webhook", "url": "http://127.0.0.1:9/a"}, headers=cadre).json()
    used = client.post(ME, json={"kind": "webhook", "url": "http://127.0.0.1:9/b"}, headers=cadre).json()
    client.post(f"{ME}/{used['id']}/test", headers=cadre)
    assert client.delete(f"{ME}/{unused['id']}", headers=cadre).json() == {"id": unused["id"], "deleted": True}
    assert client.delete(f"{ME}/{used['id']}", headers=cadre).json() == {"id": used["id"], "deleted": False}
    (left,) = client.get(ME, headers=cadre).json()["items"]
    assert (left["id"], left["enabled"]) == (used["id"], False)
    assert client.delete(f"{ME}/{unused['id']}", headers=cadre).status_code == 404
    assert client.post(f"{ME}/{used['id']}/test", headers=cadre).status_code == 422
    Notifier(db=sqlite_db, settings=notify_settings, clock=clock).tick()  # the queued test is not sent
    (record,) = client.get("/api/v1/deliveries", headers=auth("admin")).json()["items"]
    assert record["status"] == "failed" and "disabled" in record["last_error"]


def test_an_alerts_record_of_delivery_is_shown_to_those_who_see_the_alert(client, sqlite_db, site, auth, receiver,
                                                                         clock, notify_settings):
    cadre = auth("cadre")
    client.post(ME, json={"kind": "webhook", "url": f"{receiver.url}/wang"}, headers=cadre)
    with sqlite_db.session() as session:
        (alert,) = sync_episodes(session, kind="inactivity", now=T0, episodes=[Episode(
            meter_id="m-dong", kind="inactivity", severity="alarm", started_at=T0 - 720 * MINUTE, raised_at=T0)]).raised
        alert_id = alert.id
    Notifier(db=sqlite_db, settings=notify_settings, clock=clock).tick()
    path = f"/api/v1/alerts/{alert_id}/deliveries"
    (mine,) = client.get(path, headers=cadre).json()["items"]
    assert (mine["event"], mine["recipient"], mine["status"], mine["attempts"]) == ("raised", "wang", "sent", 1)
    assert mine["sent_at"] == "2026-11-23T02:00:00+08:00"
    assert client.get(path, headers=auth("secretary")).json()["total"] == 1
    (pseudonymous,) = client.get(path, headers=auth("analyst")).json()["items"]
    assert pseudonymous["recipient"] is None
    assert client.get(path, headers=auth("other_cadre")).status_code == 404  # not her household
    assert client.get(path, headers=auth("stranger")).status_code == 404


def test_the_list_of_all_deliveries_is_for_admins_and_the_communitys_secretary(client, site, auth):
    cadre = auth("cadre")
    channel = client.post(ME, json={"kind": "webhook", "url": "http://127.0.0.1:9/x"}, headers=cadre).json()
    client.post(f"{ME}/{channel['id']}/test", headers=cadre)
    assert client.get("/api/v1/deliveries", headers=cadre).status_code == 403
    assert client.get("/api/v1/deliveries", headers=auth("secretary")).json()["total"] == 1
    assert client.get("/api/v1/deliveries", headers=auth("stranger")).json()["total"] == 0
    assert client.get("/api/v1/deliveries", params={"status": "sent"}, headers=auth("admin")).json()["total"] == 0
    assert client.get("/api/v1/deliveries", params={"status": "lost"}, headers=auth("admin")).status_code == 422
