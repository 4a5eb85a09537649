"""`GET /health` against the real broker and InfluxDB, and against closed ports."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.main import create_app
from api.probes import probe_mqtt
from ops import stack
from tests.api.conftest import closed_url
from tests.conftest import _require
from urbanpulse.settings import ApiSettings, load


async def get_health(settings: ApiSettings) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return await client.get("/health")


async def test_health_is_ok_when_broker_and_influxdb_answer(api: httpx.AsyncClient,
                                                            settings: ApiSettings) -> None:
    response = await api.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["mqtt"] == {"ok": True, "detail": f"MQTT broker at 127.0.0.1:"
                                                  f"{settings.mqtt_port} accepted a connection."}
    assert body["influxdb"]["ok"] is True
    assert "answered /ping with 204" in body["influxdb"]["detail"]


async def test_health_is_degraded_and_503_when_influxdb_is_down(settings: ApiSettings) -> None:
    url = closed_url()

    response = await get_health(settings.model_copy(update={"influx_url": url}))

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["mqtt"]["ok"] is True
    assert body["influxdb"]["ok"] is False
    assert body["influxdb"]["detail"].startswith(f"InfluxDB at {url}/ping is unreachable")


async def test_health_is_degraded_and_503_when_the_broker_is_down(settings: ApiSettings) -> None:
    port = stack.free_port()

    response = await get_health(settings.model_copy(update={"mqtt_port": port}))

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["influxdb"]["ok"] is True
    assert body["mqtt"]["ok"] is False
    assert body["mqtt"]["detail"].startswith(f"MQTT broker at 127.0.0.1:{port} is unreachable")


def _wait_for(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"mosquitto did not listen on port {port} within {timeout:g} s")


@pytest.fixture
def auth_broker(mosquitto: stack.Server, tmp_path: Path) -> Iterator[int]:
    """A second mosquitto that admits only user `api` with password `pulse-test-pw`."""
    _require(stack.find_binary, "mosquitto_passwd", "mosquitto")  # skip, or fail under CI
    passwords = tmp_path / "passwords"
    passwords.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(passwords), "api", "pulse-test-pw"],
                   check=True, capture_output=True)
    port = stack.free_port()
    config = tmp_path / "mosquitto.conf"
    # `user root` lets a broker started as root keep reading the 0700 pytest folders;
    # a broker started as any other user ignores it.
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\n"
                      f"password_file {passwords}\nuser root\n")
    binary = stack.find_binary("mosquitto", "mosquitto")
    process = subprocess.Popen([binary, "-c", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = stack.Server("mosquitto", process, port, config)
    try:
        _wait_for(port)
        yield port
    finally:
        server.stop()


@pytest.mark.parametrize(("username", "password", "is_ok", "detail"), [
    ("api", "pulse-test-pw", True, "accepted a connection."),
    ("api", "wrong-password", False, "refused the connection: code 5"),
    (None, None, False, "refused the connection: code 5"),
])
async def test_mqtt_probe_connects_with_the_configured_credentials(
        auth_broker: int, username: str | None, password: str | None, is_ok: bool,
        detail: str) -> None:
    settings = load(ApiSettings, mqtt_host="127.0.0.1", mqtt_port=auth_broker,
                    mqtt_username=username, mqtt_password=password)

    check = await probe_mqtt(settings)

    assert check.ok is is_ok
    assert detail in check.detail
