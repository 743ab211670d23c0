"""Channel and delivery routes: thin views over ``api.notify.service``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import NowDep, PageDep, ScopeDep, SessionDep, SettingsDep, TimezoneDep
from api.errors import responses
from api.notify import service
from api.notify.schemas import (
    ChannelCreate,
    ChannelPage,
    ChannelRead,
    ChannelRemoved,
    DeliveryPage,
    DeliveryRead,
    DeliveryStatus,
)

router = APIRouter(tags=["notifications"])

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _channel_page(session, scope, tz, page, user_id: int) -> ChannelPage:
    items, total = service.list_channels(session, scope=scope, user_id=user_id, limit=page.limit, offset=page.offset)
    return ChannelPage(items=[ChannelRead.build(c, tz=tz) for c in items], total=total, limit=page.limit,
                       offset=page.offset)


def _add(session, scope, tz, now, user_id: int, body: ChannelCreate) -> ChannelRead:
    channel = service.add_channel(session, scope=scope, user_id=user_id, kind=body.kind, url=body.url,
                                  secret=body.secret, enabled=body.enabled, now=now)
    return ChannelRead.build(channel, tz=tz)


# /users/me/... first: "me" is not a user id.
@router.get("/users/me/channels", response_model=ChannelPage, summary="Your notification channels")
def my_channels(session: SessionDep, scope: ScopeDep, tz: TimezoneDep, page: PageDep) -> ChannelPage:
    return _channel_page(session, scope, tz, page, scope.user.id)


@router.post("/users/me/channels", response_model=ChannelRead, status_code=201,
             summary="Add a channel: a JSON webhook, a WeCom or a DingTalk group robot")
def add_my_channel(body: ChannelCreate, session: SessionDep, scope: ScopeDep, tz: TimezoneDep,
                   now: NowDep) -> ChannelRead:
    return _add(session, scope, tz, now, scope.user.id, body)


@router.delete("/users/me/channels/{channel_id}", response_model=ChannelRemoved, responses=responses(404),
               summary="Remove one of your channels (disabled instead if notices went to it)")
def remove_my_channel(channel_id: Id, session: SessionDep, scope: ScopeDep) -> ChannelRemoved:
    deleted = service.remove_channel(session, scope=scope, user_id=scope.user.id, channel_id=channel_id)
    return ChannelRemoved(id=channel_id, deleted=deleted)


@router.post("/users/me/channels/{channel_id}/test", response_model=DeliveryRead, status_code=202,
             responses=responses(404),
             summary="Queue a test notice to one of your channels; GET it from /api/v1/deliveries or watch the robot")
def test_my_channel(channel_id: Id, session: SessionDep, scope: ScopeDep, tz: TimezoneDep, now: NowDep,
                    settings: SettingsDep) -> DeliveryRead:
    record = service.send_test(session, scope=scope, channel_id=channel_id, now=now, tz=tz,
                               public_url=settings.notify.public_url)
    return DeliveryRead.build(record, tz=tz, scope=scope)


@router.get("/users/{user_id}/channels", response_model=ChannelPage, responses=responses(403, 404),
            summary="A user's channels (admins; a secretary for her community's users)")
def user_channels(user_id: Id, session: SessionDep, scope: ScopeDep, tz: TimezoneDep, page: PageDep) -> ChannelPage:
    return _channel_page(session, scope, tz, page, user_id)


@router.post("/users/{user_id}/channels", response_model=ChannelRead, status_code=201, responses=responses(403, 404),
             summary="Add a channel for a user (admins; a secretary for her community's users)")
def add_user_channel(user_id: Id, body: ChannelCreate, session: SessionDep, scope: ScopeDep, tz: TimezoneDep,
                     now: NowDep) -> ChannelRead:
    return _add(session, scope, tz, now, user_id, body)


@router.delete("/users/{user_id}/channels/{channel_id}", response_model=ChannelRemoved,
               responses=responses(403, 404), summary="Remove a user's channel (disabled instead if notices went to it)")
def remove_user_channel(user_id: Id, channel_id: Id, session: SessionDep, scope: ScopeDep) -> ChannelRemoved:
    deleted = service.remove_channel(session, scope=scope, user_id=user_id, channel_id=channel_id)
    return ChannelRemoved(id=channel_id, deleted=deleted)


@router.get("/alerts/{alert_id}/deliveries", response_model=DeliveryPage, responses=responses(404),
            summary="The record of delivery of an alert's notices: to whom, how, and whether they arrived")
def alert_deliveries(alert_id: Id, session: SessionDep, scope: ScopeDep, tz: TimezoneDep,
                     page: PageDep) -> DeliveryPage:
    items, total = service.alert_deliveries(session, scope=scope, alert_id=alert_id, limit=page.limit,
                                            offset=page.offset)
    return DeliveryPage(items=[DeliveryRead.build(r, tz=tz, scope=scope) for r in items], total=total,
                        limit=page.limit, offset=page.offset)


@router.get("/deliveries", response_model=DeliveryPage, responses=responses(403),
            summary="Every notice, newest first (admins; a secretary sees her community's users')")
def list_deliveries(session: SessionDep, scope: ScopeDep, tz: TimezoneDep, page: PageDep,
                    status: Annotated[DeliveryStatus | None, Query(description="only these")] = None) -> DeliveryPage:
    items, total = service.list_deliveries(session, scope=scope, status=status, limit=page.limit, offset=page.offset)
    return DeliveryPage(items=[DeliveryRead.build(r, tz=tz, scope=scope) for r in items], total=total,
                        limit=page.limit, offset=page.offset)
