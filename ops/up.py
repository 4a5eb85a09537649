"""`urbanpulse up`: the whole pipeline on local mosquitto and influxd, stopped as one.

Order of start: broker, database (and `CREATE DATABASE`), ingester (waited on
until it is subscribed, so its persistent session exists before the first
reading), api, simulator. Order of stop is the reverse, each service given
SIGTERM and time to drain.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from ops import stack
from urbanpulse.errors import ConfigError
from urbanpulse.topics import root_subscription

_DATABASE = "city"


class LocalStack:
    """Starts and stops the local servers and the three services."""

    def __init__(self, *, data_dir: Path, mqtt_port: int, influx_port: int, api_port: int,
                 sim_args: Sequence[str] = ()) -> None:
        for name, port in (("--mqtt-port", mqtt_port), ("--influx-port", influx_port),
                           ("--api-port", api_port)):
            if not 0 < port < 65536:
                raise ConfigError(f"{name} must be a port between 1 and 65535, not {port}.")
        self._data = data_dir.resolve()
        self._mqtt_port = mqtt_port
        self._influx_port = influx_port
        self._api_port = api_port
        self._sim_args = [arg for arg in sim_args if arg != "--"]
        self._servers: list[stack.Server] = []
        self._services: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._stopping = False

    def _env(self) -> dict[str, str]:
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
        return env

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self._data / f"{name}.log").open("ab") as log:
            # A session of their own: Ctrl-C reaches `up` only, which then stops each
            # service once, in order (a second signal would make the simulator skip its flush).
            process = subprocess.Popen([sys.executable, "-m", "ops", name, *args],
                                       env=self._env(), stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        self._services.append((name, process))
        return process

    def _wait_for_file(self, path: Path, process: subprocess.Popen[bytes], name: str) -> None:
        deadline = time.monotonic() + 30
        while not path.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise stack.ServerStartError(
                    f"{name} did not come up; see {self._data / (name + '.log')}.")
            time.sleep(0.05)

    def start(self) -> None:
        """Start everything, or stop what started and raise."""
        self._data.mkdir(parents=True, exist_ok=True)
        (self._data / "ingest.alive").unlink(missing_ok=True)
        try:
            self._servers.append(stack.start_mosquitto(self._data / "mosquitto",
                                                       self._mqtt_port))
            influx = stack.start_influxd(self._data / "influxdb", self._influx_port,
                                         stack.free_port())
            self._servers.append(influx)
            stack.create_database(influx.url, _DATABASE)
            ingest = self._spawn("ingest")
            self._wait_for_file(self._data / "ingest.alive", ingest, "ingest")
            self._spawn("api")
            self._spawn("sim", *self._sim_args)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the services in reverse order, then the servers."""
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

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def run(self) -> int:
        """Start, print where to look, wait for Ctrl-C or SIGTERM (or a crash), stop."""
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        self.start()
        print(f"UrbanPulse is up (data and logs in {self._data}):\n"
              f"  MQTT      mqtt://127.0.0.1:{self._mqtt_port}   "
              f"mosquitto_sub -p {self._mqtt_port} -t '{root_subscription()}' -v\n"
              f"  InfluxDB  http://127.0.0.1:{self._influx_port}   database '{_DATABASE}'\n"
              f"  API       http://127.0.0.1:{self._api_port}/docs\n"
              "Press Ctrl-C to stop.", flush=True)
        code = 0
        while not self._stopping:
            for name, process in self._services:
                if name != "sim" and process.poll() is not None:
                    print(f"{name} exited with code {process.returncode}; stopping; see "
                          f"{self._data / (name + '.log')}.", file=sys.stderr)
                    self._stopping, code = True, 1
            time.sleep(0.2)
        print("stopping…", flush=True)
        self.stop()
        return code
