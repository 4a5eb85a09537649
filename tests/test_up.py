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

from ingest.service import LAST_POINTS_TIMEOUT_S
from ops import stack
from ops.up import DataDirLock, shared_secret
from urbanpulse.errors import ConfigError
from urbanpulse.settings import IngestSettings

INGEST_DRAIN_S = float(IngestSettings.model_fields["ingest_drain_timeout_s"].default)
"""The ingester's drain bound as `up` starts it (the default)."""


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


def _up_argv(data: Path, ports: dict[str, int], *sim_args: str) -> list[str]:
    return [sys.executable, "-m", "ops", "up", "--data-dir", str(data),
            "--mqtt-port", str(ports["mqtt"]), "--influx-port", str(ports["influx"]),
            "--api-port", str(ports["api"]), "--", "--scale", "0.05", *sim_args]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("URBANPULSE_")}
    env.update(extra)
    return env


def _living_descendants(root: int) -> dict[int, str]:
    """Return {pid: command} of the live (not zombie) processes descended from `root`."""
    parents: dict[int, int] = {}
    states: dict[int, tuple[str, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; the fields after it are plain.
        fields = stat[stat.rindex(")") + 2:].split()
        parents[int(entry.name)] = int(fields[1])
        states[int(entry.name)] = (fields[0], command)
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = states[pid][1]
                frontier.append(pid)
    return {pid: command for pid, command in found.items() if states[pid][0] != "Z"}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def _read_banner(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("Press Ctrl-C"):
        line = process.stdout.readline()
        assert line, f"up ended before its banner: {''.join(lines)}"
        lines.append(line)
    return "".join(lines)


@pytest.mark.usefixtures("server_binaries")
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGHUP],
                         ids=["SIGKILL", "SIGHUP"])
def test_children_end_with_up(tmp_path: Path, signum: signal.Signals) -> None:
    """Whatever ends `up`, even SIGKILL, ends mosquitto, influxd and the three services."""
    ports = {name: stack.free_port() for name in ("mqtt", "influx", "api")}
    data = tmp_path / "data"
    data.mkdir()
    # A lock left by an `up` that died: stale, so it must not stop this one.
    (data / "up.lock").write_text("999999999\n")
    process = subprocess.Popen(_up_argv(data, ports), stdout=subprocess.PIPE, text=True,
                               env=_clean_env(), cwd=tmp_path)
    watchdog = threading.Timer(90, process.kill)
    watchdog.start()
    children: dict[int, str] = {}
    try:
        banner = _read_banner(process)
        assert banner.startswith("UrbanPulse is up"), banner
        children = _living_descendants(process.pid)
        commands = " ".join(children.values())
        for name in ("mosquitto", "influxd", "ops ingest", "ops api", "ops sim"):
            assert name in commands, (name, children)
        assert not stack.port_is_free(ports["api"])

        process.send_signal(signum)
        process.wait(60)
        # The ingester's longest stop: its drain (InfluxDB went with `up`, so a pending
        # reading waits it out), then its last metrics points; and a margin.
        deadline = time.monotonic() + INGEST_DRAIN_S + LAST_POINTS_TIMEOUT_S + 10
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert {pid: cmd for pid, cmd in children.items() if _alive(pid)} == {}
        assert all(_closed(port) for port in ports.values())
    finally:
        watchdog.cancel()
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.usefixtures("server_binaries")
def test_up_refuses_taken_ports_before_starting_anything(tmp_path: Path) -> None:
    ports = {name: stack.free_port() for name in ("mqtt", "influx", "api")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports["api"] = taken.getsockname()[1]
        result = subprocess.run(_up_argv(tmp_path / "data", ports), check=False,
                                capture_output=True, text=True, env=_clean_env(),
                                cwd=tmp_path, timeout=60)
    assert result.returncode != 0
    assert f"port {ports['api']} (--api-port" in result.stderr, result.stderr
    assert "UrbanPulse is up" not in result.stdout
    assert not (tmp_path / "data" / "mosquitto").exists()
    assert _closed(ports["mqtt"])
    assert _closed(ports["influx"])


def test_up_refuses_one_port_for_two_servers(tmp_path: Path) -> None:
    port = stack.free_port()
    result = subprocess.run(_up_argv(tmp_path / "data", {"mqtt": port, "influx": port,
                                                         "api": stack.free_port()}),
                            check=False, capture_output=True, text=True, env=_clean_env(),
                            cwd=tmp_path, timeout=60)
    assert result.returncode != 0
    assert f"--mqtt-port and --influx-port are both {port}" in result.stderr, result.stderr


@pytest.mark.usefixtures("server_binaries")
def test_second_up_on_one_data_dir_is_refused_and_a_key_is_generated(tmp_path: Path) -> None:
    ports = {name: stack.free_port() for name in ("mqtt", "influx", "api")}
    data = tmp_path / "data"
    process = subprocess.Popen(_up_argv(data, ports), stdout=subprocess.PIPE, text=True,
                               env=_clean_env(), cwd=tmp_path)
    watchdog = threading.Timer(90, process.kill)
    watchdog.start()
    try:
        banner = _read_banner(process)
        key_file = data / "api_key"
        assert str(key_file) in banner
        assert "X-API-Key: $(cat " in banner
        assert key_file.stat().st_mode & 0o777 == 0o600
        key = key_file.read_text().strip()
        api = f"http://127.0.0.1:{ports['api']}/v1/alerts/0123456789abcdef/ack"
        assert httpx.post(api, json={"by": "me"}).status_code == 401
        assert httpx.post(api, json={"by": "me"}, headers={"X-API-Key": key},
                          timeout=30).status_code == 404
        # The incident keys too: the viewer reads, the operator moves (docs/security.md).
        viewer = (data / "api_viewer_key").read_text().strip()
        assert (data / "api_operator_key").stat().st_mode & 0o777 == 0o600
        assert "/v1/incidents?open=true" in banner
        incidents = f"http://127.0.0.1:{ports['api']}/v1/incidents"
        assert httpx.get(incidents, headers={"X-API-Key": viewer},
                         timeout=30).status_code == 200
        assert httpx.get(incidents, headers={"X-API-Key": key}, timeout=30).status_code == 403

        others = {name: stack.free_port() for name in ("mqtt", "influx", "api")}
        second = subprocess.run(_up_argv(data, others), check=False, capture_output=True, text=True,
                                env=_clean_env(), cwd=tmp_path, timeout=60)
        assert second.returncode != 0
        assert f"(pid {process.pid})" in second.stderr, second.stderr
        assert str(data.resolve()) in second.stderr
        assert "UrbanPulse is up" not in second.stdout
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
        watchdog.cancel()
        if process.stdout is not None:
            process.stdout.close()
    assert code == 0
    assert not (data / "up.lock").exists()
    assert (data / "alert_key").stat().st_mode & 0o777 == 0o600
    assert key_file.read_text().strip() == key


@pytest.mark.usefixtures("server_binaries")
@pytest.mark.parametrize(("env", "sim_args", "expected"), [
    ({"URBANPULSE_INGEST_BATCH_SIZE": "0"}, (), "URBANPULSE_INGEST_BATCH_SIZE"),
    ({"URBANPULSE_API_MAX_POINTS": "0"}, (), "URBANPULSE_API_MAX_POINTS"),
    ({}, ("--scale", "-3"), "URBANPULSE_SIM_SCALE"),
], ids=["ingest", "api", "sim"])
def test_a_service_that_dies_at_start_is_reported_with_its_log(
        tmp_path: Path, env: dict[str, str], sim_args: tuple[str, ...], expected: str) -> None:
    ports = {name: stack.free_port() for name in ("mqtt", "influx", "api")}
    result = subprocess.run(_up_argv(tmp_path / "data", ports, *sim_args), check=False,
                            capture_output=True, text=True, env=_clean_env(**env),
                            cwd=tmp_path, timeout=90)
    assert result.returncode != 0
    if not sim_args:  # a slow simulator may fail just after the banner, and still stops all
        assert "UrbanPulse is up" not in result.stdout
    assert "exited with code" in result.stderr, result.stderr
    assert expected in result.stderr, result.stderr
    assert all(_closed(port) for port in ports.values())


def test_a_generated_secret_is_private_and_kept(tmp_path: Path) -> None:
    path = shared_secret(tmp_path, "api_key")
    key = path.read_text().strip()
    assert len(key) >= 32
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)
    assert shared_secret(tmp_path, "api_key").read_text().strip() == key
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_text("\n")
    assert shared_secret(tmp_path, "api_key").read_text().strip() not in ("", key)


def test_the_data_dir_lock_names_its_holder_and_is_released(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path)
    first.acquire()
    try:
        with pytest.raises(ConfigError, match=rf"\(pid {os.getpid()}\) is running on the data "
                                              rf"folder {tmp_path}"):
            DataDirLock(tmp_path).acquire()
    finally:
        first.release()
    assert not (tmp_path / "up.lock").exists()
    second = DataDirLock(tmp_path)
    second.acquire()
    second.release()


@pytest.mark.usefixtures("server_binaries")
def test_a_server_dying_while_up_runs_stops_everything(tmp_path: Path) -> None:
    ports = {name: stack.free_port() for name in ("mqtt", "influx", "api")}
    process = subprocess.Popen(_up_argv(tmp_path / "data", ports), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=_clean_env(),
                               cwd=tmp_path)
    watchdog = threading.Timer(90, process.kill)
    watchdog.start()
    try:
        _read_banner(process)
        children = _living_descendants(process.pid)
        mosquitto = next(pid for pid, command in children.items() if "mosquitto" in command)
        os.kill(mosquitto, signal.SIGKILL)
        _, stderr = process.communicate(timeout=60)
    finally:
        watchdog.cancel()
        process.kill()
        process.communicate()
    assert process.returncode == 1
    assert "mosquitto exited with code -9" in stderr, stderr
    assert not any(_alive(pid) for pid in children)
    assert all(_closed(port) for port in ports.values())
