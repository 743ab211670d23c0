"""The three message formats (a generic JSON webhook, a WeCom and a DingTalk group robot), as pure
functions of a ``Notice``. Messages are in Chinese, the page's default language, and never carry a
resident's name or phones: only the building and the flat."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

KINDS = ("webhook", "wecom", "dingtalk")

EVENTS = {
    "raised": "新告警",
    "escalated": "告警升级：无人确认",
    "reminder": "提醒：告警仍未确认",
    "worse": "告警加重",
    "digest": "每日汇总",
    "test": "测试消息",
}
ALERT_KINDS = {
    "inactivity": "长时间未用水",
    "meter_offline": "水表离线",
    "continuous_flow": "持续用水（水龙头未关或漏水）",
    "unusual_pattern": "用水习惯异常",
    "fleet_outage": "大面积水表无数据",
}
SEVERITIES = {"alarm": "紧急", "warning": "预警", "info": "提示"}
ALL_QUIET = "一切安好：没有需要处理的告警。"


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """What a notice says about one alert; ``where`` is the building and flat, never a person."""

    id: int
    kind: str
    severity: str
    status: str
    where: str
    started_at: datetime
    raised_at: datetime
    escalation_level: int
    link: str


@dataclass(frozen=True, slots=True)
class Notice:
    """One message to one person: about an alert, a digest of several, or a test."""

    event: str  # raised, escalated, reminder, worse, digest, test
    recipient: str  # the user's name
    phone: str | None  # to @-mention her in a group robot
    link: str  # the page, or the alert on it
    alert: AlertFacts | None = None
    alerts: tuple[AlertFacts, ...] = field(default_factory=tuple)  # a digest's list


def _when(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%m-%d %H:%M")


def _alert_line(facts: AlertFacts, tz: ZoneInfo) -> str:
    return (f"{SEVERITIES.get(facts.severity, facts.severity)}·{ALERT_KINDS.get(facts.kind, facts.kind)}，"
            f"{facts.where}，自 {_when(facts.started_at, tz)}")


def title(notice: Notice) -> str:
    """The headline: what happened, in a few characters."""
    head = EVENTS.get(notice.event, notice.event)
    if notice.alert is not None:
        return f"【安心】{head}：{ALERT_KINDS.get(notice.alert.kind, notice.alert.kind)}"
    return f"【安心】{head}"


def lines(notice: Notice, tz: ZoneInfo) -> list[str]:
    """The message as lines of plain text: what, where, since when, and the link."""
    out = [title(notice)]
    if notice.alert is not None:
        a = notice.alert
        out += [f"级别：{SEVERITIES.get(a.severity, a.severity)}", f"地点：{a.where}",
                f"开始：{_when(a.started_at, tz)}"]
        if notice.event == "escalated":
            out.append(f"已升级到第 {a.escalation_level} 级，请尽快确认")
    elif notice.event == "digest":
        if notice.alerts:
            out.append(f"{len(notice.alerts)} 条告警待处理：")
            out += [f"{i}. {_alert_line(a, tz)} {a.link}" for i, a in enumerate(notice.alerts, 1)]
        else:
            out.append(ALL_QUIET)
    elif notice.event == "test":
        out.append(f"{notice.recipient} 的通知渠道已接通。")
    out.append(f"查看：{notice.link}")
    return out


def _facts_json(facts: AlertFacts, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": facts.id, "kind": facts.kind, "severity": facts.severity, "status": facts.status,
        "household": facts.where, "started_at": facts.started_at.astimezone(tz).isoformat(),
        "raised_at": facts.raised_at.astimezone(tz).isoformat(), "escalation_level": facts.escalation_level,
    }


def webhook_body(notice: Notice, tz: ZoneInfo) -> dict[str, Any]:
    """The generic JSON webhook: ``{"event", "alert", "recipient", "link", "text"}`` (a digest has
    ``"alerts"``, a list, instead of ``"alert"``)."""
    body: dict[str, Any] = {"event": notice.event}
    if notice.alert is not None:
        body["alert"] = _facts_json(notice.alert, tz)
    if notice.event == "digest":
        body["alerts"] = [_facts_json(a, tz) for a in notice.alerts]
    body.update(recipient=notice.recipient, link=notice.link, text="\n".join(lines(notice, tz)))
    return body


def wecom_body(notice: Notice, tz: ZoneInfo) -> dict[str, Any]:
    """A WeCom (企业微信) group robot's text message, @-mentioning the recipient by her phone.

    Text, not markdown: only a text message can mention someone by phone number.
    """
    text: dict[str, Any] = {"content": "\n".join(lines(notice, tz))}
    if notice.phone:
        text["mentioned_mobile_list"] = [notice.phone]
    return {"msgtype": "text", "text": text}


def dingtalk_body(notice: Notice, tz: ZoneInfo) -> dict[str, Any]:
    """A DingTalk (钉钉) group robot's markdown message; the text carries ``@phone``, as DingTalk
    needs for the mention to show."""
    parts = lines(notice, tz)
    text = f"### {parts[0]}\n\n" + "\n\n".join(parts[1:-1] + [f"[查看]({notice.link})"])
    if notice.phone:
        text += f"\n\n@{notice.phone}"
    return {
        "msgtype": "markdown",
        "markdown": {"title": parts[0], "text": text},
        "at": {"atMobiles": [notice.phone] if notice.phone else [], "isAtAll": False},
    }


BODIES = {"webhook": webhook_body, "wecom": wecom_body, "dingtalk": dingtalk_body}


def body_for(kind: str, notice: Notice, tz: ZoneInfo) -> dict[str, Any]:
    """The body a channel of ``kind`` is sent."""
    return BODIES[kind](notice, tz)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature: base64 of HMAC-SHA256 over ``"<timestamp>\\n<secret>"``, keyed by the
    secret, URL-encoded.

    >>> dingtalk_sign("SECabc", 1700000000000)
    'jcUpW0QmtKduN03n4JqQ0PBosVjqnM8gU7fIIvsDmCM%3D'
    """
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


def dingtalk_url(url: str, secret: str | None, timestamp_ms: int) -> str:
    """The robot's webhook URL with ``&timestamp=...&sign=...`` when the robot signs (has a secret)."""
    if not secret:
        return url
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={dingtalk_sign(secret, timestamp_ms)}"
