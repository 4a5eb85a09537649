"""The whole pipeline on real servers: simulator → mosquitto → ingest → InfluxDB → api.

The simulator runs twice with the same seed and start: once to a JSONL file,
which is what it would publish, and once to the broker. Every (sensor, seq) of
the file must be in InfluxDB exactly once, and the api must return each
sensor's last published values.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.main import create_app
from ops import stack
from tests.conftest import influx_query, influx_rows
from urbanpulse.kinds import KINDS
from urbanpulse.settings import ApiSettings

SIM_FLAGS = ["--seed", "11", "--scale", "0.3", "--duration", "1800", "--speed", "0"]


def _urbanpulse(*args: str, env: dict[str, str], **kwargs: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "ops", "--log-level", "WARNING",
                             *args], env=env, **kwargs)


@pytest.fixture
def running_ingest(service_env: dict[str, str], tmp_path: Path) -> Iterator[None]:
    alive = tmp_path / "ingest.alive"
    env = {**service_env, "URBANPULSE_INGEST_HEALTH_FILE": str(alive),
           "URBANPULSE_INGEST_METRICS_INTERVAL_S": "0.2",
           "URBANPULSE_INGEST_CLIENT_ID": f"e2e-{service_env['URBANPULSE_TOPIC_ROOT']}"}
    process = _urbanpulse("ingest", env=env)
    deadline = time.monotonic() + 20
    while not alive.exists():
        assert process.poll() is None, "ingest exited at start-up"
        assert time.monotonic() < deadline, "ingest did not subscribe in time"
        time.sleep(0.05)
    yield
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0


async def test_every_published_reading_lands_once_and_the_api_serves_the_latest(
        running_ingest: None, service_env: dict[str, str], influxd: stack.Server,
        influx_db: str, tmp_path: Path) -> None:
    start = datetime.fromtimestamp(int(time.time()) // 60 * 60 - 3600, UTC).isoformat()
    expected_file = tmp_path / "expected.jsonl"
    dry = _urbanpulse("sim", *SIM_FLAGS, "--start", start, "--output",
                      f"jsonl:{expected_file}", env=service_env)
    assert dry.wait(120) == 0
    published: dict[tuple[str, int], dict[str, float]] = {}
    latest: dict[str, tuple[int, dict[str, float]]] = {}
    births = 0
    kind_of: dict[str, str] = {}
    for line in expected_file.read_text().splitlines():
        message = json.loads(line)
        payload = message["payload"]
        if message["retain"]:
            births += 1
            continue
        published[payload["sensor"], payload["seq"]] = payload["values"]
        kind_of[payload["sensor"]] = payload["kind"]
        if payload["ts"] >= latest.get(payload["sensor"], (-1, {}))[0]:
            latest[payload["sensor"]] = (payload["ts"], payload["values"])
    assert births > 0
    assert len(published) > 300
    # every registered kind publishes, under sensor ids that start with its name
    assert set(kind_of.values()) == set(KINDS)
    assert all(sensor.startswith(f"{kind}-") for sensor, kind in kind_of.items())

    sim = _urbanpulse("sim", *SIM_FLAGS, "--start", start, env=service_env)
    assert sim.wait(120) == 0

    kinds = "|".join(KINDS)
    query = f'SELECT "seq" FROM /^({kinds})$/ GROUP BY "sensor"'
    deadline = time.monotonic() + 60
    rows = influx_rows(influxd.url, influx_db, query)
    while len(rows) < len(published) and time.monotonic() < deadline:
        time.sleep(0.5)
        rows = influx_rows(influxd.url, influx_db, query)
    landed = [(row["sensor"], row["seq"]) for row in rows]
    assert len(landed) == len(set(landed)), "a seq landed under two timestamps"
    assert set(landed) == set(published)
    # InfluxDB would merge a duplicate write silently; the ingester's own counters would not.
    counters = 'SELECT last("received"), last("written"), last("rejected") FROM "pipeline"'
    expected_counts = [len(published) + births, len(published) + births, 0]
    deadline = time.monotonic() + 30
    while (counts := influx_query(influxd.url, influx_db, counters)[0]["values"][0][1:]) \
            != expected_counts and time.monotonic() < deadline:
        time.sleep(0.2)
    assert counts == expected_counts
    sensors = influx_rows(influxd.url, influx_db, 'SELECT "lat" FROM "sensors" GROUP BY "sensor"')
    assert len(sensors) == births == len(latest)

    settings = ApiSettings(mqtt_host="127.0.0.1", mqtt_port=int(service_env[
        "URBANPULSE_MQTT_PORT"]), influx_url=influxd.url, influx_db=influx_db)
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        for sensor, (ts, values) in sorted(latest.items())[::7]:
            response = await client.get(f"/v1/sensors/{sensor}")
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["latest"]["ts"] == ts
            assert body["latest"]["values"] == pytest.approx(values)
