"""Notification channels and the record of delivery: what people may do, without HTTP.

A user manages her own channels; an admin anyone's, and a secretary those of her community's
users. The record of an alert's deliveries is shown to whoever may see the alert; the list of all
deliveries to admins, and to secretaries for their community's users.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.access import Scope
from api.alerts.service import visible_alert
from api.errors import InvalidRequest, PermissionDenied
from api.notify.formats import Notice
from api.notify.outbox import enqueue
from store.errors import NotFound
from store.models import Delivery, NotificationChannel, Role, User


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    delivery: Delivery
    recipient: str
    channel_kind: str


def _owner(session: Session, *, scope: Scope, user_id: int) -> User:
    """The user whose channels are asked for, if ``scope`` may manage them."""
    if user_id == scope.user.id:
        return scope.user
    if scope.role not in (Role.admin, Role.secretary):
        raise PermissionDenied(
            f"{scope.user.name} manages only her own channels (/api/v1/users/me/channels); an admin, or the "
            "community's secretary, manages other people's"
        )
    user = session.get(User, user_id)
    if user is None or (scope.role == Role.secretary and user.community_id != scope.community_id):
        raise NotFound(f"user {user_id} does not exist, or is not of your community; GET /api/v1/users lists them")
    return user


def list_channels(session: Session, *, scope: Scope, user_id: int, limit: int, offset: int,
                  ) -> tuple[list[NotificationChannel], int]:
    owner = _owner(session, scope=scope, user_id=user_id)
    query = select(NotificationChannel).where(NotificationChannel.user_id == owner.id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(query.order_by(NotificationChannel.id).limit(limit).offset(offset))
    return list(items), total


def add_channel(session: Session, *, scope: Scope, user_id: int, kind: str, url: str, secret: str | None,
                enabled: bool, now: datetime) -> NotificationChannel:
    """Add a channel; only a DingTalk robot has a secret (its signing secret, SEC...)."""
    owner = _owner(session, scope=scope, user_id=user_id)
    if secret and kind != "dingtalk":
        raise InvalidRequest(f"a {kind} channel has no secret; leave secret out (only DingTalk robots sign)")
    channel = NotificationChannel(user_id=owner.id, kind=kind, url=url, secret=secret or None, enabled=enabled,
                                  created_at=now)
    session.add(channel)
    session.flush()
    return channel


def _channel(session: Session, owner: User, channel_id: int) -> NotificationChannel:
    channel = session.get(NotificationChannel, channel_id)
    if channel is None or channel.user_id != owner.id:
        raise NotFound(f"channel {channel_id} is not one of {owner.name}'s; GET the channels to see them")
    return channel


def remove_channel(session: Session, *, scope: Scope, user_id: int, channel_id: int) -> bool:
    """Delete the channel; True if it is gone. One with a record of delivery is disabled instead
    (False), so the record survives; nothing more goes to it."""
    channel = _channel(session, _owner(session, scope=scope, user_id=user_id), channel_id)
    if session.scalar(select(Delivery.id).where(Delivery.channel_id == channel.id).limit(1)) is None:
        session.delete(channel)
        session.flush()
        return True
    channel.enabled = False
    session.flush()
    return False


def send_test(session: Session, *, scope: Scope, channel_id: int, now: datetime, tz: ZoneInfo,
              public_url: str) -> DeliveryRecord:
    """Queue a test notice to one of the user's own channels; the notifier sends it on its next round."""
    user = scope.user
    channel = _channel(session, user, channel_id)
    if not channel.enabled:
        raise InvalidRequest(f"channel {channel_id} is disabled; add it again to use it")
    notice = Notice(event="test", recipient=user.name, phone=user.phone, link=public_url.rstrip("/") + "/")
    (delivery,) = enqueue(session, dedupe_key=f"test:{channel.id}:{now.isoformat()}", user=user, notice=notice,
                          now=now, tz=tz, channels=[channel])
    session.flush()
    return DeliveryRecord(delivery, user.name, channel.kind)


def _records(session: Session, query, *, limit: int, offset: int) -> tuple[list[DeliveryRecord], int]:
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        select(Delivery, User.name, NotificationChannel.kind)
        .join(User, User.id == Delivery.user_id)
        .join(NotificationChannel, NotificationChannel.id == Delivery.channel_id)
        .where(Delivery.id.in_(query.with_only_columns(Delivery.id)))
        .order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(limit).offset(offset)
    ).all()
    return [DeliveryRecord(d, name, kind) for d, name, kind in rows], total


def alert_deliveries(session: Session, *, scope: Scope, alert_id: int, limit: int, offset: int,
                     ) -> tuple[list[DeliveryRecord], int]:
    """The record of the notices about an alert the user may see, newest first."""
    visible_alert(session, scope=scope, alert_id=alert_id)
    return _records(session, select(Delivery).where(Delivery.alert_id == alert_id), limit=limit, offset=offset)


def list_deliveries(session: Session, *, scope: Scope, status: str | None, limit: int, offset: int,
                    ) -> tuple[list[DeliveryRecord], int]:
    """Every notice (an admin), or the notices to her community's users (a secretary), newest first."""
    if scope.role not in (Role.admin, Role.secretary):
        raise PermissionDenied(
            f"{scope.user.name} has role {scope.role.value}; the record of all notices is for admins and "
            "secretaries. GET /api/v1/alerts/{id}/deliveries shows an alert's"
        )
    query = select(Delivery)
    if scope.role == Role.secretary:
        query = query.where(Delivery.user_id.in_(select(User.id).where(User.community_id == scope.community_id)))
    if status:
        query = query.where(Delivery.status == status)
    return _records(session, query, limit=limit, offset=offset)
