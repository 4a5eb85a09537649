"""Fixtures: real mosquitto and influxd on free loopback ports, one pair per test session.

Each test gets its own database and its own topic root, so tests share the two
servers without seeing each other's data. Where a binary is missing the tests
that need it skip, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from urbanpulse import stack


def _require(start: Any, *args: Any) -> stack.Server:
    try:
        server: stack.Server = start(*args)
    except stack.MissingBinaryError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and a server is missing: {exc}")
        pytest.skip(str(exc))
    return server


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
