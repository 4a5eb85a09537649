"""The read path at city scale: dashboards and api routes on a small and a large city.

Builds the shanghai city at each scale of `--scales` (default 1 and 50) with
`--hours` of history (default 24) through the real pipeline: the simulator's
unpaced backfill (`urbanpulse sim --speed 0` from `--hours` ago to now, held
back only while the broker's queue for the ingester is over its limit) →
mosquitto → `urbanpulse ingest` → an influxd of the city's own, so that its
memory is the city's. From the end of the backfill to the end of the run the
simulator goes on live (`--speed 1`), so the latest state stays current (a
lot's count is current for three of its intervals: without it the views would
answer nothing after a few minutes) and influxd takes the live city's writes
while it is read. Then, alternating the cities request by request:

- every dashboard of `grafana/dashboards/` loaded as Grafana loads it: each
  panel target, annotation and variable query, variables at their defaults and
  Grafana's macros expanded (`tests/grafana_macros.py`), one query after
  another, at the dashboard's default range and over `--ranges` (24 h, 7 days);
  its query time, the bytes InfluxDB returned and influxd's peak RSS during the
  load (VmHWM, reset through /proc/<pid>/clear_refs before each load) and its
  anonymous and file-backed parts after the last load (`influxd_after_mb`), and
  the TSM compactions influxd ran or queued meanwhile. Every influxd is first
  left to settle (no compaction for 5 s, `SHOW STATS`), after its city was
  built and again before the dashboards;
- every GET route of a real `urbanpulse api` (uvicorn) on each city: median
  time and bytes; and for the latest-state routes, req/s with p50/p99 from
  `--connections` keep-alive connections for `--load-s` seconds.

Prints one JSON document: medians, large/small ratios, the issue's targets
beside the figures and whether each is met. Growth is judged per query (a
panel's target, an annotation, a variable) and per route, as the issue names
them: one whose time at the large scale is over `SLOW_S` and grew over twice as
fast as the bytes it returned (each dashboard's `growing`). A dashboard's total
is the sum of a dozen queries each a few ms of fixed cost at the small scale;
its ratios are printed beside it, and the totals that would be judged growing
are listed under `totals_growing`, but not judged. A quick run:
`python bench/read_scale.py --scales 1,5 --hours 2 --ranges 24h --repeats 2 --load-s 3`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from api.kind_views import views
from ops import stack

ROOT = Path(__file__).resolve().parent.parent


def _load_macros() -> ModuleType:
    """Load `tests/grafana_macros.py` by path (an installed package may be called `tests`)."""
    spec = importlib.util.spec_from_file_location("grafana_macros",
                                                  ROOT / "tests" / "grafana_macros.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MACROS = _load_macros()
"""Grafana's expansion of variables and macros, as the dashboard tests use it."""
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
RANGES = {"24h": 86_400_000, "7d": 7 * 86_400_000}
TARGETS = {"dashboard_default_s": 1.0, "dashboard_24h_s": 3.0, "latest_req_per_s": 2000,
           "latest_p99_ms": 50.0, "summary_ms": 100.0, "export_day_s": 1.0,
           "influxd_peak_mb": 1536.0}
VIEWS = {f"/v1/{kind}/{name}" for kind, name in views()}
HTTP = httpx.Client(timeout=300)
"""The one client of every timed request, its connections kept alive as Grafana's data
source and an api's clients keep theirs. Until 2026-12-03 each timed request made a
client of its own (`httpx.get`), and with it a TLS context: 28 to 50 ms on this machine,
counted in every query's and route's time (docs/performance.md)."""
SLOW_S = 0.05
"""Below this at the large scale, a cost ratio is noise and is not judged."""


@dataclass
class City:
    """One city's servers and what it was built with."""

    scale: float
    influxd: stack.Server
    root: str
    key: str
    """The run's alert key; the api's viewer key is made from it (`viewer_key`)."""
    ingest: subprocess.Popen[bytes] | None = None
    api: subprocess.Popen[bytes] | None = None
    live: subprocess.Popen[bytes] | None = None
    api_port: int = 0
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.scale:g}"


def viewer_key(key: str) -> str:
    """Return the api's viewer key (the incident routes read with it) of a run's alert key."""
    return f"viewer-{key}"


def env_for(city: City, mqtt_port: int, key: str) -> dict[str, str]:
    """Return the environment of the city's ingester, simulator and api."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("URBANPULSE_")}
    env.update({"URBANPULSE_MQTT_HOST": "127.0.0.1", "URBANPULSE_MQTT_PORT": str(mqtt_port),
                "URBANPULSE_TOPIC_ROOT": city.root, "URBANPULSE_INFLUX_URL": city.influxd.url,
                "URBANPULSE_INFLUX_DB": "city", "URBANPULSE_ALERT_KEY": key,
                "URBANPULSE_API_VIEWER_KEY": viewer_key(key),
                "URBANPULSE_INGEST_CLIENT_ID": f"ingest-{city.root}",
                "URBANPULSE_INGEST_METRICS_INTERVAL_S": "0.5",
                "URBANPULSE_SIM_CLIENT_ID": f"sim-{city.root}"})
    return env


def query(url: str, text: str, timeout: float = 300) -> tuple[float, int, bool]:
    """Run one InfluxQL statement; return seconds, bytes of the answer and whether it failed."""
    started = time.perf_counter()
    size, head = 0, b""
    with HTTP.stream("GET", f"{url}/query", params={"db": "city", "q": text, "epoch": "ms"},
                     timeout=timeout) as response:
        for chunk in response.iter_bytes():
            head = head or chunk[:300]
            size += len(chunk)
        failed = response.status_code != 200 or b'"error"' in head
    return time.perf_counter() - started, size, failed


def pipeline_written(url: str) -> int:
    """Return the readings the ingester had acknowledged by InfluxDB (its own counter)."""
    response = httpx.get(f"{url}/query", params={
        "db": "city", "q": 'SELECT last("written") FROM "pipeline"'}, timeout=60)
    series = response.json()["results"][0].get("series", [])
    return int(series[0]["values"][0][1]) if series else 0


def build(city: City, mqtt_port: int, hours: float, key: str, folder: Path) -> None:
    """Backfill `hours` of the city ending now through the pipeline; wait until ingested."""
    stack.create_database(city.influxd.url, "city")
    env = env_for(city, mqtt_port, key)
    log_path = folder / f"ingest-{city.name}.log"
    ingest = city.ingest = subprocess.Popen(
        [sys.executable, "-m", "ops", "--log-level", "WARNING", "ingest"], env=env,
        stdout=log_path.open("ab"), stderr=subprocess.STDOUT)
    while pipeline_written(city.influxd.url) == 0 and not _started(city.influxd.url):
        _check_running(ingest, log_path)
        time.sleep(0.2)
    start = datetime.now(UTC) - timedelta(hours=hours)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ops", "--log-level", "WARNING", "sim", "--seed", "1",
                    "--scale", city.name, "--start", start.isoformat(timespec="seconds"),
                    "--duration", f"{int(hours * 3600)}", "--speed", "0"],
                   env=env, check=True)
    simulated = time.perf_counter() - started
    last, steady = -1, 0
    while steady < 6:  # written unchanged for 3 s after the simulator ended: drained
        _check_running(ingest, log_path)
        time.sleep(0.5)
        written = pipeline_written(city.influxd.url)
        steady = steady + 1 if written == last else 0
        last = written
    time.sleep(5)  # let the rollups of the open buckets be rewritten once more
    rollups = [row[0] for row in _rows(city.influxd.url, "SHOW MEASUREMENTS")
               if str(row[0]).endswith(("_1m", "_1h"))]
    built = time.perf_counter() - started
    city.facts = {"ingester_written": last, "simulate_s": round(simulated, 1),
                  "build_s": round(built, 1),
                  "written_per_s_end_to_end": round(last / built),
                  "broker_dropped_so_far": broker_dropped(mqtt_port),
                  "influxd_settle_s": settle(city.influxd.url),
                  "rollup_measurements": len(rollups),
                  "series": _series(city.influxd.url)}


def _check_running(process: subprocess.Popen[bytes], log: Path) -> None:
    """Raise with the end of its log if `process` has exited (a bad setting stops it at once)."""
    if process.poll() is not None:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the ingester exited with {process.returncode}:\n{tail}")


def compactions(url: str) -> tuple[int, int]:
    """Return influxd's TSM compactions running or queued now, and those done so far.

    From `SHOW STATS` (the `tsm1_engine` rows of every shard): the `*CompactionsActive`
    and `*CompactionQueue` fields, and the `*Compactions` counters.
    """
    response = httpx.get(f"{url}/query", params={"q": "SHOW STATS"}, timeout=60)
    busy = done = 0
    for series in response.json()["results"][0].get("series", []):
        if series["name"] != "tsm1_engine":
            continue
        for column, value in zip(series["columns"], series["values"][0], strict=True):
            if column.endswith(("CompactionsActive", "CompactionQueue")):
                busy += int(value)
            elif column.endswith("Compactions"):
                done += int(value)
    return busy, done


def settle(url: str, quiet_s: float = 5, within_s: float = 900) -> float:
    """Wait until influxd has run no compaction for `quiet_s`; return the seconds waited."""
    started = time.perf_counter()
    last, quiet_since = compactions(url)[1], time.perf_counter()
    while time.perf_counter() - started < within_s:
        time.sleep(0.5)
        busy, done = compactions(url)
        if busy or done != last:
            last, quiet_since = done, time.perf_counter()
        elif time.perf_counter() - quiet_since >= quiet_s:
            break
    return round(time.perf_counter() - started, 1)


def broker_dropped(port: int) -> int | None:
    """Return the messages mosquitto dropped since it started ($SYS), None if it says nothing."""
    result = subprocess.run([stack.find_binary("mosquitto_sub", "mosquitto-clients"), "-p",
                             str(port), "-C", "1", "-W", "5", "-t",
                             "$SYS/broker/publish/messages/dropped"],
                            capture_output=True, text=True, check=False)
    return int(result.stdout) if result.stdout.strip().isdigit() else None


def _started(url: str) -> bool:
    return bool(_rows(url, 'SELECT last("started") FROM "pipeline"'))


def _rows(url: str, text: str) -> list[list[Any]]:
    response = httpx.get(f"{url}/query", params={"db": "city", "q": text}, timeout=120)
    return [row for series in response.json()["results"][0].get("series", [])
            for row in series["values"]]


def _series(url: str) -> int:
    rows = _rows(url, "SHOW SERIES CARDINALITY")
    return int(rows[0][0]) if rows else 0


# -- dashboards ---------------------------------------------------------------------------


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_queries(dashboard: dict[str, Any], range_ms: int) -> list[tuple[str, str]]:
    """Return (where, expanded InfluxQL) of every query Grafana runs to load `dashboard`."""
    selection: dict[str, tuple[str, ...]] = {}
    for variable in dashboard["templating"]["list"]:
        value = (variable.get("current") or {}).get("value", "$__all")
        values = tuple(value) if isinstance(value, list) else (value,)
        selection[variable["name"]] = MACROS.ALL if "$__all" in values else values
    found = []
    for panel in _panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            found.append((f"panel {panel['title']!r} {target['refId']}",
                          MACROS.expand(str(target["query"]), selection, range_ms=range_ms,
                                        minimum=panel.get("interval"))))
    for item in dashboard["annotations"]["list"]:
        if not item.get("builtIn"):
            found.append((f"annotation {item['name']!r}",
                          MACROS.expand(str(item["target"]["query"]), selection,
                                        range_ms=range_ms, minimum=None)))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found.append((f"variable {variable['name']!r}",
                          MACROS.expand(str(variable["query"]), selection,
                                        range_ms=range_ms, minimum=None)))
    return found


def _memory_mb(pid: int) -> dict[str, float]:
    """Return influxd's peak RSS (`VmHWM`) and, now, its anonymous and file-backed parts
    (`RssAnon`: the Go heap and stacks; `RssFile`: the TSM files it maps), MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name = line.split(":", 1)[0]
        if name in ("VmHWM", "RssAnon", "RssFile"):
            found[name] = int(line.split()[1]) / 1024
    return found


def load_dashboard(city: City, queries: list[tuple[str, str]]) -> dict[str, Any]:
    """Run a dashboard's queries one after another; return time, bytes, peak RSS, panels."""
    pid = city.influxd.process.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM restarts from the current RSS
    panels, failed = {}, []
    before = compactions(city.influxd.url)[1]
    for where, text in queries:
        seconds, size, error = query(city.influxd.url, text)
        panels[where] = (seconds, size)
        if error:
            failed.append(where)
    busy_after, after = compactions(city.influxd.url)
    return {"s": sum(s for s, _ in panels.values()), "bytes": sum(b for _, b in panels.values()),
            "memory": _memory_mb(pid), "panels": panels, "failed": failed,
            "compactions": busy_after + after - before}  # ran, or still running at the end


def dashboards(cities: list[City], ranges: list[str], repeats: int) -> dict[str, Any]:
    """Load every dashboard at each range, alternating the cities; return the figures."""
    result: dict[str, Any] = {}
    for path in DASHBOARDS:
        board = json.loads(path.read_text(encoding="utf-8"))
        spans = {"default": MACROS.duration_ms(board["time"]["from"].removeprefix("now-")),
                 **{name: RANGES[name] for name in ranges}}
        for span, range_ms in spans.items():
            runs: dict[str, list[dict[str, Any]]] = {city.name: [] for city in cities}
            for _ in range(repeats):
                for city in cities:
                    runs[city.name].append(load_dashboard(city, dashboard_queries(board,
                                                                                  range_ms)))
            result.setdefault(path.stem, {})[span] = _summarise(runs)
    return result


SLOWEST = 3
"""The slowest queries of each dashboard load that are named, with their median seconds."""


def _summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    each: dict[str, dict[str, tuple[float, int]]] = {}
    for name, loads in runs.items():
        panels = loads[0]["panels"]
        medians = {where: round(statistics.median(load["panels"][where][0] for load in loads), 3)
                   for where in panels}
        each[name] = {where: (medians[where], loads[-1]["panels"][where][1]) for where in panels}
        slowest = sorted(medians, key=medians.__getitem__, reverse=True)[:SLOWEST]
        figures[name] = {
            "query_s": round(statistics.median(load["s"] for load in loads), 3),
            "bytes": loads[-1]["bytes"], "queries": len(panels),
            "influxd_peak_mb": round(max(load["memory"]["VmHWM"] for load in loads), 1),
            "influxd_after_mb": {part: round(loads[-1]["memory"][name], 1) for part, name
                                 in (("anon", "RssAnon"), ("file", "RssFile"))},
            "slowest": {where: medians[where] for where in slowest},
            "failed": loads[-1]["failed"],
            "compactions_during": max(load["compactions"] for load in loads)}
    return {**figures, **_ratios(figures, "query_s"), "growing": _growing_queries(each)}


def _growing_queries(each: dict[str, dict[str, tuple[float, int]]]) -> dict[str, Any]:
    """Return the queries (panel, annotation, variable) whose cost grew over twice as fast
    as the bytes they returned, with their seconds and bytes at the small and large scale."""
    small, large = each[next(iter(each))], each[list(each)[-1]]
    found = {}
    for where, (seconds, size) in large.items():
        before = small.get(where)
        if before is None:
            continue
        ratios = {"time_ratio": round(seconds / max(before[0], 1e-9), 2),
                  "bytes_ratio": round(size / max(before[1], 1), 2)}
        if _grows(seconds, ratios):
            found[where] = {"s": [before[0], seconds], "bytes": [before[1], size], **ratios}
    return found


def _ratios(figures: dict[str, Any], key: str) -> dict[str, Any]:
    names = list(figures)
    small, large = figures[names[0]], figures[names[-1]]
    return {"time_ratio": round(large[key] / max(small[key], 1e-9), 2),
            "bytes_ratio": round(large["bytes"] / max(small["bytes"], 1), 2)}


# -- the api ----------------------------------------------------------------------------


def start_live(city: City, mqtt_port: int, key: str, folder: Path) -> None:
    """Run the city's simulator live (speed 1, from now) until the run ends."""
    log = (folder / f"live-{city.name}.log").open("ab")
    env = env_for(city, mqtt_port, key) | {"URBANPULSE_SIM_CLIENT_ID": f"live-{city.root}"}
    city.live = subprocess.Popen(
        [sys.executable, "-m", "ops", "--log-level", "WARNING", "sim", "--seed", "1",
         "--scale", city.name, "--speed", "1"], env=env, stdout=log, stderr=subprocess.STDOUT)


def start_api(city: City, mqtt_port: int, key: str, folder: Path) -> None:
    """Start `urbanpulse api` (uvicorn) on the city; wait until /health answers."""
    city.api_port = stack.free_port()
    log = (folder / f"api-{city.name}.log").open("ab")
    city.api = subprocess.Popen(
        [sys.executable, "-m", "ops", "--log-level", "WARNING", "api", "--port",
         str(city.api_port)], env=env_for(city, mqtt_port, key), stdout=log,
        stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while not stack.accepts(city.api_port):
        if city.api.poll() is not None or time.monotonic() > deadline:
            tail = (folder / f"api-{city.name}.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the api of city {city.name} did not start:\n{tail}")
        time.sleep(0.1)
    # The api renders the exports' last day once at start: let it end before measuring.
    started = time.perf_counter()
    while "first pass" in httpx.get(f"http://127.0.0.1:{city.api_port}/health",
                                    timeout=30).json()["exports"]["detail"]:
        time.sleep(0.5)
    city.facts["export_warm_s"] = round(time.perf_counter() - started, 1)


def routes(city: City) -> dict[str, str]:
    """Return a concrete path for every GET route of the api (and a few variants)."""
    base = f"http://127.0.0.1:{city.api_port}"
    schema = httpx.get(f"{base}/openapi.json", timeout=30).json()
    district = httpx.get(f"{base}/v1/districts", timeout=120).json()["items"][0]["district"]
    biggest = max(city.facts["kinds"], key=city.facts["kinds"].get)
    sensor = httpx.get(f"{base}/v1/sensors", params={"kind": biggest, "limit": 1},
                       timeout=120).json()["items"][0]
    alerts = httpx.get(f"{base}/v1/alerts", params={"limit": 1}, timeout=120).json()["items"]
    incidents = httpx.get(f"{base}/v1/incidents", params={"limit": 1}, timeout=120,
                          headers={"X-API-Key": viewer_key(city.key)}).json()["items"]
    found = {"/v1/sensors?kind&district": f"/v1/sensors?kind={biggest}&district={district}",
             "/v1/sensors/{sensor_id}/readings?every=1h&24h":
                 f"/v1/sensors/{sensor['sensor']}/readings?every=1h&start="
                 f"{(datetime.now(UTC) - timedelta(hours=24)).strftime('%Y-%m-%dT%H:%M:%SZ')}",
             "/v1/alerts?state=firing": "/v1/alerts?state=firing",
             f"/v1/export/{biggest}.json": f"/v1/export/{biggest}.json"}
    for template, spec in schema["paths"].items():
        answers = spec.get("get", {}).get("responses", {}).get("200", {}).get("content", {})
        if "get" not in spec or "text/event-stream" in answers:  # streams do not end
            continue
        if "{kind}" in template:
            found |= {template.replace("{kind}", kind): template.replace("{kind}", kind)
                      for kind in city.facts["kinds"] if template.endswith(".csv")}
            continue
        if "{alert_id}" in template and not alerts:
            continue
        if template in VIEWS:  # a view needs a district or a place
            found[f"{template}?district"] = f"{template}?district={district}"
            found[f"{template}?near"] = f"{template}?near={sensor['lat']},{sensor['lon']}"
            continue
        if "{incident_id}" in template:
            if not incidents:
                continue
            found[template] = template.replace("{incident_id}", incidents[0]["incident_id"])
            continue
        found[template] = (template.replace("{sensor_id}", sensor["sensor"])
                           .replace("{district}", district)
                           .replace("{alert_id}", alerts[0]["alert_id"] if alerts else ""))
    return found


def route_times(cities: list[City], paths: dict[str, dict[str, str]], repeats: int
                ) -> dict[str, Any]:
    """Time every route on each city, alternating; return medians, bytes and ratios."""
    result: dict[str, Any] = {}
    for label in paths[cities[-1].name]:
        runs: dict[str, list[tuple[float, int, int]]] = {city.name: [] for city in cities}
        for _ in range(repeats):
            for city in cities:
                path = paths[city.name].get(label)
                if path is None:
                    continue
                started = time.perf_counter()
                response = HTTP.get(f"http://127.0.0.1:{city.api_port}{path}",
                                    headers={"X-API-Key": viewer_key(city.key)})
                runs[city.name].append((time.perf_counter() - started, len(response.content),
                                        response.status_code))
        figures = {name: {"ms": round(statistics.median(r[0] for r in got) * 1000, 1),
                          "bytes": got[-1][1], "status": got[-1][2]}
                   for name, got in runs.items() if got}
        if len(figures) == len(cities):
            result[label] = {**figures, **_ratios(figures, "ms")}
    return result


async def _load(port: int, path: str, seconds: float, connections: int) -> dict[str, Any]:
    """Keep `connections` keep-alive connections busy on `path`; return req/s, p50, p99."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    latencies: list[float] = []
    statuses: set[int] = set()
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            latencies.append(time.perf_counter() - sent)
            statuses.add(int(head.split(b" ", 2)[1]))
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"req_per_s": round(len(latencies) / elapsed),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
            "statuses": sorted(statuses)}


LATEST = ("/v1/sensors/{sensor_id}", "/v1/districts", "/v1/districts/{district}/summary",
          "/v1/parking/guidance?near", "/v1/alerts?state=firing")
"""The latest-state routes: the answers the api should give from memory."""


def throughput(cities: list[City], paths: dict[str, dict[str, str]], seconds: float,
               connections: int) -> dict[str, Any]:
    """Load each latest-state route on each city in turn."""
    result: dict[str, Any] = {}
    for label in LATEST:
        for city in cities:
            path = paths[city.name].get(label)
            if path is not None:
                result.setdefault(label, {})[city.name] = asyncio.run(
                    _load(city.api_port, path, seconds, connections))
    return result


# -- targets ----------------------------------------------------------------------------


def judge(boards: dict[str, Any], api: dict[str, Any], load: dict[str, Any],
          large: str) -> list[dict[str, Any]]:
    """Return each target of issue 18 with the figure measured at the large scale."""
    def worst(span: str) -> tuple[float, str]:
        return max(((spans[span][large]["query_s"], name) for name, spans in boards.items()
                    if span in spans), default=(0.0, ""))

    default, day = worst("default"), worst("24h")
    exports = [(api[label][large]["ms"] / 1000, label) for label in api if "/export/" in label]
    summary = api.get("/v1/districts/{district}/summary", {}).get(large, {}).get("ms", 0.0)
    rates = [(figures[large]["req_per_s"], figures[large]["p99_ms"], label)
             for label, figures in load.items() if large in figures]
    peak = max((spans[span][large]["influxd_peak_mb"] for spans in boards.values()
                for span in spans), default=0.0)
    growing = [f"{name} {span}: {where}" for name, spans in boards.items()
               for span, f in spans.items() for where in f["growing"]]
    growing += [label for label, f in api.items() if _grows(f[large]["ms"] / 1000, f)]
    low_rate = min(rates, default=(0, 0.0, ""))
    high_p99 = max(rates, key=lambda r: r[1], default=(0, 0.0, ""))
    export = max(exports, default=(0.0, ""))
    return [
        {"target": "every dashboard's default view < 1 s of query time",
         "figure": f"{default[0]:.3f} s ({default[1]})", "met": default[0] < TARGETS[
             "dashboard_default_s"]},
        {"target": "every dashboard's 24 h view < 3 s", "figure": f"{day[0]:.3f} s ({day[1]})",
         "met": bool(day[1]) and day[0] < TARGETS["dashboard_24h_s"]},
        {"target": "latest-state routes >= 2,000 req/s on one worker",
         "figure": f"{low_rate[0]} req/s ({low_rate[2]})",
         "met": bool(rates) and low_rate[0] >= TARGETS["latest_req_per_s"]},
        {"target": "latest-state routes p99 < 50 ms",
         "figure": f"{high_p99[1]} ms ({high_p99[2]})",
         "met": bool(rates) and high_p99[1] < TARGETS["latest_p99_ms"]},
        {"target": "district summary < 100 ms", "figure": f"{summary} ms",
         "met": 0 < summary < TARGETS["summary_ms"]},
        {"target": "a day's export < 1 s", "figure": f"{export[0]:.3f} s ({export[1]})",
         "met": bool(exports) and export[0] < TARGETS["export_day_s"]},
        {"target": "influxd < 1.5 GB during a dashboard load", "figure": f"{peak} MB",
         "met": peak < TARGETS["influxd_peak_mb"]},
        {"target": "no route or panel whose cost grows faster than the data it returns",
         "figure": growing or "none", "met": not growing},
    ]


def _grows(seconds: float, figures: dict[str, Any]) -> bool:
    """Return whether a cost (not noise) grew over twice as fast as the bytes it returned."""
    return seconds > SLOW_S and figures["time_ratio"] > 2 * max(figures["bytes_ratio"], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,50", help="comma-separated city scales")
    parser.add_argument("--hours", type=float, default=24, help="history to load, hours")
    parser.add_argument("--ranges", default="24h,7d", help="dashboard ranges beyond the default")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per city and item")
    parser.add_argument("--load-s", type=float, default=10, help="seconds per throughput run")
    parser.add_argument("--connections", type=int, default=16, help="throughput connections")
    args = parser.parse_args()
    scales = [float(scale) for scale in args.scales.split(",")]
    ranges = [span for span in args.ranges.split(",") if span]
    # A TERM (a timeout, a kill) unwinds like Ctrl-C, so the servers below are stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    key = uuid.uuid4().hex
    cities: list[City] = []
    with tempfile.TemporaryDirectory(prefix="urbanpulse-read-scale-") as tmp:
        folder = Path(tmp)
        broker = stack.start_mosquitto(folder / "mosquitto", stack.free_port())
        try:
            for scale in scales:
                influxd = stack.start_influxd(folder / f"influxd-{scale:g}", stack.free_port(),
                                              stack.free_port())
                city = City(scale, influxd, f"c{uuid.uuid4().hex[:8]}", key)
                cities.append(city)
                build(city, broker.port, args.hours, key, folder)
                city.facts["kinds"] = _kind_counts(city.influxd.url)
                city.facts["sensors"] = sum(city.facts["kinds"].values())
                start_live(city, broker.port, key, folder)
                start_api(city, broker.port, key, folder)
            paths = {city.name: routes(city) for city in cities}
            for city in cities:  # what influxd still compacts would weigh on the dashboards
                city.facts["influxd_settle_before_dashboards_s"] = settle(city.influxd.url)
            boards = dashboards(cities, ranges, args.repeats)
            api = route_times(cities, paths, args.repeats)
            load = throughput(cities, paths, args.load_s, args.connections)
        finally:
            for city in cities:
                for process in (city.live, city.api, city.ingest):
                    if process is not None and process.poll() is None:
                        process.send_signal(signal.SIGTERM)
                        process.wait(60)
                city.influxd.stop()
            broker.stop()
    large = cities[-1].name
    print(json.dumps({
        "benchmark": "read_scale", "scales": [city.name for city in cities],
        "history_hours": args.hours, "repeats": args.repeats,
        "dashboard_queries_run": "one after another, variables at their defaults",
        "load_connections": args.connections, "load_s": args.load_s,
        "cities": {city.name: city.facts for city in cities},
        "targets_at_scale": large, "targets": judge(boards, api, load, large),
        "totals_growing": [f"{name} {span}" for name, spans in boards.items()
                           for span, f in spans.items() if _grows(f[large]["query_s"], f)],
        "dashboards": boards, "routes": api, "latest_state_throughput": load,
    }, indent=2))


def _kind_counts(url: str) -> dict[str, int]:
    """Return the number of sensors of each kind with a birth."""
    rows = _rows(url, 'SHOW SERIES FROM "sensors"')
    counts: dict[str, int] = {}
    for (key,) in rows:
        kind = dict(part.split("=", 1) for part in str(key).split(",")[1:]).get("kind", "")
        counts[kind] = counts.get(kind, 0) + 1
    return counts


if __name__ == "__main__":
    main()
