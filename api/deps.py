"""Request dependencies, each declared once as an ``Annotated`` alias.

Views take these aliases as parameters; tests replace the functions behind them with
``app.dependency_overrides[get_session] = ...`` and the like.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from anyio import CapacityLimiter, to_thread
from fastapi import Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry
from sqlalchemy.orm import Session

from api.access import Scope, scope_for
from api.paths import MAX_ID
from api.settings import Settings
from api.web.csrf import CROSS_SITE, same_origin
from store.db import Database
from store.models import Role, User
from store.readings import ReadingsStore
from store.users import user_for_token
from store.web_sessions import user_for_session

MAX_PAGE = 1000
# Requests holding a database session at once: below SQLAlchemy's default pool of 5 + 10 connections,
# leaving some for the detector, the notifier and the ingester's dead letters in `anxin run`.
SESSIONS_AT_ONCE = 10
SESSION_COOKIE = "anxin_session"  # the web page's sign-in (api/web); the JSON API accepts it too

# The dependencies that only read app state or the query are ``async def``: FastAPI runs a sync
# dependency in a worker thread, and the hop there and back cost more than their work. Those that
# touch the database run in worker threads, off the event loop, in as few hops as they can: a request
# with a view makes three (the user and her scope, the view, closing the session).

HOW_TO_GET_A_TOKEN = (
    "send 'Authorization: Bearer <token>'; an administrator creates a user and its token with "
    "`anxin users create NAME --role " + "|".join(r.value for r in Role) + "`"
)

_bearer = HTTPBearer(auto_error=False, description="The token printed by `anxin users create`.")


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_database(request: Request) -> Database:
    return request.app.state.db


async def get_readings(request: Request) -> ReadingsStore:
    return request.app.state.readings


async def get_metrics_registry(request: Request) -> CollectorRegistry:
    return request.app.state.metrics_registry


async def get_now(request: Request) -> datetime:
    """The current time from the app's clock, once per request."""
    now = request.app.state.clock()
    if now.tzinfo is None:
        raise RuntimeError("the app's clock returned a naive datetime; it must return an aware one")
    return now


async def get_timezone(settings: Annotated[Settings, Depends(get_settings)]) -> ZoneInfo:
    return settings.tz


async def get_session(db: Annotated[Database, Depends(get_database)]) -> AsyncIterator[Session]:
    """One session per request; it commits when the view returns, before the response is sent.

    Opening a session does no I/O (it takes a connection at its first query, in a worker thread), so
    it opens here in the event loop. Committing and closing it is I/O: one hop to a worker thread.
    """
    opened = db.session()
    session = opened.__enter__()
    try:
        yield session
    except BaseException as exc:
        if not await _in_worker_thread(opened.__exit__, type(exc), exc, exc.__traceback__):
            raise
    else:
        await _in_worker_thread(opened.__exit__, None, None, None)


async def _in_worker_thread(func, *args):
    # A limiter of its own, as FastAPI gives a sync generator's exit: the session's connection goes
    # back to the pool without waiting for a worker thread that may itself be waiting for a connection.
    return await to_thread.run_sync(func, *args, limiter=CapacityLimiter(1))


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
ReadingsDep = Annotated[ReadingsStore, Depends(get_readings)]
MetricsRegistryDep = Annotated[CollectorRegistry, Depends(get_metrics_registry)]
NowDep = Annotated[datetime, Depends(get_now)]
TimezoneDep = Annotated[ZoneInfo, Depends(get_timezone)]
# scope="function": commit (or roll back) before the response goes out, so a client never sees
# 200 for a change that failed to commit.
# max_concurrency: requests beyond SESSIONS_AT_ONCE wait for a session in the event loop, not in a
# worker thread. Without it, 100 clients deadlock the API: all 40 worker threads wait for one of the
# pool's 15 connections, held by requests whose next step waits for a worker thread (bench/api.py).
SessionDep = Annotated[Session, Depends(get_session, scope="function", max_concurrency=SESSIONS_AT_ONCE)]


def get_current_user(
    request: Request,
    session: SessionDep,
    now: NowDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """The user whose bearer token came with the request, else the web page's signed-in user; 401 otherwise.

    In the same worker-thread hop it also works out her scope, for ``get_scope`` (a cadre's takes a query).
    """
    user = _authenticated_user(request, session, now, credentials)
    request.state.scope = scope_for(session, user, pseudonym_key=settings.pseudonym_key)
    return user


def _authenticated_user(
    request: Request, session: Session, now: datetime, credentials: HTTPAuthorizationCredentials | None
) -> User:
    if credentials is None:
        cookie = request.cookies.get(SESSION_COOKIE)
        user = user_for_session(session, cookie, now=now) if cookie else None
        if user is None:
            raise HTTPException(401, f"a token is required, or sign in on the web page at /login: {HOW_TO_GET_A_TOKEN}",
                                {"WWW-Authenticate": "Bearer"})
        if not same_origin(request):  # the cookie rides along on any site's request; a bearer token does not
            raise HTTPException(403, CROSS_SITE)
        return user
    user = user_for_token(session, credentials.credentials)
    if user is None:
        raise HTTPException(
            401,
            f"this token is not known (revoked or mistyped): {HOW_TO_GET_A_TOKEN}",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_scope(request: Request, session: SessionDep, user: CurrentUser, settings: SettingsDep) -> Scope:
    """The slice of data the current user may see (``api.access``), as ``get_current_user`` worked it out.

    Where a test has replaced ``get_current_user``, it is worked out here, in a worker thread.
    """
    scope = getattr(request.state, "scope", None)
    if scope is not None and scope.user is user:
        return scope
    return await run_in_threadpool(scope_for, session, user, pseudonym_key=settings.pseudonym_key)


ScopeDep = Annotated[Scope, Depends(get_scope)]


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    offset: int


async def get_page(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"items per page, at most {MAX_PAGE}")] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="items to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(get_page)]
