"""The outbox: notices queued as ``Delivery`` rows, one per channel, then sent with retries.

Queuing is idempotent: a (dedupe_key, channel) pair is queued once, whoever asks again. Sending
is at-least-once: a notice is marked sent only after the receiver accepted it, in a transaction of
its own, so a process that dies between the two sends it again when it restarts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.notify.formats import Notice, body_for
from api.notify.senders import SendFailed, send
from store.db import Database
from store.models import Delivery, NotificationChannel, User

log = logging.getLogger(__name__)

DISABLED = "the channel was disabled or removed before the notice went out"


def enqueue(
    session: Session,
    *,
    dedupe_key: str,
    user: User,
    notice: Notice,
    now: datetime,
    tz: ZoneInfo,
    alert_id: int | None = None,
    channels: Iterable[NotificationChannel] | None = None,
) -> list[Delivery]:
    """Queue ``notice`` to each enabled channel of ``user`` (or to ``channels``), once per
    ``dedupe_key``; returns the deliveries queued now (none if all were queued before)."""
    if channels is None:
        channels = session.scalars(select(NotificationChannel).where(
            NotificationChannel.user_id == user.id, NotificationChannel.enabled.is_(True)))
    queued = []
    for channel in channels:
        if session.scalar(select(Delivery.id).where(Delivery.dedupe_key == dedupe_key,
                                                    Delivery.channel_id == channel.id)) is not None:
            continue
        delivery = Delivery(
            dedupe_key=dedupe_key, channel_id=channel.id, user_id=user.id, alert_id=alert_id, event=notice.event,
            payload=json.dumps(body_for(channel.kind, notice, tz), ensure_ascii=False), status="pending",
            attempts=0, next_attempt_at=now, created_at=now,
        )
        try:
            with session.begin_nested():  # another notifier may have queued it since the check
                session.add(delivery)
        except IntegrityError:
            continue
        queued.append(delivery)
    return queued


@dataclass(slots=True)
class OutboxReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class _Due:
    id: int
    kind: str
    url: str
    secret: str | None
    enabled: bool
    payload: str


def deliver_due(
    db: Database,
    *,
    client: httpx.Client,
    now: datetime,
    retries: int,
    retry_base_s: float,
    limit: int = 200,
    sender: Callable[..., None] = send,
) -> OutboxReport:
    """Send the pending deliveries due by ``now``, oldest first, and record each outcome.

    A failed attempt is retried ``retry_base_s * 2**(attempts-1)`` seconds later; after
    ``retries`` retries the delivery is ``failed``, with the reason in ``last_error``. Each send
    happens outside any transaction, and each outcome is recorded in its own.
    """
    with db.session() as session:
        rows = session.execute(
            select(Delivery.id, NotificationChannel.kind, NotificationChannel.url, NotificationChannel.secret,
                   NotificationChannel.enabled, Delivery.payload)
            .join(NotificationChannel, NotificationChannel.id == Delivery.channel_id)
            .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(limit)
        ).all()
    report = OutboxReport()
    for row in (_Due(*r) for r in rows):
        error = DISABLED if not row.enabled else None
        if error is None:
            try:
                sender(client, kind=row.kind, url=row.url, secret=row.secret, payload=row.payload, now=now)
            except SendFailed as exc:
                error = str(exc)
        with db.session() as session:
            status = _record(session, row.id, error=error, now=now, retries=retries, retry_base_s=retry_base_s,
                             final=not row.enabled)
        if status == "sent":
            report.sent += 1
        elif status == "failed":
            report.failed += 1
            log.warning("notice %d failed for good: %s", row.id, error)
        elif status == "pending":
            report.retrying += 1
            log.info("notice %d not delivered, will retry: %s", row.id, error)
    return report


def _record(
    session: Session, delivery_id: int, *, error: str | None, now: datetime, retries: int, retry_base_s: float,
    final: bool,
) -> str | None:
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or delivery.status != "pending":
        return None  # another notifier recorded it first
    if final:
        delivery.status, delivery.last_error = "failed", error
        return delivery.status
    delivery.attempts += 1
    if error is None:
        delivery.status, delivery.sent_at = "sent", now
        return delivery.status
    delivery.last_error = error
    if delivery.attempts > retries:
        delivery.status = "failed"
    else:
        delivery.next_attempt_at = now + timedelta(seconds=retry_base_s * 2 ** (delivery.attempts - 1))
    return delivery.status
