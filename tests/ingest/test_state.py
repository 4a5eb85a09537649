"""The per-district state message: latest reading of each sensor, signed, retained, seeded.

A real `urbanpulse ingest` publishes it; after a SIGKILL and a restart the first
message of a district again holds every sensor, read back from InfluxDB.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.latest import LatestState
from ops import stack
from tests.conftest import Recorder, influx_rows, publish_all, wait_until
from tests.ingest.processes import Closer, IngestProcess, Message, ingest_env
from urbanpulse.messages import (
    DistrictState,
    Reading,
    SensorState,
    district_state_decoder,
    encoder,
)
from urbanpulse.signing import is_signed_state
from urbanpulse.topics import state_subscription, state_topic

ALERT_KEY = "alert-key-state-7c41d09e2b"


@pytest.fixture
def closing() -> Iterator[Closer]:
    """Register processes and clients to close (kill) at teardown, last first."""
    closer = Closer()
    yield closer
    closer.close_all()


def _reading(root: str, district: str, kind: str, sensor: str, ts: int, seq: int,
             values: dict[str, float]) -> Message:
    body = {"v": 1, "sensor": sensor, "kind": kind, "district": district, "ts": ts, "seq": seq,
            "values": values}
    return f"{root}/readings/{district}/{kind}/{sensor}", json.dumps(body).encode()


def _started(mosquitto: stack.Server, influxd: stack.Server, influx_db: str, topic_root: str,
             tmp_path: Path, closing: Closer, **settings: float) -> IngestProcess:
    """Start an ingester with the alert key and `settings`, killed at teardown."""
    env = ingest_env(mqtt_port=mosquitto.port, influx_url=influxd.url, influx_db=influx_db,
                     root=topic_root, alert_key=ALERT_KEY, **settings)
    ingest = closing(IngestProcess(env, tmp_path, mosquitto.port))
    ingest.start()
    return ingest


def _latest(recorder: Recorder, topic: str) -> DistrictState | None:
    found = [payload for name, payload in recorder.messages if name == topic]
    return district_state_decoder.decode(found[-1]) if found else None


async def test_state_holds_each_sensors_latest_reading_signed_and_survives_a_restart(
        mosquitto: stack.Server, influxd: stack.Server, influx_db: str, topic_root: str,
        tmp_path: Path, closing: Closer) -> None:
    ingest = _started(mosquitto, influxd, influx_db, topic_root, tmp_path, closing,
                      ingest_state_interval_s=0.2)
    states = closing(Recorder(mosquitto.port, state_subscription(root=topic_root)))
    now = int(time.time() * 1000)
    air = {"pm25": 80.0, "pm10": 60.0, "no2": 40.0, "so2": 10.0, "co": 0.8, "o3": 80.0}
    publish_all(mosquitto.port, [
        _reading(topic_root, "pudong", "air", "air-pudong-0001", now - 2_000, 1, air),
        _reading(topic_root, "pudong", "air", "air-pudong-0001", now - 60_000, 0,
                 {**air, "pm25": 10.0}),  # older: arrives late, must not win
        _reading(topic_root, "pudong", "air", "air-pudong-0002", now - 1_000, 7,
                 {**air, "pm25": 20.0}),
        _reading(topic_root, "huangpu", "noise", "noise-huangpu-0001", now - 1_000, 3,
                 {"laeq": 55.0})])
    pudong, huangpu = state_topic("pudong", root=topic_root), state_topic("huangpu",
                                                                          root=topic_root)

    def complete() -> bool:
        state = _latest(states, pudong)
        return (state is not None and len(state.sensors.get("air", {})) == 2
                and _latest(states, huangpu) is not None)

    await wait_until(complete, 30)
    state = _latest(states, pudong)
    assert state is not None
    assert is_signed_state(state, ALERT_KEY.encode())
    assert state.district == "pudong"
    first = state.sensors["air"]["air-pudong-0001"]
    assert (first.ts, first.seq, first.values["pm25"]) == (now - 2_000, 1, 80.0)
    assert first.values["aqi"] == 107, "derived fields are in the state"
    noise = _latest(states, huangpu)
    assert noise is not None
    assert noise.sensors == {"noise": {"noise-huangpu-0001": noise.sensors["noise"][
        "noise-huangpu-0001"]}}
    assert noise.sensors["noise"]["noise-huangpu-0001"].values == {"laeq": 55.0}

    ingest.kill()
    ingest.start()
    before = len(states.messages)
    publish_all(mosquitto.port, [_reading(topic_root, "pudong", "air", "air-pudong-0003",
                                          now, 1, air)])
    await wait_until(lambda: any(name == pudong for name, _ in states.messages[before:]), 30)
    after = [district_state_decoder.decode(payload) for name, payload in states.messages[before:]
             if name == pudong]
    assert set(after[0].sensors["air"]) >= {"air-pudong-0001", "air-pudong-0002"}, (
        "the first message after a restart is complete")
    assert after[0].sensors["air"]["air-pudong-0001"] == first, "seeded from InfluxDB"

    def new_sensor_in() -> DistrictState | None:
        found = [state for name, payload in states.messages[before:] if name == pudong
                 and "air-pudong-0003" in (state := district_state_decoder.decode(
                     payload)).sensors.get("air", {})]
        return found[0] if found else None

    await wait_until(lambda: new_sensor_in() is not None, 30)
    restarted = new_sensor_in()
    assert restarted is not None
    assert is_signed_state(restarted, ALERT_KEY.encode())
    assert set(restarted.sensors["air"]) == {"air-pudong-0001", "air-pudong-0002",
                                             "air-pudong-0003"}

    late = closing(Recorder(mosquitto.port, state_subscription(root=topic_root)))
    await wait_until(lambda: {name for name, _ in late.messages} == {pudong, huangpu}, 10)
    retained = _latest(late, pudong)
    assert retained is not None
    assert set(retained.sensors["air"]) == set(restarted.sensors["air"])
    await asyncio.to_thread(ingest.terminate, 60)


def test_a_state_built_from_cached_pieces_is_the_struct_encoded_whole_and_signed() -> None:
    latest = LatestState(root="city", key=ALERT_KEY.encode())
    readings = [Reading(v=1, sensor=f"air-pudong-000{n}", kind="air", district="pudong",
                        ts=1_000 + n, seq=n, values={"pm25": 1.5 * n}) for n in range(3)]
    latest.written([*readings, None], [{"aqi": 3}, {}, {}, None])
    latest.messages(10)
    newer = Reading(v=1, sensor="air-pudong-0001", kind="air", district="pudong", ts=2_000,
                    seq=9, values={"pm25": 7.0})
    latest.written([newer, readings[2]], [{}, {}])  # the older reading again changes nothing
    [(topic, payload)] = latest.messages(20)
    state = district_state_decoder.decode(payload)
    assert topic == "city/state/pudong"
    assert encoder.encode(state) == payload, "byte for byte what the shared encoder writes"
    assert is_signed_state(state, ALERT_KEY.encode())
    assert state.sensors["air"]["air-pudong-0001"] == SensorState(ts=2_000, seq=9,
                                                                  values={"pm25": 7.0})
    assert state.sensors["air"]["air-pudong-0000"].values == {"pm25": 0.0, "aqi": 3}
    assert latest.messages(30) == [], "nothing changed since"


async def test_the_snapshots_running_totals_of_rises_go_on_after_a_restart(
        mosquitto: stack.Server, influxd: stack.Server, influx_db: str, topic_root: str,
        tmp_path: Path, closing: Closer) -> None:
    ingest = _started(mosquitto, influxd, influx_db, topic_root, tmp_path, closing,
                      ingest_now_interval_s=0.2)
    now = int(time.time() * 1000)
    register = "total_active_energy_import"

    def meter(ts: int, seq: int, value: float) -> Message:
        return _reading(topic_root, "pudong", "energy", "energy-pudong-0001", ts, seq,
                        {register: value, "total_active_power": 40.0})

    def rise() -> float | None:
        rows = influx_rows(influxd.url, influx_db, f'SELECT last("{register}_rise") '
                           'FROM "energy_now"')
        return rows[0]["last"] if rows else None

    publish_all(mosquitto.port, [meter(now - 3_000, 1, 1_000.0), meter(now - 2_000, 2, 1_010.0)])
    await wait_until(lambda: rise() == 10.0, 30)

    ingest.kill()
    ingest.start()
    publish_all(mosquitto.port, [meter(now - 1_000, 3, 1_012.5)])
    await wait_until(lambda: rise() == 12.5, 30)  # from 10, and the register seeded at 1,010
