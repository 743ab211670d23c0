"""Fixtures for the notify tests: a local HTTP receiver, a clock moved by hand, and Mrs Dong's
community: her household, her cadre, the secretary, an admin and a property manager."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from api.settings import Settings
from store.db import Database
from store.links import link_meter
from store.models import (
    Building,
    BuildingManager,
    Community,
    Household,
    HouseholdCadre,
    NotificationChannel,
    Resident,
    Role,
)
from store.users import create_user
from tests.api.notify.receiver import Receiver

# 02:00 in Shanghai, hours before the 08:00 digest.
T0 = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


class FakeClock:
    """The notifier's clock, moved by the test."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def notify_settings() -> Settings:
    return Settings(timezone="Asia/Shanghai", notify={"public_url": "https://anxin.example/", "retry_base_s": 30,
                                                      "retries": 3, "timeout_s": 1})


@dataclass
class Site:
    """Ids in Mrs Dong's community."""

    community: int
    building: int
    dong: int  # her household
    neighbour: int  # a household on the same floor, looked after by another cadre
    cadre: int  # Mrs Dong's cadre
    other_cadre: int
    secretary: int
    admin: int
    manager: int  # the property manager of the building


def add_channel(db: Database, user_id: int, url: str, kind: str = "webhook", secret: str | None = None) -> int:
    with db.session() as session:
        channel = NotificationChannel(user_id=user_id, kind=kind, url=url, secret=secret, enabled=True,
                                      created_at=T0 - 24 * 60 * MINUTE)
        session.add(channel)
        session.flush()
        return channel.id


def build_site(db: Database) -> Site:
    then = T0 - timedelta(days=60)
    with db.session() as session:
        community = Community(name="东湖社区", cadres_see_all=False, created_at=then)
        session.add(community)
        session.flush()
        building = Building(community_id=community.id, name="3号楼")
        session.add(building)
        session.flush()
        dong = Household(building_id=building.id, unit="2-502", created_at=then)
        neighbour = Household(building_id=building.id, unit="2-501", created_at=then)
        session.add_all([dong, neighbour])
        session.flush()
        session.add(Resident(household_id=dong.id, display_name="董阿姨", phones="13800000001", notes=""))
        link_meter(session, meter_id="m-dong", household_id=dong.id, at=then)
        link_meter(session, meter_id="m-next", household_id=neighbour.id, at=then)

        def user(name, role, phone=None, community_id=community.id):
            return create_user(session, name=name, role=role, now=then, community_id=community_id, phone=phone)[0]

        cadre = user("wang", Role.cadre, "13900000001")
        other = user("li", Role.cadre, "13900000002")
        secretary = user("zhang", Role.secretary, "13900000003")
        admin = user("ada", Role.admin, community_id=None)
        manager = user("qian", Role.property_manager)
        session.add_all([HouseholdCadre(household_id=dong.id, user_id=cadre.id),
                         HouseholdCadre(household_id=neighbour.id, user_id=other.id),
                         BuildingManager(building_id=building.id, user_id=manager.id)])
        session.flush()
        return Site(community.id, building.id, dong.id, neighbour.id, cadre.id, other.id, secretary.id, admin.id,
                    manager.id)
