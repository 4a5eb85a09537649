"""Requests/s and latency of the api's latest-state routes, answered from memory.

Starts mosquitto and influxd on free ports, publishes retained births of
BENCH_API_SENSORS sensors (default 8,000, spread over the registered kinds and
16 districts) and one signed district state per district, then serves the api
with one uvicorn worker in its own process. Once its latest state is loaded,
a keep-alive HTTP/1.1 client in this process (raw asyncio streams, so the
client costs little of the two cores) sends BENCH_API_CONNECTIONS concurrent
request streams to each route for BENCH_API_SECONDS. Prints one JSON document:
per route, requests/s, p50 and p99 latency (ms), and the status codes seen.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from api.kind_views import views
from ops import stack
from urbanpulse.kinds import KINDS
from urbanpulse.messages import AttributeValue, DistrictState, SensorBirth, SensorState, encoder
from urbanpulse.settings import ApiSettings, load
from urbanpulse.signing import sign_state
from urbanpulse.topics import Channel, sensor_topic, state_topic

SENSORS = int(os.environ.get("BENCH_API_SENSORS", "8000"))
SECONDS = float(os.environ.get("BENCH_API_SECONDS", "5"))
CONNECTIONS = int(os.environ.get("BENCH_API_CONNECTIONS", "16"))
DISTRICTS = [f"district-{n:02d}" for n in range(16)]
ROOT = "bench"
ALERT_KEY = "bench-alert-key-7f3c9a1e5b2d4680"


def _placed(n: int, kinds: list[str]) -> tuple[str, str]:
    """Return the kind and district of sensor `n`: every district holds every kind."""
    return kinds[n % len(kinds)], DISTRICTS[n // len(kinds) % len(DISTRICTS)]


def _city(now_ms: int) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """Return the retained births and the signed district states of the city."""
    kinds = sorted(KINDS)
    births, states = [], []
    per_district: dict[str, dict[str, dict[str, SensorState]]] = {d: {} for d in DISTRICTS}
    for n in range(SENSORS):
        kind, district = _placed(n, kinds)
        sensor = f"{kind}-{district}-{n:05d}"
        births.append((sensor_topic(Channel.SENSORS, district, kind, sensor, root=ROOT),
                       encoder.encode(SensorBirth(
                           v=1, sensor=sensor, kind=kind, district=district, site=f"site {n}",
                           lat=31.0 + (n % 100) / 200, lon=121.2 + (n // 100 % 100) / 200,
                           zone="2", interval_s=60, ts=now_ms))))
        values: dict[str, AttributeValue] = {name: (metric.low + metric.high) / 2
                  for name, metric in KINDS[kind].metrics.items()}
        per_district[district].setdefault(kind, {})[sensor] = SensorState(
            ts=now_ms, seq=n, values=values)
    key = ALERT_KEY.encode()
    for district, sensors in per_district.items():
        state = sign_state(DistrictState(v=1, district=district, ts=now_ms, sensors=sensors), key)
        states.append((state_topic(district, root=ROOT), encoder.encode(state)))
    return births, states


def _serve(settings: ApiSettings) -> None:
    import uvicorn  # noqa: PLC0415 - in the child process only

    from api.main import create_app  # noqa: PLC0415

    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port,
                log_level="warning")


async def _stream(port: int, paths: list[str], deadline: float,
                  latencies: list[float], statuses: dict[int, int]) -> None:
    """Send requests one after another on one keep-alive connection until `deadline`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.perf_counter() < deadline:
        path = random.choice(paths)
        started = time.perf_counter()
        writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        status = int(head.split(b" ", 2)[1])
        statuses[status] = statuses.get(status, 0) + 1
    writer.close()


async def _measure(port: int, paths: list[str]) -> dict[str, object]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    await asyncio.gather(*(_stream(port, paths, started + SECONDS, latencies, statuses)
                           for _ in range(CONNECTIONS)))
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    return {"requests_per_s": round(len(latencies) / elapsed), "p50_ms": round(cuts[49] * 1000, 2),
            "p99_ms": round(cuts[98] * 1000, 2), "statuses": statuses}


def _routes() -> dict[str, list[str]]:
    kinds = sorted(KINDS)
    ids = ["-".join((*_placed(n, kinds), f"{n:05d}")) for n in range(SENSORS)]
    routes = {
        "sensor_latest": [f"/v1/sensors/{sensor}" for sensor in ids],
        "sensor_list_page": [f"/v1/sensors?district={d}&limit=100" for d in DISTRICTS],
        "districts": ["/v1/districts"],
        "district_summary": [f"/v1/districts/{d}/summary" for d in DISTRICTS],
        "alerts_firing": ["/v1/alerts?state=firing"],
    }
    for kind, name in views():
        routes[f"{kind}_{name}_near"] = ["/v1/" + kind + "/" + name + "?near=31.2,121.4"]
    return routes


def main() -> int:
    """Run the benchmark and print its JSON document."""
    with tempfile.TemporaryDirectory() as tmp:
        mosquitto = stack.start_mosquitto(Path(tmp) / "mosquitto", stack.free_port())
        influxd = stack.start_influxd(Path(tmp) / "influxd", stack.free_port(),
                                      stack.free_port())
        api = None
        try:
            stack.create_database(influxd.url, "bench")
            births, states = _city(int(time.time() * 1000))
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
            from tests.conftest import publish_all  # noqa: PLC0415 - the tests' publisher

            publish_all(mosquitto.port, births + states, retain=True)
            settings = load(ApiSettings, mqtt_host="127.0.0.1", mqtt_port=mosquitto.port,
                            topic_root=ROOT, influx_url=influxd.url, influx_db="bench",
                            alert_key=ALERT_KEY, api_port=stack.free_port())
            api = multiprocessing.get_context("spawn").Process(target=_serve, args=(settings,))
            api.start()
            base = f"http://127.0.0.1:{settings.api_port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    health = httpx.get(f"{base}/health", timeout=5)
                    if health.status_code == 200 and \
                            f"readings {SENSORS}," in health.json()["state"]["detail"]:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the api did not load the latest state within 60 s")
                time.sleep(0.5)
            results = {name: asyncio.run(_measure(settings.api_port, paths))
                       for name, paths in _routes().items()}
        finally:
            if api is not None:
                api.terminate()
                api.join(10)
            mosquitto.stop()
            influxd.stop()
    print(json.dumps({"sensors": SENSORS, "districts": len(DISTRICTS),
                      "connections": CONNECTIONS, "seconds_per_route": SECONDS,
                      "workers": 1, "routes": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
