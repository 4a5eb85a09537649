"""The contract battery's run: a scenario that injects every kind's truth, built from the registry.

For each registered kind, every truth type its default rules `detect` is
injected once: its device faults in the district with most of its sensors
(all of them there, one fault after another, a few hours each, so that a
district-wide outage is among them), its own incident types in the other
districts, in turn (all its sensors there, for a whole day, at twice the
default magnitude), so that one incident does not hide another: a storm in
a sewer would drown the foul connection's sewage. An incident that silences
its sensors (a pole's power cut) runs for the last hours only.

A kind that reports less often than a fault slot lasts (a manhole cover's
daily heartbeat) would show no fault within a few hours: its faults run from
the first hour to the end, so that a silence outlasts one and a half
heartbeats. So do the silences a staleness rule with a `match` waits for when
the sensors it picks declare such an interval (a parking kind's on-street bays,
beside its lots): on those sensors alone, from the first hour.

Staleness is judged on arrival time (the ingester's clock), so the three days
sent at full speed cannot show it: the rules swept for silence (`stale`,
`district_stale`) are judged on a replay of the same run, where the engine
runs on simulated time (`urbanpulse score --replay`); every other rule on what
the ingester published. `tests/ingest/alerts/test_stale_live.py` covers live
staleness through the real ingester. The run starts at the Labour
Day holiday of 2026 (1–5 May) and lasts three days, so that rules which learn
a baseline have two days of history before the injections start.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from api.main import create_app
from grafana.builder.__main__ import render
from grafana.builder.kinds import kind_dashboards
from ingest.alerts.rules import DistrictStaleRule, Rule, StaleRule, load_kind_rules
from ops import stack
from ops.score import episodes, score
from ops.score_basis import targets
from ops.score_influx import query_alerts
from ops.score_run import replay
from simulator.city import SensorSpec, build_city
from simulator.profile import CityProfile, load_profile
from tests.conftest import Recorder, influx_query, influx_rows
from tests.grafana_macros import ALL, expand
from tests.ingest.processes import IngestProcess, ingest_env, wait_for, wait_for_snapshots
from tests.test_dashboards import queries
from urbanpulse.influxql import Series, quote_identifier
from urbanpulse.kinds import SensorKind, part
from urbanpulse.kinds.panels import CHOSEN
from urbanpulse.messages import Alert, Truth, truth_decoder
from urbanpulse.settings import ApiSettings

START = "2026-05-01T00:00:00+08:00"
SEED = 3
DURATION_S = 3 * 86_400
INJECT_FROM_H = 48
FAULT_SLOT_H = 4
SILENCE_H = 6
"""An incident that silences its sensors (a pole's power cut) runs for the run's last hours
only, so that the incidents sharing its district show first."""
FAULT_HOURS = 3
HEARTBEAT_FAULTS_FROM_H = 1
"""When the faults of a kind reporting less often than a fault slot begin."""


def detected_types(kind: SensorKind) -> list[str]:
    """Return the truth types the kind's default rules detect, in rule order."""
    seen: dict[str, None] = {}
    for rule in load_kind_rules(kind):
        for name in rule.detects or ():
            seen.setdefault(name)
    return list(seen)


def _districts(profile: CityProfile, kind: str) -> list[str]:
    """Return the districts with sensors of `kind`, most sensors first."""
    having = [d for d in profile.districts if d.counts.get(kind, 0) > 0]
    return [d.name for d in sorted(having, key=lambda d: -d.counts[kind])]


def _heartbeat_silences(kind: SensorKind, specs: Sequence[SensorSpec], district: str
                        ) -> list[dict[str, Any]]:
    """Return whole-run silences for the kind's staleness rules that pick heartbeat devices."""
    entries: list[dict[str, Any]] = []
    for rule in load_kind_rules(kind):
        if not isinstance(rule, StaleRule) or rule.match is None:
            continue
        picked = [spec for spec in specs if spec.kind == kind.name
                  and spec.district == district and rule.watches(spec.attributes)]
        if picked and rule.factor * max(s.interval_s for s in picked) > FAULT_SLOT_H * 3600:
            entries += [{"type": name, "kind": kind.name, "district": district,
                         "attributes": dict(rule.match), "at": f"{HEARTBEAT_FAULTS_FROM_H}h",
                         "duration": f"{DURATION_S // 3600 - HEARTBEAT_FAULTS_FROM_H}h"}
                        for name in rule.detects or () if name == "offline"]
    return entries


def scenario(profile: CityProfile, kinds: Iterable[SensorKind],
             specs: Sequence[SensorSpec] = ()) -> dict[str, Any]:
    """Return the battery's scenario for `kinds` laid out in `profile` (`specs`: its sensors)."""
    entries: list[dict[str, Any]] = []
    for kind in kinds:
        districts = _districts(profile, kind.name)
        if not districts:
            continue
        faults, others = districts[0], districts[1:] or districts
        slot = incident = 0
        silencing: frozenset[str] = getattr(part(kind, "model"), "SILENCES_MOUNTED", frozenset())
        for name in detected_types(kind):
            if name in kind.incidents:
                at, hours = ((INJECT_FROM_H, 24) if name not in silencing else
                             (DURATION_S // 3600 - SILENCE_H, SILENCE_H))
                entries.append({"type": name, "at": f"{at}h", "duration": f"{hours}h",
                                "district": others[incident % len(others)],
                                "magnitude": 2.0})
                incident += 1
            elif kind.interval_s > FAULT_SLOT_H * 3600:
                entries.append({"type": name, "kind": kind.name, "district": faults,
                                "at": f"{HEARTBEAT_FAULTS_FROM_H}h",
                                "duration": f"{DURATION_S // 3600 - HEARTBEAT_FAULTS_FROM_H}h"})
            else:
                entries.append({
                    "type": name, "kind": kind.name, "district": faults,
                    "at": f"{INJECT_FROM_H + slot * FAULT_SLOT_H}h",
                    "duration": f"{FAULT_HOURS}h" if name not in ("spike",) else
                    f"{kind.interval_s}s"})
                slot += 1
        entries += _heartbeat_silences(kind, specs, faults)
    return {"name": "battery", "incidents": entries}


def rules_of(kind: SensorKind) -> Sequence[str]:
    """Return the names of the kind's default rules."""
    return [rule.name for rule in load_kind_rules(kind)]


# -- the run --------------------------------------------------------------------------------


@dataclass
class BatteryRun:
    """A city simulated through mosquitto and `urbanpulse ingest` into InfluxDB."""

    url: str
    db: str
    truths: list[Truth]
    alerts: list[Alert]
    districts: dict[str, list[str]]
    """The districts with sensors of each kind."""
    start_ms: int
    end_ms: int
    replayed: list[Alert]
    """The alerts of the silence rules, replayed on simulated time."""

    def count(self, measurement: str, field: str) -> int:
        """Return how many points of `measurement` carry `field`."""
        rows = influx_rows(self.url, self.db, f"SELECT count({quote_identifier(field)}) "
                                              f"FROM {quote_identifier(measurement)}")
        return int(rows[0]["count"]) if rows else 0


class _Influx:
    """`Queries` over the test's blocking InfluxDB client."""

    def __init__(self, url: str, db: str) -> None:
        self.url, self.db = url, db

    async def query(self, statement: str) -> list[Series]:
        return [Series(**one) for one in influx_query(self.url, self.db, statement)]


_DONE = re.compile(r"(\d+) births, (\d+) readings, (\d+) truths")


def run_battery(*, mosquitto: stack.Server, influxd: stack.Server, folder: Path, city: str,
                scale: float, kinds: Iterable[SensorKind], env: Mapping[str, str] | None = None,
                warm_up: str | None = None, start: str = START) -> Iterator[BatteryRun]:
    """Simulate the battery's three days of `city` through the real pipeline; yield the run.

    `env` adds to the processes' environment (a PYTHONPATH that installs a kind, say);
    `warm_up` (`7d`) simulates that much history before the three days, for rules that
    judge a day against the days before it, from `start` (default `START`).
    """
    profile = load_profile(city)
    kinds = list(kinds)
    specs = build_city(profile, scale=scale, seed=SEED)
    (folder / "scenario.yaml").write_text(
        yaml.safe_dump(scenario(profile, kinds, specs), sort_keys=False), encoding="utf-8")
    db, root = f"battery_{uuid.uuid4().hex[:10]}", f"b{uuid.uuid4().hex[:10]}"
    stack.create_database(influxd.url, db)
    settings = ingest_env(mqtt_port=mosquitto.port, influx_url=influxd.url, influx_db=db,
                          root=root, ingest_max_age_s=10 * 365 * 86_400,
                          ingest_now_interval_s=1)
    settings.update(env or {})
    ingester = IngestProcess(settings, folder, mosquitto.port)
    truths = Recorder(mosquitto.port, f"{root}/truth/#")
    try:
        ingester.start()
        flags = [sys.executable, "-m", "ops", "sim", "--city", city, "--seed", str(SEED), "--scale",
                 str(scale), "--start", start, "--duration", str(DURATION_S), "--speed", "0",
                 "--scenario", str(folder / "scenario.yaml"),
                 *(["--warm-up", warm_up] if warm_up else [])]
        recorded = subprocess.run([*flags, "--output", f"jsonl:{folder / 'run.jsonl'}"],
                                  env=settings, capture_output=True, text=True, timeout=300,
                                  check=False)
        assert recorded.returncode == 0, recorded.stderr
        # Published, the run keeps to the ingester's pace once the broker holds 200,000
        # readings for it (URBANPULSE_SIM_MAX_QUEUED): its time includes most of the drain
        # that `landed` below used to wait 240 s for alone.
        sim = subprocess.run(flags, env=settings, capture_output=True, text=True, timeout=540,
                             check=False)
        assert sim.returncode == 0, sim.stderr
        done = _DONE.search(sim.stderr)
        assert done, sim.stderr
        births, readings, truth_count = (int(n) for n in done.groups())
        wait_for(lambda: len(truths.messages) >= truth_count, 30, "every truth message")
        counters = 'SELECT last("received"), last("written"), last("rejected") FROM "pipeline"'

        def landed() -> bool:
            rows = influx_rows(influxd.url, db, counters)
            if not rows:
                return False
            received, written, rejected = (rows[0][name] for name in ("last", "last_1",
                                                                      "last_2"))
            return bool(received >= births + readings and written + rejected >= received)

        wait_for(landed, 240, "every reading written")
        wait_for_snapshots(influxd.url, db, kinds[0].name)
        start_ms = int(datetime.fromisoformat(start).timestamp() * 1000)
        end_ms = start_ms + DURATION_S * 1000
        alerts = asyncio.run(query_alerts(
            _Influx(influxd.url, db), datetime.fromtimestamp(start_ms / 1000, UTC),
            datetime.fromtimestamp(end_ms / 1000 + 86_400, UTC)))
        yield BatteryRun(
            influxd.url, db, [truth_decoder.decode(payload) for _, payload in truths.messages],
            alerts, {kind.name: _districts(profile, kind.name) for kind in kinds},
            start_ms, end_ms, replay(folder / "run.jsonl", [
                rule for kind in kinds for rule in load_kind_rules(kind) if is_swept(rule)],
                root=root, max_age_s=10 * 365 * 86_400))
    finally:
        truths.close()
        ingester.close()
        httpx.post(f"{influxd.url}/query", data={"q": f'DROP DATABASE "{db}"'}, timeout=30)


# -- what every kind must show ------------------------------------------------------------------


def is_swept(rule: Rule) -> bool:
    """Whether the engine judges the rule by sweeping for silence, on arrival time."""
    return isinstance(rule, StaleRule | DistrictStaleRule)


def unfired_rules(run: BatteryRun, kind: SensorKind) -> list[str]:
    """Return the kind's default rules that raised no alert on an injected truth they detect."""
    rules = [rule for rule in load_kind_rules(kind) if rule.detects]
    found: dict[str, int] = {}
    for alerts in (run.alerts, run.replayed):
        for row in score(run.truths, episodes(alerts), targets(rules), {},
                         tolerance_ms=600_000):
            found[row.rule] = found.get(row.rule, 0) + row.detected
    return [rule.name for rule in rules if not found.get(rule.name)]


def has_content(value: object) -> bool:
    """Whether a JSON value holds something: a non-zero number, a text, true, or a filled list."""
    if isinstance(value, dict):
        return any(has_content(item) for item in value.values())
    if isinstance(value, list):
        return any(has_content(item) for item in value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return isinstance(value, str) and value != ""


async def summary_section(run: BatteryRun, kind: SensorKind) -> object:
    """Return the kind's section of its first district's summary at the run's end, via the api."""
    settings = ApiSettings(influx_url=run.url, influx_db=run.db)
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        district = run.districts[kind.name][0]
        at = datetime.fromtimestamp(run.end_ms / 1000 - 60, UTC).isoformat()
        response = await client.get(f"/v1/districts/{district}/summary", params={"at": at})
        assert response.status_code == 200, response.text
        return response.json()[kind.name]


def empty_dashboard_queries(run: BatteryRun, kind: SensorKind) -> list[str]:
    """Return the kind's dashboard queries that return no row over the run, everything chosen."""
    dashboard = json.loads(render(kind_dashboards()[kind.name]))
    every = {variable["name"]: ALL for variable in dashboard["templating"]["list"]}
    # A chart of one line per sensor shows only for a chosen district: the kind's first.
    chosen = {**every, "district": run.districts[kind.name][:1]}
    empty = []
    for query in queries(dashboard):
        selection = chosen if CHOSEN in query.text else every
        text = expand(query.text, selection, range_ms=run.end_ms - run.start_ms,
                      minimum=query.interval, now_ms=run.end_ms)
        if not any(row[1:] != [None] * (len(row) - 1) for one in influx_query(
                run.url, run.db, text) for row in one["values"]):
            empty.append(query.where)
    return empty


async def view_items(run: BatteryRun, kind: SensorKind, view: str) -> tuple[list[Any],
                                                                           list[Any]]:
    """Return a view's items for the kind's first district, then near its first item."""
    settings = ApiSettings(influx_url=run.url, influx_db=run.db)
    transport = httpx.ASGITransport(app=create_app(settings))
    at = datetime.fromtimestamp(run.end_ms / 1000 - 60, UTC).isoformat()
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        path = f"/v1/{kind.name}/{view}"
        listed = await client.get(path, params={"district": run.districts[kind.name][0],
                                                "at": at, "limit": 100})
        assert listed.status_code == 200, listed.text
        items: list[Any] = listed.json()["items"]
        if not items:
            return [], []
        near = f"{items[0]['lat']},{items[0]['lon']}"
        nearby = await client.get(path, params={"near": near, "radius_m": 50_000, "at": at,
                                                "limit": 100})
        assert nearby.status_code == 200, nearby.text
        return items, nearby.json()["items"]
