"""`urbanpulse up` brings the local pipeline up and takes all of it down on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from ops import stack


def _closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.usefixtures("server_binaries")
def test_up_serves_fresh_readings_and_stops_everything(tmp_path: Path) -> None:
    ports = {name: stack.free_port() for name in ("mqtt", "influx", "api")}
    ten_minutes_ago = datetime.fromtimestamp(time.time() - 600, UTC).isoformat()
    env = {k: v for k, v in os.environ.items() if not k.startswith("URBANPULSE_")}
    with subprocess.Popen(
        [sys.executable, "-m", "ops", "up", "--data-dir", str(tmp_path / "data"),
         "--mqtt-port", str(ports["mqtt"]), "--influx-port", str(ports["influx"]),
         "--api-port", str(ports["api"]), "--", "--scale", "0.2", "--start", ten_minutes_ago],
        stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path) as process:
        code = _check_and_stop(process, ports)
    assert code == 0
    assert all(_closed(port) for port in ports.values())


def _check_and_stop(process: subprocess.Popen[str], ports: dict[str, int]) -> int:
    watchdog = threading.Timer(90, process.kill)
    watchdog.start()
    try:
        banner = [process.stdout.readline() for _ in range(4)] if process.stdout else []
        assert banner[0].startswith("UrbanPulse is up"), banner
        assert f"http://127.0.0.1:{ports['api']}/docs" in "".join(banner)

        api = f"http://127.0.0.1:{ports['api']}"
        deadline = time.monotonic() + 60
        latest = None
        while latest is None and time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                listing = httpx.get(f"{api}/v1/sensors", params={"kind": "noise"}).json()
                if listing.get("items"):
                    sensor = listing["items"][0]["sensor"]
                    latest = httpx.get(f"{api}/v1/sensors/{sensor}").json()["latest"]
            except httpx.TransportError:
                continue
        assert latest is not None, "no reading reached the api"
        assert set(latest["values"]) >= {"laeq"}
        health = httpx.get(f"{api}/health").json()
        assert health["status"] == "ok"
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
        watchdog.cancel()
    return code
