"""``anxin notify --once``, run as an operator would run it."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from store.alerts import Episode, sync_episodes
from store.db import Database
from tests.api.notify.conftest import add_channel, build_site


def test_notify_once_sends_the_new_alert_to_the_cadre(tmp_path, receiver):
    db_url = f"sqlite:///{tmp_path}/anxin.db"
    db = Database(db_url)
    db.migrate()
    site = build_site(db)
    add_channel(db, site.cadre, f"{receiver.url}/wang")
    now = datetime.now(UTC)
    with db.session() as session:
        sync_episodes(session, kind="inactivity", now=now, episodes=[Episode(
            meter_id="m-dong", kind="inactivity", severity="alarm", started_at=now - timedelta(hours=12),
            raised_at=now)])
    db.dispose()
    env = {"ANXIN_DATABASE_URL": db_url, "ANXIN_READINGS_URL": db_url, "PATH": "/usr/bin:/bin",
           "ANXIN_NOTIFY__PUBLIC_URL": "https://anxin.example"}
    result = subprocess.run([sys.executable, "-c", "from api.cli import main; main()", "notify", "--once"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    raised = [r.body for r in receiver.to("/wang") if r.body["event"] == "raised"]
    assert len(raised) == 1 and raised[0]["link"].startswith("https://anxin.example/alerts/")
