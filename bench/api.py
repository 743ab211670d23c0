"""API under load: open alerts and one meter's week, 100 concurrent clients, against a bare FastAPI route.

Run: ``python -m bench.api [--clients 100] [--seconds 30] [--households 10000] [--database sqlite,postgresql]``.

It seeds a city slice: one community of ``--households`` households in buildings of 100, each
with a meter and a week of hourly readings (SQLite readings store), a few hundred open and
acknowledged alerts among a month's resolved ones, 20 cadres of 500 households each, a property
manager, a secretary, an analyst and an admin. Then it serves the real app (``anxin api``, one
uvicorn process, as shipped) in a subprocess, over SQLite and then over PostgreSQL for the
database (readings stay in SQLite), and loads it from a separate process, wrk (Debian's package),
with ``--clients`` connections:

- ``saturated``: every client sends its next request as soon as the answer comes (the most the
  server can do; by Little's law p99 < 50 ms at 100 clients needs over 2,000 requests/s);
- ``paced``: every client waits ``--think-ms`` (random, mean 1 s) between requests, as people
  clicking through a page do.

The reference, side by side under the same load: a bare FastAPI app on the same uvicorn, whose
one route answers a constant (the framework's own ceiling). Prints p50, p99, requests/s, the ratio
to the reference's requests/s, and the server's CPU milliseconds per request, which a busy shared
machine disturbs far less than latency.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI

from bench.cpu import process_cpu_s

ROOT = Path(__file__).resolve().parent.parent
HOUR_MS = 3_600_000

constant_app = FastAPI()


@constant_app.get("/constant")
def constant() -> dict:
    """The reference: a bare route answering a constant (a sync def, like anxin's views)."""
    return {"status": "ok"}


@dataclass
class Seeded:
    tokens: dict[str, str]  # role -> token
    cadre_meters: list[str]  # the meters of the benchmark cadre's households
    meters: int
    open_alerts: int


def seed_readings(path: Path, *, meters: int, now_ms: int, hours: int = 168) -> None:
    """A week of hourly readings per meter, through the store (so its bookkeeping is right)."""
    from store.readings import Reading
    from store.sqlite_readings import SqliteReadingsStore

    store = SqliteReadingsStore(path)
    rng = random.Random(3)
    start = now_ms - hours * HOUR_MS
    batch: list[Reading] = []
    for m in range(meters):
        total = rng.uniform(1_000, 500_000)
        meter = f"m{m:05d}"
        for h in range(hours):
            if rng.random() < 0.6:
                total += round(rng.uniform(1, 60), 1)
            ts = start + h * HOUR_MS + m % 3_600 * 1000
            batch.append(Reading(meter, ts, round(total, 1), ts + 5_000))
        if len(batch) >= 50_000:
            store.write(batch)
            batch = []
    store.write(batch)
    store.close()


def seed_database(url: str, *, households: int, now: datetime) -> Seeded:
    """Registry, users and alerts of one community; returns each role's token."""
    from sqlalchemy import insert, select

    from store.db import Database
    from store.models import (
        Alert, AlertKind, AlertStatus, Building, BuildingManager, Community, Household, HouseholdCadre, MeterLink,
        Role, Severity,
    )
    from store.users import create_user

    db = Database(url)
    db.migrate()
    rng = random.Random(4)
    tokens: dict[str, str] = {}
    with db.session() as s:
        community = Community(name="bench", created_at=now, cadres_see_all=False)
        s.add(community)
        s.flush()
        n_buildings = (households + 99) // 100
        s.execute(insert(Building), [{"community_id": community.id, "name": f"{b + 1}号楼"} for b in range(n_buildings)])
        buildings = list(s.scalars(select(Building.id).where(Building.community_id == community.id)
                                   .order_by(Building.id)))
        s.execute(insert(Household), [{"building_id": buildings[h // 100], "unit": f"{h % 100 + 1:03d}",
                                       "created_at": now} for h in range(households)])
        homes = list(s.scalars(select(Household.id).order_by(Household.id)))
        s.execute(insert(MeterLink), [{"meter_id": f"m{i:05d}", "household_id": hid, "linked_at": now - timedelta(days=60)}
                                      for i, hid in enumerate(homes)])
        for role in (Role.admin, Role.secretary, Role.property_manager, Role.analyst):
            user, tokens[role.value] = create_user(
                s, name=f"bench-{role.value}", role=role, now=now,
                community_id=None if role == Role.admin else community.id)
            if role == Role.property_manager:
                s.execute(insert(BuildingManager), [{"building_id": b, "user_id": user.id} for b in buildings[:10]])
        cadres = []
        for c in range(20):
            user, token = create_user(s, name=f"bench-cadre-{c:02d}", role=Role.cadre, now=now,
                                      community_id=community.id)
            cadres.append(user.id)
            if c == 0:
                tokens["cadre"] = token
        # Each cadre looks after a contiguous run of households (a few buildings).
        per = max(1, len(homes) // len(cadres))
        s.execute(insert(HouseholdCadre), [{"household_id": hid, "user_id": cadres[min(i // per, len(cadres) - 1)]}
                                           for i, hid in enumerate(homes)])
        # A month of alerts: ~2.5 per household-month resolved, and a few hundred still open.
        kinds = [AlertKind.inactivity, AlertKind.meter_offline, AlertKind.continuous_flow, AlertKind.unusual_pattern]
        severity = {AlertKind.inactivity: Severity.alarm, AlertKind.meter_offline: Severity.warning,
                    AlertKind.continuous_flow: Severity.alarm, AlertKind.unusual_pattern: Severity.info}
        rows, unresolved = [], set()
        n_open = max(3, households * 3 // 100)  # 300 for 10,000 households
        for i in range(households * 5 // 2 + n_open):
            h = rng.randrange(len(homes))
            kind = rng.choice(kinds)
            started = now - timedelta(minutes=rng.randrange(30 * 24 * 60))
            status = AlertStatus.resolved
            if i >= households * 5 // 2 and (h, kind) not in unresolved:
                status = rng.choice([AlertStatus.open, AlertStatus.open, AlertStatus.acknowledged])
                unresolved.add((h, kind))
            raised = started + timedelta(hours=12)
            rows.append({
                "meter_id": f"m{h:05d}", "kind": kind.value, "severity": severity[kind].value, "status": status.value,
                "started_at": started, "raised_at": raised, "ended_at": None if status != AlertStatus.resolved
                else raised + timedelta(hours=1), "created_at": raised, "updated_at": raised,
                "resolved_at": raised + timedelta(hours=1) if status == AlertStatus.resolved else None,
                "household_id": homes[h], "escalation_level": 0,
            })
        # The episode index is unique: drop the rare same-minute repeats.
        rows = list({(r["meter_id"], r["kind"], r["started_at"]): r for r in rows}.values())
        s.execute(insert(Alert), rows)
        cadre_homes = set(s.scalars(select(HouseholdCadre.household_id).where(HouseholdCadre.user_id == cadres[0])))
    db.dispose()
    index = {hid: i for i, hid in enumerate(homes)}
    return Seeded(tokens=tokens, cadre_meters=sorted(f"m{index[h]:05d}" for h in cadre_homes), meters=households,
                  open_alerts=len(unresolved))


# --- serving --------------------------------------------------------------------------------------

class Server:
    """A uvicorn server in a subprocess, with its log in ``log``."""

    def __init__(self, argv: list[str], *, port: int, env: dict, log: Path, cwd: Path = ROOT) -> None:
        self.argv, self.port, self.env, self.log, self.cwd = argv, port, env, log, cwd
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        from tests.servers import wait_for_port

        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.argv, env={**os.environ, **self.env}, cwd=self.cwd, stdout=log,
                                            stderr=log)
        try:
            wait_for_port(self.port, timeout_s=60)
            if self.env.get("ANXIN_API_WORKERS", "1") != "1":
                _wait_for_workers(self.log, int(self.env["ANXIN_API_WORKERS"]))
        except TimeoutError:
            self.__exit__()
            raise RuntimeError(f"{' '.join(self.argv)} did not start: {self.log.read_text()[-2000:]}") from None
        return self

    def cpu_s(self) -> float:
        """User and system CPU seconds the server (and its worker processes) have used so far."""
        return process_cpu_s(self.process.pid, descendants=True)

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _wait_for_workers(log: Path, workers: int, timeout_s: float = 180) -> None:
    """uvicorn's socket is open before its workers have started: wait until they all say so."""
    deadline = time.monotonic() + timeout_s
    while log.read_text(errors="replace").count("Application startup complete") < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the API's {workers} workers did not start: {log.read_text()[-2000:]}")
        time.sleep(0.5)


# --- load -------------------------------------------------------------------------------------------

_LUA = """
local paths = {%(paths)s}
local think = %(think)d
wrk.headers["Authorization"] = "Bearer %(token)s"
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
if think > 0 then
  delay = function() return math.random(0, 2 * think) end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, '
    .. '"max_us": %%d, "non2xx": %%d, "errors": %%d}\\n', summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.max, e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class Result:
    name: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    failed: int
    cpu_ms: float = float("nan")  # the server's CPU time per request: robust to a busy machine


def load(name: str, url: str, paths: list[str], *, token: str, clients: int, seconds: float, think_ms: int,
         workdir: Path, server: Server | None = None) -> Result:
    """wrk with ``clients`` connections on two threads for ``seconds``; each request picks one of ``paths``.

    With ``server``, also the server process's CPU seconds (all its threads) per request.
    """
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("bench.api needs wrk: apt-get install -y wrk (make bench does)")
    script = workdir / "load.lua"
    script.write_text(_LUA % {"paths": ", ".join(json.dumps(p) for p in paths), "token": token, "think": think_ms})
    threads = max(1, min(2, clients))
    cpu_before = server.cpu_s() if server is not None else 0.0
    run = subprocess.run([wrk, f"-t{threads}", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
                          "-s", str(script), url], capture_output=True, text=True, check=True)
    line = next((ln for ln in run.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures: {run.stdout}\n{run.stderr}")
    f = json.loads(line[6:])
    cpu_ms = (server.cpu_s() - cpu_before) * 1000 / max(1, f["requests"]) if server is not None else float("nan")
    return Result(name, f["requests"], f["requests"] / (f["duration_us"] / 1e6), f["p50_us"] / 1000,
                  f["p99_us"] / 1000, f["max_us"] / 1000, f["non2xx"] + f["errors"], cpu_ms)


def print_result(r: Result, reference: Result | None) -> None:
    ratio = f"{r.rps / reference.rps:6.2f}x" if reference is not None and reference.rps else "   ref"
    print(f"  {r.name:44s} {r.rps:8,.0f} req/s {ratio}  p50 {r.p50_ms:7.1f} ms  p99 {r.p99_ms:7.1f} ms  "
          f"max {r.max_ms:7.1f} ms  cpu {r.cpu_ms:5.2f} ms/req  {r.requests:7,d} requests  {r.failed} failed",
          flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0, help="per scenario")
    parser.add_argument("--households", type=int, default=10_000, help="households, each with one meter")
    parser.add_argument("--think-ms", type=int, default=1000, help="mean pause of a paced client between requests")
    parser.add_argument("--database", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--modes", default="saturated,paced", help="comma-separated: saturated, paced")
    parser.add_argument("--workers", type=int, default=1, help="ANXIN_API_WORKERS: uvicorn processes of the API")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout of anxin (e.g. a git worktree of an older commit): its `anxin api` is "
                             "served on the same data and loaded alternately with this one, side by side")
    args = parser.parse_args(argv)

    from ingest.broker import free_port
    from tests.servers import create_postgres_database, drop_postgres_database

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers and drop the database on the way out
    now = datetime.now(UTC)
    modes = {"saturated": 0, "paced": args.think_ms}
    with tempfile.TemporaryDirectory(prefix="anxin-bench-api-") as tmp:
        work = Path(tmp)
        readings = work / "readings.db"
        started = time.perf_counter()
        seed_readings(readings, meters=args.households, now_ms=int(now.timestamp() * 1000))
        n_readings = sqlite3.connect(readings).execute("SELECT COUNT(*) FROM readings").fetchone()[0]
        print(f"seeded {n_readings:,} readings of {args.households:,} meters in {time.perf_counter() - started:.0f} s",
              flush=True)
        for database in args.database.split(","):
            pg_url = create_postgres_database() if database == "postgresql" else None
            try:
                url = pg_url or f"sqlite:///{work}/anxin.db"
                seeded = seed_database(url, households=args.households, now=now)
                run_database(database, url, seeded, readings=readings, work=work, args=args, modes=modes,
                             port_for=free_port)
            finally:
                if pg_url:
                    drop_postgres_database(pg_url)
    print(f"load: wrk, {args.clients} connections on 2 threads, {args.seconds:g} s per line, in its own process; "
          f"machine load now: {os.getloadavg()[0]:.2f} (1-min average, 2 cores)")


def run_database(database: str, url: str, seeded: Seeded, *, readings: Path, work: Path, args, modes: dict,
                 port_for) -> None:
    print(f"{database}: {seeded.meters:,} households and meters, {seeded.open_alerts} open or acknowledged alerts; "
          f"the cadre sees {len(seeded.cadre_meters)} meters; the API on {args.workers} worker process(es)"
          + (f", the baseline ({args.baseline}) beside it" if args.baseline is not None else ""), flush=True)
    ref_port = port_for()
    reference = Server([sys.executable, "-m", "uvicorn", "bench.api:constant_app", "--port", str(ref_port)],
                       port=ref_port, env={}, log=work / "reference.log")
    env = {"ANXIN_DATABASE_URL": url, "ANXIN_READINGS_URL": f"sqlite:///{readings}"}
    apis = {"": api_server(ROOT, port=port_for(), env={**env, "ANXIN_API_WORKERS": str(args.workers)},
                           log=work / f"api-{database}.log")}
    if args.baseline is not None:  # the same worker processes (a version older than ANXIN_API_WORKERS runs one)
        apis = {"baseline: ": api_server(args.baseline.resolve(), port=port_for(),
                                         env={**env, "ANXIN_API_WORKERS": str(args.workers)},
                                         log=work / f"baseline-{database}.log"), **apis}
    alerts = ["/api/v1/alerts?status=open,acknowledged"]
    meter_week = [f"/api/v1/meters/{m}/readings" for m in seeded.cadre_meters]
    scenarios = [
        ("alerts open, as cadre", alerts, "cadre"),
        ("alerts open, as admin", alerts, "admin"),
        ("one meter's week, as cadre", meter_week, "cadre"),
    ]
    with contextlib.ExitStack() as stack:
        stack.enter_context(reference)
        for api in apis.values():
            stack.enter_context(api)
        for mode, think in modes.items():
            if mode not in args.modes.split(","):
                continue
            kw = dict(clients=args.clients, seconds=args.seconds, think_ms=think, workdir=work)
            print(f" {mode} ({args.clients} clients" + (f", think time {think} ms mean)" if think else ")"), flush=True)
            # Warm both up (first requests compile queries, fill caches), then measure.
            load("warm-up", f"http://127.0.0.1:{ref_port}/constant", ["/constant"], token="-", clients=10,
                 seconds=2, think_ms=0, workdir=work)
            ref = load("reference: bare FastAPI route, constant", f"http://127.0.0.1:{ref_port}/constant",
                       ["/constant"], token="-", server=reference, **kw)
            print_result(ref, None)
            for name, paths, role in scenarios:
                for label, api in apis.items():  # baseline then this checkout, one right after the other
                    base = f"http://127.0.0.1:{api.port}"
                    load("warm-up", base + paths[0], paths, token=seeded.tokens[role], clients=10, seconds=2,
                         think_ms=0, workdir=work)
                    print_result(load(label + name, base + paths[0], paths, token=seeded.tokens[role], server=api,
                                      **kw), ref)


def api_server(checkout: Path, *, port: int, env: dict, log: Path) -> Server:
    """``anxin api`` of ``checkout`` (this one, or a baseline) with the venv's Python."""
    anxin = [sys.executable, "-c", "from api.cli import main; main()"]
    return Server([*anxin, "api", "--host", "127.0.0.1", "--port", str(port)], port=port,
                  env={**env, "PYTHONPATH": str(checkout)}, log=log, cwd=checkout)


if __name__ == "__main__":
    main()
