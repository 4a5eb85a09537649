"""Offline checks of the Grafana provisioning and dashboards, queries run on a real InfluxDB.

Grafana does not run here or in CI. Each dashboard is checked as JSON (title,
uid, the provisioned data source on every panel and target, InfluxQL only, a
time filter wherever a kind measurement is read), and then every query in it
is run against the test session's real InfluxDB after the Grafana macros are
expanded, on points written with the project's own line-protocol encoder.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import influx_query
from urbanpulse import stack
from urbanpulse.catalog import KINDS
from urbanpulse.lineprotocol import FieldValue, encode_point

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").rglob("*.json"))
DATASOURCES = sorted((ROOT / "grafana" / "provisioning" / "datasources").glob("*.y*ml"))

# Grafana's own variables that InfluxQL panels may use, besides the template variables.
GRAFANA_MACROS = {"timeFilter", "__interval", "__interval_ms", "__timeFilter", "measurement",
                  "m", "col"}
DISTRICTS = ("pudong", "xuhui")
_FROM_LIST = re.compile(r'\bFROM\s+("[^"]+"(?:\s*,\s*"[^"]+")*)', re.IGNORECASE)
_FLUX = re.compile(r"\|>|\bfrom\s*\(\s*bucket\s*:", re.IGNORECASE)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


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


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Yield (where, InfluxQL text) for every panel target and query variable."""
    for panel in all_panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} target {target['refId']}", str(target["query"])
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            yield f"variable {variable['name']!r}", str(variable["query"])


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


def expand(query: str, district: str) -> str:
    """Expand the Grafana macros and variables as Grafana would for the last hour."""
    return (query.replace("$timeFilter", "time > now() - 1h")
            .replace("$__interval_ms", "60000")
            .replace("$__interval", "1m")
            .replace("$district", district))


@pytest.fixture(scope="module")
def datasource_uids() -> set[str]:
    return {source["uid"] for source in provisioned_datasources()}


def test_there_is_a_dashboard_and_one_provisioned_datasource() -> None:
    assert [path.name for path in DASHBOARDS] == ["city-overview.json"]
    assert len(provisioned_datasources()) == 1


def test_datasource_is_influxql_with_a_token_header() -> None:
    (source,) = provisioned_datasources()
    assert source["uid"] == "urbanpulse-influxdb"
    assert source["type"] == "influxdb"
    assert source["url"] == "http://influxdb:8086"
    assert source["database"] == source["jsonData"]["dbName"] == "city"
    assert source["jsonData"]["version"] == "InfluxQL"
    assert source["jsonData"]["httpHeaderName1"] == "Authorization"
    assert source["secureJsonData"]["httpHeaderValue1"] == "Token ${URBANPULSE_INFLUX_TOKEN}"
    assert "token" not in source.get("secureJsonData", {}), "a Flux token"


def test_dashboard_provider_loads_the_dashboards_folder() -> None:
    path = ROOT / "grafana" / "provisioning" / "dashboards" / "urbanpulse.yaml"
    (provider,) = yaml.safe_load(path.read_text(encoding="utf-8"))["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_dashboard_has_title_uid_and_unique_panel_ids(path: Path) -> None:
    dashboard = load(path)
    assert dashboard["title"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dashboard["uid"])
    assert dashboard["schemaVersion"] >= 36
    ids = [panel["id"] for panel in all_panels(dashboard["panels"])]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_every_panel_target_and_variable_uses_the_provisioned_datasource(
        path: Path, datasource_uids: set[str]) -> None:
    dashboard = load(path)
    for panel in all_panels(dashboard["panels"]):
        if panel["type"] == "row":
            continue
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        assert panel["datasource"]["uid"] in datasource_uids, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in datasource_uids, panel["title"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] in datasource_uids, variable["name"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_queries_are_raw_influxql_not_flux(path: Path) -> None:
    dashboard = load(path)
    for panel in all_panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            assert target.get("rawQuery") is True, panel["title"]
            assert not _FLUX.search(target["query"]), panel["title"]
    for where, query in queries(dashboard):
        assert query.lstrip().upper().startswith(("SELECT", "SHOW")), where


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_every_read_of_a_kind_measurement_is_time_filtered(path: Path) -> None:
    read_kinds = set()
    for where, query in queries(load(path)):
        for names, scope in scopes(query):
            if set(names) & set(KINDS):
                read_kinds |= set(names) & set(KINDS)
                assert "$timeFilter" in scope, f"{where} reads {names} without $timeFilter"
                assert "GROUP BY time($__interval)" in query, where
    assert read_kinds == set(KINDS), "the overview shows every kind"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_queries_use_only_defined_variables(path: Path) -> None:
    dashboard = load(path)
    defined = {variable["name"] for variable in dashboard["templating"]["list"]}
    for where, query in queries(dashboard):
        for name in re.findall(r"\$\{?(\w+)", query):
            assert name in defined | GRAFANA_MACROS, f"{where} uses undefined ${name}"


def test_district_variable_lists_the_districts_of_the_sensors() -> None:
    (variable,) = load(DASHBOARDS[0])["templating"]["list"]
    assert variable["name"] == "district"
    assert variable["query"] == 'SHOW TAG VALUES FROM "sensors" WITH KEY = "district"'
    assert variable["includeAll"] is True
    assert variable["allValue"] == ".*"


# -- every query, run for real -----------------------------------------------------------


def _midpoint(low: float, high: float) -> float:
    return float(low + (high - low) / 2)


def sample_lines(now_ms: int) -> list[str]:
    """Return births and half an hour of readings for two sensors of each kind."""
    lines = []
    for district_index, district in enumerate(DISTRICTS):
        for kind in KINDS.values():
            sensor = f"{kind.name}-{district}-0001"
            tags = {"sensor": sensor, "district": district}
            birth: dict[str, FieldValue] = {
                "lat": 31.2 + district_index / 10, "lon": 121.5 + district_index / 10,
                "site": f"{district} site", "zone": "mixed", "interval_s": kind.interval_s,
                "attributes": json.dumps({"capacity": 200}),
            }
            lines.append(encode_point("sensors", {**tags, "kind": kind.name}, birth,
                                      now_ms - 3_600_000 * 5))
            for minute in range(30):
                fields: dict[str, FieldValue] = {
                    name: _midpoint(metric.low, metric.high)
                    for name, metric in kind.metrics.items()}
                if kind.name == "parking":
                    fields.update(total_spot_number=200.0, available_spot_number=50.0,
                                  occupancy=0.75)
                fields["seq"] = minute
                lines.append(encode_point(kind.name, tags, fields, now_ms - minute * 60_000))
    return lines


@pytest.fixture
def city_db(influxd: stack.Server, influx_db: str) -> str:
    body = "\n".join(sample_lines(int(time.time() * 1000)))
    response = httpx.post(f"{influxd.url}/write", params={"db": influx_db, "precision": "ms"},
                          content=body.encode(), timeout=30)
    assert response.status_code == 204, response.text
    return influx_db


@pytest.mark.services
@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_every_query_returns_rows_from_a_real_influxdb(
        path: Path, influxd: stack.Server, city_db: str) -> None:
    ran = 0
    for where, query in queries(load(path)):
        for district in ("pudong", ".*"):
            series = influx_query(influxd.url, city_db, expand(query, district))
            values = [value for one in series for row in one["values"]
                      for value in row[1:] if value is not None]
            assert values, f"{where} returned no value for district {district!r}"
            seen = {one.get("tags", {}).get("district") for one in series} - {None}
            if district == "pudong" and "$district" in query:
                assert seen <= {"pudong"}, f"{where} ignores the district filter"
            ran += 1
    assert ran >= 2 * 7


@pytest.mark.services
def test_panel_values_match_the_written_points(influxd: stack.Server, city_db: str) -> None:
    dashboard = load(ROOT / "grafana" / "dashboards" / "city-overview.json")
    by_title = {panel["title"]: panel["targets"][0]["query"]
                for panel in all_panels(dashboard["panels"])}

    def last_values(title: str) -> dict[str, float]:
        series = influx_query(influxd.url, city_db, expand(by_title[title], ".*"))
        return {one["tags"]["district"]: one["values"][-1][1] for one in series}

    # 1 - 50/200 in both districts.
    assert last_values("Parking occupancy by district") == pytest.approx(
        dict.fromkeys(DISTRICTS, 0.75))
    # The energy average of equal levels is that level.
    laeq = _midpoint(KINDS["noise"].metrics["laeq"].low, KINDS["noise"].metrics["laeq"].high)
    assert last_values("Noise LAeq by district") == pytest.approx(dict.fromkeys(DISTRICTS, laeq))
    # One building per district: the district's power is that building's.
    power = KINDS["energy"].metrics["total_active_power"]
    assert last_values("Building power by district") == pytest.approx(
        dict.fromkeys(DISTRICTS, _midpoint(power.low, power.high)))
    sensors = influx_query(influxd.url, city_db, expand(
        by_title["Sensors"], ".*"))
    assert len(sensors) == len(DISTRICTS) * len(KINDS)
