"""Publish-to-alert latency while the pipeline carries a steady load.

A loader publishes BENCH_ALERT_RATE readings/s (default 25,000) of 5,000 noise
monitors, framed before the run and sent every 2 ms; every 20 ms a probe reading on
one more monitor crosses a threshold rule (alternately firing and resolving
it). An independent subscriber (`mosquitto_sub`, its own process) stamps each
alert state of the probe as it receives it; latency = receive time − probe send
time, both read from this machine's wall clock. Prints one JSON document, with
the CPU seconds each process used during the load (ingester, mosquitto,
influxd, and this process: the loader) and their sum per reading, so that what
the two cores can carry is measured, not guessed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ops import stack
from urbanpulse.messages import Reading, alert_decoder, encoder
from urbanpulse.mqtt5 import (
    RECEIVE_MAXIMUM,
    connect_packet,
    properties,
    publish_packet,
    read_varint,
)
from urbanpulse.topics import alert_subscription, reading_topic

RATE = int(os.environ.get("BENCH_ALERT_RATE", "25000"))
SECONDS = float(os.environ.get("BENCH_ALERT_SECONDS", "15"))
MONITORS = 5000
# Every 2 ms: 50 readings a write. A city's sensors report independently, not in
# bursts; at 10 ms the load came as bursts of 250 that every probe queued behind.
TICK_S = float(os.environ.get("BENCH_ALERT_TICK_S", "0.002"))
PROBE_EVERY_S = 0.02  # 750 probes in 15 s: p99 is not just the second-worst of 150
PROBE = "noise-pudong-probe"
RULES = """rules:
  - name: probe-loud
    type: threshold
    kind: noise
    metric: laeq
    above: 100
    clear: 90
    severity: low
"""


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class AlertClock:
    """An independent subscriber, `mosquitto_sub` in its own process, stamping each alert state.

    mosquitto_sub prints the wall-clock time it received each message (`%U`), so
    the loader's work cannot delay the stamp the way a thread in this process would.
    """

    def __init__(self, port: int, root: str) -> None:
        self._process = subprocess.Popen(
            ["stdbuf", "-oL", "mosquitto_sub", "-d", "-h", "127.0.0.1", "-p", str(port),
             "-q", "1", "-i", "bench-alert-clock",
             "-t", alert_subscription(root=root, district="pudong", kind="noise", sensor=PROBE),
             "-F", "%U %p"],
            stdout=subprocess.PIPE, text=True)
        self.received: list[tuple[float, str]] = []
        subscribed = threading.Event()
        threading.Thread(target=self._read, args=(subscribed,), daemon=True).start()
        assert subscribed.wait(10), "alert subscriber not subscribed"

    def _read(self, subscribed: threading.Event) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:  # -d, line-buffered: SUBACK, then each message
            stamp, _, payload = line.rstrip("\n").partition(" ")
            if payload.startswith("{"):  # debug lines and cleared (empty) retained topics aside
                self.received.append((float(stamp), alert_decoder.decode(payload).state))
            elif "SUBACK" in line:
                subscribed.set()

    def close(self) -> None:
        """Stop the subscriber (it may not leave on SIGTERM; its lines are already read)."""
        self._process.kill()
        self._process.wait(10)


def _frame(sensor: str, seq: int, ts_ms: int, laeq: float, packet_id: int) -> bytes:
    """One reading of a noise monitor in Pudong as an MQTT 5 QoS 1 PUBLISH."""
    reading = Reading(v=1, sensor=sensor, kind="noise", district="pudong", ts=ts_ms, seq=seq,
                      values={"laeq": laeq})
    return publish_packet(reading_topic("pudong", "noise", sensor), packet_id,
                          encoder.encode(reading))


class FramedLoader:
    """Sends PUBLISH packets built before the load starts, so the loader costs the pipeline little.

    The load generator shares this machine's two cores with what it measures:
    building and encoding each reading while sending would take CPU from the
    broker and the ingester. Every load reading is framed up front with the
    device time it is due at; during the run the loader only writes the packets
    that are due, every tick, within the broker's Receive Maximum, and counts
    the PUBACKs that have arrived, all in one thread (no GIL hand-offs that
    would delay a probe).
    """

    def __init__(self, port: int, total: int, start_ms: int) -> None:
        self.start_ms = start_ms
        self.frames = [_frame(f"noise-pudong-{i % MONITORS:05d}", i // MONITORS,
                              start_ms + i * 1000 // RATE, 55.0, i % 65000 + 1)
                       for i in range(total)]
        self._socket = socket.create_connection(("127.0.0.1", port))
        self._socket.sendall(connect_packet("bench-alert-load", None, None, clean_start=True,
                                            keepalive_s=60))
        answer = self._socket.recv(4096)
        if answer[:1] != b"\x20" or answer[3] != 0:
            raise RuntimeError(f"the broker refused the loader: {answer!r}")
        self.window = int(properties(answer, 4).get(RECEIVE_MAXIMUM, 65535)) - 10  # probes
        self.acked = 0
        self._unread = b""

    def count_pubacks(self) -> int:
        """Read the PUBACKs that have arrived, without waiting; return how many in all."""
        try:
            while chunk := self._socket.recv(65536, socket.MSG_DONTWAIT):
                self._unread += chunk
        except BlockingIOError:
            pass
        data, pos = self._unread, 0
        while (header := read_varint(data, pos + 1)) is not None and sum(header) <= len(data):
            self.acked += data[pos] == 0x40
            pos = sum(header)
        self._unread = data[pos:]
        return self.acked

    def send(self, packets: list[bytes]) -> None:
        """Write packets in one go."""
        self._socket.sendall(b"".join(packets))

    def close(self) -> None:
        """Wait briefly for the last PUBACKs, then disconnect."""
        deadline = time.monotonic() + 10
        while self.count_pubacks() < len(self.frames) and time.monotonic() < deadline:
            time.sleep(0.01)
        self._socket.sendall(b"\xe0\x00")  # DISCONNECT
        self._socket.close()


def load_and_probe(loader: FramedLoader) -> tuple[int, float, list[tuple[float, str]]]:
    """Send the load and the probes; return (readings sent, seconds, probes sent)."""
    frames, sent, probes_sent = loader.frames, 0, 0
    probes: list[tuple[float, str]] = []
    started = time.perf_counter()
    next_probe = started + PROBE_EVERY_S
    while (now := time.perf_counter()) - started < SECONDS:
        due = min(len(frames), int((now - started) * RATE),
                  loader.count_pubacks() + loader.window)
        batch = frames[sent:due]
        sent = max(sent, due)
        if now >= next_probe:
            firing = probes_sent % 2 == 0
            batch.append(_frame(PROBE, probes_sent, int(time.time() * 1000),
                                110.0 if firing else 50.0, 65535))
            probes.append((time.time(), "firing" if firing else "resolved"))
            probes_sent += 1
            next_probe += PROBE_EVERY_S
        if batch:
            loader.send(batch)
        time.sleep(TICK_S)
    return sent, time.perf_counter() - started, probes


def main() -> None:
    """Start the servers and an ingester, measure, print one JSON document."""
    with tempfile.TemporaryDirectory(prefix="urbanpulse-alert-bench-") as tmp:
        folder = Path(tmp)
        broker = stack.start_mosquitto(folder / "mosquitto", stack.free_port())
        influx = stack.start_influxd(folder / "influxdb", stack.free_port(), stack.free_port())
        rules = folder / "rules.yaml"
        rules.write_text(RULES)
        alive = folder / "ingest.alive"
        env = {k: v for k, v in os.environ.items() if not k.startswith("URBANPULSE_")}
        env.update({"URBANPULSE_MQTT_HOST": "127.0.0.1",
                    "URBANPULSE_MQTT_PORT": str(broker.port),
                    "URBANPULSE_INFLUX_URL": influx.url, "URBANPULSE_INFLUX_DB": "city",
                    "URBANPULSE_INGEST_RULES": str(rules),
                    "URBANPULSE_INGEST_HEALTH_FILE": str(alive)})
        stack.create_database(influx.url, "city")
        ingester = subprocess.Popen([sys.executable, "-m", "ops", "--log-level",
                                     "ERROR", "ingest"], env=env)
        clock: AlertClock | None = None
        try:
            deadline = time.monotonic() + 60
            while not alive.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            clock = AlertClock(broker.port, "city")
            pids = {"ingester": ingester.pid, "mosquitto": broker.process.pid,
                    "influxd": influx.process.pid}
            total = int(RATE * SECONDS) + RATE
            # Device times start once framing is done: about 11 µs a frame, doubled for safety.
            loader = FramedLoader(broker.port, total, int(time.time() * 1000) + total // 45 + 1000)
            time.sleep(max(0.0, loader.start_ms / 1000 - time.time()))  # the first device time
            # CPU is counted from here: framing and the wait before are no part of the load.
            before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
            own_before = time.process_time()
            sent, elapsed, probes = load_and_probe(loader)
            cpu = {name: round(_cpu_seconds(pid) - before[name], 2) for name, pid in pids.items()}
            cpu["loader"] = round(time.process_time() - own_before, 2)
            deadline = time.monotonic() + 30
            while len(clock.received) < len(probes) and time.monotonic() < deadline:
                time.sleep(0.1)
            received = list(clock.received)
            loader.close()
        finally:
            if clock is not None:
                clock.close()
            ingester.send_signal(signal.SIGTERM)
            ingester.wait(60)
            broker.stop()
            influx.stop()
    matched = [(got - sent_at) * 1000 for (sent_at, want), (got, state)
               in zip(probes, received, strict=False) if want == state]
    quantiles = (statistics.quantiles(matched, n=100, method="inclusive")
                 if len(matched) >= 2 else [float("nan")] * 99)
    print(json.dumps({
        "benchmark": "alert_latency", "offered_readings_per_s": RATE,
        "achieved_readings_per_s": round(sent / elapsed), "seconds": round(elapsed, 1),
        "probes": len(probes), "alert_states_received": len(received),
        "matched": len(matched), "p50_ms": round(statistics.median(matched), 1) if matched
        else None, "p99_ms": round(quantiles[98], 1), "max_ms": round(max(matched), 1)
        if matched else None, "goal_p99_ms": 25,
        "cpu_seconds_during_load": cpu,
        "cpu_us_per_reading": {name: round(seconds * 1e6 / max(sent, 1), 1)
                               for name, seconds in cpu.items()},
        "cpu_us_per_reading_all": round(sum(cpu.values()) * 1e6 / max(sent, 1), 1),
        "cpu_us_per_reading_two_cores_allow": round(2e6 / RATE, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
