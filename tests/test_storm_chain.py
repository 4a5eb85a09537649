"""The shipped storm scenario through the real pipeline: its chain in the truth, the alerts,
the flood dashboard's queries and the api.

One run of `python -m ops sim --scenario storm` (seed 5, scale 0.25: two ponding gauges in
Huangpu, both underpasses, so the flood view has an order to show, and two water stations
in Fengxian for the scenario's `count: 2`) is backfilled through the test mosquitto into a
real `urbanpulse ingest` and the test influxd, while a subscriber records `truth/#`. The
cloudburst breaks at 2 h, the underpasses pond, the sewers surcharge at 2 h 15 m and the
pumps discharge from 2 h 30 m; eight hours take the run past 6 h, where the river's water
quality drops in Fengxian, so the last link is checked here too (its truth and the rise of
its ammonia in the stored readings).

The run starts on a fixed winter day, not at now less the window as the dashboards' run
does: the weather is drawn per date from the seed, and a run on a summer day could meet
the seed's own cloudburst or typhoon over the whole city, which would flood Pudong too and
make the checks that tell Huangpu from Pudong fail on some days of the year. A fixed date
makes every run the same. So the ingester accepts readings ten years old, and every query
and api request names its time: `STORM`, an hour into the storm, and `DRY`, a minute
before it. Each check is made three times: Huangpu in the storm shows the link, Pudong at
the same time and Huangpu before the storm do not.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.main import create_app
from ops import stack
from tests.conftest import Recorder, influx_query, influx_rows
from tests.grafana_macros import ALL, duration_ms, expand
from tests.ingest.processes import IngestProcess, ingest_env, wait_for
from urbanpulse.messages import Truth, truth_decoder
from urbanpulse.settings import ApiSettings

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parent.parent
FLOOD = ROOT / "grafana" / "dashboards" / "flood.json"
START = "2026-11-02T10:00:00+08:00"
"""A Monday in November: no seeded cloudburst or typhoon (those come June to September)."""
START_MS = int(datetime.fromisoformat(START).timestamp() * 1000)
WINDOW_S = 8 * 3600
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
STORM_MS = START_MS + 3 * HOUR_MS
"""An hour after the cloudburst broke: ponded, surcharged and pumping to the river."""
DRY_MS = START_MS + 2 * HOUR_MS - MINUTE_MS
"""A minute before the cloudburst."""
SNAPSHOT_SKEW_MS = 30 * MINUTE_MS
"""How far ahead of the readings a "now" snapshot of backfilled history may be stamped."""
CAUSE = "storm-huangpu"
STORM, ELSEWHERE = "huangpu", "pudong"
LINKS = [("rain", "cloudburst"), ("ponding", "cloudburst-ponding"),
         ("sewer", "sewer-surcharge"), ("manhole", "manhole-flooding"),
         ("pump", "pump-discharge"), ("water", "sewage-discharge")]
"""The scenario's links in causal order, (kind, truth type)."""
FLOOD_KINDS = ("ponding", "rain", "sewer", "pump")
_DONE = re.compile(r"(\d+) births, (\d+) readings, (\d+) truths")


@dataclass(frozen=True)
class StormRun:
    """The database the storm was written to, and the truth recorded while it ran."""

    url: str
    db: str
    truths: list[Truth]

    def rows(self, query: str) -> list[dict[str, Any]]:
        return influx_rows(self.url, self.db, query)


def _settled(url: str, db: str, births: int, readings: int) -> bool:
    """Whether every message is written and every rollup of the flood kinds counts them all."""
    rows = influx_rows(url, db, 'SELECT last("received") AS "received", last("written") AS '
                                '"written", last("rejected") AS "rejected", last("pending") AS '
                                '"pending", last("outbox_queued") AS "queued" FROM "pipeline"')
    if not rows:
        return False
    counters = rows[0]
    if counters["received"] < births + readings or counters["pending"] or counters["queued"] \
            or counters["written"] + counters["rejected"] < counters["received"]:
        return False
    for kind in FLOOD_KINDS:
        raw = influx_rows(url, db, f'SELECT count("seq") FROM "{kind}"')
        rolled = influx_rows(url, db, f'SELECT sum("count") FROM "{kind}_district_1m"')
        if not raw or not rolled or rolled[0]["sum"] != raw[0]["count"]:
            return False
    return True


@pytest.fixture(scope="module")
def storm(mosquitto: stack.Server, influxd: stack.Server,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[StormRun]:
    """Backfill eight hours of the storm scenario through mosquitto, ingest and influxd."""
    folder = tmp_path_factory.mktemp("storm")
    db, root = f"storm_{uuid.uuid4().hex[:10]}", f"s{uuid.uuid4().hex[:10]}"
    stack.create_database(influxd.url, db)
    env = ingest_env(mqtt_port=mosquitto.port, influx_url=influxd.url, influx_db=db, root=root,
                     ingest_metrics_interval_s=0.5, ingest_max_age_s=10 * 365 * 86_400)
    ingester = IngestProcess(env, folder, mosquitto.port)
    truths = Recorder(mosquitto.port, f"{root}/truth/#")
    try:
        ingester.start()
        sim = subprocess.run(
            [sys.executable, "-m", "ops", "sim", "--seed", "5", "--scale", "0.25", "--start",
             START, "--duration", str(WINDOW_S), "--speed", "0", "--scenario", "storm"],
            env=env, capture_output=True, text=True, timeout=120, check=False)
        assert sim.returncode == 0, sim.stderr
        done = _DONE.search(sim.stderr)
        assert done, sim.stderr
        births, readings, truth_count = (int(n) for n in done.groups())
        wait_for(lambda: len(truths.messages) >= truth_count, 30, "every truth message")
        wait_for(lambda: _settled(influxd.url, db, births, readings), 120,
                 "every reading written and rolled up")
        assert ingester.running(), ingester.log_tail()
        yield StormRun(influxd.url, db,
                       [truth_decoder.decode(payload) for _, payload in truths.messages])
    finally:
        truths.close()
        ingester.close()
        httpx.post(f"{influxd.url}/query", data={"q": f'DROP DATABASE "{db}"'}, timeout=30)


# -- 1. the truth ---------------------------------------------------------------------------


def test_every_link_is_announced_with_the_cause_in_causal_order(storm: StormRun) -> None:
    assert storm.truths
    assert all(truth.detail.get("cause") == CAUSE for truth in storm.truths)
    assert all(truth.detail["source"] == "incident" for truth in storm.truths)
    by_link: dict[tuple[str, str], list[Truth]] = {}
    arrived: dict[tuple[str, str], int] = {}
    for index, truth in enumerate(storm.truths):
        by_link.setdefault((truth.kind, truth.type), []).append(truth)
        arrived.setdefault((truth.kind, truth.type), index)
    assert set(by_link) == set(LINKS), sorted(by_link)
    starts = [min(truth.start for truth in by_link[link]) for link in LINKS]
    assert starts == sorted(starts), "the links start out of causal order"
    # A link that starts later is announced later (rain and ponding, breaking together, in
    # either order).
    for earlier, later in itertools.pairwise(LINKS):
        if min(t.start for t in by_link[earlier]) < min(t.start for t in by_link[later]):
            assert arrived[earlier] < arrived[later], (earlier, later)
    # Rain and ponding break together; the sewers fill after their catchment lag, the pumps
    # start on the rising forebay, and the river turns hours later.
    assert starts[0] == starts[1] == START_MS + 2 * HOUR_MS
    assert starts[1] < starts[2] < starts[4] < starts[5] == START_MS + 6 * HOUR_MS
    for link in LINKS[:-1]:
        assert {truth.district for truth in by_link[link]} == {STORM}, link
    assert {truth.district for truth in by_link["water", "sewage-discharge"]} == {"fengxian"}
    # Every Huangpu gauge, meter and station of the flood kinds is a link of the storm.
    for kind, kind_type in LINKS[:3] + LINKS[4:5]:
        born = {row["value"] for row in storm.rows(
            f'SHOW TAG VALUES FROM "{kind}" WITH KEY = "sensor" WHERE "district" = \'{STORM}\'')}
        assert born
        assert {truth.sensor for truth in by_link[kind, kind_type]} == born, kind


def test_the_rivers_water_quality_drops_in_fengxian_after_the_discharge(storm: StormRun
                                                                       ) -> None:
    stations = sorted({truth.sensor for truth in storm.truths if truth.type == "sewage-discharge"})
    assert len(stations) == 2
    turn = START_MS + 6 * HOUR_MS
    for station in stations:
        before, after = (storm.rows(
            f'SELECT max("nh3_n") FROM "water" WHERE "sensor" = \'{station}\' AND {span}')
            for span in (f"time < {turn}ms", f"time >= {turn + HOUR_MS}ms"))
        assert before, station
        assert after, station
        assert after[0]["max"] > before[0]["max"] + 1.0, station
    # The stations of the other districts see no discharge: none of them is announced.
    assert all(station.startswith("water-fengxian-") for station in stations)


# -- 2. the alerts --------------------------------------------------------------------------

STORM_RULES = {"ponding-notify": "cloudburst-ponding", "ponding-report": "cloudburst-ponding",
               "underpass-close": "cloudburst-ponding", "sewer-surcharge": "sewer-surcharge",
               "river-discharge-started": "pump-discharge"}
"""The default rules the storm must raise in Huangpu, each with the link it detects."""


def firing(storm: StormRun, district: str, until_ms: int) -> list[dict[str, Any]]:
    """Return the firings of the storm rules in `district` up to `until_ms`."""
    rows = storm.rows(f"""SELECT "since" FROM "alerts" WHERE "state" = 'firing' AND """
                      f""""district" = '{district}' AND time <= {until_ms}ms """
                      f"""GROUP BY "rule", "sensor" """)
    return [row for row in rows if row["rule"] in STORM_RULES]


def test_the_ponding_stage_sewer_and_pump_rules_fire_in_huangpu_during_the_storm(
        storm: StormRun) -> None:
    end = START_MS + WINDOW_S * 1000
    fired = firing(storm, STORM, end)
    # Each rule fires on a sensor while the truth of its link holds there.
    during: dict[str, int] = {}
    for row in fired:
        for truth in storm.truths:
            if (truth.type == STORM_RULES[row["rule"]] and truth.sensor == row["sensor"]
                    and truth.start <= row["time"] <= (truth.end or end)):
                during[row["rule"]] = min(during.get(row["rule"], row["time"]), row["time"])
    assert set(during) == set(STORM_RULES), (during, fired)
    # The stages in their order: notify, report, then close.
    assert during["ponding-notify"] <= during["ponding-report"] <= during["underpass-close"]
    assert not firing(storm, STORM, DRY_MS)
    assert not firing(storm, ELSEWHERE, end)


# -- 3. the flood dashboard -----------------------------------------------------------------

FLOOD_PANELS: dict[tuple[str, str], tuple[str, float]] = {
    ("Ponding gauges by stage", "B"): ("depth_cm", 25),
    ("Flood points now", "A"): ("sum", 1),
    ("Underpasses to close now", "A"): ("sum", 1),
    ("Deepest ponding by district", "A"): ("max", 25),
    ("Pump stations discharging now", "A"): ("sum", 1),
    ("Pumped discharge by district", "A"): ("mean", 1),
    ("Rain accumulations, wettest gauge", "A"): ("3 h", 50),
    ("Rain accumulations now by district", "A"): ("3 h", 50),
    ("Fullest sewer by district", "A"): ("max", 1),
    ("Surcharged pipes now", "A"): ("sum", 1),
}
"""Each storm panel's target, the column it shows and the value the storm reaches in it: a
stage-3 depth, one flood point or closure, a station discharging, a CMA rainstorm signal
(50 mm in 3 h), a sewer running full."""
BIRTHS = ("Ponding gauges by stage", "A")
"""The map's sensor positions: births, the same in and out of a storm."""


def flood_targets() -> dict[tuple[str, str], str]:
    dashboard = json.loads(FLOOD.read_text(encoding="utf-8"))

    def walk(panels: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in panels:
            yield panel
            yield from walk(panel.get("panels", []))

    return {(panel["title"], target["refId"]): str(target["query"])
            for panel in walk(dashboard["panels"]) for target in panel.get("targets", [])}


def dashboard_peak(storm: StormRun, text: str, column: str, district: str, now_ms: int
                   ) -> float | None:
    """Return the highest value of `column` a panel query shows for `district` (None: none)."""
    selection: dict[str, Sequence[str]] = {"city": ALL, "district": [district], "sensor": ALL}
    query = expand(text, selection, range_ms=duration_ms("6h"), minimum=None, now_ms=now_ms)
    values = [row[series["columns"].index(column)]
              for series in influx_query(storm.url, storm.db, query)
              for row in series["values"]]
    numbers = [value for value in values if value is not None]
    return max(numbers) if numbers else None


def test_the_flood_dashboard_shows_the_storm_in_huangpu(storm: StormRun) -> None:
    targets = flood_targets()
    assert set(targets) == {*FLOOD_PANELS, BIRTHS}, "a flood panel without a storm check"
    for where, (column, reached) in FLOOD_PANELS.items():
        text = targets[where]
        # A "now" panel reads the ingester's snapshot, stamped with the time the readings
        # had reached when it was written: while history is backfilled, a sensor whose
        # clock runs ahead (up to 30 minutes, simulator/faults.py) stamps it that early.
        late = SNAPSHOT_SKEW_MS if re.search(r'_(now|top)"', text) else 0
        during = dashboard_peak(storm, text, column, STORM, STORM_MS + late)
        assert during is not None, where
        assert during >= reached, (where, during)
        for district, now_ms in ((ELSEWHERE, STORM_MS), (STORM, DRY_MS)):
            quiet = dashboard_peak(storm, text, column, district, now_ms)
            assert quiet is None or quiet < reached, (where, district, now_ms, quiet)
    # The map places each Huangpu gauge it colours.
    selection: dict[str, Sequence[str]] = {"city": ALL, "district": [STORM], "sensor": ALL}
    placed, coloured = ({one["tags"]["sensor"] for one in influx_query(
        storm.url, storm.db, expand(targets[where], selection, range_ms=duration_ms("6h"),
                                    minimum=None, now_ms=STORM_MS))}
        for where in (BIRTHS, ("Ponding gauges by stage", "B")))
    assert coloured
    assert placed == coloured


# -- 4. the api -----------------------------------------------------------------------------


async def api_get(storm: StormRun, path: str, **params: str | int) -> Any:
    transport = httpx.ASGITransport(app=create_app(ApiSettings(influx_url=storm.url,
                                                               influx_db=storm.db)))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def at(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


async def test_the_flood_view_lists_huangpus_gauges_deepest_first_closed(storm: StormRun
                                                                        ) -> None:
    gauges = {row["value"] for row in storm.rows(
        f'SHOW TAG VALUES FROM "ponding" WITH KEY = "sensor" WHERE "district" = \'{STORM}\'')}
    assert len(gauges) >= 2
    view = await api_get(storm, "/v1/ponding/flood", district=STORM, at=at(STORM_MS), limit=100)
    items = view["items"]
    assert {item["sensor"] for item in items} == gauges
    assert all(item["district"] == STORM for item in items)
    depths = [item["depth_cm"] for item in items]
    assert depths == sorted(depths, reverse=True)
    assert all(item["stage"] >= 2 for item in items), items  # reported to the flood HQ
    assert items[0]["stage"] == 3, items  # closed
    assert items[0]["depth_cm"] >= 25
    for district, ms in ((ELSEWHERE, STORM_MS), (STORM, DRY_MS)):
        quiet = await api_get(storm, "/v1/ponding/flood", district=district, at=at(ms),
                              limit=100)
        assert quiet["items"], (district, ms)
        assert all(item["stage"] == 0 for item in quiet["items"]), (district, ms, quiet)


async def test_the_huangpu_summary_counts_flood_points_closures_surcharge_and_discharge(
        storm: StormRun) -> None:
    summary = await api_get(storm, f"/v1/districts/{STORM}/summary", at=at(STORM_MS))
    ponding = summary["ponding"]
    assert ponding["open_flood_points"], ponding
    assert {point["district"] for point in ponding["open_flood_points"]} == {STORM}
    assert ponding["closed_underpasses"], ponding
    assert ponding["max_depth_cm"] >= 25
    assert summary["sewer"]["surcharged"], summary["sewer"]
    assert summary["pump"]["discharging"], summary["pump"]
    assert summary["rain"]["rainstorm"] >= 1, summary["rain"]
    for district, ms in ((ELSEWHERE, STORM_MS), (STORM, DRY_MS)):
        quiet = await api_get(storm, f"/v1/districts/{district}/summary", at=at(ms))
        assert quiet["ponding"]["gauges"], (district, ms)
        assert not quiet["ponding"]["open_flood_points"], (district, ms, quiet["ponding"])
        assert not quiet["ponding"]["closed_underpasses"], (district, ms)
        assert not quiet["sewer"]["surcharged"], (district, ms, quiet["sewer"])
        assert not quiet["pump"]["discharging"], (district, ms, quiet["pump"])
        assert not quiet["rain"]["rainstorm"], (district, ms, quiet["rain"])
