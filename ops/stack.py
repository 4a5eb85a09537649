"""Local `mosquitto` and `influxd` processes, for `urbanpulse up` and the test suite.

Both servers run from PATH in a data folder of their own, on loopback ports the
caller chooses, with configuration files this module writes. A missing binary is
a `MissingBinaryError` naming the Debian package that provides it.
"""

from __future__ import annotations

import ctypes
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from urbanpulse.errors import UrbanPulseError

_SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")


class MissingBinaryError(UrbanPulseError):
    """A server binary the local stack needs is not installed."""


class ServerStartError(UrbanPulseError):
    """A server process exited or did not become ready in time."""


@dataclass(frozen=True, slots=True)
class Server:
    """A started server process and where it listens and logs."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 10.0) -> int:
        """Terminate the process (SIGTERM, then SIGKILL after `timeout`) and return its code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Return whether a server could listen on 127.0.0.1:`port` now (nothing listens there)."""
    with socket.socket() as sock:
        # As the servers do: a port that only lingers in TIME_WAIT counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def find_binary(name: str, package: str) -> str:
    """Return the path of `name` from PATH (or the sbin folders), or raise MissingBinaryError."""
    path = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SBIN))
    if path is None:
        raise MissingBinaryError(
            f"'{name}' was not found on PATH: install the Debian package '{package}' "
            f"(apt-get install {package})."
        )
    return path


def mosquitto_config(data_dir: Path, port: int, extra: Sequence[str] = ()) -> str:
    """Return a loopback broker configuration with persistence and raised queue limits.

    `extra` lines come last; where one sets an option again, it wins.
    """
    return "\n".join((
        f"listener {port} 127.0.0.1",
        # Started as root, mosquitto would switch to user 'mosquitto' and then fail to
        # write its persistence file here; stay the user who owns the data folder.
        f"user {getpass.getuser()}",
        "allow_anonymous true",
        "persistence true",
        f"persistence_location {data_dir}/",
        "autosave_interval 30",
        "max_queued_messages 2000000",
        "max_queued_bytes 0",
        "max_inflight_messages 1000",
        "persistent_client_expiration 7d",
        "set_tcp_nodelay true",
        # The simulator paces itself on the queued count in $SYS (simulator/broker_queue.py).
        "sys_interval 2",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        *extra,
        "",
    ))


def influxd_config(data_dir: Path, http_port: int, rpc_port: int) -> str:
    """Return an InfluxDB 1.x configuration with both listeners on loopback."""
    return f"""reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{data_dir}/meta"

[data]
  dir = "{data_dir}/data"
  wal-dir = "{data_dir}/wal"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false

[logging]
  level = "warn"
"""


_PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> Callable[[], None] | None:
    """Return a pre-exec hook asking Linux to SIGTERM the child when `parent` dies."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(1)
    return hook


@dataclass
class Family:
    """Children that share one process group and, on Linux, end when this process ends.

    The group lets one `kill -- -PGID` reach them all; the parent-death signal covers
    the parent's SIGKILL, which it cannot handle. The hook runs in the thread that
    spawns, and Linux sends the signal when that thread ends: spawn from the main thread.
    """

    pgid: int = field(default=0)

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start `argv` in the family's group (a new one for the first child)."""
        try:
            process = subprocess.Popen(argv, process_group=self.pgid,
                                       preexec_fn=_die_with(os.getpid()),  # noqa: PLW1509 - see above
                                       **kwargs)
        except PermissionError:  # every earlier member ended, and the group with them
            self.pgid = 0
            process = subprocess.Popen(argv, process_group=0,
                                       preexec_fn=_die_with(os.getpid()),  # noqa: PLW1509 - see above
                                       **kwargs)
        if self.pgid == 0:
            self.pgid = process.pid
        return process


def _spawn(argv: list[str], log: Path, family: Family | None) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        options: dict[str, Any] = {"stdout": sink, "stderr": subprocess.STDOUT,
                                   "stdin": subprocess.DEVNULL}
        if family is not None:
            return family.popen(argv, **options)
        return subprocess.Popen(argv, start_new_session=True, **options)


def _wait(server: Server, ready: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-2000:]
            raise ServerStartError(f"{server.name} exited with code "
                                   f"{server.process.returncode}; its log ends:\n{tail}")
        if ready():
            return
        time.sleep(0.05)
    server.stop()
    raise ServerStartError(f"{server.name} was not ready on port {server.port} "
                           f"within {timeout:.0f} s; see {server.log}.")


def accepts(port: int) -> bool:
    """Return whether something accepts TCP connections on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _pings(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=1) as response:
            return int(response.status) == 204
    except (OSError, urllib.error.URLError):
        return False


def start_mosquitto(data_dir: Path, port: int, *, timeout: float = 15.0,
                    family: Family | None = None, extra: Sequence[str] = ()) -> Server:
    """Start mosquitto with its data in `data_dir`, listening on 127.0.0.1:`port`.

    `extra` configuration lines override the defaults (`mosquitto_config`).
    """
    binary = find_binary("mosquitto", "mosquitto")
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "mosquitto.conf"
    config.write_text(mosquitto_config(data_dir, port, extra))
    log = data_dir / "mosquitto.log"
    server = Server("mosquitto", _spawn([binary, "-c", str(config)], log, family), port, log)
    _wait(server, lambda: accepts(port), timeout)
    return server


def start_influxd(data_dir: Path, port: int, rpc_port: int, *, timeout: float = 30.0,
                  family: Family | None = None) -> Server:
    """Start influxd (1.x) with its data in `data_dir` on loopback HTTP `port`."""
    binary = find_binary("influxd", "influxdb")
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "influxdb.conf"
    config.write_text(influxd_config(data_dir, port, rpc_port))
    log = data_dir / "influxd.log"
    server = Server("influxd", _spawn([binary, "-config", str(config)], log, family), port, log)
    _wait(server, lambda: _pings(server.url), timeout)
    return server


def create_database(url: str, database: str) -> None:
    """Create `database` on an InfluxDB 1.x server (a no-op when it exists)."""
    escaped = database.replace("\\", "\\\\").replace('"', '\\"')
    body = urllib.parse.urlencode({"q": f'CREATE DATABASE "{escaped}"'}).encode()
    with urllib.request.urlopen(f"{url}/query", data=body, timeout=10) as response:
        if int(response.status) != 200:
            raise ServerStartError(f"CREATE DATABASE {database} answered {response.status}.")
