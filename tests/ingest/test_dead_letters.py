"""Bad device data through a real broker: dead-lettered with its reason, nothing of it written."""

from __future__ import annotations

import json
import time

import httpx

from ingest.service import Ingester
from ops import stack
from tests.conftest import Recorder, influx_rows, publish_all, wait_until
from tests.ingest.test_decode import BAD_INPUTS, EXPECTED
from urbanpulse.messages import rejection_decoder


async def test_bad_input_is_dead_lettered_and_good_input_written(
        ingester: Ingester, mosquitto: stack.Server, influxd: stack.Server, influx_db: str,
        topic_root: str) -> None:
    now = int(time.time() * 1000)
    rejected = Recorder(mosquitto.port, f"{topic_root}/rejected/#")
    # A topic outside the grammar never matches the ingester's subscription (unit-tested).
    cases = [case for case in BAD_INPUTS if case[0] != "bad-topic"]
    bad = []
    for case, topic, payload in cases:
        sent = payload
        if case in ("future", "stale"):  # re-base the window on the real clock
            reading = json.loads(payload)
            reading["ts"] = now + 3_600_000 if case == "future" else now - 40 * 86_400_000
            sent = json.dumps(reading).encode()
        if case == "oversize":
            sent = payload.replace(b'"pad": "', b'"pad": "' + b"x" * 20_000)
        bad.append((topic.replace("city/", f"{topic_root}/", 1), sent))
    good = [(f"{topic_root}/readings/pudong/air/air-pudong-{n:04d}",
             json.dumps({"v": 1, "sensor": f"air-pudong-{n:04d}", "kind": "air",
                         "district": "pudong", "ts": now, "seq": n,
                         "values": {"pm25": float(n)}}).encode()) for n in range(5)]
    publish_all(mosquitto.port, good[:2] + bad + good[2:])

    await wait_until(lambda: len(rejected.messages) >= len(bad))
    await wait_until(lambda: ingester.pipeline.stats.written >= len(good))
    rejected.close()

    reasons = []
    for topic, payload in rejected.messages:
        dead = rejection_decoder.decode(payload)
        assert topic == f"{topic_root}/rejected/{dead.reason}"
        reasons.append((dead.topic, dead.reason))
    expected = [(topic, EXPECTED[case]) for (case, _, _), (topic, _) in zip(
        cases, bad, strict=True)]
    assert sorted(reasons) == sorted(expected)
    assert ingester.pipeline.stats.rejected.total() == len(bad)

    rows = influx_rows(influxd.url, influx_db, "SELECT * FROM air")
    assert sorted((row["sensor"], row["seq"]) for row in rows) == [
        (f"air-pudong-{n:04d}", n) for n in range(5)]


async def test_points_influxdb_refuses_are_isolated_and_dead_lettered(
        ingester: Ingester, mosquitto: stack.Server, influxd: stack.Server, influx_db: str,
        topic_root: str) -> None:
    now = int(time.time() * 1000)
    # An integer field `pm25` makes every later float pm25 point a field-type conflict.
    conflict = httpx.post(f"{influxd.url}/write?db={influx_db}&precision=ms",
                          content=f"air,district=pudong,sensor=air-pudong-0009 pm25=1i {now}")
    assert conflict.status_code == 204
    rejected = Recorder(mosquitto.port, f"{topic_root}/rejected/#")
    messages = [(f"{topic_root}/readings/pudong/{kind}/{kind}-pudong-0009",
                 json.dumps({"v": 1, "sensor": f"{kind}-pudong-0009", "kind": kind,
                             "district": "pudong", "ts": now, "seq": 1,
                             "values": values}).encode())
                for kind, values in (("noise", {"laeq": 55.0}), ("air", {"pm25": 12.5}),
                                     ("water", {"ph": 7.2}))]
    publish_all(mosquitto.port, messages)
    await wait_until(lambda: len(rejected.messages) >= 1 and
                     ingester.pipeline.stats.written >= 2)
    rejected.close()
    assert len(rejected.messages) == 1
    dead = rejection_decoder.decode(rejected.messages[0][1])
    assert dead.reason == "influx-rejected"
    assert dead.topic.endswith("/air/air-pudong-0009")
    assert "conflict" in dead.detail
    assert len(influx_rows(influxd.url, influx_db, "SELECT laeq FROM noise")) == 1
    assert len(influx_rows(influxd.url, influx_db, "SELECT ph FROM water")) == 1
