"""Scale-out: two ingesters share one MQTT 5 subscription ($share/anxin/...) into one InfluxDB."""

from __future__ import annotations

import json
import time

from store.influx_readings import InfluxReadingsStore
from tests.ingest.harness import InProcessIngester, ingest_settings, publish_all, publisher, wait_until

SHARED_TOPIC = "$share/anxin/meters/+/readings"


def test_two_ingesters_share_the_stream_without_loss_or_duplication(mosquitto, influx_url, tmp_path):
    ingesters = []
    for name in ("a", "b"):  # each its own client id (its own session) and its own dead-letter file
        (tmp_path / name).mkdir()
        settings = ingest_settings(mosquitto.url, tmp_path / name, client_id=f"anxin-{name}",
                                   readings_url=influx_url, mqtt_topic=SHARED_TOPIC)
        ingesters.append(InProcessIngester(settings).start())
    store = InfluxReadingsStore.from_url(influx_url)
    try:
        start = int(time.time()) - 86_400
        published = {(f"m{i % 50:02d}", (start + i) * 1000, float(i)) for i in range(3000)}
        publish_all(publisher(mosquitto.port), [
            (f"meters/{meter}/readings", json.dumps({"ts": ts // 1000, "total_l": total}).encode())
            for meter, ts, total in sorted(published, key=lambda p: p[2])
        ])
        wait_until(lambda: sum(i.ingester.counters.messages for i in ingesters) >= 3000, timeout_s=60,
                   what="both ingesters to handle every message")
        shares = [i.ingester.counters.messages for i in ingesters]
        frame = store.read()
    finally:
        for ingester in ingesters:
            ingester.stop()
        store.close()
    stored = list(frame[["meter_id", "ts_ms", "total_l"]].itertuples(index=False, name=None))
    print(f"\nSHARED: published {len(published)}, handled {shares}, stored {len(stored)}")
    assert sum(shares) == 3000, "a message was delivered to both ingesters"
    assert min(shares) > 300, f"the load was not shared: {shares}"
    assert len(stored) == len(set(stored)) and set(stored) == published
