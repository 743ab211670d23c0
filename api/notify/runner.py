"""The notifier: every few seconds, one round of notices (new alerts, escalations, reminders, the
daily digest), then the deliveries that are due. Each alert and each digest is one short
transaction; sending happens outside any."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from api.notify.digest import cadres_due, digest_date, queue_digest
from api.notify.escalation import RoundReport, due_alert_ids, notify_round
from api.notify.outbox import OutboxReport, deliver_due
from api.settings import Settings
from store.db import Database
from store.errors import StoreError
from store.models import Alert, User
from store.times import utc_now

log = logging.getLogger(__name__)


@dataclass(slots=True)
class TickReport:
    alerts: RoundReport = field(default_factory=RoundReport)
    digests: int = 0
    outbox: OutboxReport = field(default_factory=OutboxReport)


class Notifier:
    """Turns open alerts into notices and delivers them; ``clock`` is the seam tests move by hand."""

    def __init__(self, *, db: Database, settings: Settings, clock: Callable[[], datetime] = utc_now,
                 client: httpx.Client | None = None) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.client = client if client is not None else httpx.Client(timeout=settings.notify.timeout_s)

    def tick(self) -> TickReport:
        """One round at the clock's current time."""
        now = self.clock()
        notify, tz = self.settings.notify, self.settings.tz
        report = TickReport()
        with self.db.session() as session:
            ids = due_alert_ids(session, now=now, settings=notify)
        for alert_id in ids:
            with self.db.session() as session:
                alert = session.get(Alert, alert_id, with_for_update=True)
                if alert is not None:
                    notify_round(session, alert, now=now, settings=notify, tz=tz, public_url=notify.public_url,
                                 report=report.alerts)
        date = digest_date(now, tz=tz, at=notify.digest_at)
        if date is not None:
            with self.db.session() as session:
                due = cadres_due(session, date)
            for user_id in due:
                with self.db.session() as session:
                    queue_digest(session, session.get(User, user_id), date=date, now=now, tz=tz,
                                 public_url=notify.public_url)
                report.digests += 1
        report.outbox = deliver_due(self.db, client=self.client, now=now, retries=notify.retries,
                                    retry_base_s=notify.retry_base_s)
        return report

    def run(self, stop: threading.Event) -> None:
        """Tick every ``settings.notify.poll_s`` seconds until ``stop`` is set; a failing tick is
        logged and retried."""
        poll_s = self.settings.notify.poll_s
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    report = self.tick()
                    if report.alerts.raised or report.alerts.escalated or report.outbox.failed:
                        log.info("notifier: %s", report)
                except StoreError as exc:
                    log.warning("notifier round failed, retrying next round: %s", exc)
                stop.wait(max(0.0, poll_s - (time.monotonic() - started)))
        finally:
            self.client.close()
