"""Channel and delivery request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, field_validator

from api.access import Scope
from api.notify.service import DeliveryRecord
from api.timefmt import local
from store.models import NotificationChannel

ChannelKind = Literal["webhook", "wecom", "dingtalk"]
DeliveryStatus = Literal["pending", "sent", "failed"]


def masked(url: str) -> str:
    """The URL with all but the last 4 characters of its path and query hidden: a robot's URL is its key.

    >>> masked("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx")
    'https://qyapi.weixin.qq.com/…7xxx'
    """
    parts = urlsplit(url)
    rest = url[len(f"{parts.scheme}://{parts.netloc}"):]
    return f"{parts.scheme}://{parts.netloc}/…{rest[-4:]}" if rest.strip("/") else url


class ChannelCreate(BaseModel):
    kind: ChannelKind = Field(description="webhook: our JSON body; wecom: a 企业微信 group robot; dingtalk: a 钉钉 "
                                          "group robot")
    url: str = Field(max_length=2000, pattern=r"^https?://[^\s\x00-\x1f/?#]+[^\s\x00-\x1f]*$",
                     description="where to POST: the robot's webhook address, e.g. "
                                 "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...")
    secret: str | None = Field(None, max_length=200, pattern=r"^[^\x00-\x1f]*$",
                               description="DingTalk only: the robot's signing secret (加签, starts with SEC)")
    enabled: bool = Field(True, description="false: keep it, but send nothing to it")

    @field_validator("url")
    @classmethod
    def _parseable(cls, url: str) -> str:
        try:
            parts = urlsplit(url)
            host, _ = parts.hostname, parts.port  # a bad port raises here
        except ValueError as exc:
            raise ValueError(f"the URL cannot be read ({exc}); copy the robot's webhook address again") from exc
        if not host:
            raise ValueError("the URL names no host; copy the robot's webhook address again")
        return url


class ChannelRead(BaseModel):
    """A channel; its URL is shown masked and its secret never."""

    id: int
    user_id: int
    kind: ChannelKind
    url: str = Field(description="masked: the scheme, the host and the last 4 characters")
    has_secret: bool = Field(description="whether DingTalk notices are signed")
    enabled: bool
    created_at: datetime

    @classmethod
    def build(cls, channel: NotificationChannel, *, tz: ZoneInfo) -> ChannelRead:
        return cls(id=channel.id, user_id=channel.user_id, kind=channel.kind, url=masked(channel.url),
                   has_secret=bool(channel.secret), enabled=channel.enabled, created_at=local(channel.created_at, tz))


class ChannelPage(BaseModel):
    items: list[ChannelRead]
    total: int
    limit: int
    offset: int


class ChannelRemoved(BaseModel):
    id: int
    deleted: bool = Field(description="true: gone; false: it has a record of delivery, so it was disabled instead")


class DeliveryRead(BaseModel):
    """One notice to one channel: the record of delivery."""

    id: int
    alert_id: int | None = Field(description="the alert it is about; null for a digest or a test")
    event: str = Field(description="raised, escalated, reminder, worse, digest or test")
    recipient: str | None = Field(description="the user it went to (null for analysts)")
    channel_id: int
    channel_kind: ChannelKind
    status: DeliveryStatus = Field(description="pending (queued or waiting to retry), sent, or failed for good")
    attempts: int
    next_attempt_at: datetime = Field(description="when it is tried next, while pending")
    last_error: str | None = Field(description="why the latest failed attempt failed")
    sent_at: datetime | None
    created_at: datetime

    @classmethod
    def build(cls, record: DeliveryRecord, *, tz: ZoneInfo, scope: Scope) -> DeliveryRead:
        d = record.delivery
        return cls(id=d.id, alert_id=d.alert_id, event=d.event,
                   recipient=None if scope.pseudonymous else record.recipient, channel_id=d.channel_id,
                   channel_kind=record.channel_kind, status=d.status, attempts=d.attempts,
                   next_attempt_at=local(d.next_attempt_at, tz), last_error=d.last_error,
                   sent_at=local(d.sent_at, tz), created_at=local(d.created_at, tz))


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    total: int
    limit: int
    offset: int
