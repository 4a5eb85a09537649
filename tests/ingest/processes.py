"""Real processes for the fault tests: `urbanpulse ingest` as a child, a streaming publisher.

`IngestProcess` runs the ingester exactly as an operator would, so a test can
SIGKILL it, SIGTERM it, and read its memory from /proc. It is ready once it
published `online` on its status topic, which it does right after sending its
subscriptions on the same connection. `StreamPublisher` publishes readings at
QoS 1 from a persistent session at a steady rate and counts the broker's
PUBACKs, re-sending what was not acknowledged after a reconnect.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ops import stack
from tests.conftest import Recorder, influx_rows
from urbanpulse.now import now_measurement
from urbanpulse.topics import status_topic

Message = tuple[str, bytes]
Key = tuple[str, int]

DISTRICT = "huangpu"
_BASE_MS = (int(time.time()) - 6 * 3600) * 1000  # device time of seq 0: inside the age window


class _Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)


class Closer:
    """Remembers processes and clients and closes (kills) them all, last first."""

    def __init__(self) -> None:
        self._opened: list[_Closable] = []

    def __call__(self, thing: C) -> C:
        self._opened.append(thing)
        return thing

    def close_all(self) -> None:
        while self._opened:
            self._opened.pop().close()


def sensor_name(index: int) -> str:
    """Return the name of noise sensor `index`."""
    return f"noise-{DISTRICT}-{index:04d}"


def device_ts(seq: int) -> int:
    """Return the device timestamp (epoch ms) of reading `seq` of any sensor: one a second."""
    return _BASE_MS + seq * 1000


def reading(root: str, sensor: int, seq: int) -> Message:
    """Return topic and payload of reading `seq` of noise sensor `sensor`."""
    name = sensor_name(sensor)
    payload = {"v": 1, "sensor": name, "kind": "noise", "district": DISTRICT,
               "ts": device_ts(seq), "seq": seq, "values": {"laeq": 40.0 + seq % 50}}
    return f"{root}/readings/{DISTRICT}/noise/{name}", json.dumps(payload).encode()


def readings(root: str, count: int, *, sensors: int = 50, first: int = 0) -> list[Message]:
    """Return readings number `first` to `first + count`, round-robin over `sensors` sensors."""
    return [reading(root, n % sensors, n // sensors) for n in range(first, first + count)]


def keys(messages: Sequence[Message]) -> list[Key]:
    """Return the (sensor, seq) of each reading."""
    decoded = [json.loads(payload) for _, payload in messages]
    return [(body["sensor"], body["seq"]) for body in decoded]


def count_readings(url: str, db: str) -> int:
    """Return how many noise points InfluxDB holds in `db`."""
    rows = influx_rows(url, db, 'SELECT count("seq") FROM "noise"')
    return int(rows[0]["count"]) if rows else 0


def holds_readings(url: str, db: str, count: int) -> Callable[[], bool]:
    """Return a predicate: InfluxDB holds at least `count` noise points in `db`."""
    return lambda: count_readings(url, db) >= count


def assert_exactly_once(url: str, db: str, expected: Sequence[Key]) -> None:
    """Assert InfluxDB holds each (sensor, seq) of `expected` once, at its device time."""
    rows = influx_rows(url, db, 'SELECT "seq" FROM "noise" GROUP BY "sensor"')
    landed = [(row["sensor"], row["seq"]) for row in rows]
    assert len(expected) == len(set(expected)), "the test published a reading twice"
    assert len(landed) == len(set(landed)), "a reading landed twice"
    missing = set(expected) - set(landed)
    extra = set(landed) - set(expected)
    assert not missing, f"{len(missing)} readings lost, for example {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} readings nobody published, for example {sorted(extra)[:5]}"
    wrong_time = [row for row in rows if row["time"] != device_ts(row["seq"])]
    assert not wrong_time, f"points not at their device time: {wrong_time[:5]}"


def rss_kb(pid: int) -> int:
    """Return the resident set size of process `pid` in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


def ingest_env(*, mqtt_port: int, influx_url: str, influx_db: str, root: str,
               **settings: str | int | float) -> dict[str, str]:
    """Return the environment of an ingester; `settings` are URBANPULSE_* without the prefix."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("URBANPULSE_")}
    env.update({
        "URBANPULSE_MQTT_HOST": "127.0.0.1", "URBANPULSE_MQTT_PORT": str(mqtt_port),
        "URBANPULSE_TOPIC_ROOT": root, "URBANPULSE_INFLUX_URL": influx_url,
        "URBANPULSE_INFLUX_DB": influx_db, "URBANPULSE_INGEST_CLIENT_ID": f"ingest-{root}",
        "URBANPULSE_INGEST_RETRY_MAX_S": "1",
    })
    env.update({f"URBANPULSE_{name.upper()}": str(value) for name, value in settings.items()})
    return env


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `predicate` (blocking) until it holds, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not within {timeout:.0f} s"
        time.sleep(0.05)


def wait_for_snapshots(url: str, db: str, kind: str, timeout: float = 30) -> None:
    """Wait until the ingester has written two more "now" snapshots than when called (each
    writes every district and kind it holds; `kind` is one of them): the second holds
    every reading written before the call."""
    def written() -> int:
        rows = influx_rows(url, db, f'SELECT count("sensors") FROM "{now_measurement(kind)}" '
                                    'GROUP BY "district"')
        return max((int(row["count"]) for row in rows), default=0)

    before = written()
    wait_for(lambda: written() >= before + 2, timeout,
             'two "now" snapshots after the last reading')


class IngestProcess:
    """`urbanpulse ingest` as a child process, its output in a log file."""

    def __init__(self, env: dict[str, str], folder: Path, mqtt_port: int) -> None:
        self.env = env
        self.log = folder / f"ingest-{uuid.uuid4().hex[:6]}.log"
        self.process: subprocess.Popen[bytes] | None = None
        instance = env.get("URBANPULSE_INGEST_INSTANCE", "main")
        self._status = Recorder(mqtt_port, status_topic(
            "ingest", instance, root=env["URBANPULSE_TOPIC_ROOT"]))

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _onlines(self) -> int:
        return sum(payload == b"online" for _, payload in self._status.messages)

    def start(self, timeout: float = 60.0) -> None:
        """Start the ingester and wait until it is connected and subscribed."""
        onlines = self._onlines()
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ops", "--log-level", "WARNING", "ingest"],
                env=self.env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        process = self.process

        def online() -> bool:
            assert process.poll() is None, f"ingest exited at start-up:\n{self.log_tail()}"
            return self._onlines() > onlines

        wait_for(online, timeout, "the ingester's 'online'")

    def kill(self) -> None:
        """SIGKILL the ingester and reap it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def terminate(self, timeout: float) -> int:
        """SIGTERM the ingester and return its exit code (fail if it takes over `timeout`)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"ingest did not exit within {timeout:.0f} s of SIGTERM:\n"
                                 f"{self.log_tail()}") from None

    def close(self) -> None:
        """Kill the process if it still runs and stop watching its status."""
        if self.running():
            self.kill()
        self._status.close()

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


class StreamPublisher:
    """Publishes messages at QoS 1 from a persistent session at about `rate` per second.

    paho keeps every unacknowledged QoS 1 message and sends it again after a
    reconnect (also those published while disconnected), so a broker restart
    loses nothing from this side; `acked` counts the broker's PUBACKs.
    """

    def __init__(self, port: int, messages: Sequence[Message], *, rate: float) -> None:
        self._messages = list(messages)
        self._rate = rate
        self._lock = threading.Lock()
        self._acked = 0
        self.sent = 0
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, clean_session=False,
                                   client_id=f"stream-{uuid.uuid4().hex[:8]}")
        self._client.max_inflight_messages_set(1000)
        self._client.max_queued_messages_set(0)
        self._client.reconnect_delay_set(min_delay=1, max_delay=2)
        self._client.on_publish = self._on_publish
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._publish, name="stream", daemon=True)

    def _on_publish(self, *args: Any) -> None:
        with self._lock:
            self._acked += 1

    @property
    def acked(self) -> int:
        with self._lock:
            return self._acked

    def start(self) -> StreamPublisher:
        self._thread.start()
        return self

    def _publish(self) -> None:
        chunk = max(1, int(self._rate / 20))
        started = time.monotonic()
        for first in range(0, len(self._messages), chunk):
            for topic, payload in self._messages[first:first + chunk]:
                self._client.publish(topic, payload, qos=1)
            self.sent = min(first + chunk, len(self._messages))
            ahead = started + self.sent / self._rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)

    def wait_acked(self, timeout: float = 120.0) -> None:
        """Wait until every message was published and acknowledged by the broker."""
        self._thread.join(timeout)
        wait_for(lambda: self.acked >= len(self._messages), timeout,
                 f"PUBACKs for all {len(self._messages)} messages (have {self.acked})")

    def close(self) -> None:
        self._thread.join(5)
        self._client.loop_stop()
        self._client.disconnect()


class RestartableServer:
    """A server the test can stop and start again on the same ports and data folder."""

    def __init__(self, start: Callable[[], stack.Server]) -> None:
        self._start = start
        self.server = start()

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        """SIGTERM the server (mosquitto saves its persistence file) and reap it."""
        self.server.stop()

    def restart(self) -> None:
        self.server = self._start()
