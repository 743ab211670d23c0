"""Fixtures for the web page: a small community, signed-in browsers, and the real app served by uvicorn."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.web.live import LiveOptions
from ingest.broker import free_port
from store.db import Database
from store.links import link_meter
from store.models import Building, BuildingManager, Community, Household, HouseholdCadre, Resident, Role
from store.users import create_user
from tests.api.conftest import NOW

ORIGIN = {"Origin": "http://testserver"}  # what a browser sends with a POST from our own page


@dataclass
class World:
    """Two communities: in the first, two cadres with a household each; the second has its own."""

    households: dict[str, int] = field(default_factory=dict)  # by meter id
    tokens: dict[str, str] = field(default_factory=dict)  # by user name
    passwords: dict[str, str] = field(default_factory=dict)


def build_world(db: Database, now: datetime) -> World:
    world = World()
    with db.session() as session:
        for cname, units in (("东风社区", (("m-dong", "2-502", "董阿姨", "13800000001"),
                                          ("m-wang", "2-601", "王伯伯", "13800000002"))),
                             ("西湖社区", (("m-far", "1-101", "远方", "13800000003"),))):
            community = Community(name=cname, created_at=now)
            session.add(community)
            session.flush()
            building = Building(community_id=community.id, name="3号楼")
            session.add(building)
            session.flush()
            for meter, unit, resident, phone in units:
                household = Household(building_id=building.id, unit=unit, created_at=now)
                session.add(household)
                session.flush()
                session.add(Resident(household_id=household.id, display_name=resident, phones=f"{phone},010-1234"))
                link_meter(session, meter_id=meter, household_id=household.id, at=now - timedelta(days=60))
                world.households[meter] = household.id
                name = {"m-dong": "cadre-li", "m-wang": "cadre-zhao", "m-far": "cadre-far"}[meter]
                user, token = create_user(session, name=name, role=Role.cadre, now=now - timedelta(days=60),
                                          community_id=community.id, password=f"{name}-pw")
                session.add(HouseholdCadre(household_id=household.id, user_id=user.id))
                world.tokens[name], world.passwords[name] = token, f"{name}-pw"
            if cname == "东风社区":
                user, token = create_user(session, name="pm-zhou", role=Role.property_manager,
                                          now=now - timedelta(days=60), community_id=community.id,
                                          password="pm-zhou-pw")
                world.tokens["pm-zhou"], world.passwords["pm-zhou"] = token, "pm-zhou-pw"
                session.add(BuildingManager(building_id=building.id, user_id=user.id))
    return world


@pytest.fixture
def world(database) -> World:
    return build_world(database, NOW)


@pytest.fixture
def web_client(settings, database, sqlite_readings) -> Iterator[TestClient]:
    """The app over both database backends; the web page is not about the readings backend."""
    app = create_app(settings=settings, db=database, readings=sqlite_readings, clock=lambda: NOW)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def sign_in(web_client, world) -> Callable[[str], TestClient]:
    """Sign ``web_client`` in as a user of the world, with her password, as the sign-in form does."""

    def sign(name: str) -> TestClient:
        response = web_client.post("/login", data={"name": name, "password": world.passwords[name]},
                                   headers=ORIGIN, follow_redirects=False)
        assert response.status_code == 303, response.text
        return web_client

    return sign


@dataclass
class LiveServer:
    url: str
    db: Database
    world: World


@pytest.fixture
def live_server(tmp_path) -> Iterator[LiveServer]:
    """The real app under uvicorn on a free port, over real SQLite stores, with the real clock."""
    from store.sqlite_readings import SqliteReadingsStore
    from store.times import utc_now

    db = Database(f"sqlite:///{tmp_path}/anxin.db")
    db.migrate()
    readings = SqliteReadingsStore(tmp_path / "readings.db")
    world = build_world(db, utc_now())
    app = create_app(settings=Settings(timezone="Asia/Shanghai"), db=db, readings=readings)
    app.state.live = LiveOptions(poll_s=0.2, heartbeat_s=1.0)  # quick, so the tests are
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                          timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = threading.Event()
    for _ in range(200):
        if server.started:
            break
        deadline.wait(0.05)
    assert server.started, "uvicorn did not start"
    yield LiveServer(url=f"http://127.0.0.1:{port}", db=db, world=world)
    server.should_exit = True
    thread.join(10)
    readings.close()
    db.dispose()
