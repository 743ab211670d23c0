"""Fixtures for API tests: the app over a real database and readings store, users, alerts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.settings import Settings
from store.alerts import Episode, sync_episodes
from store.links import current_households, link_meter
from store.models import FLEET, Alert, AlertKind, Building, BuildingManager, Community, Household, Role
from store.users import create_user

# 13:00 in Shanghai; the app's clock stands still here.
NOW = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def settings() -> Settings:
    return Settings(timezone="Asia/Shanghai")


@pytest.fixture
def client(settings, database, readings_store) -> Iterator[TestClient]:
    app = create_app(settings=settings, db=database, readings=readings_store, clock=lambda: NOW)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def home(database) -> dict[str, int]:
    """One community whose cadres see every household, with one building: the ids of both.

    Users from ``token_for`` belong to it (the property manager manages the building), and
    ``raise_alerts`` links each meter to a flat of the building first, so every role sees the
    alerts its role is about; tests/api/test_scopes.py tests the narrower slices.
    """
    with database.session() as session:
        community = Community(name="东湖社区", cadres_see_all=True, created_at=NOW - 60 * 24 * HOUR)
        session.add(community)
        session.flush()
        building = Building(community_id=community.id, name="1号楼")
        session.add(building)
        session.flush()
        return {"community": community.id, "building": building.id}


def link_to_home(session, home: dict[str, int], meter_ids) -> None:
    """Link each meter not yet linked to a flat of its own (named after it) in ``home``'s building."""
    linked = current_households(session, meter_ids)
    for meter_id in meter_ids:
        if meter_id == FLEET or meter_id in linked:
            continue
        household = Household(building_id=home["building"], unit=meter_id, created_at=NOW - 60 * 24 * HOUR)
        session.add(household)
        session.flush()
        link_meter(session, meter_id=meter_id, household_id=household.id, at=NOW - 60 * 24 * HOUR)


@pytest.fixture
def token_for(database, home) -> Callable[[Role], dict[str, str]]:
    """Create a user with a role (in ``home``'s community, but an admin) and return the headers that
    authenticate as it."""

    def make(role: Role, name: str | None = None) -> dict[str, str]:
        with database.session() as session:
            community_id = None if role == Role.admin else home["community"]
            user, token = create_user(session, name=name or f"{role}-user", role=role, now=NOW - 30 * 24 * HOUR,
                                      community_id=community_id)
            if role == Role.property_manager:
                session.add(BuildingManager(building_id=home["building"], user_id=user.id))
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def admin(token_for) -> dict[str, str]:
    return token_for(Role.admin, "ada")


@pytest.fixture
def raise_alerts(database, home) -> Callable[..., list[int]]:
    """Raise alerts of one kind the way the detector does; returns their ids in the given order.

    Like the detector, pass every ongoing episode of the kind at once: a later call resolves the
    alerts of that kind whose episode it does not repeat. Each meter is first linked to a flat in
    ``home`` (``link_to_home``).
    """

    def raise_(kind: AlertKind, *episodes: Episode, now: datetime = NOW) -> list[int]:
        with database.session() as session:
            link_to_home(session, home, [ep.meter_id for ep in episodes])
        with database.session() as session:
            sync_episodes(session, kind=kind, episodes=episodes, now=now)
            ids = []
            for ep in episodes:
                ids.append(
                    session.scalars(
                        select(Alert.id).where(
                            Alert.meter_id == ep.meter_id, Alert.kind == kind, Alert.started_at == ep.started_at
                        )
                    ).one()
                )
        return ids

    return raise_


def episode(meter_id: str, kind: AlertKind, *, hours_ago: float, severity: str = "alarm") -> Episode:
    """An ongoing episode that began ``hours_ago`` and was raised an hour later."""
    started = NOW - timedelta(hours=hours_ago)
    return Episode(meter_id=meter_id, kind=kind, severity=severity, started_at=started, raised_at=started + HOUR)
