"""Grafana provisioning and dashboards: checked offline, every query run on a seeded city.

Grafana does not run here or in CI. The offline checks read the JSON as Grafana
would: every dashboard provisioned, one per kind, unique uids, the provisioned
data source everywhere, raw InfluxQL, only defined variables (multi-value ones
only in the `/^(${name:regex})$/` form), HJ 633, GB 3838 and GB 3096 values
taken from `urbanpulse.standards`, and the files equal to what
`python -m grafana.builder` produces.

The service tests run the real simulator (fixed seed, a small city, the last
three hours backfilled, faults and incidents on) through the test mosquitto
into a real `urbanpulse ingest` and the test influxd, then expand every panel,
variable and annotation query as Grafana does (its macros; variables at All,
one value and two values, chosen from what the variable queries return) and
require rows from each.
"""

from __future__ import annotations

import ast
import json
import math
import re
import subprocess
import sys
import time
import types
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from grafana.builder.__main__ import builders, render
from grafana.builder.kinds import dashboard_modules, kind_overview
from grafana.builder.overview import RECENT_ALERTS, city_overview
from grafana.builder.systems import kinds_by_system
from ops import stack
from tests.conftest import influx_query, influx_rows, publish_all
from tests.grafana_macros import (
    ALL,
    DATASOURCE_MIN_INTERVAL,
    GLOBALS,
    REFERENCE,
    duration_ms,
    expand,
)
from tests.ingest.processes import IngestProcess, ingest_env, wait_for, wait_for_snapshots
from urbanpulse.kinds import KINDS, part, register, register_module, unregister
from urbanpulse.kinds import panels as kind_panels
from urbanpulse.kinds.spec import DerivedField, Metric, SensorKind, metrics
from urbanpulse.kinds.streetlight.daylight import lamp_fault, local_sun_hours
from urbanpulse.messages import encoder
from urbanpulse.now import TOP_N
from urbanpulse.signing import signed_ack, signed_transition
from urbanpulse.standards.air import AQI_CATEGORIES
from urbanpulse.standards.noise import LIMITS
from urbanpulse.standards.water import CLASS_LABELS
from urbanpulse.topics import ack_topic, reading_topic, transition_topic

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "grafana" / "dashboards"
DASHBOARDS = sorted(FOLDER.glob("*.json"))
DATASOURCES = sorted((ROOT / "grafana" / "provisioning" / "datasources").glob("*.y*ml"))
SYSTEMS = {system.name: kinds for system, kinds in kinds_by_system().items()}
"""Each system dashboard and the kinds whose panels it shows."""
EXPECTED = {"city-overview", *KINDS, *SYSTEMS, "fleet", "alerts", "pipeline", "incidents"}
ACROSS_KINDS = {"city-overview", *SYSTEMS, "fleet", "incidents"}
"""Dashboards whose panels each read one kind of several (no one sensor has rows in all),
or no sensor at all (incidents): none has a sensor to choose."""

MACROS = {"timeFilter", "__interval", "__interval_ms", "measurement", "col", "tag_district",
          "tag_sensor", "tag_kind", "tag_state", "tag_severity", "tag_instance"}
_ROLLUP = re.compile(r"_(?:(?:district_)?1[mh]|now|top)$")
"""The suffix of a rollup the ingester writes (per sensor or district, per minute or hour)
or of its "now" snapshot (`urbanpulse.now`)."""
_FROM_LIST = re.compile(r'\bFROM\s+("[^"]+"(?:\s*,\s*"[^"]+")*)', re.IGNORECASE)
_FLUX = re.compile(r"\|>|\bfrom\s*\(\s*bucket\s*:", re.IGNORECASE)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def by_name(name: str) -> dict[str, Any]:
    return load(FOLDER / f"{name}.json")


def provisioned_datasources() -> list[dict[str, Any]]:
    sources: list[dict[str, Any]] = []
    for path in DATASOURCES:
        sources += yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]
    return sources


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Yield every panel, including those nested in (collapsed) rows."""
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def variables(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = dashboard["templating"]["list"]
    return found


def custom_annotations(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for item in dashboard["annotations"]["list"] if not item.get("builtIn")]


def kind_of(measurement: str) -> str:
    """Return the measurement a rollup or snapshot summarises (`air_district_1m`, `air_now`
    → `air`), else itself."""
    return _ROLLUP.sub("", measurement)


@dataclass(frozen=True)
class Query:
    """One InfluxQL text of a dashboard and where it comes from."""

    where: str
    text: str
    interval: str | None = None
    is_variable: bool = False
    zero_when_empty: bool = False
    """A count of what passes a filter (`count(…) FROM (…) WHERE …`) in a panel that shows
    no rows as 0: a chosen sensor or district without such a state rightly has none."""
    panel_type: str = ""

    @property
    def per_sensor(self) -> bool:
        """Whether it draws a line per sensor, shown only when a district or sensor is chosen."""
        return kind_panels.CHOSEN in self.text


_FILTERED_COUNT = re.compile(r'SELECT count\("\w+"\) FROM \(.*\) WHERE ', re.DOTALL)


def queries(dashboard: dict[str, Any]) -> Iterator[Query]:
    """Yield every panel target, annotation and query variable of a dashboard."""
    for panel in all_panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            text = str(target["query"])
            yield Query(f"panel {panel['title']!r} target {target['refId']}", text,
                        panel.get("interval"), zero_when_empty=bool(
                            _FILTERED_COUNT.match(text)
                            and panel.get("fieldConfig", {}).get("defaults", {}).get(
                                "noValue") == "0"), panel_type=panel["type"])
    for item in custom_annotations(dashboard):
        yield Query(f"annotation {item['name']!r}", str(item["target"]["query"]))
    for variable in variables(dashboard):
        if variable["type"] == "query":
            yield Query(f"variable {variable['name']!r}", str(variable["query"]),
                        is_variable=True)


def scopes(query: str) -> Iterator[tuple[list[str], str]]:
    """Yield (measurements, rest of that SELECT) for each FROM list of a query.

    The rest runs to the parenthesis that closes the SELECT (for a subquery) or to the
    end, so the WHERE clause that belongs to the FROM is inside it.
    """
    for match in _FROM_LIST.finditer(query):
        names = re.findall(r'"([^"]+)"', match.group(1))
        depth, end = 0, len(query)
        for index in range(match.end(), len(query)):
            if query[index] == "(":
                depth += 1
            elif query[index] == ")":
                if depth == 0:
                    end = index
                    break
                depth -= 1
        yield names, query[match.end():end]


# -- offline -------------------------------------------------------------------------------


def test_files_are_what_the_builder_makes() -> None:
    result = subprocess.run([sys.executable, "-m", "grafana.builder", "--check"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def test_one_dashboard_per_kind_and_system_plus_overview_fleet_alerts_and_pipeline() -> None:
    assert {path.stem for path in DASHBOARDS} == EXPECTED
    assert set(builders()) == EXPECTED
    assert set(dashboard_modules()) == set(KINDS)
    for name, kind in KINDS.items():
        assert by_name(name)["title"] == kind.title
    # The four systems of the plans, each of the kinds that name it.
    assert SYSTEMS == {"flood": ["ponding", "pump", "rain", "sewer"],
                       "water-supply": ["dma-flow", "pressure", "tap-water"],
                       "underground": ["gas", "manhole", "tunnel"],
                       "poles": ["streetlight"]}


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_system_dashboards_read_their_kinds_and_annotate_their_alerts(name: str) -> None:
    dashboard = by_name(name)
    kinds = SYSTEMS[name]
    read = {kind_of(measurement) for query in queries(dashboard) if not query.is_variable
            for names, _ in scopes(query.text) for measurement in names}
    carried = {kind for kind, spec in KINDS.items() if "carrier" in spec.attributes}
    assert set(kinds) <= read <= {"sensors", "alerts", *kinds, *carried}
    (alerts,) = custom_annotations(dashboard)
    of_kinds = f'"kind" =~ /^({"|".join(kinds)})$/'
    wanted = of_kinds if len(kinds) > 1 else f""""kind" = '{kinds[0]}'"""
    assert wanted in alerts["target"]["query"]
    assert of_kinds in variables(dashboard)[2]["query"]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_kind_dashboard_modules_import_only_the_contract(kind: str) -> None:
    module = part(kind, "dashboard")
    assert module is not None
    assert module.__file__
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
    assert imported, "no imports found"
    assert all(name == "__future__" or name.startswith("urbanpulse.") for name in imported), (
        imported)


EXTRA_KIND = """
from urbanpulse.kinds.spec import Metric, SensorKind, metrics

SPEC = SensorKind(name="bins", title="Waste bins", description="Fill level of street bins",
                  interval_s=600, fiware_type="WasteContainer",
                  metrics=metrics(Metric("fill", "ratio", 0, 1, "Share of the bin filled")))
"""
EXTRA_DASHBOARD = """
from urbanpulse.kinds.panels import CHART, HEADLINE, WHERE, KindDashboard, Overview
from urbanpulse.kinds.panels import by_sensor, stat, target, timeseries


def dashboard():
    return KindDashboard("Bins.", [timeseries("Fill", "Fill.", (0, 0, 24, 8),
                                              [by_sensor("fill", "bins")])])


def overview():
    last = f'SELECT max("fill") FROM "bins" {WHERE}'
    return Overview(headlines=tuple(stat(f"Fullest {n}", "Fill.", HEADLINE, [target(last)])
                                    for n in range(3)),
                    charts=(timeseries("Bins", "Fill.", CHART, [by_sensor("fill", "bins")]),))
"""


def assert_apart(panels: list[dict[str, Any]]) -> None:
    """Fail when a panel leaves the 24-column grid or overlaps another."""
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                 for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & taken, f"{panel['title']!r} overlaps another panel"
        taken |= cells


def test_a_registered_kind_gets_its_dashboard_and_overview_panels(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "bins_kind"
    package.mkdir()
    (package / "__init__.py").write_text(EXTRA_KIND, encoding="utf-8")
    (package / "dashboard.py").write_text(EXTRA_DASHBOARD, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    register_module("bins_kind")
    try:
        board = builders()["bins"]()
        overview = city_overview()
    finally:
        unregister("bins")
        for name in ("bins_kind", "bins_kind.dashboard"):
            sys.modules.pop(name, None)
    assert (board["uid"], board["title"]) == ("urbanpulse-bins", "Waste bins")
    assert 'FROM "bins"' in variables(board)[2]["query"]
    assert """"kind" = 'bins'""" in custom_annotations(board)[0]["target"]["query"]
    by_title = {panel["title"]: panel["gridPos"] for panel in overview["panels"]}
    # In registry order (air, bins, ..., water) the headlines fill the top row, then wrap
    # into a second one that pushes the map down.
    headlines = ["Worst AQI now", *(f"Fullest {n}" for n in range(3)), "Worst water class now"]
    assert [(by_title[title]["x"], by_title[title]["y"]) for title in headlines] == [
        (16, 0), (20, 0), (0, 4), (4, 4), (8, 4)]
    assert by_title["Sensors by state"]["y"] == 8
    assert by_title["Bins"]["y"] > by_title["Sensors by state"]["y"]
    assert '"bins_district_1m"' in overview["panels"][1]["targets"][0]["query"]
    assert_apart(overview["panels"])
    assert render(city_overview) == (FOLDER / "city-overview.json").read_text(encoding="utf-8")


def test_a_per_sensor_chart_reads_raw_points_unless_its_kind_reports_faster_than_a_minute(
        ) -> None:
    """A sensor reporting once a minute or less often has no minute rollup (the ingester
    writes none): its chart reads the raw points, a faster kind's its minute rollup."""
    assert kind_panels.by_sensor("pm25", "air", "max")["query"].startswith(
        'SELECT max("pm25") FROM "air" WHERE ')
    register(SensorKind(name="tank", title="Tanks", description="Tank levels", interval_s=10,
                        fiware_type="Device",
                        metrics=metrics(Metric("level", "m", 0, 10, "Level"))))
    try:
        query = kind_panels.by_sensor("level", "tank", "max")["query"]
    finally:
        unregister("tank")
    assert query.startswith('SELECT max("level_max") FROM "tank_1m" WHERE ')
    assert kind_panels.CHOSEN in query


def test_a_kind_dashboard_module_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(TypeError, match=r"broken\.overview\(\) must exist and return a "
                                        r"urbanpulse\.kinds\.panels\.Overview, not None"):
        kind_overview(types.ModuleType("broken"))


def test_every_dashboard_is_provisioned_from_the_mounted_folder() -> None:
    path = ROOT / "grafana" / "provisioning" / "dashboards" / "urbanpulse.yaml"
    (provider,) = yaml.safe_load(path.read_text(encoding="utf-8"))["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/etc/grafana/dashboards"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    grafana = compose["services"]["grafana"]
    assert "./grafana/dashboards:/etc/grafana/dashboards:ro" in grafana["volumes"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == "/etc/grafana/dashboards/city-overview.json"
    assert all(path.parent == FOLDER for path in DASHBOARDS), "no sub-folders: flat provider"


def test_datasource_is_influxql_with_credentials_from_the_environment() -> None:
    (source,) = provisioned_datasources()
    assert source["uid"] == "urbanpulse-influxdb"
    assert source["type"] == "influxdb"
    assert source["url"] == "http://influxdb:8086"
    assert source["database"] == source["jsonData"]["dbName"] == "city"
    assert source["jsonData"]["version"] == "InfluxQL"
    assert source["jsonData"]["timeInterval"] == DATASOURCE_MIN_INTERVAL
    secrets = source.get("secureJsonData", {})
    assert secrets, "InfluxDB credentials"
    assert all(re.fullmatch(r"(Token )?\$\{[A-Z_]+\}", value) for value in secrets.values())


def test_uids_are_fixed_and_unique() -> None:
    uids = {path.stem: load(path)["uid"] for path in DASHBOARDS}
    assert uids == {stem: f"urbanpulse-{stem}" for stem in uids}
    assert len(set(uids.values())) == len(uids)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_dashboard_shape(path: Path) -> None:
    dashboard = load(path)
    assert dashboard["title"]
    assert dashboard["description"]
    assert dashboard["schemaVersion"] >= 36
    assert "urbanpulse" in dashboard["tags"]
    panels = list(all_panels(dashboard["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    assert_apart(panels)


# Grafana's unit ids that the dashboards may use (grafana-data valueFormats); others are
# suffixes.
UNITS = {"short", "percentunit", "percent", "conμgm3", "conmgm3", "kwatt", "kwatth", "dB",
         "dBm", "mvolt", "celsius", "ms", "s", "dateTimeAsIso", "dateTimeFromNow"}


def test_declared_units_map_to_grafana_unit_ids() -> None:
    assert set(kind_panels.UNITS.values()) <= UNITS
    pm25 = Metric("pm25", "µg/m³", 0, 1, "PM2.5")
    assert kind_panels.grafana_unit(pm25, Metric("o3", "µg/m³", 0, 1, "O3")) == "conμgm3"
    assert kind_panels.grafana_unit(DerivedField("limit", "float", "dB(A)", "")) == "dB"
    assert kind_panels.grafana_unit(Metric("tp", "mg/L", 0, 1, "TP")) == "suffix: mg/L"
    with pytest.raises(ValueError, match=r"pm25 \(µg/m³\), co \(mg/m³\)"):
        kind_panels.grafana_unit(pm25, Metric("co", "mg/m³", 0, 1, "CO"))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_units_are_grafana_unit_ids(path: Path) -> None:
    for panel in all_panels(load(path)["panels"]):
        config = panel.get("fieldConfig", {"defaults": {}, "overrides": []})
        units = [config["defaults"].get("unit")] + [
            item["value"] for override in config["overrides"]
            for item in override["properties"] if item["id"] == "unit"]
        for unit in filter(None, units):
            assert unit in UNITS or unit.startswith("suffix:"), f"{panel['title']}: {unit}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_dashboards_link_to_each_other_keeping_time_and_variables(path: Path) -> None:
    (link,) = load(path)["links"]
    assert link["type"] == "dashboards"
    assert link["tags"] == ["urbanpulse"]
    assert link["includeVars"] is True
    assert link["keepTime"] is True


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_every_query_uses_the_provisioned_datasource(path: Path) -> None:
    uids = {source["uid"] for source in provisioned_datasources()}
    dashboard = load(path)
    for panel in all_panels(dashboard["panels"]):
        if panel["type"] in {"row", "text"}:
            assert not panel.get("targets"), panel["title"]
            continue
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        assert panel["datasource"]["uid"] in uids, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in uids, panel["title"]
            assert target["rawQuery"] is True, panel["title"]
    for item in custom_annotations(dashboard):
        assert item["datasource"]["uid"] in uids, item["name"]
        assert item["target"]["datasource"]["uid"] in uids, item["name"]
    for variable in variables(dashboard):
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] in uids, variable["name"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_queries_are_influxql_and_kind_reads_are_time_filtered(path: Path) -> None:
    for query in queries(load(path)):
        assert query.text.lstrip().upper().startswith(("SELECT", "SHOW")), query.where
        assert not _FLUX.search(query.text), query.where
        if query.text.startswith("SHOW"):
            continue  # metadata from the series index: InfluxDB 1.x ignores time there
        for names, scope in scopes(query.text):
            if {kind_of(name) for name in names} & set(KINDS):
                # The "now" snapshot is read in a fixed window before the range's end.
                window = kind_panels.NOW in scope and all(
                    name.endswith(("_now", "_top")) for name in names)
                assert "$timeFilter" in scope or window, f"{query.where} reads {names} unfiltered"
            if "alerts" in names:  # a refresh every 30 s must not read the whole history
                assert "$timeFilter" in scope or RECENT_ALERTS in scope, (
                    f"{query.where} reads alerts without a time bound")


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_variables_are_defined_used_and_multi_values_are_regex_formatted(path: Path) -> None:
    dashboard = load(path)
    defined = {variable["name"]: variable for variable in variables(dashboard)}
    used = set()
    for query in queries(dashboard):
        for match in REFERENCE.finditer(query.text):
            name, form, bare = match.groups()
            if bare in MACROS or name in GLOBALS:
                continue
            assert name in defined, f"{query.where} uses undefined {match.group()}"
            used.add(name)
            variable = defined[name]
            if variable.get("multi") or variable.get("includeAll"):
                context = query.text[match.start() - 3:match.end() + 3]
                # The gate of per-sensor charts repeats the value: /^(${name:regex}){2}$/.
                gate = query.text[match.start() - 3:match.end() + 6]
                regex = (context == f"/^({match.group()})$/"
                         or gate == f"/^({match.group()}){{2}}$/")
                assert (form == "regex" and regex) or (
                    form == "raw" and not variable.get("multi")), f"{query.where}: {context}"
    assert used == set(defined), f"unused variables {set(defined) - used}"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_kind_dashboards_have_place_variables_and_their_alert_annotations(kind: str) -> None:
    dashboard = by_name(kind)
    assert [variable["name"] for variable in variables(dashboard)] == [
        "city", "district", "sensor"]
    assert f'FROM "{kind}"' in variables(dashboard)[2]["query"]
    (alerts,) = custom_annotations(dashboard)
    assert 'FROM "alerts"' in alerts["target"]["query"]
    assert f""""kind" = '{kind}'""" in alerts["target"]["query"]
    read = {name for query in queries(dashboard) for names, _ in scopes(query.text)
            for name in names}
    assert kind in read


def test_city_variable_maps_each_shipped_city_to_its_districts() -> None:
    city = variables(by_name("city-overview"))[0]
    assert city["type"] == "custom"
    assert city["allValue"] == ".*"
    choices = {option["text"]: option["value"] for option in city["options"]}
    assert choices["shanghai"] == "pudong|huangpu|fengxian"
    assert choices["yancheng"] == "tinghu|yandu|dafeng"


def _colour_steps(panel: dict[str, Any]) -> list[tuple[float | None, str]]:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [(step["value"], step["color"]) for step in steps]


def test_aqi_panels_use_the_hj633_colours() -> None:
    expected = [(None if category.level == 1 else category.low, category.colour)
                for category in AQI_CATEGORIES]
    aqi_panels = [panel for panel in all_panels(by_name("air")["panels"])
                  if "AQI" in panel["title"]]
    assert len(aqi_panels) == 4  # the two stats, by district and by station
    for panel in aqi_panels:
        assert _colour_steps(panel) == expected, panel["title"]
    (timeline,) = [panel for panel in all_panels(by_name("air")["panels"])
                   if panel["type"] == "state-timeline"]
    (mapping,) = timeline["fieldConfig"]["defaults"]["mappings"]
    assert {int(value): (option["color"], option["text"])
            for value, option in mapping["options"].items()} == {
        category.level: (category.colour, f"{category.name_en} {category.name_zh}")
        for category in AQI_CATEGORIES}


def test_water_class_panels_map_gb3838_classes() -> None:
    labelled = [panel for panel in all_panels(by_name("water")["panels"])
                if panel["fieldConfig"]["defaults"].get("mappings")]
    assert len(labelled) == 4  # the stat, the class by district and by station, the table
    for panel in labelled:
        (mapping,) = panel["fieldConfig"]["defaults"]["mappings"]
        texts = {int(value): option["text"] for value, option in mapping["options"].items()}
        assert texts == {number: f"Class {label}" if number < 6 else "劣V"
                         for number, label in CLASS_LABELS.items()}, panel["title"]
        colours = [option["color"] for option in mapping["options"].values()]
        assert [colour for _, colour in _colour_steps(panel)] == colours, panel["title"]


def test_noise_dashboard_states_every_gb3096_limit() -> None:
    (limits,) = [panel for panel in by_name("noise")["panels"] if panel["type"] == "text"]
    for zone, (day, night) in LIMITS.items():
        assert f"| {zone} | {day:g} | {night:g} |" in limits["options"]["content"]


def test_expansion_formats_variables_and_macros_as_grafana_does() -> None:
    query = ('SELECT mean("x") FROM "air" WHERE $timeFilter AND "sensor" =~ '
             '/^(${sensor:regex})$/ GROUP BY time($__interval) LIMIT $__interval_ms')
    several = expand(query, {"sensor": ["air-a.1", "air-b"]}, range_ms=6 * 3_600_000,
                     minimum=None)
    assert '"sensor" =~ /^((air-a\\.1|air-b))$/' in several
    assert several.endswith("GROUP BY time(1m) LIMIT 60000")
    assert re.search(r"WHERE time >= \d+ms and time <= \d+ms AND", several)
    every = expand(query, {"sensor": ALL}, range_ms=3_600_000, minimum="10s")
    assert '/^(.*)$/' in every
    assert every.endswith("GROUP BY time(10s) LIMIT 10000")
    assert "time(20s)" in expand(query, {"sensor": ["a"]}, range_ms=6 * 3_600_000,
                                 minimum="10s")
    assert "time(15m)" in expand(query, {"sensor": ["a"]}, range_ms=3_600_000, minimum="15m")


# -- every query, run on a seeded simulator run --------------------------------------------

_TIMED: list[dict[str, str]] = [
    {"type": "pollution-episode", "at": "30m", "duration": "6h"},
    {"type": "sewage-discharge", "at": "30m", "duration": "6h"},
    {"type": "venue-event", "at": "1h", "duration": "1h"},
    {"type": "night-construction", "at": "0h", "duration": "6h"},
    # A failed lamp is a fault at night, a controller stuck on one by day; on the same pole
    # they cancel out. Apart, one of them shows a lamp fault whatever the time of the run.
    {"type": "lamp-failure", "at": "30m", "duration": "6h", "district": "pudong"},
    {"type": "controller-stuck-on", "at": "30m", "duration": "6h", "district": "huangpu"},
]
# The power cut silences the poles and the sensors they carry: in one district and late, so
# that the lamps elsewhere show their faults to the end, and the fleet has silent sensors.
_SILENCING = [{"type": name, "at": "2h", "duration": "1h", "district": "fengxian"}
              for name in ("power-cut", "carrier-outage")]
# And every other incident type of the registry, so that the panels counting what only an
# incident brings (detectors past 20 % LEL, flood points, lamp faults) have something to count.
SCENARIO = {"name": "dashboards", "incidents": _TIMED + _SILENCING + [
    {"type": name, "at": "30m", "duration": "6h"}
    for kind in KINDS.values() for name in sorted(kind.incidents)
    if name not in {entry["type"] for entry in _TIMED + _SILENCING}]}
# The shipped rules need days of history (energy), the night (noise), a storm (rain, ponding)
# or a fault that a three-hour run may not draw. One rule per kind, built from the registry,
# makes the run alert on every kind at any time of day: a reading below its first metric's
# catalog maximum, which every plausible reading is.
EXTRA_RULES = [
    {"name": f"dashboards-{name}", "type": "threshold", "kind": name, "metric": metric.name,
     "below": metric.high, "clear": metric.high, "severity": "info"}
    for name, kind in KINDS.items() for metric in list(kind.metrics.values())[:1]]
WINDOW_S = 3 * 3600


ALERT_KEY = b"alert-key-dashboards-3f9c1e7a"
"""The key shared by the seeded run's ingester and the ack the test signs as the api would."""


@dataclass(frozen=True)
class City:
    """The InfluxDB database the seeded run was written to."""

    url: str
    db: str

    def series(self, query: str) -> list[dict[str, Any]]:
        return influx_query(self.url, self.db, query)


LATEST_STATES = ('SELECT last("since"), "state", "kind", "sensor", "district" FROM "alerts" '
                 'GROUP BY "alert_id"')
ACKNOWLEDGED = """SELECT "acked_by" FROM "alerts" WHERE "state" = 'acknowledged'"""


OPEN_INCIDENTS = ('SELECT last("opened"), "stage" FROM "incidents" '
                  'GROUP BY "incident_id", "district"')
TRANSITIONS = """SELECT "by" FROM "incident_audit" WHERE "action" = 'transition'"""


def operate_incidents(city: City, port: int, root: str) -> None:
    """In every district, dispatch the first incident and take the second into handling, as
    the api would, so that every stage, the time in a stage and the audit trail have rows."""
    districts = {row["value"] for row in influx_rows(
        city.url, city.db, 'SHOW TAG VALUES FROM "sensors" WITH KEY = "district"')}

    def by_district() -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for row in sorted(influx_rows(city.url, city.db, OPEN_INCIDENTS),
                          key=lambda row: (row["last"], row["incident_id"])):
            found.setdefault(row["district"], []).append(row["incident_id"])
        return found

    wait_for(lambda: all(len(by_district().get(name, [])) >= 2 for name in districts), 30,
             "two incidents in every district")
    moves = [move for first, second, *_ in by_district().values()
             for move in ((first, "dispatched"), (second, "dispatched"), (second, "handling"))]
    now = int(time.time() * 1000)
    commands = [signed_transition(incident, to, "operator", "crew sent", key=ALERT_KEY,
                                  now_ms=now) for incident, to in moves]
    # One client publishes them all: MQTT keeps their order, dispatched before handling.
    publish_all(port, [(transition_topic(root=root), encoder.encode(command))
                       for command in commands])
    wait_for(lambda: len(influx_rows(city.url, city.db, TRANSITIONS)) == len(moves), 30,
             "the transitions in `incident_audit`")


def _settled(city: City) -> bool:
    kinds = {row["value"] for row in influx_rows(
        city.url, city.db, 'SHOW TAG VALUES FROM "alerts" WITH KEY = "kind"')}
    rejected = influx_rows(city.url, city.db, 'SELECT max("rejected") FROM "pipeline"')
    # The open hour's rollups are written every `ingest_rollup_hour_interval_s` (1 s here).
    rolled = influx_rows(city.url, city.db, "SELECT count(\"count\") FROM " + ", ".join(
        f'"{kind}_district_1h"' for kind in KINDS) + " WHERE time >= now() - 6h")
    return (kinds >= set(KINDS) and bool(rejected) and rejected[0]["max"] >= 1
            and len(rolled) == len(KINDS))


@pytest.fixture(scope="module")
def city(mosquitto: stack.Server, influxd: stack.Server,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    """Backfill three seeded hours ending now through mosquitto, ingest and influxd."""
    folder = tmp_path_factory.mktemp("dashboards")
    db, root = f"dash_{uuid.uuid4().hex[:10]}", f"d{uuid.uuid4().hex[:10]}"
    stack.create_database(influxd.url, db)
    # URBANPULSE_INGEST_RULES replaces the kinds' default rules: give them all, plus these.
    rules = [rule for kind in KINDS.values() for rule in yaml.safe_load(
        (resources.files(kind.package) / "rules.yaml").read_text(encoding="utf-8"))["rules"]]
    (folder / "rules.yaml").write_text(yaml.safe_dump({"rules": rules + EXTRA_RULES}),
                                       encoding="utf-8")
    (folder / "scenario.yaml").write_text(yaml.safe_dump(SCENARIO), encoding="utf-8")
    env = ingest_env(mqtt_port=mosquitto.port, influx_url=influxd.url, influx_db=db, root=root,
                     ingest_metrics_interval_s=1, ingest_rules=str(folder / "rules.yaml"),
                     ingest_rollup_hour_interval_s=1, ingest_now_interval_s=1,
                     alert_key=ALERT_KEY.decode(),
                     ingest_incident_accepted_limit_s=1)  # every incident's acceptance overruns
    ingester = IngestProcess(env, folder, mosquitto.port)
    try:
        ingester.start()
        start = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - WINDOW_S))
        # Scale 0.5 puts two or more sensors of every kind in the busiest district, so one
        # device fault (a sensor offline all the run) cannot blank a kind's panels there.
        sim = subprocess.run(
            [sys.executable, "-m", "ops", "sim", "--seed", "2", "--scale", "0.5",
             "--start", start, "--duration", str(WINDOW_S), "--fault-rate", "4",
             "--scenario", str(folder / "scenario.yaml")],
            env=env, capture_output=True, text=True, timeout=120, check=False)
        assert sim.returncode == 0, sim.stderr
        # A device sending garbage: one dead letter the pipeline panels must show.
        publish_all(mosquitto.port, [(reading_topic("pudong", "air", "air-pudong-9999",
                                                    root=root), b"{")])
        result = City(influxd.url, db)
        wait_for(lambda: _settled(result), 60, "alerts of every kind and a rejection")
        # The "now" snapshot is written every `ingest_now_interval_s` (1 s here).
        wait_for_snapshots(result.url, db, "air")
        # An operator acknowledges one firing alert, as the api would, so acked_by and note
        # columns have something to show.
        firing = [row for row in influx_rows(result.url, db, LATEST_STATES)
                  if row["state"] == "firing"]
        assert firing, "the seeded run left no firing alert"
        ack = signed_ack(firing[0]["alert_id"], "operator", "crew sent", key=ALERT_KEY,
                         now_ms=int(time.time() * 1000))
        publish_all(mosquitto.port, [(ack_topic(root=root), encoder.encode(ack))])
        wait_for(lambda: bool(influx_rows(result.url, db, ACKNOWLEDGED)), 30,
                 "the acknowledgement in `alerts`")
        operate_incidents(result, mosquitto.port, root)
        yield result
    finally:
        ingester.close()
        httpx.post(f"{influxd.url}/query", data={"q": f'DROP DATABASE "{db}"'}, timeout=30)


def values_of(series: list[dict[str, Any]]) -> list[Any]:
    return [value for one in series for row in one["values"] for value in row[1:]
            if value is not None]


def empty_columns(series: list[dict[str, Any]]) -> set[str]:
    """Return the columns (a misspelt field, say) that have no value in any row."""
    columns = {column for one in series for column in one["columns"][1:]}
    filled = {column for one in series for row in one["values"]
              for column, value in zip(one["columns"][1:], row[1:], strict=True)
              if value is not None}
    return columns - filled


def _range_ms(dashboard: dict[str, Any]) -> int:
    assert dashboard["time"]["to"] == "now"
    return duration_ms(dashboard["time"]["from"].removeprefix("now-"))


def offered(city: City, dashboard: dict[str, Any], name: str,
            selection: Mapping[str, Sequence[str]]) -> list[str]:
    """Return the values Grafana offers for a variable, given the ones before it."""
    (variable,) = [item for item in variables(dashboard) if item["name"] == name]
    if variable["type"] == "custom":
        return [option["value"] for option in variable["options"][1:]]
    series = city.series(expand(variable["query"], selection, range_ms=_range_ms(dashboard),
                                minimum=None))
    return sorted({row[1] for one in series for row in one["values"]})


def _shows_everything(city: City, dashboard: dict[str, Any],
                      every: Mapping[str, Sequence[str]], *districts: str) -> bool:
    """Whether every panel query of `dashboard` has rows with `districts` chosen."""
    return _shows_all(city, dashboard, {**every, "district": list(districts)})


def _shows_all(city: City, dashboard: dict[str, Any],
               selection: Mapping[str, Sequence[str]]) -> bool:
    """Whether every panel query of `dashboard` has rows with `selection`."""
    return all(values_of(city.series(expand(query.text, selection, range_ms=_range_ms(
        dashboard), minimum=query.interval))) for query in queries(dashboard))


def selections(city: City, name: str) -> dict[str, dict[str, Sequence[str]]]:
    """Return the variable selections to try on a dashboard: All, one value, two values."""
    dashboard = by_name(name)
    names = [variable["name"] for variable in variables(dashboard)]
    every: dict[str, Sequence[str]] = dict.fromkeys(names, ALL)
    if name == "pipeline":
        return {"all": every, "one": {"instance": offered(city, dashboard, "instance",
                                                          every)[:1]}}
    kinds = [name] if name in KINDS else SYSTEMS.get(name, list(KINDS))
    active = [row for row in influx_rows(city.url, city.db, LATEST_STATES)
              if row["kind"] in kinds and (name in KINDS or row["state"] == "firing")]
    assert active, f"the seeded run has no alert for the {name} dashboard"
    # The faults are random in time: a district's only lot may be offline all the run
    # (its ground truth says so), leaving a parking panel rightly empty for that district.
    # Choose the alert of a district where every panel has data, as a user looking would.
    chosen = next((row for row in active if _shows_everything(city, dashboard, every,
                                                               row["district"])), active[0])
    cities = [value for value in offered(city, dashboard, "city", every)
              if chosen["district"] in value.split("|")]
    districts = offered(city, dashboard, "district", {**every, "city": cities})
    assert chosen["district"] in districts, districts
    # Two districts, the chosen one and a neighbour, for the same reason.
    others = [district for district in offered(city, dashboard, "district", every)
              if district != chosen["district"]]
    pair = next((other for other in others if _shows_everything(
        city, dashboard, every, chosen["district"], other)), others[0])
    result = {"all": every,
              "district": {**every, "city": cities, "district": [chosen["district"]]},
              "two-districts": {**every, "district": [chosen["district"], pair]}}
    if name not in ACROSS_KINDS:
        one = {**every, "city": cities, "district": [chosen["district"]]}
        sensors = offered(city, dashboard, "sensor", one)
        assert chosen["sensor"] in sensors
        # With a neighbour of another device type where there is one, as a user comparing
        # two would: parking lots and bays show in different panels.
        devices = {row["sensor"]: row["last"] for row in influx_rows(
            city.url, city.db, 'SELECT last("device") FROM "sensors" GROUP BY "sensor"')}
        others = sorted((sensor for sensor in sensors if sensor != chosen["sensor"]),
                        key=lambda sensor: devices.get(sensor) == devices.get(chosen["sensor"]))
        # Of those, one with which every panel has data, where there is one: the faults
        # and health messages fall at random times, and a bay with no battery reading
        # in the run leaves the bays' battery table rightly empty.
        neighbour = next((other for other in others if _shows_all(
            city, dashboard, {**one, "sensor": [chosen["sensor"], other]})), None)
        result["sensors"] = {**one, "sensor": [chosen["sensor"],
                                               *([neighbour] if neighbour else others[:1])]}
    return result


def _twilight_lately(span_s: int = 1800) -> bool:
    """Tell whether some minute of the last `span_s` fell in a lamp's dusk or dawn, when
    `lamp_fault` is 0 whether the lamp is on or off (the lamps report every 10 minutes)."""
    now = int(time.time())
    for at in range(now - span_s, now + 1, 60):
        hour, sunrise, sunset = local_sun_hours(at)
        if lamp_fault(True, hour, sunrise, sunset) == lamp_fault(False, hour, sunrise, sunset):
            return True
    return False


@pytest.mark.services
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_query_returns_rows_on_a_seeded_run(city: City, name: str) -> None:
    dashboard = by_name(name)
    ran = 0
    for label, selection in selections(city, name).items():
        for query in queries(dashboard):
            text = expand(query.text, selection, range_ms=_range_ms(dashboard),
                          minimum=query.interval)
            series = city.series(text)
            if query.per_sensor and label == "all":
                # A line per sensor of the whole city is thousands of lines: none, until a
                # district is chosen.
                assert not values_of(series), f"{query.where} draws every sensor: {text}"
                ran += 1
                continue
            # The whole city has every state the scenario injects; a narrower choice may not.
            # A lamp has no fault state at dusk or dawn: then no lamp's last reading has one.
            assert values_of(series) or (query.zero_when_empty and (
                label != "all" or ("lamp_fault" in query.text and _twilight_lately()))), (
                f"{query.where} returned no rows for {label}: {text}")
            if label == "all":
                assert not empty_columns(series), (
                    f"{query.where}: no value in {empty_columns(series)}: {text}")
            if query.is_variable:
                continue
            for tag in ("district", "sensor"):
                chosen = selection.get(tag, ALL)
                seen = {one.get("tags", {}).get(tag) for one in series} - {None}
                if tuple(chosen) != ALL:
                    assert seen <= set(chosen), f"{query.where} ignores {tag} for {label}"
            ran += 1
    assert ran >= 2 * sum(1 for query in queries(dashboard) if not query.is_variable)


@pytest.mark.services
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_no_panel_for_the_whole_city_returns_a_series_or_a_row_per_sensor(
        city: City, name: str) -> None:
    """The cost check that needs no clock: what the whole city's view returns is bounded.

    With every variable at All, a panel query returns no series per sensor and at
    most a series per district (or per kind, or severity: fewer than the kinds) and
    measurement it reads; a row per sensor only
    from a top-N (`top()`/`bottom()`, at most `TOP_N` rows). So a query's answer,
    and the rollup reads behind it, do not grow with the sensor count. A map
    draws each sensor's birth, one point each: what it returns is what it shows.
    """
    dashboard = by_name(name)
    every: dict[str, Sequence[str]] = {item["name"]: ALL for item in variables(dashboard)}
    districts = len(influx_rows(city.url, city.db,
                                'SHOW TAG VALUES FROM "sensors" WITH KEY = "district"'))
    checked = 0
    for query in queries(dashboard):
        if query.is_variable or not query.panel_type or query.panel_type == "geomap":
            continue
        text = expand(query.text, every, range_ms=_range_ms(dashboard), minimum=query.interval)
        series = city.series(text)
        read = {measurement for names, _ in scopes(query.text) for measurement in names}
        assert not [one for one in series if "sensor" in one.get("tags", {})], (
            f"{query.where} returns a series per sensor: {text}")
        # Alerts are of the kinds, and of the incidents' overruns (kind `incident`).
        assert len(series) <= max(districts, len(KINDS) + 1) * max(len(read), 1), (
            f"{query.where} returns {len(series)} series: {text}")
        # A row per alert (the alerts tables) is what those tables show; a row per sensor
        # of a kind's readings only comes from a top-N.
        for one in series:
            if "sensor" in one["columns"] and {kind_of(name) for name in read} & set(KINDS):
                assert re.search(r"\b(top|bottom)\(", query.text), f"{query.where}: {text}"
                assert len(one["values"]) <= TOP_N, query.where
        checked += 1
    assert checked


@pytest.mark.services
@pytest.mark.parametrize("name", sorted(EXPECTED - {"pipeline"}))
def test_choosing_a_city_keeps_only_its_districts(city: City, name: str) -> None:
    """The city alone (district at All) restricts every panel to the city's districts.

    The seeded run is one city; another shipped city must show nothing at all.
    """
    dashboard = by_name(name)
    every: dict[str, Sequence[str]] = {item["name"]: ALL for item in variables(dashboard)}
    in_run = {row["value"] for row in influx_rows(
        city.url, city.db, 'SHOW TAG VALUES FROM "sensors" WITH KEY = "district"')}
    choices = offered(city, dashboard, "city", every)
    assert any(set(choice.split("|")) >= in_run for choice in choices), choices
    assert any(not set(choice.split("|")) & in_run for choice in choices), choices
    for choice in choices:
        districts = set(choice.split("|"))
        selection = {**every, "city": [choice]}
        rows = 0
        for query in queries(dashboard):
            if query.is_variable:
                continue
            series = city.series(expand(query.text, selection, range_ms=_range_ms(dashboard),
                                        minimum=query.interval))
            if not districts & in_run:
                assert not values_of(series), f"{query.where} shows another city for {choice}"
            seen = {one.get("tags", {}).get("district") for one in series} - {None}
            assert seen <= districts, f"{query.where} shows {seen - districts} for {choice}"
            rows += len(values_of(series))
        if districts & in_run:
            assert rows, f"{name}: nothing shown for the run's own city {choice}"


@pytest.mark.services
def test_headline_values_agree_with_the_stored_points(city: City) -> None:
    dashboard = by_name("city-overview")
    every: dict[str, Sequence[str]] = {item["name"]: ALL for item in variables(dashboard)}
    by_title = {panel["title"]: panel for panel in all_panels(dashboard["panels"])}

    def headline(title: str) -> float:
        (target,) = by_title[title]["targets"]
        (value,) = values_of(city.series(expand(target["query"], every, range_ms=6 * 3_600_000,
                                                minimum=None)))
        return float(value)

    sensors = influx_rows(city.url, city.db, 'SHOW TAG VALUES FROM "sensors" WITH KEY = "sensor"')
    assert headline("Sensors") == len(sensors)

    def counts() -> tuple[float, int]:
        latest = influx_rows(city.url, city.db, 'SELECT last("since"), "state" FROM "alerts" '
                             'GROUP BY "alert_id"')
        return headline("Active alerts"), sum(row["state"] != "resolved" for row in latest)

    # The headline counts what the ingester counted at its last metrics interval (1 s here).
    wait_for(lambda: (both := counts())[0] == both[1], 15, "the active-alert count to catch up")
    # Within the headline's range: a skewed device clock may have stamped points after now.
    aqi = influx_rows(city.url, city.db, 'SELECT last("aqi") FROM "air" WHERE time <= now() '
                      'AND time >= now() - 6h GROUP BY "sensor"')
    assert headline("Worst AQI now") == max(row["last"] for row in aqi)


@pytest.mark.services
def test_the_alert_change_counts_are_the_raw_changes(city: City) -> None:
    """The alerts dashboard's charts of changes count `alerts_district_1m`: per district,
    kind, severity and state, the ingester's counts sum to InfluxQL's count of the raw
    `alerts` points (the run's conditions, staleness, overruns and the acknowledgement)."""
    every = "GROUP BY \"district\", \"kind\", \"severity\", \"state\""

    def by_combination(query: str) -> dict[tuple[str, ...], int]:
        return {(row["district"], row["kind"], row["severity"], row["state"]): row["n"]
                for row in influx_rows(city.url, city.db, query) if row["n"]}

    def both() -> tuple[dict[tuple[str, ...], int], dict[tuple[str, ...], int]]:
        return (by_combination(f'SELECT count("since") AS "n" FROM "alerts" {every}'),
                by_combination(f'SELECT sum("changes") AS "n" FROM "alerts_district_1m" '
                               f"{every}"))

    wait_for(lambda: (found := both())[0] == found[1], 15, "the counts to catch up")
    raw, _ = both()
    assert {state for *_, state in raw} >= {"pending", "firing", "acknowledged", "resolved"}


def _by_district_hour(series: list[dict[str, Any]]) -> dict[tuple[str, int], float]:
    return {(one["tags"]["district"], row[0]): row[1] for one in series for row in one["values"]
            if row[1] is not None}


@pytest.mark.services
def test_the_district_noise_and_gas_panels_are_what_the_raw_readings_say(city: City) -> None:
    """The panels that read district hourly rollups through fields ingest derives for them
    show what the raw readings say: per district and hour, the highest LAeq minus its
    monitor's limit and the energy average of LAeq; and the districts where a detector
    read 20 % LEL or more."""
    # Whole hours that closed (an open hour's partial point leaves out late readings until
    # it closes: docs/ingest.md, "Late readings"): the five before the open one.
    every_hour = 3_600_000
    until = int(time.time() * 1000) // every_hour * every_hour
    since = until - 5 * every_hour
    raw = f"time >= {since}ms AND time < {until}ms"

    def shown(name: str, title: str) -> list[dict[str, Any]]:
        dashboard = by_name(name)
        selection: dict[str, Sequence[str]] = {item["name"]: ALL
                                               for item in variables(dashboard)}
        (panel,) = [one for one in all_panels(dashboard["panels"]) if one["title"] == title]
        (target,) = panel["targets"]
        return city.series(expand(target["query"], selection, range_ms=until - 1 - since,
                                  minimum=panel.get("interval"), now_ms=until - 1))

    def agree(name: str, title: str, reference: str) -> bool:
        panel = _by_district_hour(shown(name, title))
        readings = _by_district_hour(city.series(reference))
        return len(panel) >= 3 and panel.keys() == readings.keys() and all(
            math.isclose(panel[key], readings[key], rel_tol=1e-9, abs_tol=1e-9)
            for key in panel)

    over = ('SELECT max("over") FROM (SELECT "laeq" - "noise_limit_db" AS "over" FROM "noise" '
            f'WHERE {raw}) WHERE {raw} GROUP BY time(1h), "district" fill(none)')
    energy = ('SELECT 10 * log10(mean("energy")) FROM (SELECT exp("laeq" * '
              f'{math.log(10) / 10!r}) AS "energy" FROM "noise" WHERE {raw} AND '
              f'"noise_limit_db" > 0) WHERE {raw} GROUP BY time(1h), "district" fill(none)')
    # An hour closes a minute after its end, and late readings are then recomputed.
    wait_for(lambda: agree("noise", "LAeq over the limit by district", over), 60,
             "the highest excess to be the raw readings'")
    wait_for(lambda: agree("city-overview", "Noise LAeq by district", energy), 60,
             "the energy average to be the raw readings'")

    peaks = city.series(f'SELECT max("ch4_lel") FROM "gas" WHERE {raw} GROUP BY "district"')
    reached = sum(row[1] >= 20 for one in peaks for row in one["values"])
    counted = values_of(shown("gas", "Districts that reached 20 % LEL"))
    assert reached >= 1, "the run's gas leak reaches the warning"
    assert counted == [reached]


def _table(city: City, title: str) -> list[dict[str, Any]]:
    """Return the rows the alerts dashboard's table `title` shows with every variable at All."""
    dashboard = by_name("alerts")
    every: dict[str, Sequence[str]] = {item["name"]: ALL for item in variables(dashboard)}
    (panel,) = [panel for panel in all_panels(dashboard["panels"]) if panel["title"] == title]
    (target,) = panel["targets"]
    return [dict(zip(one["columns"], row, strict=True)) for one in city.series(expand(
        target["query"], every, range_ms=_range_ms(dashboard), minimum=None))
        for row in one["values"]]


@pytest.mark.services
def test_the_active_alerts_table_lists_every_alert_whose_latest_state_is_not_resolved(
        city: City) -> None:
    """The table reads the ingester's ranked list (`alerts_open`), not every alert's history:
    it shows what the record says is open, in each alert's own state."""
    def both() -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], str]]:
        record = {(row["alert_id"], row["sensor"]): row["state"] for row in influx_rows(
            city.url, city.db, 'SELECT last("since"), "state", "sensor", "alert_id" FROM '
            '"alerts" GROUP BY "alert_id"') if row["state"] != "resolved"}
        shown = {(row["rule"], row["sensor"]): row["state"]
                 for row in _table(city, "Active alerts")}
        return {(rule_of[alert_id], sensor): state
                for (alert_id, sensor), state in record.items()}, shown

    rule_of = {row["alert_id"]: row["rule"] for row in influx_rows(
        city.url, city.db, 'SELECT last("since"), "rule", "alert_id" FROM "alerts" '
        'GROUP BY "alert_id"')}
    # Listed every metrics interval (1 s here).
    wait_for(lambda: (found := both())[0] == found[1], 15, "the list to catch up")
    record, _ = both()
    assert {"firing", "acknowledged"} <= set(record.values())


@pytest.mark.services
def test_the_state_changes_table_lists_the_newest_changes_of_the_record(city: City) -> None:
    """The table reads the ingester's log (`alerts_log`): newest first, the changes the
    record holds in the range (all of them while there are at most 1,000)."""
    dashboard = by_name("alerts")
    since = int(time.time() * 1000) - _range_ms(dashboard)

    def both() -> tuple[list[tuple[int, str, str]], list[tuple[int, str, str]]]:
        record = sorted(((row["time"], row["sensor"], row["state"]) for row in influx_rows(
            city.url, city.db, f'SELECT "message", "sensor", "state" FROM "alerts" WHERE '
            f"time >= {since}ms AND time <= now()")), reverse=True)
        shown = [(row["time"], row["sensor"], row["state"])
                 for row in _table(city, "State changes")]
        return record, shown

    wait_for(lambda: sorted((found := both())[1], reverse=True) == found[0][:1000], 15,
             "the log to hold every change")
    record, shown = both()
    assert [change[0] for change in shown] == sorted((change[0] for change in shown),
                                                     reverse=True)
    assert {state for *_, state in record} >= {"firing", "acknowledged", "resolved"}


@pytest.mark.parametrize(("dashboard", "title", "measurement", "field"), [
    ("city-overview", "Open manhole covers by district", "manhole", "cover_open"),
    ("parking", "Occupied bays by district", "parking", "occupied")])
def test_totals_over_time_end_at_the_sum_of_each_sensors_last_state(
        city: City, dashboard: str, title: str, measurement: str, field: str) -> None:
    board = by_name(dashboard)
    (panel,) = [panel for panel in all_panels(board["panels"]) if panel["title"] == title]
    every: dict[str, Sequence[str]] = {item["name"]: ALL for item in variables(board)}
    (target,) = panel["targets"]
    lines = city.series(expand(target["query"], every, range_ms=6 * 3_600_000, minimum=None))
    shown = {one["tags"]["district"]: [row[1] for row in one["values"] if row[1] is not None][-1]
             for one in lines}
    stored: dict[str, float] = {}
    for row in influx_rows(city.url, city.db, f'SELECT last("{field}") FROM "{measurement}" '
                           'GROUP BY "sensor", "district"'):
        stored[row["district"]] = stored.get(row["district"], 0) + row["last"]
    assert shown == stored
    assert sum(stored.values()) > 0  # the run has open covers and occupied bays to sum


def test_the_snapshots_running_totals_sum_every_rise_of_the_registers(city: City) -> None:
    field = "total_active_energy_import"
    shown = sum(row["last"] for row in influx_rows(
        city.url, city.db, f'SELECT last("{field}_rise") FROM "energy_now" GROUP BY "district"'))
    stored = sum(row["rise"] for row in influx_rows(
        city.url, city.db, f'SELECT non_negative_difference("{field}") AS "rise" FROM "energy" '
        'GROUP BY "sensor"'))
    assert stored > 0
    # Not exactly: the snapshot takes each meter's readings in the order they came and
    # skips one older than the meter's newest, so a clock skewed ahead holds its rises
    # back until the readings after it are newer again, which the run's end may not reach.
    assert shown == pytest.approx(stored, rel=0.01)
