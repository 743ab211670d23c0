"""The daily digest: at 08:00 local, "all quiet" or the list of what needs attention; once a day."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.notify.runner import Notifier
from store.alerts import Episode, sync_episodes
from store.models import AlertKind
from tests.api.notify.conftest import MINUTE, T0, add_channel, build_site

EIGHT = T0 + timedelta(hours=6)  # 08:00 in Shanghai


@pytest.fixture
def site(sqlite_db, receiver):
    site = build_site(sqlite_db)
    for name in ("cadre", "other_cadre", "secretary"):
        add_channel(sqlite_db, getattr(site, name), f"{receiver.url}/{name}")
    return site


def raise_(db, meter_id, kind, severity, *, hours_ago):
    started = T0 - timedelta(hours=hours_ago)
    with db.session() as session:
        sync_episodes(session, kind=kind, episodes=[
            Episode(meter_id=meter_id, kind=kind, severity=severity, started_at=started, raised_at=started)
        ], now=started)


def digests(receiver, path):
    return [r.body for r in receiver.to(path) if r.body["event"] == "digest"]


def test_at_eight_the_quiet_cadre_hears_all_is_well_and_the_other_her_list_once_a_day(
    sqlite_db, site, receiver, clock, notify_settings
):
    raise_(sqlite_db, "m-dong", AlertKind.unusual_pattern, "info", hours_ago=20)
    raise_(sqlite_db, "m-dong", AlertKind.meter_offline, "warning", hours_ago=3)
    notifier = Notifier(db=sqlite_db, settings=notify_settings, clock=clock)
    clock.now = EIGHT - MINUTE
    notifier.tick()
    assert digests(receiver, "/cadre") == digests(receiver, "/other_cadre") == []

    clock.now = EIGHT
    notifier.tick()
    (quiet,) = digests(receiver, "/other_cadre")
    assert quiet["alerts"] == [] and "一切安好" in quiet["text"]
    (busy,) = digests(receiver, "/cadre")
    # The most severe first.
    assert [(a["kind"], a["household"]) for a in busy["alerts"]] == [
        ("meter_offline", "3号楼 2-502"), ("unusual_pattern", "3号楼 2-502")]
    assert "2 条告警待处理" in busy["text"]
    assert digests(receiver, "/secretary") == []  # the digest is the cadres'

    for _ in range(6):  # the rest of the morning: no second digest
        clock.advance(30 * MINUTE)
        notifier.tick()
    assert len(digests(receiver, "/cadre")) == len(digests(receiver, "/other_cadre")) == 1

    clock.now = EIGHT + timedelta(days=1)  # the next morning, again
    notifier.tick()
    assert len(digests(receiver, "/cadre")) == len(digests(receiver, "/other_cadre")) == 2
