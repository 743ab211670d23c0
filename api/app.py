"""The FastAPI application: ``create_app`` wires settings, stores and routers together."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Depends, FastAPI
from prometheus_client import CollectorRegistry

from api import errors, health, metrics
from api.alerts.views import router as alerts_router
from api.away.views import router as away_router
from api.exports.views import router as exports_router
from api.buildings.views import router as buildings_router
from api.communities.views import router as communities_router
from api.dead_letters.views import router as dead_letters_router
from api.deps import get_current_user
from api.households.views import router as households_router
from api.meter_links.views import router as meter_links_router
from api.meters.views import router as meters_router
from api.notify.views import router as notify_router
from api.residents.views import router as residents_router
from api.settings import Settings
from api.users.views import router as users_router
from api.web.views import mount as mount_web
from store.db import Database
from store.readings import ReadingsStore
from store.times import utc_now

API_PREFIX = "/api/v1"


def _version() -> str:
    try:
        return version("anxin")
    except PackageNotFoundError:
        return "0+unknown"


def create_app(
    *,
    settings: Settings,
    db: Database,
    readings: ReadingsStore,
    clock: Callable[[], datetime] = utc_now,
    metrics_registry: CollectorRegistry | None = None,
) -> FastAPI:
    """The API over ``db`` and ``readings``; the caller owns both and closes them.

    ``GET /metrics`` serves ``metrics_registry`` (a new one if None) after adding the fleet
    metrics to it; pass the ingester's registry to serve both from one process.
    """
    app = FastAPI(
        title="anxin",
        version=_version(),
        description=(
            "Alerts about elderly people living alone, raised from their water meters. Every route under "
            f"{API_PREFIX} needs `Authorization: Bearer <token>`; tokens come from `anxin users create`. "
            f"Times carry the site's UTC offset ({settings.timezone})."
        ),
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.readings = readings
    app.state.clock = clock
    app.state.metrics_registry = metrics.fleet_registry(readings, metrics_registry)
    errors.install(app)

    v1 = APIRouter(
        prefix=API_PREFIX,
        dependencies=[Depends(get_current_user)],
        responses=errors.responses(401, 422, 503),
    )
    v1.include_router(alerts_router)
    v1.include_router(meters_router)
    v1.include_router(dead_letters_router)
    v1.include_router(notify_router)
    v1.include_router(away_router)
    v1.include_router(exports_router)
    for router in (communities_router, buildings_router, households_router, residents_router, users_router,
                   meter_links_router):
        v1.include_router(router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(v1)
    mount_web(app)  # the cadres' page at /, signed in by cookie, outside the bearer-token router
    return app
