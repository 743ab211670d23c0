"""The detector-tick benchmark runs at a tiny size and prints sane figures (no timing is asserted)."""

from __future__ import annotations

import re

from bench import tick


def test_the_tick_benchmark_prints_the_store_read_the_step_the_tick_and_memory_per_meter(capsys):
    tick.main(["--meters", "300"])
    out = capsys.readouterr().out
    assert out.startswith("300 meters, ")
    for stage in ("store read (SQLite changes)", "detectors step", "alert sync", "the rest (commit, logs)",
                  "whole tick"):
        assert re.search(re.escape(stage) + r"\s+-?\d+\.\d{3} s", out), stage
    ticks = re.search(r"3 hourly ticks in turn\s+(\d+\.\d{3}), (\d+\.\d{3}), (\d+\.\d{3}) s wall; median (\d+\.\d{3}) s", out)
    assert ticks and float(ticks.group(4)) == sorted(float(t) for t in ticks.groups()[:3])[1]
    # Each tick's parts are timed inside it, so they fit in it (the rest is not negative).
    three = r"(\d+\.\d{3}), (\d+\.\d{3}), (\d+\.\d{3}) s"
    parts = re.search(rf"of which store read\s+{three}; detectors step {three}; alert sync {three}", out)
    assert parts
    read, step, sync = (list(map(float, parts.groups()[i:i + 3])) for i in (0, 3, 6))
    for k, whole in enumerate(map(float, ticks.groups()[:3])):
        assert 0 < read[k] + step[k] + sync[k] <= whole + 0.002  # each figure rounded to 1 ms
    rest = float(re.search(r"the rest \(commit, logs\)\s+(-?\d+\.\d{3}) s", out).group(1))
    assert rest >= 0
    per_meter = float(re.search(r"memory per meter\s+(\d+) B", out).group(1))
    assert 0 < per_meter < 100_000


def test_shards_ticking_side_by_side_change_the_alerts_one_monitor_changes(capsys):
    tick.main(["--meters", "300"])
    whole = capsys.readouterr().out
    tick.main(["--meters", "300", "--shards", "2"])
    sharded = capsys.readouterr().out
    assert sharded.startswith("300 meters in 2 shards, a process each; ")
    one = re.search(r"alerts raised \+ resolved: ([\d,]+), ([\d,]+), ([\d,]+)", whole).groups()
    ticks = re.findall(r"tick \d: slowest shard (\d+\.\d{3}) s wall \(shards (\d+\.\d{3}), (\d+\.\d{3}) s\); "
                       r"alerts raised \+ resolved: ([\d,]+)", sharded)
    assert len(ticks) == 3 and any(changed != "0" for *_, changed in ticks)
    assert [changed for *_, changed in ticks] == list(one)
    for slowest, first, second, _ in ticks:
        assert float(slowest) == max(float(first), float(second))
    per_meter = float(re.search(r"memory per meter\s+(\d+) B", sharded).group(1))
    assert 0 < per_meter < 100_000


def test_with_the_alerts_in_postgresql_the_ticks_change_the_alerts_they_change_in_sqlite(capsys, monkeypatch):
    from sqlalchemy import create_engine

    from tests import servers

    def databases() -> set[str]:
        engine = create_engine(servers.POSTGRES_ADMIN_URL)
        with engine.connect() as conn:
            names = set(conn.exec_driver_sql("SELECT datname FROM pg_database").scalars())
        engine.dispose()
        return names

    alerts_there: list[int] = []
    drop = servers.drop_postgres_database

    def count_then_drop(url: str) -> None:  # what the run left in its database, before it goes
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            alerts_there.append(conn.exec_driver_sql("SELECT count(*) FROM alerts").scalar())
        engine.dispose()
        drop(url)

    monkeypatch.setattr(servers, "drop_postgres_database", count_then_drop)
    changed = r"alerts raised \+ resolved: ([\d,]+), ([\d,]+), ([\d,]+)"
    tick.main(["--meters", "300"])
    in_sqlite = re.search(changed, capsys.readouterr().out).groups()
    before = databases()
    tick.main(["--meters", "300", "--database", "postgresql"])
    one = capsys.readouterr().out
    tick.main(["--meters", "300", "--database", "postgresql", "--shards", "2"])
    sharded = capsys.readouterr().out
    assert "alerts in postgresql" in one and "alerts in postgresql" in sharded
    assert re.search(changed, one).groups() == in_sqlite
    assert tuple(re.findall(r"tick \d: slowest shard .*; alerts raised \+ resolved: ([\d,]+)", sharded)) == in_sqlite
    assert len(alerts_there) == 2 and alerts_there[0] == alerts_there[1] > 0  # the alerts went to PostgreSQL
    assert databases() == before  # each run dropped the database it made
