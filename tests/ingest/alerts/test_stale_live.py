"""Staleness through real servers: the sweep fires on silence and a reading clears it."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from ingest.service import Ingester
from ops import stack
from tests.conftest import Recorder, publish_all, wait_until
from urbanpulse.messages import alert_decoder
from urbanpulse.settings import IngestSettings

RULES = """rules:
  - name: air-stale
    type: stale
    kind: air
    factor: 2
    severity: low
  - name: air-district-stale
    type: district_stale
    kind: air
    factor: 2
    share: 0.6
    min_sensors: 3
    severity: high
"""


def _birth(root: str, n: int) -> tuple[str, bytes]:
    sensor = f"air-huangpu-{n:04d}"
    return (f"{root}/sensors/huangpu/air/{sensor}", json.dumps({
        "v": 1, "sensor": sensor, "kind": "air", "district": "huangpu", "site": "bund",
        "lat": 31.23, "lon": 121.49, "zone": "2", "interval_s": 1,
        "ts": int(time.time() * 1000)}).encode())


def _reading(root: str, n: int, seq: int) -> tuple[str, bytes]:
    sensor = f"air-huangpu-{n:04d}"
    return (f"{root}/readings/huangpu/air/{sensor}", json.dumps({
        "v": 1, "sensor": sensor, "kind": "air", "district": "huangpu",
        "ts": int(time.time() * 1000), "seq": seq, "values": {"pm25": 20.0}}).encode())


async def test_stale_and_district_stale_fire_and_clear(
        ingest_settings: IngestSettings, mosquitto: stack.Server, topic_root: str,
        tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    watcher = Recorder(mosquitto.port, f"{topic_root}/alerts/#")
    ingester = Ingester(ingest_settings.model_copy(update={"ingest_rules": str(rules)}))
    stop = asyncio.Event()
    task = asyncio.create_task(ingester.run(stop))
    await asyncio.wait_for(ingester.subscribed.wait(), 10)

    def states() -> set[tuple[str, str, str]]:
        return {(a.rule, a.sensor, a.state) for a in
                (alert_decoder.decode(p) for _, p in watcher.messages if p)}

    publish_all(mosquitto.port, [_birth(topic_root, n) for n in range(3)], retain=True)
    publish_all(mosquitto.port, [_reading(topic_root, n, 0) for n in range(3)])
    # Every sensor declared a 1 s interval; silence beyond 2 s makes each one stale.
    await wait_until(lambda: {("air-stale", f"air-huangpu-{n:04d}", "firing")
                              for n in range(3)} <= states()
                     and ("air-district-stale", "district-huangpu", "firing") in states())
    publish_all(mosquitto.port, [_reading(topic_root, n, 1) for n in range(3)])
    await wait_until(lambda: {("air-stale", f"air-huangpu-{n:04d}", "resolved")
                              for n in range(3)} <= states()
                     and ("air-district-stale", "district-huangpu", "resolved") in states())
    stop.set()
    await asyncio.wait_for(task, 20)
    watcher.close()
    publish_all(mosquitto.port, [(topic, b"") for topic, _ in
                                 (_birth(topic_root, n) for n in range(3))], retain=True)
