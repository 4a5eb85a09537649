"""Ingest throughput against its two ceilings, on real mosquitto and influxd started here.

Prints one JSON document:

- broker_ceiling: the same payloads through `mosquitto_pub -l` → mosquitto →
  `mosquitto_sub` at QoS 1, messages/s;
- influx_ceiling: the same readings as pre-encoded line protocol, exactly the
  points the ingester writes for them (derived fields included), posted in
  5,000-line gzip batches, readings/s; beside it the same without the derived
  fields, which cost InfluxDB about a fifth of its rate;
- ingest: a persistent session preloaded with N QoS 1 readings of many
  distinct sensors, then drained by `urbanpulse ingest` (a separate process,
  validation, derived fields and the default alert rules on) until every
  reading is queryable: readings/s, CPU µs per reading of the ingester
  (start-up cost subtracted), peak RSS;
- latency: readings published at a fixed rate (BENCH_LATENCY_RATE, default
  5000/s) with ts = send time; p50 and p99 of InfluxDB's 204 minus ts, as the
  ingester measured them;
- ratio of ingest to the smaller ceiling;
- hot_path: µs per reading of decode+validate and line-protocol encoding alone;
- per_kind: CPU µs per reading of `Pipeline.accept` (default rules, no I/O) for
  each kind's own readings, and for all of them in the city's mix, as the
  simulator makes them for the default city over a few simulated hours.

Sizes come from BENCH_READINGS (default 200000) and BENCH_SENSORS (100000).
`python bench/ingest_throughput.py per-kind` runs the per_kind stage alone (no
servers) and prints its JSON.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.alerts.engine import AlertEngine
from ingest.alerts.rules import load_rules
from ingest.decode import Decoder
from ingest.derive import derive_encoded
from ingest.pipeline import Pipeline
from ingest.points import PointEncoder
from ops import stack
from ops.score_run import envelopes
from urbanpulse.kinds import KINDS
from urbanpulse.messages import Reading, encoder
from urbanpulse.topics import Channel, parse, reading_topic

READINGS = int(os.environ.get("BENCH_READINGS", "200000"))
SENSORS = int(os.environ.get("BENCH_SENSORS", "100000"))
LATENCY_RATE = int(os.environ.get("BENCH_LATENCY_RATE", "5000"))
CITY_START = "2026-03-02T06:00:00+08:00"
CITY_HOURS = 6
"""The simulated span whose readings `per_kind` times: from a weekday morning into the day."""
PER_KIND_MIN = 20_000
"""Each kind's readings are timed over at least this many (its stream, repeated)."""
DISTRICTS = ("pudong", "huangpu", "fengxian")
# Ordinary values, so the default alert rules are evaluated on every reading but
# rarely change state, as in a city on a normal day.
TYPICAL = {
    "pm25": 35.0, "pm10": 60.0, "no2": 40.0, "so2": 10.0, "co": 0.8, "o3": 80.0,
    "temperature": 18.0, "relative_humidity": 65.0, "ph": 7.5, "dissolved_oxygen": 6.5,
    "conductivity": 600.0, "turbidity": 30.0, "nh3_n": 0.5, "codmn": 4.0, "tp": 0.15,
    "laeq": 55.0, "lamax": 70.0, "la10": 58.0, "la90": 48.0, "total_spot_number": 300.0,
    "available_spot_number": 120.0, "occupancy": 0.6, "occupied": 0.0, "battery_mv": 3300.0,
    "total_active_energy_import": 100_000.0, "total_active_power": 500.0,
    "lighting_socket_kwh": 30_000.0, "hvac_kwh": 40_000.0, "power_kwh": 20_000.0,
}


def readings(now_ms: int) -> list[tuple[str, bytes]]:
    """Return N (topic, payload) readings of SENSORS distinct sensors of the kinds TYPICAL covers.

    The kinds whose first four metrics have a typical value here: the mix every
    earlier round measured, so rounds compare. A kind without typical values
    is left out rather than fed values that would raise alerts.
    """
    kinds = [kind for kind in sorted(KINDS.values(), key=lambda kind: kind.name)
             if all(name in TYPICAL for name in list(kind.metrics)[:4])]
    messages = []
    for n in range(READINGS):
        sensor_index, seq = n % SENSORS, n // SENSORS
        kind = kinds[sensor_index % len(kinds)]
        district = DISTRICTS[sensor_index % len(DISTRICTS)]
        sensor = f"{kind.name}-{district}-{sensor_index:06d}"
        jitter = 1 + 0.001 * (((n * 7919) % 97) - 48) / 48  # within 0.1 %: no alert storm
        values = {name: round(TYPICAL[name] * jitter, 3) for name in list(kind.metrics)[:4]}
        reading = Reading(v=1, sensor=sensor, kind=kind.name, district=district,
                          ts=now_ms - 3_600_000 + seq * 60_000, seq=seq, values=values)
        messages.append((reading_topic(district, kind.name, sensor), encoder.encode(reading)))
    return messages


def broker_ceiling(port: int, messages: list[tuple[str, bytes]]) -> float:
    """Messages/s from mosquitto_pub -l through the broker to mosquitto_sub, both at QoS 1.

    mosquitto_pub disconnects at end of input even with messages still queued
    in it, so its input stays open until mosquitto_sub has counted them all.
    """
    sub = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-q", "1", "-t", "bench/ceiling",
                            "-C", str(len(messages))], stdout=subprocess.DEVNULL)
    time.sleep(0.5)  # let the subscription settle; the timer starts after it
    data = b"\n".join(payload for _, payload in messages) + b"\n"
    started = time.perf_counter()
    pub = subprocess.Popen(["mosquitto_pub", "-p", str(port), "-q", "1", "-t", "bench/ceiling",
                            "-l"], stdin=subprocess.PIPE)
    assert pub.stdin is not None
    feeder = threading.Thread(target=pub.stdin.write, args=(data,), daemon=True)
    feeder.start()
    sub.wait(600)
    elapsed = time.perf_counter() - started
    feeder.join()
    pub.stdin.close()
    pub.wait(60)
    return len(messages) / elapsed


def influx_ceiling(folder: Path, lines: list[str]) -> dict[str, float]:
    """Readings/s of pre-encoded, pre-compressed 5,000-line batches posted one after another.

    A fresh influxd of its own, stopped afterwards: the 100,000 series it creates
    would otherwise still be compacting while the ingester drains into the next one.
    """
    influx = stack.start_influxd(folder / "influxdb-ceiling", stack.free_port(),
                                 stack.free_port())
    try:
        stack.create_database(influx.url, "ceiling")
        bodies = [gzip.compress("\n".join(lines[i:i + 5000]).encode(), compresslevel=1)
                  for i in range(0, len(lines), 5000)]
        cpu_before = _cpu_seconds(influx.process.pid)
        with httpx.Client(timeout=60) as client:
            started = time.perf_counter()
            for body in bodies:
                response = client.post(f"{influx.url}/write",
                                       params={"db": "ceiling", "precision": "ms"},
                                       content=body, headers={"Content-Encoding": "gzip"})
                response.raise_for_status()
            elapsed = time.perf_counter() - started
        cpu = _cpu_seconds(influx.process.pid) - cpu_before
    finally:
        influx.stop()
    return {"per_s": len(lines) / elapsed, "influxd_cpu_us_per_reading": cpu * 1e6 / len(lines)}


def _publisher(port: int, client_id: str) -> mqtt.Client:
    """Return a connected paho-mqtt client with its network loop running."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(1000)
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert connected.wait(30), f"publisher {client_id} did not connect"
    return client


def _ingest_env(mqtt_port: int, influx_url: str, database: str, client_id: str, *,
                metrics_s: float) -> dict[str, str]:
    """Return the environment of an `urbanpulse ingest` child against the bench servers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("URBANPULSE_")}
    env.update({"URBANPULSE_MQTT_HOST": "127.0.0.1", "URBANPULSE_MQTT_PORT": str(mqtt_port),
                "URBANPULSE_INFLUX_URL": influx_url, "URBANPULSE_INFLUX_DB": database,
                "URBANPULSE_INGEST_CLIENT_ID": client_id,
                "URBANPULSE_INGEST_METRICS_INTERVAL_S": str(metrics_s)})
    return env


def preload(port: int, messages: list[tuple[str, bytes]]) -> None:
    """Publish every message at QoS 1 and wait until the broker acknowledged them all."""
    client = _publisher(port, "bench-preload")
    for start in range(0, len(messages), 10_000):
        infos = [client.publish(topic, payload, qos=1)
                 for topic, payload in messages[start:start + 10_000]]
        for info in infos:
            info.wait_for_publish(120)
    client.loop_stop()
    client.disconnect()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _written(url: str, database: str) -> int:
    """Readings the ingester has had acknowledged by InfluxDB (its own pipeline counter).

    Counting points with InfluxQL instead would scan every series every poll and slow
    the very writes being timed; the exact count is checked once, at the end.
    """
    response = httpx.post(f"{url}/query", data={
        "db": database, "q": 'SELECT last("written") FROM "pipeline"'}, timeout=60)
    series = response.json()["results"][0].get("series", [])
    return int(series[0]["values"][0][1]) if series else 0


def _count(url: str, database: str) -> int:
    kinds = "|".join(KINDS)
    response = httpx.post(f"{url}/query", data={
        "db": database, "q": f'SELECT count("seq") FROM /^({kinds})$/'}, timeout=60)
    series = response.json()["results"][0].get("series", [])
    return sum(int(s["values"][0][1]) for s in series)


class IngestProcess:
    """`urbanpulse ingest` as a child process with a health file to wait on."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self._alive = folder / "ingest.alive"
        self._alive.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ops", "--log-level", "WARNING", "ingest"],
            env={**env, "URBANPULSE_INGEST_HEALTH_FILE": str(self._alive)})

    def wait_subscribed(self) -> None:
        deadline = time.monotonic() + 60
        while not self._alive.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("ingest did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


def ingest_drain(mqtt_port: int, influx_url: str, messages: list[tuple[str, bytes]],
                 folder: Path, servers: dict[str, int]) -> dict[str, Any]:
    """Preload a persistent session, then time the ingester draining it into InfluxDB.

    `servers` names the pids of mosquitto and influxd, whose CPU during the drain
    is reported beside the ingester's.
    """
    stack.create_database(influx_url, "city")
    env = _ingest_env(mqtt_port, influx_url, "city", "bench-ingest", metrics_s=0.1)
    first = IngestProcess(env, folder)  # creates the persistent session, then leaves
    first.wait_subscribed()
    startup_cpu = _cpu_seconds(first.process.pid)
    first.stop()
    preload(mqtt_port, messages)

    servers_before = {name: _cpu_seconds(pid) for name, pid in servers.items()}
    ingester = IngestProcess(env, folder)
    started = time.perf_counter()
    while _written(influx_url, "city") < len(messages):
        time.sleep(0.1)
        if time.perf_counter() - started > 600:
            break
    elapsed = time.perf_counter() - started
    cpu = _cpu_seconds(ingester.process.pid) - startup_cpu
    servers_cpu = {name: _cpu_seconds(pid) - servers_before[name]
                   for name, pid in servers.items()}
    rss = _peak_rss_mb(ingester.process.pid)
    ingester.stop()
    written = _count(influx_url, "city")
    return {"readings": written, "seconds": round(elapsed, 2),
            "readings_per_s": round(written / elapsed),
            "cpu_us_per_reading": round(cpu * 1e6 / max(written, 1), 1),
            "servers_cpu_us_per_reading": {name: round(seconds * 1e6 / max(written, 1), 1)
                                           for name, seconds in servers_cpu.items()},
            "peak_rss_mb": round(rss, 1)}


def latency(mqtt_port: int, influx_url: str, folder: Path, rate: int, seconds: float
            ) -> dict[str, float]:
    """Publish at a fixed rate with ts = send time; read the lag the ingester measured.

    Lag is InfluxDB's 204 for the batch holding a reading minus the reading's `ts`,
    so it spans broker, batching and write. The ingester runs with a metrics
    interval longer than the phase and writes its last `pipeline` point on SIGTERM.
    """
    stack.create_database(influx_url, "latency")
    env = _ingest_env(mqtt_port, influx_url, "latency", "bench-latency", metrics_s=3600)
    ingester = IngestProcess(env, folder)
    ingester.wait_subscribed()
    client = _publisher(mqtt_port, "bench-latency-pub")
    sent = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        due = int(elapsed * rate)
        while sent < due:
            sensor = f"noise-pudong-{sent % 1000:06d}"
            reading = Reading(v=1, sensor=sensor, kind="noise", district="pudong",
                              ts=int(time.time() * 1000), seq=sent // 1000,
                              values={"laeq": 55.0 + sent % 7})
            client.publish(reading_topic("pudong", "noise", sensor), encoder.encode(reading),
                           qos=1)
            sent += 1
        time.sleep(0.001)
    deadline = time.monotonic() + 60
    while _count(influx_url, "latency") < sent and time.monotonic() < deadline:  # 1,000 series
        time.sleep(0.2)
    client.loop_stop()
    client.disconnect()
    ingester.stop()
    response = httpx.post(f"{influx_url}/query", data={
        "db": "latency", "q": 'SELECT last("lag_p50_ms"), last("lag_p99_ms") FROM "pipeline"'})
    _, p50, p99 = response.json()["results"][0]["series"][0]["values"][0]
    return {"offered_per_s": rate, "seconds": seconds, "readings": sent,
            "p50_ms": p50, "p99_ms": p99}


def hot_path(messages: list[tuple[str, bytes]], now_ms: int) -> dict[str, float]:
    """µs per reading of decode+validate, of line-protocol encoding, and of all of accept.

    `Pipeline.accept` runs with the default rules (decode, derived fields, alert
    engine, encoding, batching) and no I/O over the sample twice: first each
    reading is of a sensor not seen before (`accept_new_sensor_us`), then of one
    already known (`accept_known_sensor_us`). `accept_us` is their mean, as in
    the drain, where half the readings are first sightings. Best of 5.
    """
    decoder = Decoder(root="city", max_payload_bytes=16_384, max_future_s=300, max_age_s=86_400)
    sample = messages[:20_000]
    best_decode = best_encode = float("inf")
    for _ in range(5):
        points = PointEncoder()
        started = time.perf_counter()
        decoded = [decoder.reading(topic, payload, now_ms) for topic, payload in sample]
        middle = time.perf_counter()
        for (topic, _), reading in zip(sample, decoded, strict=True):
            points.line(topic, reading)  # type: ignore[arg-type]
        best_decode = min(best_decode, middle - started)
        best_encode = min(best_encode, time.perf_counter() - middle)
    best_new = best_known = float("inf")
    for _ in range(5):
        pipeline = _offline_pipeline(now_ms)
        started = time.process_time()
        for topic, payload in sample:
            pipeline.accept(topic, payload, None)
        middle = time.process_time()
        for topic, payload in sample:
            pipeline.accept(topic, payload, None)
        best_new = min(best_new, middle - started)
        best_known = min(best_known, time.process_time() - middle)
    return {"decode_validate_us": round(best_decode * 1e6 / len(sample), 2),
            "line_protocol_us": round(best_encode * 1e6 / len(sample), 2),
            "accept_us": round((best_new + best_known) * 1e6 / (2 * len(sample)), 2),
            "accept_new_sensor_us": round(best_new * 1e6 / len(sample), 2),
            "accept_known_sensor_us": round(best_known * 1e6 / len(sample), 2)}


def city_messages(folder: Path) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """Return the births and readings the simulator makes for the default city (CITY_HOURS)."""
    path = folder / "city.jsonl"
    subprocess.run([sys.executable, "-m", "ops", "sim", "--seed", "7", "--start", CITY_START,
                    "--duration", str(CITY_HOURS * 3600), "--speed", "0",
                    "--output", f"jsonl:{path}"], check=True, capture_output=True)
    births, readings = [], []
    for topic, payload in envelopes(path):
        channel = parse(topic).channel
        if channel is Channel.SENSORS:
            births.append((topic, payload))
        elif channel is Channel.READINGS:
            readings.append((topic, payload))
    return births, readings


def _accept_us(births: list[tuple[str, bytes]], stream: list[tuple[str, bytes]],
               now_ms: int) -> float:
    """CPU µs per reading of `Pipeline.accept` over `stream`, repeated up to PER_KIND_MIN.

    Each repetition starts a fresh pipeline that has seen the births (untimed), so
    first sightings weigh as in the stream. Best of 3.
    """
    repeats = -(-PER_KIND_MIN // len(stream))
    best = float("inf")
    for _ in range(3):
        spent = 0.0
        for _ in range(repeats):
            pipeline = _offline_pipeline(now_ms)
            for topic, payload in births:
                pipeline.accept(topic, payload, None)
            started = time.process_time()
            for topic, payload in stream:
                pipeline.accept(topic, payload, None)
            spent += time.process_time() - started
        best = min(best, spent)
    return best * 1e6 / (repeats * len(stream))


def per_kind(folder: Path) -> dict[str, Any]:
    """CPU µs per reading of `Pipeline.accept` by kind, and for the city's mix, with births.

    The readings are the simulator's for the default city (seed 7, CITY_HOURS from
    CITY_START, no faults), judged at the end of that span by the default rules.
    """
    births, readings = city_messages(folder)
    now_ms = int(datetime.fromisoformat(CITY_START).timestamp() * 1000) + CITY_HOURS * 3_600_000
    by_kind: dict[str, list[tuple[str, bytes]]] = {}
    born: dict[str, list[tuple[str, bytes]]] = {}
    for topic, payload in readings:
        by_kind.setdefault(parse(topic).kind, []).append((topic, payload))
    for topic, payload in births:
        born.setdefault(parse(topic).kind, []).append((topic, payload))
    kinds = {kind: {"readings": len(stream), "share": round(len(stream) / len(readings), 4),
                    "accept_us": round(_accept_us(born.get(kind, []), stream, now_ms), 2)}
             for kind, stream in sorted(by_kind.items())}
    return {"start": CITY_START, "hours": CITY_HOURS, "kinds": kinds,
            "mix": {"readings": len(readings),
                    "accept_us": round(_accept_us(births, readings, now_ms), 2)}}


class _Nowhere:
    """Publisher and acknowledger of the offline pipeline: drops what it is given."""

    def publish(self, topic: str, payload: bytes, *, retain: bool,
                token: object | None = None) -> None:
        """Drop a dead letter or an alert."""

    def ack(self, tokens: Sequence[object]) -> None:
        """Drop acknowledgements."""


def _offline_pipeline(now_ms: int) -> Pipeline:
    """Return a pipeline with the default rules whose batches are never written."""
    decoder = Decoder(root="city", max_payload_bytes=16_384, max_future_s=300,
                      max_age_s=86_400)
    nowhere = _Nowhere()
    return Pipeline(decoder=decoder, writer=None, publisher=nowhere,  # type: ignore[arg-type]
                    acknowledger=nowhere, root="city", batch_size=1 << 30,
                    flush_interval_s=1.0, engine=AlertEngine(load_rules()),
                    clock=lambda: now_ms / 1000)


def main() -> None:
    """Run every stage in one invocation and print one JSON document."""
    now = int(time.time() * 1000)
    messages = readings(now)
    decoder = Decoder(root="city", max_payload_bytes=16_384, max_future_s=900, max_age_s=86_400)
    points = PointEncoder()
    # The ingester's own points (the bench sends no births, so no noise zone is known).
    # A generator: 200,000 decoded readings kept alive would slow every later garbage
    # collection in this process, the latency stage's publisher included.
    decoded = ((t, decoder.reading(t, p, now)) for t, p in messages)
    lines = [points.line(t, r, derive_encoded(r, None)[1])  # type: ignore[arg-type]
             for t, r in decoded]
    # The same readings without the derived fields: what they cost InfluxDB, shown beside.
    bare = [points.reading(decoder.reading(t, p, now)) for t, p in messages]  # type: ignore[arg-type]
    result: dict[str, Any] = {"benchmark": "ingest", "readings": READINGS, "sensors": SENSORS,
                              "mean_payload_bytes": round(sum(len(p) for _, p in messages)
                                                          / len(messages), 1),
                              "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="urbanpulse-bench-") as tmp:
        folder = Path(tmp)
        broker = stack.start_mosquitto(folder / "mosquitto", stack.free_port())
        influx = stack.start_influxd(folder / "influxdb", stack.free_port(), stack.free_port())
        try:
            result["hot_path"] = hot_path(messages, now)
            result["per_kind"] = per_kind(folder)
            # Latency first, on a fresh InfluxDB: later stages leave it compacting 100k series.
            result["latency"] = latency(broker.port, influx.url, folder, LATENCY_RATE, 10.0)
            result["broker_ceiling_per_s"] = round(broker_ceiling(broker.port, messages))
            bare_ceiling = influx_ceiling(folder / "without-derived", bare)
            result["influx_ceiling_without_derived_fields_per_s"] = round(bare_ceiling["per_s"])
            del bare
            ceiling = influx_ceiling(folder, lines)
            result["influx_ceiling_per_s"] = round(ceiling["per_s"])
            result["influx_ceiling_influxd_cpu_us_per_reading"] = round(
                ceiling["influxd_cpu_us_per_reading"], 1)
            result["ingest"] = ingest_drain(broker.port, influx.url, messages, folder, {
                "mosquitto": broker.process.pid, "influxd": influx.process.pid})
        finally:
            broker.stop()
            influx.stop()
    ceiling = min(result["broker_ceiling_per_s"], result["influx_ceiling_per_s"])
    result["ratio_to_smaller_ceiling"] = round(result["ingest"]["readings_per_s"] / ceiling, 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    if sys.argv[1:] == ["per-kind"]:
        with tempfile.TemporaryDirectory(prefix="urbanpulse-bench-") as tmp:
            print(json.dumps({"benchmark": "ingest per kind", "cpus": os.cpu_count(),
                              "per_kind": per_kind(Path(tmp))}, indent=2))
    else:
        main()
