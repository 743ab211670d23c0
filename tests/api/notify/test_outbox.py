"""The outbox against a real local HTTP receiver: retries with backoff, a record of delivery, and
the three formats as the receivers see them (WeCom's @-mention, DingTalk's signature)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from api.notify.formats import AlertFacts, Notice
from api.notify.outbox import deliver_due, enqueue
from store.models import Delivery, NotificationChannel, User
from tests.api.notify.conftest import T0, add_channel, build_site
from tests.api.notify.receiver import Receiver

SECONDS = timedelta(seconds=1)
FACTS = AlertFacts(id=7, kind="inactivity", severity="alarm", status="open", where="3号楼 2-502",
                   started_at=T0 - timedelta(hours=12), raised_at=T0, escalation_level=0,
                   link="https://anxin.example/alerts/7")


@pytest.fixture
def site(sqlite_db):
    return build_site(sqlite_db)


def queue(db, site, channel_id: int, *, key: str = "alert:7:raised") -> int:
    with db.session() as session:
        user = session.get(User, site.cadre)
        channel = session.get(NotificationChannel, channel_id)
        notice = Notice(event="raised", recipient=user.name, phone=user.phone, link=FACTS.link, alert=FACTS)
        (delivery,) = enqueue(session, dedupe_key=key, user=user, notice=notice, now=T0, tz=_tz(),
                              channels=[channel])
        return delivery.id


def _tz():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


def deliver(db, at, *, timeout_s: float = 5.0):
    with httpx.Client(timeout=timeout_s) as client:
        return deliver_due(db, client=client, now=at, retries=3, retry_base_s=30)


def record(db, delivery_id: int) -> Delivery:
    with db.session() as session:
        return session.get(Delivery, delivery_id)


def test_a_webhook_that_fails_twice_is_retried_with_backoff_and_recorded_sent(sqlite_db, site):
    with Receiver(fail_first=2) as receiver:
        delivery_id = queue(sqlite_db, site, add_channel(sqlite_db, site.cadre, f"{receiver.url}/hook"))
        deliver(sqlite_db, T0)
        first = record(sqlite_db, delivery_id)
        assert (first.status, first.attempts, first.next_attempt_at) == ("pending", 1, T0 + 30 * SECONDS)
        assert first.last_error.startswith("HTTP 500")
        deliver(sqlite_db, T0 + 29 * SECONDS)  # not due yet
        assert record(sqlite_db, delivery_id).attempts == 1
        deliver(sqlite_db, T0 + 30 * SECONDS)
        second = record(sqlite_db, delivery_id)
        assert (second.status, second.attempts, second.next_attempt_at) == ("pending", 2, T0 + 90 * SECONDS)
        deliver(sqlite_db, T0 + 90 * SECONDS)
        done = record(sqlite_db, delivery_id)
        assert (done.status, done.attempts, done.sent_at) == ("sent", 3, T0 + 90 * SECONDS)
        (request,) = receiver.requests  # the two refused ones are not counted as received
        assert len(receiver.refused) == 2
    assert request.path == "/hook"
    body = request.body
    assert set(body) == {"event", "alert", "recipient", "link", "text"}
    assert body["event"] == "raised" and body["recipient"] == "wang" and body["link"] == FACTS.link
    assert body["alert"] == {"id": 7, "kind": "inactivity", "severity": "alarm", "status": "open",
                             "household": "3号楼 2-502", "started_at": "2026-11-22T14:00:00+08:00",
                             "raised_at": "2026-11-23T02:00:00+08:00", "escalation_level": 0}
    assert "长时间未用水" in body["text"] and "3号楼 2-502" in body["text"]


@pytest.mark.parametrize(("failure", "reason"), [
    ("500", "HTTP 500"),
    ("timeout", "no answer within 0.5 s"),
    ("errcode", "errcode 310000"),
])
def test_a_receiver_that_always_fails_leaves_the_notice_failed_with_the_reason(sqlite_db, site, failure, reason):
    kind = "wecom" if failure == "errcode" else "webhook"
    with Receiver(fail_first=100, failure=failure, hang_s=1.0) as receiver:
        delivery_id = queue(sqlite_db, site, add_channel(sqlite_db, site.cadre, f"{receiver.url}/hook", kind))
        at = T0
        for _ in range(4):  # the first attempt and 3 retries
            deliver(sqlite_db, at, timeout_s=0.5)
            at = record(sqlite_db, delivery_id).next_attempt_at
        deliver(sqlite_db, at + timedelta(days=1), timeout_s=0.5)  # nothing more is tried
        assert len(receiver.refused) == 4
    failed = record(sqlite_db, delivery_id)
    assert (failed.status, failed.attempts, failed.sent_at) == ("failed", 4, None)
    assert reason in failed.last_error
    assert "127.0.0.1" not in failed.last_error  # a robot's URL carries its key: never in the record


def test_the_same_notice_is_queued_once_per_channel(sqlite_db, site):
    channel_id = add_channel(sqlite_db, site.cadre, "http://127.0.0.1:9/hook")
    queue(sqlite_db, site, channel_id)
    with sqlite_db.session() as session:
        user = session.get(User, site.cadre)
        again = enqueue(session, dedupe_key="alert:7:raised", user=user, now=T0, tz=_tz(),
                        notice=Notice(event="raised", recipient="wang", phone=None, link="x", alert=FACTS))
        assert again == []
        assert len(session.scalars(select(Delivery)).all()) == 1


def test_wecom_gets_a_text_message_that_mentions_the_cadre_by_phone(sqlite_db, site):
    with Receiver() as receiver:
        delivery_id = queue(sqlite_db, site, add_channel(sqlite_db, site.cadre, f"{receiver.url}/cgi-bin/webhook/send"
                                                                               "?key=abc", "wecom"))
        deliver(sqlite_db, T0)
        (request,) = receiver.requests
    assert record(sqlite_db, delivery_id).status == "sent"
    assert request.query == {"key": "abc"}
    assert set(request.body) == {"msgtype", "text"} and request.body["msgtype"] == "text"
    assert request.body["text"]["mentioned_mobile_list"] == ["13900000001"]
    content = request.body["text"]["content"]
    assert content.splitlines()[0] == "【安心】新告警：长时间未用水"
    assert "地点：3号楼 2-502" in content and FACTS.link in content


def test_dingtalk_is_signed_with_the_secret_and_a_wrong_secret_is_refused(sqlite_db, site):
    with Receiver(dingtalk_secret="SECright") as receiver:
        url = f"{receiver.url}/robot/send?access_token=tok"
        wrong = queue(sqlite_db, site, add_channel(sqlite_db, site.cadre, url, "dingtalk", "SECwrong"), key="a")
        right = queue(sqlite_db, site, add_channel(sqlite_db, site.cadre, url, "dingtalk", "SECright"), key="b")
        deliver(sqlite_db, T0)
        (request,) = receiver.requests
        assert len(receiver.refused) == 1
    assert record(sqlite_db, right).status == "sent"
    refused = record(sqlite_db, wrong)
    assert refused.status == "pending" and "errcode 310000" in refused.last_error
    assert request.query["access_token"] == "tok"
    assert request.query["timestamp"] == str(int(T0.timestamp() * 1000))
    body = request.body
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "【安心】新告警：长时间未用水"
    assert "3号楼 2-502" in body["markdown"]["text"] and "@13900000001" in body["markdown"]["text"]
    assert body["at"] == {"atMobiles": ["13900000001"], "isAtAll": False}


def test_a_notice_to_a_channel_disabled_since_is_not_sent(sqlite_db, site):
    with Receiver() as receiver:
        channel_id = add_channel(sqlite_db, site.cadre, f"{receiver.url}/hook")
        delivery_id = queue(sqlite_db, site, channel_id)
        with sqlite_db.session() as session:
            session.get(NotificationChannel, channel_id).enabled = False
        deliver(sqlite_db, T0)
        assert receiver.requests == [] and receiver.refused == []
    assert record(sqlite_db, delivery_id).status == "failed"
