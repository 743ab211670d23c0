"""The ``anxin`` command line, run as a user would run it."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from api.settings import load_settings
from store.db import Database
from store.sqlite_readings import SqliteReadingsStore

runner = CliRunner()


def anxin(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from api.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=60)


def test_users_create_prints_a_working_token_as_the_last_line(tmp_path, monkeypatch):
    db_url = f"sqlite:///{tmp_path}/anxin.db"
    env = {"ANXIN_DATABASE_URL": db_url, "ANXIN_READINGS_URL": db_url, "PATH": "/usr/bin:/bin"}
    assert anxin("communities", "create", "东湖社区", env=env).returncode == 0
    result = anxin("users", "create", "li-wei", "--role", "cadre", "--community", "东湖社区", env=env)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    db = Database(db_url)
    settings = load_settings(database_url=db_url, readings_url=db_url)
    api = TestClient(create_app(settings=settings, db=db, readings=SqliteReadingsStore.from_url(db_url)))
    assert api.get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with db.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT token_hash FROM users").scalar_one()
    assert token not in stored  # only the hash is kept
    again = anxin("users", "create", "li-wei", "--role", "cadre", "--community", "东湖社区", env=env)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_users_create_asks_for_a_community_and_a_password(tmp_path, monkeypatch):
    from store.users import user_for_password

    db_url = f"sqlite:///{tmp_path}/anxin.db"
    monkeypatch.setenv("ANXIN_DATABASE_URL", db_url)
    monkeypatch.setenv("ANXIN_READINGS_URL", db_url)
    refused = runner.invoke(cli, ["users", "create", "wang", "--role", "secretary"])
    assert refused.exit_code == 2 and "--community" in refused.output
    unknown = runner.invoke(cli, ["users", "create", "wang", "--role", "secretary", "--community", "西湖"])
    assert unknown.exit_code == 1 and "anxin communities create" in unknown.output
    assert runner.invoke(cli, ["communities", "create", "西湖"]).exit_code == 0
    assert runner.invoke(cli, ["communities", "create", "西湖"]).exit_code == 1  # the name is taken
    made = runner.invoke(cli, ["users", "create", "wang", "--role", "secretary", "--community", "西湖", "--password"],
                         input="s3cret-pass\ns3cret-pass\n")
    assert made.exit_code == 0, made.output
    assert "s3cret-pass" not in made.output  # the prompt hides it
    assert runner.invoke(cli, ["users", "create", "ana", "--role", "analyst"]).exit_code == 0  # every community
    db = Database(db_url)
    with db.session() as session:
        user = user_for_password(session, "wang", "s3cret-pass")
        assert user is not None and user.community_id is not None
    db.dispose()


def test_users_create_refuses_an_unknown_role(tmp_path):
    result = runner.invoke(cli, ["users", "create", "x", "--role", "mayor"])
    assert result.exit_code == 2
    assert "cadre" in result.output  # it lists the roles that exist


def test_bad_settings_say_what_to_change(tmp_path):
    env = {"ANXIN_MQTT_URL": "http://broker:1883", "PATH": "/usr/bin:/bin"}
    result = anxin("db", "upgrade", env=env)
    assert result.returncode == 2
    assert "mqtt://" in result.stderr


def test_simulate_then_backtest_writes_the_documented_columns(tmp_path):
    readings, alerts = tmp_path / "readings.csv", tmp_path / "alerts.csv"
    result = runner.invoke(cli, ["simulate", "--out", str(readings), "--households", "3", "--days", "2",
                                 "--start", "2026-01-05T00:00:00+08:00", "--incident", "still:m0001:10"])
    assert result.exit_code == 0, result.output
    assert list(pd.read_csv(readings).columns[:3]) == ["meter_id", "ts", "total_l"]
    result = runner.invoke(cli, ["backtest", "--readings", str(readings), "--out", str(alerts),
                                 "--timezone", "Europe/Rome"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(alerts)
    assert list(frame.columns) == ["meter_id", "kind", "severity", "started_at", "raised_at", "ended_at"]
    still = frame[frame["meter_id"] == "m0001"]
    assert still["kind"].tolist() == ["inactivity"]
    assert still["started_at"].iloc[0].endswith("+01:00")  # the requested timezone


def test_backtest_in_worker_processes_writes_the_same_alerts(tmp_path):
    readings = tmp_path / "readings.csv"
    result = runner.invoke(cli, ["simulate", "--out", str(readings), "--households", "6", "--days", "20",
                                 "--start", "2026-01-05T00:00:00+08:00", "--incident", "still:m0002:150",
                                 "--incident", "still:m0005:300"])
    assert result.exit_code == 0, result.output
    written = []
    for jobs in ("1", "3"):
        out = tmp_path / f"alerts-{jobs}.csv"
        result = runner.invoke(cli, ["backtest", "--readings", str(readings), "--out", str(out), "--jobs", jobs])
        assert result.exit_code == 0, result.output
        written.append(out.read_text())
    assert {"m0002", "m0005"} <= set(pd.read_csv(tmp_path / "alerts-3.csv")["meter_id"])
    assert written[0] == written[1]


def test_backtest_reports_a_bad_csv_clearly(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("meter,when,litres\na,2026-01-01T00:00:00Z,1\n")
    result = runner.invoke(cli, ["backtest", "--readings", str(bad), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert "meter_id,ts,total_l" in result.output


def test_backtest_config_file_sets_the_ceiling(tmp_path):
    readings = tmp_path / "readings.csv"
    pd.DataFrame({"meter_id": ["m"] * 11, "ts": [f"2026-01-01T{h:02d}:00:00+08:00" for h in range(11)],
                  "total_l": [0.0] + [5.0] * 10}).to_csv(readings, index=False)
    config = tmp_path / "anxin.toml"
    config.write_text("[detect]\ninactivity_hours = 8\n")
    out = tmp_path / "alerts.csv"
    assert runner.invoke(cli, ["backtest", "--readings", str(readings), "--out", str(out)]).exit_code == 0
    assert pd.read_csv(out).query("kind == 'inactivity'").empty
    assert runner.invoke(cli, ["backtest", "--readings", str(readings), "--out", str(out),
                               "--config", str(config)]).exit_code == 0
    assert pd.read_csv(out).query("kind == 'inactivity'")["raised_at"].tolist() == ["2026-01-01T09:00:00+08:00"]


def test_backtest_away_windows_suppress_inactivity_inside_them(tmp_path):
    readings, away, out = tmp_path / "readings.csv", tmp_path / "away.csv", tmp_path / "alerts.csv"
    pd.DataFrame({"meter_id": ["m"] * 15, "ts": [f"2026-01-01T{h:02d}:00:00+08:00" for h in range(15)],
                  "total_l": [0.0] + [5.0] * 14}).to_csv(readings, index=False)
    assert runner.invoke(cli, ["backtest", "--readings", str(readings), "--out", str(out)]).exit_code == 0
    assert pd.read_csv(out)["kind"].tolist() == ["inactivity"]
    away.write_text("meter_id,start,end\nm,2026-01-01T00:00:00+08:00,2026-01-02T00:00:00+08:00\n")
    result = runner.invoke(cli, ["backtest", "--readings", str(readings), "--out", str(out), "--away", str(away)])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out).empty


def test_backtest_refuses_a_bad_away_csv_and_says_why(tmp_path):
    readings, away = tmp_path / "readings.csv", tmp_path / "away.csv"
    pd.DataFrame({"meter_id": ["m"], "ts": ["2026-01-01T00:00:00+08:00"], "total_l": [0.0]}).to_csv(readings,
                                                                                                   index=False)
    away.write_text("meter_id,start,end\nm,2026-01-01T00:00:00,2026-01-02T00:00:00+08:00\n")
    result = runner.invoke(cli, ["backtest", "--readings", str(readings), "--out", str(tmp_path / "o.csv"),
                                 "--away", str(away)])
    assert result.exit_code == 2
    assert "needs a UTC offset" in result.output


def test_simulate_publish_sends_every_reading_to_the_broker(mosquitto, tmp_path):
    from tests.ingest.harness import InProcessIngester, ingest_settings, wait_until

    settings = ingest_settings(mosquitto.url, tmp_path)
    with InProcessIngester(settings) as ingester:
        env = {"ANXIN_MQTT_URL": mosquitto.url, "PATH": "/usr/bin:/bin"}
        result = anxin("simulate", "--publish", "--out", str(tmp_path / "sent.csv"), "--households", "3",
                       "--days", "0.25", "--speed", "100000", env=env)
        assert result.returncode == 0, result.stderr
        sent = pd.read_csv(tmp_path / "sent.csv")
        assert result.stdout.strip().endswith(f"published {len(sent)} messages")
        wait_until(lambda: len(ingester.stores.readings.read()) == len(sent), what="every published reading")
