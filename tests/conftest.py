"""Fixtures: real mosquitto and influxd on free loopback ports, one pair per test session.

Each test gets its own database and its own topic root, so tests share the two
servers without seeing each other's data. Where a binary is missing the tests
that need it skip, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest import compiled
from ingest.service import Ingester
from ops import stack
from urbanpulse.settings import IngestSettings


def pytest_sessionstart(session: pytest.Session) -> None:
    """Refuse to test compiled modules older than their source, or (under CI) none at all."""
    if stale := compiled.stale():
        pytest.exit(f"The source of {', '.join(stale)} is newer than its compiled module, so "
                    "the tests would run the old code: run `make install` to compile again "
                    "(or delete the .so files to run the source).", returncode=4)
    if os.environ.get("CI") == "true" and (plain := compiled.interpreted()):
        pytest.exit(f"CI=true, but {', '.join(plain)} run as Python: the install did not "
                    "compile them (setup.py), so CI would not test what the image runs.",
                    returncode=4)


def _require(start: Any, *args: Any, **options: Any) -> Any:
    try:
        server = start(*args, **options)
    except stack.MissingBinaryError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and a server is missing: {exc}")
        pytest.skip(str(exc))
    return server


@pytest.fixture(scope="session")
def server_binaries() -> None:
    """Skip (or under CI=true fail) when mosquitto or influxd is not installed."""
    for name, package in (("mosquitto", "mosquitto"), ("influxd", "influxdb")):
        _require(stack.find_binary, name, package)


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stack.Server]:
    """A mosquitto broker for the whole session."""
    server = _require(stack.start_mosquitto, tmp_path_factory.mktemp("mosquitto"),
                      stack.free_port())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stack.Server]:
    """An InfluxDB 1.x server for the whole session."""
    server = _require(stack.start_influxd, tmp_path_factory.mktemp("influxd"),
                      stack.free_port(), stack.free_port())
    yield server
    server.stop()


@pytest.fixture
def influx_db(influxd: stack.Server) -> Iterator[str]:
    """A fresh database on the session's InfluxDB, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    stack.create_database(influxd.url, name)
    yield name
    httpx.post(f"{influxd.url}/query", data={"q": f'DROP DATABASE "{name}"'})


@pytest.fixture
def topic_root() -> str:
    """A topic root no other test uses."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def service_env(mosquitto: stack.Server, influxd: stack.Server, influx_db: str,
                topic_root: str, tmp_path: Path) -> dict[str, str]:
    """Environment for running services as subprocesses against the test servers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("URBANPULSE_")}
    env.update({
        "URBANPULSE_MQTT_HOST": "127.0.0.1",
        "URBANPULSE_MQTT_PORT": str(mosquitto.port),
        "URBANPULSE_TOPIC_ROOT": topic_root,
        "URBANPULSE_INFLUX_URL": influxd.url,
        "URBANPULSE_INFLUX_DB": influx_db,
    })
    return env


def influx_query(url: str, db: str, query: str) -> list[dict[str, Any]]:
    """Run an InfluxQL query and return its series (empty list when there are none)."""
    response = httpx.post(f"{url}/query", data={"db": db, "q": query, "epoch": "ms"}, timeout=30)
    response.raise_for_status()
    result = response.json()["results"][0]
    assert "error" not in result, result["error"]
    series: list[dict[str, Any]] = result.get("series", [])
    return series


def influx_rows(url: str, db: str, query: str) -> list[dict[str, Any]]:
    """Run an InfluxQL query and return its rows as dicts, tags merged in."""
    rows = []
    for series in influx_query(url, db, query):
        tags = series.get("tags", {})
        for values in series["values"]:
            rows.append({**tags, **dict(zip(series["columns"], values, strict=True))})
    return rows


@pytest.fixture
def ingest_settings(mosquitto: stack.Server, influxd: stack.Server, influx_db: str,
                    topic_root: str) -> IngestSettings:
    """Ingester settings pointing at the test servers, with short flush and rollup periods."""
    return IngestSettings(
        mqtt_host="127.0.0.1", mqtt_port=mosquitto.port, topic_root=topic_root,
        influx_url=influxd.url, influx_db=influx_db, ingest_client_id=f"ingest-{topic_root}",
        ingest_flush_interval_s=0.05, ingest_drain_timeout_s=10,
        ingest_rollup_interval_s=0.5, ingest_rollup_hour_interval_s=0.5,
    )


@pytest.fixture
async def ingester(ingest_settings: IngestSettings) -> AsyncIterator[Ingester]:
    """An ingester running in the test's event loop, subscribed before the test starts."""
    stop = asyncio.Event()
    running = Ingester(ingest_settings)
    task = asyncio.create_task(running.run(stop))
    await asyncio.wait_for(running.subscribed.wait(), 10)
    yield running
    stop.set()
    await asyncio.wait_for(task, 30)


class Recorder:
    """A paho-mqtt subscriber that records (topic, payload) of what it receives."""

    def __init__(self, port: int, topic_filter: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                   client_id=f"rec-{uuid.uuid4().hex[:8]}")
        self._client.on_message = lambda client, userdata, msg: self.messages.append(
            (msg.topic, bytes(msg.payload)))
        subscribed = threading.Event()
        self._client.on_subscribe = lambda *args: subscribed.set()
        self._client.connect("127.0.0.1", port)
        self._client.subscribe(topic_filter, qos=1)
        self._client.loop_start()
        assert subscribed.wait(10), "subscription not acknowledged"

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def publish_all(port: int, messages: list[tuple[str, bytes]], *, retain: bool = False) -> None:
    """Publish each message at QoS 1 with paho-mqtt and wait until all are acknowledged."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2,
                         client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(topic, payload, qos=1, retain=retain) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(30)
    client.loop_stop()
    client.disconnect()


async def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll `predicate` until it holds, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
