"""Notifications through real servers: a silent district pages once, its sensors are muted.

`urbanpulse ingest` runs as a child process against the session's mosquitto
and InfluxDB. Four air stations of huangpu fall silent together, and one of
pudong alone: subscribers to the notification topics get one page for the
huangpu outage (listing the four stations it mutes) and one for the lone
pudong station, while every per-sensor alert state is still on
`{root}/alerts/…` and in InfluxDB's `alerts`.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from ops import stack
from tests.conftest import Recorder, influx_rows, publish_all, wait_until
from tests.ingest.processes import IngestProcess, ingest_env
from urbanpulse.messages import Notification, alert_decoder, notification_decoder
from urbanpulse.signing import is_signed_notification
from urbanpulse.topics import alert_subscription, notification_subscription

KEY = "notification-test-key-0123456789"
# The shipped inhibit rule, with a hold short enough for a test: a rules file
# may carry its own `inhibit_rules`.
RULES = """rules:
  - {name: air-stale, type: stale, kind: air, factor: 2, severity: low}
  - {name: air-district-stale, type: district_stale, kind: air, factor: 2, share: 0.6,
     min_sensors: 3, severity: high}
inhibit_rules:
  - name: district-outage
    source: {type: district_stale}
    target: {type: stale}
    equal: [district, kind]
    hold: 3s
"""
STATIONS = [("huangpu", n) for n in range(4)] + [("pudong", 0)]


def _sensor(district: str, n: int) -> str:
    return f"air-{district}-{n:04d}"


def _birth(root: str, district: str, n: int) -> tuple[str, bytes]:
    sensor = _sensor(district, n)
    return (f"{root}/sensors/{district}/air/{sensor}", json.dumps({
        "v": 1, "sensor": sensor, "kind": "air", "district": district, "site": "s",
        "lat": 31.23, "lon": 121.49, "zone": "2", "interval_s": 1,
        "ts": int(time.time() * 1000)}).encode())


def _reading(root: str, district: str, n: int, seq: int = 0) -> tuple[str, bytes]:
    sensor = _sensor(district, n)
    return (f"{root}/readings/{district}/air/{sensor}", json.dumps({
        "v": 1, "sensor": sensor, "kind": "air", "district": district,
        "ts": int(time.time() * 1000), "seq": seq, "values": {"pm25": 20.0}}).encode())


async def test_a_silent_district_pages_once_and_every_alert_state_remains(
        mosquitto: stack.Server, influxd: stack.Server, influx_db: str, topic_root: str,
        tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    env = ingest_env(mqtt_port=mosquitto.port, influx_url=influxd.url, influx_db=influx_db,
                     root=topic_root, ingest_rules=str(rules), alert_key=KEY,
                     ingest_flush_interval_s=0.05, ingest_metrics_interval_s=0.5,
                     ingest_notify_group_wait_s=2, ingest_notify_group_interval_s=5)
    ingest = IngestProcess(env, tmp_path, mosquitto.port)
    pages = Recorder(mosquitto.port, notification_subscription(root=topic_root))
    states = Recorder(mosquitto.port, alert_subscription(root=topic_root))
    births = [_birth(topic_root, district, n) for district, n in STATIONS]
    try:
        ingest.start()
        publish_all(mosquitto.port, births, retain=True)
        publish_all(mosquitto.port, [_reading(topic_root, d, n) for d, n in STATIONS])

        def notifications() -> list[Notification]:
            return [notification_decoder.decode(payload) for _, payload in pages.messages]

        # Silence beyond 2 s makes each station stale, and huangpu's share 4/4.
        await wait_until(lambda: {n.rule for n in notifications()} >= {
            "air-district-stale", "air-stale"}, 30)
        await asyncio.sleep(8)  # past the hold and another group interval: nothing else pages
        sent = notifications()
        assert sorted((n.district, n.rule, n.reason) for n in sent) == [
            ("huangpu", "air-district-stale", "firing"), ("pudong", "air-stale", "firing")]
        assert all(is_signed_notification(n, KEY.encode()) for n in sent)
        assert all(topic == f"{topic_root}/notifications/{n.district}/{n.rule}"
                   for (topic, _), n in zip(pages.messages, sent, strict=True))
        (outage,) = [n for n in sent if n.district == "huangpu"]
        assert [a.sensor for a in outage.alerts] == ["district-huangpu"]
        assert sorted((m.sensor, m.rule, m.inhibit_rule) for m in outage.muted) == [
            (_sensor("huangpu", n), "air-stale", "district-outage") for n in range(4)]
        (lone,) = [n for n in sent if n.district == "pudong"]
        assert [(a.sensor, a.state, a.inhibited_by) for a in lone.alerts] == [
            (_sensor("pudong", 0), "firing", None)]

        # Every per-sensor state is still published, and stored.
        fired = {(a.rule, a.sensor) for a in (alert_decoder.decode(p)
                                               for _, p in states.messages if p)
                 if a.state == "firing"}
        assert fired == {("air-stale", _sensor(d, n)) for d, n in STATIONS} | {
            ("air-district-stale", "district-huangpu")}
        await wait_until(lambda: len(influx_rows(
            influxd.url, influx_db,
            "SELECT \"message\" FROM \"alerts\" WHERE \"state\" = 'firing'")) == 6, 20)
        await wait_until(lambda: any(row.get("notifications_inhibited") == 4 for row in
                                     influx_rows(influxd.url, influx_db,
                                                 'SELECT * FROM "pipeline"')), 20)

        # Back again, each station every half second: the outage pages its resolve, the
        # muted stations nothing.
        deadline = time.monotonic() + 30
        seq = 1
        while len(notifications()) < 4:
            assert time.monotonic() < deadline, f"no resolve pages: {notifications()}"
            await asyncio.to_thread(publish_all, mosquitto.port,
                                    [_reading(topic_root, d, n, seq) for d, n in STATIONS])
            seq += 1
            await asyncio.sleep(0.5)
        assert sorted((n.district, n.rule, n.reason) for n in notifications()[2:]) == [
            ("huangpu", "air-district-stale", "resolved"), ("pudong", "air-stale", "resolved")]
    finally:
        ingest.close()
        pages.close()
        states.close()
        publish_all(mosquitto.port, [(topic, b"") for topic, _ in births], retain=True)
