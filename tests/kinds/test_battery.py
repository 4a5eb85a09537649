"""The contract battery: every registered kind, through every layer, on real servers.

One run of the shanghai city (half scale, three days) goes from the simulator
through mosquitto and `urbanpulse ingest` into InfluxDB, with every kind's
detected truth injected (`tests.kinds.battery`). Then, for each kind: its
readings landed, each field it declares derived is stored, each of its default
rules raised an alert on an injected truth it detects, its section of the api's
district summary holds something, and every query of its Grafana dashboard
returns rows; each view it declares lists its sensors, nearest first given a
place. A kind gets all of it by registering.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import simulator
from api.kind_views import views
from ingest.alerts.rules import load_kind_rules
from ops import stack
from tests.kinds.battery import (
    BatteryRun,
    empty_dashboard_queries,
    has_content,
    run_battery,
    summary_section,
    unfired_rules,
    view_items,
)
from urbanpulse.kinds import KINDS, SensorKind

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def run(mosquitto: stack.Server, influxd: stack.Server,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatteryRun]:
    folder: Path = tmp_path_factory.mktemp("battery")
    yield from run_battery(mosquitto=mosquitto, influxd=influxd, folder=folder,
                           city="shanghai", scale=0.5, kinds=KINDS.values())


@pytest.mark.parametrize("kind", list(KINDS))
def test_readings_of_the_kind_land(run: BatteryRun, kind: str) -> None:
    assert run.count(kind, "seq") > 100


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_declared_derived_field_is_stored(run: BatteryRun, kind: str) -> None:
    missing = [name for name in KINDS[kind].derived if run.count(kind, name) == 0]
    assert not missing, f"{kind}: no point carries {missing}"


def needs_history(kind: SensorKind) -> bool:
    """Whether a default rule of the kind judges a day against earlier days (`min_days`)."""
    return any(getattr(rule, "min_days", 0) for rule in load_kind_rules(kind))


@pytest.fixture(scope="module")
def history_run(mosquitto: stack.Server, influxd: stack.Server,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatteryRun]:
    """The kinds whose rules learn from earlier days, after a week of their history: a
    shanghai of those kinds alone, so that the week takes seconds, in January: its
    incidents fall on Sunday 11 January, when HVAC left on heats the night to 70 % of a
    weekday's load (a sound night: 37 %); in May's or August's weather it adds less and
    stays under `night-baseload-high`'s 60 %."""
    folder: Path = tmp_path_factory.mktemp("battery-history")
    kinds = [kind for kind in KINDS.values() if needs_history(kind)]
    profile = yaml.safe_load((Path(simulator.__file__).parent / "cities" / "shanghai.yaml")
                             .read_text(encoding="utf-8"))
    for district in profile["districts"]:
        district["counts"] = {name: count for name, count in district["counts"].items()
                              if name in {kind.name for kind in kinds}}
    city = folder / "city.yaml"
    city.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    yield from run_battery(mosquitto=mosquitto, influxd=influxd, folder=folder,
                           city=str(city), scale=0.5, warm_up="7d", kinds=kinds,
                           start="2026-01-09T00:00:00+08:00")


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_default_rule_fires_on_injected_truth(request: pytest.FixtureRequest,
                                                   kind: str) -> None:
    run: BatteryRun = request.getfixturevalue(
        "history_run" if needs_history(KINDS[kind]) else "run")
    assert run.truths, "the run announced no truth"
    assert not unfired_rules(run, KINDS[kind])


@pytest.mark.parametrize("kind", list(KINDS))
async def test_the_district_summary_section_holds_something(run: BatteryRun, kind: str) -> None:
    section = await summary_section(run, KINDS[kind])
    assert has_content(section), section


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_dashboard_query_returns_rows(run: BatteryRun, kind: str) -> None:
    assert not empty_dashboard_queries(run, KINDS[kind])


@pytest.mark.parametrize(("kind", "view"), sorted(views()))
async def test_every_view_lists_the_kinds_sensors_nearest_first(run: BatteryRun, kind: str,
                                                                view: str) -> None:
    items, nearby = await view_items(run, KINDS[kind], view)
    assert items, f"/v1/{kind}/{view} listed nothing in {run.districts[kind][0]}"
    distances = [item["distance_m"] for item in nearby]
    assert distances
    assert distances == sorted(distances)
    assert distances[0] == 0.0
