"""The daily digest: once a day, at ``settings.notify.digest_at`` local time, each cadre hears
either that all is quiet (一切安好) or which unresolved alerts of hers need attention."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from api.access import scope_for
from api.notify.formats import Notice
from api.notify.notices import facts_of
from api.notify.outbox import enqueue
from store.models import Alert, AlertStatus, Delivery, NotificationChannel, Role, User

_RANK = case({"alarm": 0, "warning": 1}, value=Alert.severity, else_=2)


def digest_date(now: datetime, *, tz: ZoneInfo, at: str) -> str | None:
    """The local date whose digest is due at ``now`` (from ``at`` on that day), else None.

    >>> from datetime import UTC
    >>> digest_date(datetime(2026, 11, 22, 0, 0, tzinfo=UTC), tz=ZoneInfo("Asia/Shanghai"), at="08:00")
    '2026-11-22'
    >>> digest_date(datetime(2026, 11, 21, 23, 59, tzinfo=UTC), tz=ZoneInfo("Asia/Shanghai"), at="08:00") is None
    True
    """
    local = now.astimezone(tz)
    return local.date().isoformat() if local.time() >= time.fromisoformat(at) else None


def cadres_due(session: Session, date: str) -> list[int]:
    """Cadres with a channel to send to and no digest for ``date`` yet."""
    cadres = select(User.id).where(
        User.role == Role.cadre,
        User.id.in_(select(NotificationChannel.user_id).where(NotificationChannel.enabled.is_(True))),
    ).order_by(User.id)
    done = set(session.scalars(select(Delivery.user_id).where(Delivery.event == "digest",
                                                             Delivery.dedupe_key.like(f"digest:%:{date}"))))
    return [uid for uid in session.scalars(cadres) if uid not in done]


def queue_digest(session: Session, user: User, *, date: str, now: datetime, tz: ZoneInfo, public_url: str) -> int:
    """Queue ``user``'s digest for ``date``: her unresolved alerts, the most severe and newest first.
    Returns how many alerts it lists."""
    scope = scope_for(session, user)
    alerts = list(session.scalars(
        select(Alert).where(scope.alert_visible(), Alert.status != AlertStatus.resolved)
        .order_by(_RANK, Alert.raised_at.desc(), Alert.id.desc())
    ))
    notice = Notice(event="digest", recipient=user.name, phone=user.phone, link=public_url.rstrip("/") + "/",
                    alerts=tuple(facts_of(session, alerts, public_url=public_url)))
    enqueue(session, dedupe_key=f"digest:{user.id}:{date}", user=user, notice=notice, now=now, tz=tz)
    return len(alerts)
