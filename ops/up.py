"""`urbanpulse up`: the whole pipeline on local mosquitto and influxd, stopped as one.

Before anything starts, `up` takes the data folder's lock (`up.lock`, holding its
pid: a second `up` on the folder is refused, a lock left by a dead one is taken
over) and checks that its three ports are free, naming any that is taken.

Order of start: broker, database (and `CREATE DATABASE`), ingester (waited on
until it is subscribed, so its persistent session exists before the first
reading), api (waited on until it listens), simulator. A child that exits,
other than a simulator whose --duration ran out, stops everything and is
reported with its exit code and the end of its log.

Order of stop is the reverse, each service given SIGTERM and time to drain;
SIGTERM, SIGINT and SIGHUP all stop it so. The children share one process group
and, on Linux, get SIGTERM from the kernel when `up` dies, even by SIGKILL.

Secrets nobody configured (the api's ack key, its incident viewer and operator
keys, the alert key the ingester and the api share) are generated once, kept in
the data folder (mode 0600), and passed to the services.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from ops import stack
from urbanpulse.errors import ConfigError
from urbanpulse.settings import ApiSettings, IngestSettings, env_name, load
from urbanpulse.topics import root_subscription

_DATABASE = "city"
_LOCK = "up.lock"
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@dataclass(frozen=True, slots=True)
class _Secret:
    """A secret setting `up` makes up when unset, and the services that get it."""

    field: str
    settings: type[IngestSettings] | type[ApiSettings]
    services: tuple[str, ...]


# A field the settings class does not (yet) have is skipped.
_SECRETS = (
    _Secret("api_key", ApiSettings, ("api",)),
    _Secret("api_viewer_key", ApiSettings, ("api",)),
    _Secret("api_operator_key", ApiSettings, ("api",)),
    _Secret("alert_key", IngestSettings, ("ingest", "api")),
)


def _tail(log: Path, chars: int = 2000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:].rstrip()
    except OSError:
        return "(no log)"


class DataDirLock:
    """The data folder's `up.lock`: an flock the kernel drops when its holder dies."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / _LOCK
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise ConfigError naming the `up` that holds it."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise ConfigError(
                    f"another `urbanpulse up` (pid {holder}) is running on the data folder "
                    f"{self.path.parent}: stop it (kill {holder}) or pass another "
                    "--data-dir.") from None
            # A holder that was stopping may have removed the file we opened: lock the new one.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        previous = os.read(fd, 64).decode(errors="replace").strip()
        if previous:
            print(f"urbanpulse up: a previous `up` (pid {previous}) on {self.path.parent} "
                  "did not stop cleanly; taking its lock over.", file=sys.stderr)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file and drop the lock."""
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None


def shared_secret(data_dir: Path, name: str) -> Path:
    """Return the file holding the generated secret `name`, creating it (mode 0600) if new."""
    path = data_dir / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.read_text().strip():
            path.chmod(0o600)
            return path
        path.unlink()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(32) + "\n")
    return path


class LocalStack:
    """Starts and stops the local servers and the three services."""

    def __init__(self, *, data_dir: Path, mqtt_port: int, influx_port: int, api_port: int,
                 sim_args: Sequence[str] = ()) -> None:
        self._ports = {"--mqtt-port": mqtt_port, "--influx-port": influx_port,
                       "--api-port": api_port}
        for name, port in self._ports.items():
            if not 0 < port < 65536:
                raise ConfigError(f"{name} must be a port between 1 and 65535, not {port}.")
        names = list(self._ports)
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                if self._ports[first] == self._ports[second]:
                    raise ConfigError(f"{first} and {second} are both {self._ports[first]}: "
                                      "each server needs a port of its own.")
        self._data = data_dir.resolve()
        self._mqtt_port = mqtt_port
        self._influx_port = influx_port
        self._api_port = api_port
        self._sim_args = [arg for arg in sim_args if arg != "--"]
        self._family = stack.Family()
        self._lock = DataDirLock(self._data)
        self._secrets: dict[str, dict[str, str]] = {}
        self._generated: dict[str, Path] = {}
        self._servers: list[stack.Server] = []
        self._services: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._stopping = False

    def _env(self, name: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "URBANPULSE_MQTT_HOST": "127.0.0.1",
            "URBANPULSE_MQTT_PORT": str(self._mqtt_port),
            "URBANPULSE_INFLUX_URL": f"http://127.0.0.1:{self._influx_port}",
            "URBANPULSE_INFLUX_DB": _DATABASE,
            "URBANPULSE_API_HOST": "127.0.0.1",
            "URBANPULSE_API_PORT": str(self._api_port),
            "URBANPULSE_INGEST_HEALTH_FILE": str(self._data / "ingest.alive"),
        })
        env.update(self._secrets.get(name, {}))
        return env

    def _check_ports(self) -> None:
        taken = [f"port {port} ({flag})" for flag, port in self._ports.items()
                 if not stack.port_is_free(port)]
        if taken:
            raise ConfigError(
                f"{', '.join(taken)} already in use on 127.0.0.1: another `urbanpulse up`, "
                "a system mosquitto or InfluxDB service, or another program listens there "
                "(`ss -ltnp` names it). Stop it or choose free ports with the flags named.")

    def _make_secrets(self) -> None:
        """Generate each shared secret nobody configured, and say which service gets it."""
        for secret in _SECRETS:
            if secret.field not in secret.settings.model_fields:
                continue
            try:
                configured = getattr(load(secret.settings), secret.field) is not None
            except ConfigError:
                continue  # the service stops at start-up naming the bad setting
            if configured:
                continue
            path = shared_secret(self._data, secret.field)
            self._generated[secret.field] = path
            for service in secret.services:
                self._secrets.setdefault(service, {})[env_name(secret.field)] = (
                    path.read_text().strip())

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self._data / f"{name}.log").open("ab") as log:
            # Not in up's own group: Ctrl-C reaches `up` only, which then stops each
            # service once, in order (a second signal would make the simulator skip its flush).
            process = self._family.popen([sys.executable, "-m", "ops", name, *args],
                                         env=self._env(name), stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._services.append((name, process))
        return process

    def _exited(self, name: str, process: subprocess.Popen[bytes]) -> str:
        log = self._data / f"{name}.log"
        return (f"{name} exited with code {process.returncode}; {log} ends:\n"
                f"{_tail(log)}")

    def _wait_until(self, ready: Callable[[], bool], process: subprocess.Popen[bytes],
                    name: str) -> None:
        deadline = time.monotonic() + 30
        while not ready():
            if process.poll() is not None:
                raise stack.ServerStartError(self._exited(name, process))
            if self._stopping:
                raise KeyboardInterrupt
            if time.monotonic() > deadline:
                raise stack.ServerStartError(
                    f"{name} did not come up within 30 s; see {self._data / (name + '.log')}.")
            time.sleep(0.05)

    def start(self) -> None:
        """Take the lock, check the ports, start everything; or stop what started and raise."""
        self._data.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        try:
            self._check_ports()
            self._make_secrets()
            (self._data / "ingest.alive").unlink(missing_ok=True)
            self._servers.append(stack.start_mosquitto(self._data / "mosquitto",
                                                       self._mqtt_port, family=self._family))
            influx = stack.start_influxd(self._data / "influxdb", self._influx_port,
                                         stack.free_port(), family=self._family)
            self._servers.append(influx)
            stack.create_database(influx.url, _DATABASE)
            alive = self._data / "ingest.alive"
            self._wait_until(alive.exists, self._spawn("ingest"), "ingest")
            self._wait_until(lambda: stack.accepts(self._api_port), self._spawn("api"), "api")
            sim = self._spawn("sim", *self._sim_args)
            # A simulator refusing its flags does so at once: report it before "is up" when
            # it is that quick (later, the loop in `run` reports it and stops the rest).
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline and sim.poll() is None:
                time.sleep(0.05)
            if sim.poll() not in (None, 0):
                raise stack.ServerStartError(self._exited("sim", sim))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the services in reverse order, then the servers, then drop the lock."""
        for _name, process in reversed(self._services):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self._services.clear()
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()
        self._lock.release()

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _banner(self) -> str:
        lines = [f"UrbanPulse is up (data and logs in {self._data}):",
                 f"  MQTT      mqtt://127.0.0.1:{self._mqtt_port}   "
                 f"mosquitto_sub -p {self._mqtt_port} -t '{root_subscription()}' -v",
                 f"  InfluxDB  http://127.0.0.1:{self._influx_port}   database '{_DATABASE}'",
                 f"  API       http://127.0.0.1:{self._api_port}/docs"]
        for field, path in self._generated.items():
            lines.append(f"  {env_name(field)} was not set: generated, kept in {path}")
        if "api_key" in self._generated:
            key_file = shlex.quote(str(self._generated["api_key"]))
            lines.append(
                f"  ack an alert (ids from /v1/alerts): curl -X POST http://127.0.0.1:"
                f"{self._api_port}/v1/alerts/ALERT_ID/ack -H \"X-API-Key: $(cat {key_file})\" "
                "-H 'Content-Type: application/json' -d '{\"by\": \"your-name\"}'")
        if "api_viewer_key" in self._generated:
            key_file = shlex.quote(str(self._generated["api_viewer_key"]))
            lines.append(
                f"  open incidents (viewer key): curl 'http://127.0.0.1:{self._api_port}"
                f"/v1/incidents?open=true' -H \"X-API-Key: $(cat {key_file})\"")
        if "api_operator_key" in self._generated:
            key_file = shlex.quote(str(self._generated["api_operator_key"]))
            lines.append(
                f"  dispatch one (operator key): curl -X POST http://127.0.0.1:{self._api_port}"
                f"/v1/incidents/INCIDENT_ID/transitions -H \"X-API-Key: $(cat {key_file})\" "
                "-H 'Content-Type: application/json' -d '{\"to\": \"dispatched\", "
                "\"by\": \"your-name\"}'")
        lines.append(f"  up runs as pid {os.getpid()}, its children in process group "
                     f"{self._family.pgid}.")
        lines.append("Press Ctrl-C to stop.")
        return "\n".join(lines)

    def run(self) -> int:
        """Start, print where to look, wait for a stop signal (or a crash), stop."""
        for signum in _STOP_SIGNALS:
            signal.signal(signum, self._request_stop)
        try:
            self.start()
        except KeyboardInterrupt:
            return 130
        code = 0
        try:
            print(self._banner(), flush=True)
            code = self._watch()
        finally:
            # After a SIGHUP the terminal may be gone: stop the children whatever printing does.
            with contextlib.suppress(OSError):
                print("stopping…", flush=True)
            self.stop()
        return code

    def _watch(self) -> int:
        """Wait for a stop signal or a child's exit; return the exit code `up` should end with."""
        code = 0
        sim_finished = False
        while not self._stopping:
            for server in self._servers:
                if server.process.poll() is not None:
                    print(f"urbanpulse up: {server.name} exited with code "
                          f"{server.process.returncode}; stopping; {server.log} ends:\n"
                          f"{_tail(server.log)}", file=sys.stderr)
                    self._stopping, code = True, 1
            for name, process in self._services:
                if process.poll() is None or (name, process.returncode) == ("sim", 0):
                    continue
                print(f"urbanpulse up: {self._exited(name, process)}\nstopping.",
                      file=sys.stderr)
                self._stopping, code = True, 1
            if not sim_finished and self._services[-1][1].poll() == 0:
                sim_finished = True
                print("the simulator finished (its --duration ran out); the ingester and "
                      "the api keep running.", flush=True)
            time.sleep(0.2)
        return code
