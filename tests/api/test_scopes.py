"""Each role sees exactly its slice, route by route; a token from one community never reads another's.

Two communities alike: each with a secretary, two cadres (one looks after household A, one after
B), a property manager of building 1 only (household A's), and an analyst; plus an admin. Every
route under /api/v1 must have an entry in LISTS or RECORDS below, so a new route cannot ship
without its scope being tested.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from api.app import create_app
from api.settings import Settings
from store import registry
from store.alerts import Episode, resolve, sync_episodes
from store.away import add_away_window
from store.dead_letters import Rejection, add_dead_letters
from store.links import link_meter
from store.models import Alert, AlertKind, AlertStatus, DeadLetter, Delivery, NotificationChannel, Role, User
from store.pseudonyms import pseudonym
from store.readings import Reading
from store.times import to_ms
from store.users import create_user
from tests.api.conftest import NOW

DAY = timedelta(days=1)
COMMUNITY_ROLES = ("secretary", "cadre_a", "cadre_b", "manager", "analyst")
ROLE_OF = {"secretary": Role.secretary, "cadre_a": Role.cadre, "cadre_b": Role.cadre,
           "manager": Role.property_manager, "analyst": Role.analyst}


@dataclass
class World:
    """Ids by name: ``ids["c1.A"]`` is community 1's household A; ``tokens["c2.secretary"]`` a token."""

    ids: dict[str, int | str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def build_world(db, readings) -> World:
    w = World()
    then = NOW - 30 * DAY
    with db.session() as session:
        _, token = create_user(session, name="admin", role=Role.admin, now=then)
        w.tokens["admin"] = token
        for c in ("c1", "c2"):
            community = registry.create_community(session, name=f"社区{c}", now=then)
            w.ids[c] = community.id
            for b, unit in (("b1", "A"), ("b2", "B")):
                building = registry.create_building(session, community_id=community.id, name=f"{b[1]}号楼")
                household = registry.create_household(session, building_id=building.id, unit=unit, now=then)
                meter = f"{c}-m{unit}"
                link_meter(session, meter_id=meter, household_id=household.id, at=then)
                resident = registry.create_resident(session, household_id=household.id, display_name=f"{c}{unit}",
                                                    phones=["13800000000"])
                w.ids |= {f"{c}.{b}": building.id, f"{c}.{unit}": household.id, f"{c}.m{unit}": meter,
                          f"{c}.r{unit}": resident.id}
            for name in COMMUNITY_ROLES:
                user, token = create_user(session, name=f"{c}-{name}", role=ROLE_OF[name], now=then,
                                          community_id=community.id)
                w.ids[f"{c}.{name}"] = user.id
                w.tokens[f"{c}.{name}"] = token
            registry.assign_cadre(session, household_id=w.ids[f"{c}.A"], user_id=w.ids[f"{c}.cadre_a"])
            registry.assign_cadre(session, household_id=w.ids[f"{c}.B"], user_id=w.ids[f"{c}.cadre_b"])
            registry.add_manager(session, building_id=w.ids[f"{c}.b1"], user_id=w.ids[f"{c}.manager"])
    meters = [w.ids[f"{c}.m{u}"] for c in ("c1", "c2") for u in "AB"] + ["stray"]
    readings.write([Reading(m, to_ms(NOW - DAY), 10.0, to_ms(NOW - DAY)) for m in meters])
    with db.session() as session:
        started = NOW - DAY
        sync_episodes(session, kind=AlertKind.inactivity, now=NOW, episodes=[
            Episode(meter_id=m, kind=AlertKind.inactivity, severity="alarm", started_at=started,
                    raised_at=started + timedelta(hours=12)) for m in meters])
        for alert in session.query(Alert).all():
            w.ids[f"alert.{alert.meter_id}"] = alert.id
            if not alert.meter_id.endswith("-mA"):  # labelled outcomes to export; the mA alerts stay open
                resolve(session, alert_id=alert.id, user_id=None, note="seen", now=NOW, outcome="resident_fine")
        add_dead_letters(session, [Rejection("meters/x/readings", b"{}", "bad", NOW, meter_id=m) for m in meters]
                         + [Rejection("meters/readings", b"{}", "bad topic", NOW)])
        for letter in session.query(DeadLetter).all():
            w.ids[f"dl.{letter.meter_id}"] = letter.id  # dl.None: a letter that names no meter
        w.ids["admin"] = session.query(User.id).filter(User.name == "admin").scalar()
        for c in ("c1", "c2"):  # a notice to each community's first cadre
            channel = NotificationChannel(user_id=w.ids[f"{c}.cadre_a"], kind="webhook", url="https://example.com/h",
                                          enabled=True, created_at=NOW)
            session.add(channel)
            session.flush()
            w.ids[f"{c}.channel"] = channel.id
            session.add(Delivery(dedupe_key=f"alert:{w.ids[f'alert.{c}-mA']}:raised", channel_id=channel.id,
                                 user_id=w.ids[f"{c}.cadre_a"], alert_id=w.ids[f"alert.{c}-mA"], event="raised",
                                 payload="{}", status="sent", attempts=1, next_attempt_at=NOW, sent_at=NOW,
                                 created_at=NOW))
    return w


def make_client(db, readings) -> TestClient:
    return TestClient(create_app(settings=Settings(timezone="Asia/Shanghai"), db=db, readings=readings,
                                 clock=lambda: NOW))


# --- list routes: who sees exactly which records ----------------------------------------------------

def _ids(body, key="id") -> set:
    return {item[key] for item in body["items"]}


@dataclass(frozen=True)
class ListCase:
    path: str
    ids: Callable[[dict], set]  # the response body to the set of what it lists
    expect: dict[str, object]  # role (of community 1, or admin) -> set of world names, or 403
    params: Callable[[World], dict] = lambda w: {}


LISTS: dict[tuple[str, str], ListCase] = {
    ("GET", "/api/v1/communities"): ListCase("/api/v1/communities", _ids, {
        "admin": {"c1", "c2"}, **{r: {"c1"} for r in COMMUNITY_ROLES}}),
    ("GET", "/api/v1/buildings"): ListCase("/api/v1/buildings", _ids, {
        "admin": {"c1.b1", "c1.b2", "c2.b1", "c2.b2"}, "secretary": {"c1.b1", "c1.b2"}, "cadre_a": {"c1.b1"},
        "cadre_b": {"c1.b2"}, "manager": {"c1.b1"}, "analyst": 403}),
    ("GET", "/api/v1/households"): ListCase("/api/v1/households", _ids, {
        "admin": {"c1.A", "c1.B", "c2.A", "c2.B"}, "secretary": {"c1.A", "c1.B"}, "cadre_a": {"c1.A"},
        "cadre_b": {"c1.B"}, "manager": {"c1.A"}, "analyst": 403}),
    ("GET", "/api/v1/users"): ListCase("/api/v1/users", _ids, {
        "admin": {"admin", *(f"{c}.{r}" for c in ("c1", "c2") for r in COMMUNITY_ROLES)},
        "secretary": {f"c1.{r}" for r in COMMUNITY_ROLES}, "cadre_a": 403, "cadre_b": 403, "manager": 403,
        "analyst": 403}),
    ("GET", "/api/v1/users/me"): ListCase("/api/v1/users/me", lambda body: {body["id"]}, {
        "admin": {"admin"}, **{r: {f"c1.{r}"} for r in COMMUNITY_ROLES}}),
    ("GET", "/api/v1/alerts"): ListCase("/api/v1/alerts", _ids, {
        "admin": {"alert.c1-mA", "alert.c1-mB", "alert.c2-mA", "alert.c2-mB", "alert.stray"},
        "secretary": {"alert.c1-mA", "alert.c1-mB"}, "cadre_a": {"alert.c1-mA"}, "cadre_b": {"alert.c1-mB"},
        "manager": {"alert.c1-mA"}, "analyst": {"alert.c1-mA", "alert.c1-mB"}}),
    ("GET", "/api/v1/meters"): ListCase("/api/v1/meters", lambda body: _ids(body, "meter_id"), {
        "admin": {"c1.mA", "c1.mB", "c2.mA", "c2.mB", "stray"}, "secretary": {"c1.mA", "c1.mB"},
        "cadre_a": {"c1.mA"}, "cadre_b": {"c1.mB"}, "manager": {"c1.mA"}, "analyst": 403}),
    ("GET", "/api/v1/dead-letters"): ListCase("/api/v1/dead-letters", _ids, {
        "admin": {"dl.c1-mA", "dl.c1-mB", "dl.c2-mA", "dl.c2-mB", "dl.stray", "dl.None"},
        "secretary": {"dl.c1-mA", "dl.c1-mB"}, "cadre_a": 403, "cadre_b": 403, "manager": {"dl.c1-mA"},
        "analyst": 403}),
    ("GET", "/api/v1/deliveries"): ListCase(
        "/api/v1/deliveries", lambda body: {d["recipient"] for d in body["items"]}, {
        "admin": {"c1-cadre_a", "c2-cadre_a"}, "secretary": {"c1-cadre_a"}, "cadre_a": 403, "cadre_b": 403,
        "manager": 403, "analyst": 403}),
    ("GET", "/api/v1/exports/outcomes.csv"): ListCase(
        "/api/v1/exports/outcomes.csv", lambda text: {int(line.split(",")[0]) for line in text.splitlines()[1:]}, {
            "admin": {"alert.c1-mB", "alert.c2-mB", "alert.stray"}, "secretary": {"alert.c1-mB"},
            "analyst": {"alert.c1-mB"}, "cadre_a": 403, "cadre_b": 403, "manager": 403}),
    ("GET", "/api/v1/exports/readings.csv"): ListCase(
        "/api/v1/exports/readings.csv", lambda text: {_UNMASK[line.split(",")[0]] for line in text.splitlines()[1:]}, {
            "admin": {"c1.mA", "c1.mB", "c2.mA", "c2.mB", "stray"}, "secretary": {"c1.mA", "c1.mB"},
            "analyst": {"c1.mA", "c1.mB"}, "cadre_a": 403, "cadre_b": 403, "manager": 403}),
    ("GET", "/api/v1/meter-links/export"): ListCase(
        "/api/v1/meter-links/export", lambda text: {line.split(",")[0] for line in text.splitlines()[1:]}, {
            "admin": {"c1.mA", "c1.mB"}, "secretary": {"c1.mA", "c1.mB"}, "manager": {"c1.mA"}, "cadre_a": 403,
            "cadre_b": 403, "analyst": 403},
        params=lambda w: {"community_id": w.ids["c1"]}),
}


# Exports name meters by pseudonym: back to meter ids, to compare.
_UNMASK = {pseudonym(m, key=Settings().pseudonym_key): m for m in
           [f"{c}-m{u}" for c in ("c1", "c2") for u in "AB"] + ["stray"]}


def _resolve_names(w: World, names: set) -> set:
    return {name if name == "stray" or name not in w.ids else w.ids[name] for name in names}


def who(role: str, community: str = "c1") -> str:
    return "admin" if role == "admin" else f"{community}.{role}"


def check_lists(client: TestClient, w: World, cases=LISTS) -> None:
    for (method, _), case in cases.items():
        for role, expected in case.expect.items():
            response = client.request(method, case.path, params={"limit": 1000, **case.params(w)},
                                      headers=w.headers(who(role)))
            label = f"{case.path} as {role}"
            if expected == 403:
                assert response.status_code == 403, f"{label}: {response.status_code} {response.text}"
                continue
            assert response.status_code == 200, f"{label}: {response.text}"
            body = response.text if case.path.endswith(("/export", ".csv")) else response.json()
            assert case.ids(body) == _resolve_names(w, expected), label


@pytest.fixture
def world(sqlite_db, sqlite_readings) -> World:
    return build_world(sqlite_db, sqlite_readings)


def test_each_role_lists_exactly_its_slice(sqlite_db, sqlite_readings, world):
    check_lists(make_client(sqlite_db, sqlite_readings), world)


def test_each_role_lists_exactly_its_slice_on_postgresql(postgres_url, sqlite_readings):
    from store.db import Database

    db = Database(postgres_url)
    db.migrate()
    try:
        w = build_world(db, sqlite_readings)
        check_lists(make_client(db, sqlite_readings), w)
    finally:
        db.dispose()


# --- routes with an id: the other community gets 404, a role without the right 403 -----------------

@dataclass(frozen=True)
class RecordCase:
    path: str  # formatted with World.ids
    expect: dict[str, int]  # role of community 1 (or admin) -> status; 2xx cases run last, in this order
    denied: frozenset[str] = frozenset()  # roles refused whatever the record: 403 in every community
    body: Callable[[World], object] | None = None
    params: Callable[[World], dict] = lambda w: {}
    before_each: Callable[[World, object], dict] | None = None  # fresh state before each call; extra ids
    csv: bool = False


def _fresh_name(_w: World) -> str:
    return uuid.uuid4().hex[:8]


EDITORS = {"admin": 200, "secretary": 200, "cadre_a": 403, "cadre_b": 403, "manager": 403, "analyst": 403}
NOT_EDITORS = frozenset({"cadre_a", "cadre_b", "manager", "analyst"})
READ_A = {"admin": 200, "secretary": 200, "cadre_a": 200, "cadre_b": 404, "manager": 200}
# A user's channels: hers, and her community's secretary's and the admins' to manage.
CHANNEL_EDITORS = {"admin": 200, "secretary": 200, "cadre_a": 200, "cadre_b": 403, "manager": 403, "analyst": 403}
CADRE_A_ONLY = {"admin": 404, "secretary": 404, "cadre_a": 200, "cadre_b": 404, "manager": 404, "analyst": 404}
ALERT_ACT = {"admin": 200, "secretary": 200, "cadre_a": 200, "cadre_b": 404, "manager": 403, "analyst": 403}
# Who may see and set when a household is away: those who look after it.
KEEPERS = {"admin": 200, "secretary": 200, "cadre_a": 200, "cadre_b": 404, "manager": 403, "analyst": 403}


def _reopen(db):
    def reopen(w: World, _role) -> dict:
        with db.session() as session:
            session.execute(update(Alert).where(Alert.id == w.ids["alert.c1-mA"]).values(
                status=AlertStatus.open, resolved_at=None, resolved_by=None, acknowledged_at=None,
                acknowledged_by=None, outcome=None))
        return {}
    return reopen


def _new_channel(db):
    def new(w: World, _role) -> dict:
        with db.session() as session:
            channel = NotificationChannel(user_id=w.ids["c1.cadre_a"], kind="webhook", url="https://example.com/h",
                                          enabled=True, created_at=NOW)
            session.add(channel)
            session.flush()
            return {"new_channel": channel.id}
    return new


def _new_away(db):
    def new(w: World, _role) -> dict:
        with db.session() as session:
            window = add_away_window(session, household_id=w.ids["c1.A"], starts_at=NOW, ends_at=NOW + DAY, now=NOW)
            return {"new_away": window.id}
    return new


def _new_resident(db):
    def new(w: World, _role) -> dict:
        with db.session() as session:
            resident = registry.create_resident(session, household_id=w.ids["c1.A"], display_name="new")
            return {"new_resident": resident.id}
    return new


def records(db) -> dict[tuple[str, str], RecordCase]:
    return {
        ("GET", "/api/v1/communities/{community_id}"): RecordCase(
            "/api/v1/communities/{c1}", {"admin": 200, **{r: 200 for r in COMMUNITY_ROLES}}),
        ("PATCH", "/api/v1/communities/{community_id}"): RecordCase(
            "/api/v1/communities/{c1}", EDITORS, NOT_EDITORS, body=lambda w: {"cadres_see_all": False}),
        ("POST", "/api/v1/communities"): RecordCase(
            "/api/v1/communities", {**EDITORS, "admin": 201, "secretary": 403},
            frozenset(COMMUNITY_ROLES), body=lambda w: {"name": _fresh_name(w)}),
        ("POST", "/api/v1/buildings"): RecordCase(
            "/api/v1/buildings", {**EDITORS, "admin": 201, "secretary": 201}, NOT_EDITORS,
            body=lambda w: {"name": _fresh_name(w), "community_id": w.ids["c1"]}),
        ("PUT", "/api/v1/buildings/{building_id}/managers/{user_id}"): RecordCase(
            "/api/v1/buildings/{c1.b2}/managers/{c1.manager}", EDITORS, NOT_EDITORS),
        ("DELETE", "/api/v1/buildings/{building_id}/managers/{user_id}"): RecordCase(
            "/api/v1/buildings/{c1.b1}/managers/{c1.manager}", EDITORS, NOT_EDITORS),
        ("POST", "/api/v1/households"): RecordCase(
            "/api/v1/households", {**EDITORS, "admin": 201, "secretary": 201}, NOT_EDITORS,
            body=lambda w: {"building_id": w.ids["c1.b1"], "unit": _fresh_name(w)}),
        ("GET", "/api/v1/households/{household_id}"): RecordCase(
            "/api/v1/households/{c1.A}", {**READ_A, "analyst": 403}, frozenset({"analyst"})),
        ("PATCH", "/api/v1/households/{household_id}"): RecordCase(
            "/api/v1/households/{c1.A}", EDITORS, NOT_EDITORS, body=lambda w: {"unit": "A"}),
        ("PUT", "/api/v1/households/{household_id}/cadres/{user_id}"): RecordCase(
            "/api/v1/households/{c1.A}/cadres/{c1.cadre_b}", EDITORS, NOT_EDITORS),
        ("DELETE", "/api/v1/households/{household_id}/cadres/{user_id}"): RecordCase(
            "/api/v1/households/{c1.A}/cadres/{c1.cadre_a}", EDITORS, NOT_EDITORS),
        ("PUT", "/api/v1/households/{household_id}/meter"): RecordCase(
            "/api/v1/households/{c1.A}/meter", {**EDITORS, "manager": 200},
            frozenset({"cadre_a", "cadre_b", "analyst"}), body=lambda w: {"meter_id": w.ids["c1.mA"]}),
        ("GET", "/api/v1/households/{household_id}/readings/hourly"): RecordCase(
            "/api/v1/households/{c1.A}/readings/hourly", {**READ_A, "analyst": 403}, frozenset({"analyst"})),
        ("GET", "/api/v1/households/{household_id}/residents"): RecordCase(
            "/api/v1/households/{c1.A}/residents",
            {"admin": 200, "secretary": 200, "cadre_a": 200, "cadre_b": 404, "manager": 403, "analyst": 403},
            frozenset({"manager", "analyst"})),
        ("POST", "/api/v1/households/{household_id}/residents"): RecordCase(
            "/api/v1/households/{c1.A}/residents", {**EDITORS, "admin": 201, "secretary": 201}, NOT_EDITORS,
            body=lambda w: {"display_name": "董阿姨", "phones": ["138 0000 0000"]}),
        ("PATCH", "/api/v1/residents/{resident_id}"): RecordCase(
            "/api/v1/residents/{c1.rA}", EDITORS, NOT_EDITORS, body=lambda w: {"notes": "耳背"}),
        ("DELETE", "/api/v1/residents/{resident_id}"): RecordCase(
            "/api/v1/residents/{new_resident}", {**EDITORS, "admin": 204, "secretary": 204}, NOT_EDITORS,
            before_each=_new_resident(db)),
        ("POST", "/api/v1/users"): RecordCase(
            "/api/v1/users", {**EDITORS, "admin": 201, "secretary": 201}, NOT_EDITORS,
            body=lambda w: {"name": _fresh_name(w), "role": "cadre", "community_id": w.ids["c1"]}),
        ("POST", "/api/v1/users/{user_id}/token"): RecordCase(
            "/api/v1/users/{c1.cadre_b}/token",
            # cadre_b renews her own token first, before the others replace it
            {"cadre_a": 403, "manager": 403, "analyst": 403, "cadre_b": 200, "admin": 200, "secretary": 200}),
        ("POST", "/api/v1/meter-links/import"): RecordCase(
            "/api/v1/meter-links/import", {**EDITORS, "manager": 200}, frozenset({"cadre_a", "cadre_b", "analyst"}),
            body=lambda w: f"meter_id,building,unit\n{w.ids['c1.mA']},1号楼,A\n",
            params=lambda w: {"community_id": w.ids["c1"]}, csv=True),
        ("GET", "/api/v1/meters/{meter_id}/readings"): RecordCase(
            "/api/v1/meters/{c1.mA}/readings", {**READ_A, "analyst": 403}, frozenset({"analyst"})),
        ("GET", "/api/v1/meters/{meter_id}/hourly"): RecordCase(
            "/api/v1/meters/{c1.mA}/hourly", {**READ_A, "analyst": 403}, frozenset({"analyst"})),
        ("GET", "/api/v1/alerts/{alert_id}"): RecordCase(
            "/api/v1/alerts/{alert.c1-mA}", {**READ_A, "analyst": 200}),
        ("GET", "/api/v1/alerts/{alert_id}/events"): RecordCase(
            "/api/v1/alerts/{alert.c1-mA}/events", {**READ_A, "analyst": 200}),
        ("POST", "/api/v1/alerts/{alert_id}/ack"): RecordCase(
            "/api/v1/alerts/{alert.c1-mA}/ack", ALERT_ACT, before_each=_reopen(db)),
        ("POST", "/api/v1/alerts/{alert_id}/resolve"): RecordCase(
            "/api/v1/alerts/{alert.c1-mA}/resolve", ALERT_ACT, body=lambda w: {"outcome": "resident_fine"},
            before_each=_reopen(db)),
        ("GET", "/api/v1/alerts/{alert_id}/deliveries"): RecordCase(
            "/api/v1/alerts/{alert.c1-mA}/deliveries", {**READ_A, "analyst": 200}),
        ("GET", "/api/v1/users/{user_id}/channels"): RecordCase(
            "/api/v1/users/{c1.cadre_a}/channels", CHANNEL_EDITORS, NOT_EDITORS),
        ("POST", "/api/v1/users/{user_id}/channels"): RecordCase(
            "/api/v1/users/{c1.cadre_a}/channels", {r: 201 if s == 200 else s for r, s in CHANNEL_EDITORS.items()},
            NOT_EDITORS, body=lambda w: {"kind": "webhook", "url": "https://example.com/hook"}),
        ("DELETE", "/api/v1/users/{user_id}/channels/{channel_id}"): RecordCase(
            "/api/v1/users/{c1.cadre_a}/channels/{new_channel}", CHANNEL_EDITORS, NOT_EDITORS,
            before_each=_new_channel(db)),
        # "me" is the caller: someone else's channel is not found, whoever asks.
        ("DELETE", "/api/v1/users/me/channels/{channel_id}"): RecordCase(
            "/api/v1/users/me/channels/{new_channel}", CADRE_A_ONLY, before_each=_new_channel(db)),
        ("POST", "/api/v1/users/me/channels/{channel_id}/test"): RecordCase(
            "/api/v1/users/me/channels/{new_channel}/test", {**CADRE_A_ONLY, "cadre_a": 202},
            before_each=_new_channel(db)),
        ("GET", "/api/v1/households/{household_id}/away"): RecordCase(
            "/api/v1/households/{c1.A}/away", KEEPERS, frozenset({"manager", "analyst"})),
        ("POST", "/api/v1/households/{household_id}/away"): RecordCase(
            "/api/v1/households/{c1.A}/away", {r: 201 if s == 200 else s for r, s in KEEPERS.items()},
            frozenset({"manager", "analyst"}), body=lambda w: {"start": "2026-11-23", "end": "2026-11-29"}),
        ("DELETE", "/api/v1/away/{window_id}"): RecordCase(
            "/api/v1/away/{new_away}", {r: 204 if s == 200 else s for r, s in KEEPERS.items()},
            frozenset({"manager", "analyst"}), before_each=_new_away(db)),
        ("POST", "/api/v1/alerts/{alert_id}/notes"): RecordCase(
            "/api/v1/alerts/{alert.c1-mA}/notes", {**ALERT_ACT, "admin": 201, "secretary": 201, "cadre_a": 201},
            body=lambda w: {"note": "打过电话"}),
    }


def _call(client: TestClient, w: World, method: str, case: RecordCase, caller: str, extra: dict):
    names = {**w.ids, **extra}
    path = re.sub(r"\{([^}]+)\}", lambda m: str(names[m[1]]), case.path)
    params = case.params(w)
    kwargs: dict = {"params": params, "headers": w.headers(caller)}
    if case.body is not None:
        body = case.body(w)
        if case.csv:
            kwargs["content"] = body.encode()
            kwargs["headers"] = {**kwargs["headers"], "Content-Type": "text/csv"}
        else:
            kwargs["json"] = body
    return client.request(method, path, **kwargs)


@pytest.fixture
def routes(sqlite_db, sqlite_readings) -> set[tuple[str, str]]:
    """Every (method, path) under /api/v1. FastAPI 0.165 nests included routers in ``app.routes``
    behind private classes, so the routes are read from the OpenAPI schema, which lists every one
    (the API has no route hidden from the schema)."""
    app = create_app(settings=Settings(), db=sqlite_db, readings=sqlite_readings)
    return {(method.upper(), path) for path, item in app.openapi()["paths"].items() if path.startswith("/api/v1")
            for method in item}


# Routes on the caller's own records ("me"), which no other user reaches: each role adds a channel
# and lists exactly her own.
OWN = {("GET", "/api/v1/users/me/channels"), ("POST", "/api/v1/users/me/channels")}


def test_each_user_adds_and_lists_only_her_own_channels(sqlite_db, sqlite_readings, world):
    client = make_client(sqlite_db, sqlite_readings)
    everyone = ["admin", *(who(r, c) for c in ("c1", "c2") for r in COMMUNITY_ROLES)]
    made = {}
    for caller in everyone:
        response = client.post("/api/v1/users/me/channels", headers=world.headers(caller),
                               json={"kind": "webhook", "url": f"https://example.com/{caller}"})
        assert response.status_code == 201, f"{caller}: {response.text}"
        made[caller] = response.json()["id"]
    for caller in everyone:
        listed = client.get("/api/v1/users/me/channels", headers=world.headers(caller)).json()
        before = {world.ids[f"{caller[:2]}.channel"]} if caller.endswith(".cadre_a") else set()
        assert _ids(listed) == {made[caller]} | before, caller


def test_every_api_route_is_in_the_scope_tables(routes, sqlite_db):
    table = set(LISTS) | set(records(sqlite_db)) | OWN
    missing = sorted(routes - table)
    assert not missing, f"routes with no scope test: add them to LISTS or records() in {__file__}: {missing}"
    assert not sorted(table - routes), "the tables name routes that no longer exist"


ROUTE_KEYS = sorted(records(None))


@pytest.mark.parametrize("key", ROUTE_KEYS, ids=[f"{m} {p}" for m, p in ROUTE_KEYS])
def test_a_route_with_an_id_gives_404_to_the_other_community_and_403_to_a_role_without_the_right(
    key, sqlite_db, sqlite_readings, world
):
    case = records(sqlite_db)[key]
    client = make_client(sqlite_db, sqlite_readings)

    def call(caller: str, role: str):
        extra = case.before_each(world, role) if case.before_each else {}
        return _call(client, world, key[0], case, caller, extra)

    # The other community's users: 403 if their role may never do this, else 404, as if it did not exist.
    for role in COMMUNITY_ROLES:
        response = call(who(role, "c2"), role)
        expected = 403 if role in case.denied else 404
        assert response.status_code == expected, f"c2 {role}: {response.status_code} {response.text}"
    ordered = sorted(case.expect.items(), key=lambda item: item[1] < 300)
    for role, expected in ordered:
        response = call(who(role), role)
        assert response.status_code == expected, f"{role}: {response.status_code} {response.text}"
        assert expected == 204 or response.headers["content-type"].startswith("application/json")
