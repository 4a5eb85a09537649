"""Publish-to-alert latency while the pipeline carries a steady load.

A loader publishes BENCH_ALERT_RATE readings/s (default 25,000) of 5,000 noise
monitors through the simulator's MQTT client; every 100 ms a probe reading on
one more monitor crosses a threshold rule (alternately firing and resolving
it). An independent subscriber (`mosquitto_sub`, its own process) stamps each
alert state of the probe as it receives it; latency = receive time − probe send
time, both read from this machine's wall clock. Prints one JSON document, with
the CPU seconds each process used during the load (ingester, mosquitto,
influxd, and this process: the loader) and their sum per reading, so that what
the two cores can carry is measured, not guessed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from simulator.sinks import MqttSink
from urbanpulse import stack
from urbanpulse.messages import Reading, alert_decoder, encoder
from urbanpulse.settings import SimSettings
from urbanpulse.topics import reading_topic

RATE = int(os.environ.get("BENCH_ALERT_RATE", "25000"))
SECONDS = float(os.environ.get("BENCH_ALERT_SECONDS", "15"))
MONITORS = 5000
TICK_S = 0.01
PROBE_EVERY_S = 0.1
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
             "-t", f"{root}/alerts/pudong/noise/{PROBE}/#", "-F", "%U %p"],
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


def _reading(sensor: str, seq: int, laeq: float) -> tuple[str, bytes]:
    reading = Reading(v=1, sensor=sensor, kind="noise", district="pudong",
                      ts=int(time.time() * 1000), seq=seq, values={"laeq": laeq})
    return reading_topic("pudong", "noise", sensor), encoder.encode(reading)


async def load_and_probe(port: int) -> tuple[int, float, list[tuple[float, str]]]:
    """Publish the load and the probes; return (readings sent, seconds, probes sent)."""
    settings = SimSettings(mqtt_host="127.0.0.1", mqtt_port=port,
                           sim_client_id="bench-alert-load", sim_max_inflight=5000)
    sink = await MqttSink.connect(settings)
    per_tick = max(1, int(RATE * TICK_S))
    sent = probes_sent = 0
    probes: list[tuple[float, str]] = []
    started = time.perf_counter()
    next_probe = started + PROBE_EVERY_S
    while (now := time.perf_counter()) - started < SECONDS:
        due = int((now - started) * RATE)
        batch = [_reading(f"noise-pudong-{(sent + i) % MONITORS:05d}", (sent + i) // MONITORS,
                          55.0) for i in range(min(per_tick, due - sent))]
        if now >= next_probe:
            firing = probes_sent % 2 == 0
            batch.append(_reading(PROBE, probes_sent, 110.0 if firing else 50.0))
            probes.append((time.time(), "firing" if firing else "resolved"))
            probes_sent += 1
            next_probe += PROBE_EVERY_S
        if batch:
            await sink.send_many(batch, retain=False)
            sent += len(batch)
        await asyncio.sleep(TICK_S / 2)
    elapsed = time.perf_counter() - started
    await sink.close()
    return sent, elapsed, probes


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
        ingester = subprocess.Popen([sys.executable, "-m", "urbanpulse", "--log-level",
                                     "ERROR", "ingest"], env=env)
        clock: AlertClock | None = None
        try:
            deadline = time.monotonic() + 60
            while not alive.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            clock = AlertClock(broker.port, "city")
            pids = {"ingester": ingester.pid, "mosquitto": broker.process.pid,
                    "influxd": influx.process.pid}
            before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
            own_before = time.process_time()
            sent, elapsed, probes = asyncio.run(load_and_probe(broker.port))
            cpu = {name: round(_cpu_seconds(pid) - before[name], 2) for name, pid in pids.items()}
            cpu["loader"] = round(time.process_time() - own_before, 2)
            deadline = time.monotonic() + 30
            while len(clock.received) < len(probes) and time.monotonic() < deadline:
                time.sleep(0.1)
            received = list(clock.received)
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
