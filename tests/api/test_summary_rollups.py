"""Summary sections that read history from the hourly rollups and raw points, against InfluxDB.

Each test writes births, raw readings and hourly rollup points in line protocol
(the fields the ingester writes: `X_max`, `count`, booleans' `X_true`, the kinds'
tallies) around `AT`, a Monday 14:00 in Shanghai, and asks the summary at `AT`.
Settled hours (ended an hour before `AT`'s hour began) are read from the hourly
rollups, the rest from raw points (these kinds report once a minute or less
often: the ingester writes them no per-sensor minute rollup); a point a section
must not read is written with a value that would show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from ops import stack
from tests.api.city import AT, AT_ISO, DAY, HOUR, MIDNIGHT, MIN
from tests.api.conftest import birth_line, reading_line, write_lines
from urbanpulse.influxql import Series
from urbanpulse.kinds.dma_flow.summary import SECTION as DMA_SECTION
from urbanpulse.kinds.summaries import SummaryRequest, history_spans

Fields = Mapping[str, float | int]
SECOND = 1_000


def hourly(kind: str, sensor: str, ts: int, **fields: float | int) -> str:
    """Return a per-sensor hourly rollup point of `kind` in pudong at `ts`."""
    text = ",".join(f"{name}={value}i" if isinstance(value, int) else f"{name}={value!r}"
                    for name, value in fields.items())
    return f"{kind}_1h,district=pudong,sensor={sensor} {text} {ts}"


def raw(kind: str, sensor: str, ts: int, **values: float) -> str:
    """Return the raw point of one reading of `kind` in pudong at `ts`."""
    return reading_line(sensor, kind, "pudong", ts, seq=ts // 1000, values=values)


async def summary(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.get("/v1/districts/pudong/summary", params={"at": AT_ISO})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_spans_read_settled_hours_from_the_hour_rollups_and_the_rest_from_raw_points(
        ) -> None:
    assert history_spans(AT - DAY + MIN, AT + MIN, at_ms=AT) == [
        ("raw", AT - DAY + MIN, AT - DAY + HOUR), ("1h", AT - DAY + HOUR, AT - HOUR),
        ("raw", AT - HOUR, AT + MIN)]
    assert history_spans(AT - 2 * DAY, AT - DAY + 30 * MIN, at_ms=AT) == [
        ("1h", AT - 2 * DAY, AT - DAY), ("raw", AT - DAY, AT - DAY + 30 * MIN)]
    assert history_spans(AT - 90 * MIN, AT + 5 * MIN, at_ms=AT + 5 * MIN) == [
        ("raw", AT - 90 * MIN, AT + 5 * MIN)]
    assert history_spans(AT, AT, at_ms=AT) == []


async def test_pressure_compliance_counts_the_network_ends_readings_of_24_hours(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str) -> None:
    end, trunk = "pressure-pudong-0001", "pressure-pudong-0002"
    lines = [birth_line(end, "pressure", "pudong", AT - 40 * DAY, position="network-end"),
             birth_line(trunk, "pressure", "pudong", AT - 40 * DAY, position="trunk"),
             raw("pressure", end, AT - MIN, pressure_mpa=0.13),
             raw("pressure", trunk, AT - MIN, pressure_mpa=0.31)]
    for sensor, ts, count, good in (
            (end, AT - 5 * HOUR, 60, 57),
            (end, AT - DAY, 60, 60),                        # starts 24 h before: outside
            (end, AT - HOUR, 60, 60),                       # not settled: read raw instead
            (trunk, AT - 5 * HOUR, 60, 0)):                 # a trunk main: not a network end
        lines.append(hourly("pressure", sensor, ts, pressure_mpa_mean=0.2,
                            pressure_service_count=good, count=count))
    for ts, mpa in (
            (AT - DAY + 30 * MIN, 0.13),                    # the window's first part hour
            (AT - DAY + 30 * SECOND, 0.2),                  # 24 h before AT's minute: outside
            (AT - 5 * HOUR + 5 * MIN, 0.01),                # in a settled hour: its rollup counts
            (AT - HOUR + 5 * MIN, 0.14),                    # at the limit
            (AT + 30 * SECOND, 0.2),                        # the minute holding AT counts
            (AT + MIN, 0.01)):                              # after AT
        lines.append(raw("pressure", end, ts, pressure_mpa=mpa))
    write_lines(influxd.url, influx_db, lines)

    pressure = (await summary(api))["pressure"]

    # 60 + 4 readings (AT - 1 min's included), 57 + 2 of them at or above 0.14 MPa.
    assert pressure == {"points": 2, "mean_pressure_mpa": 0.22, "network_end_points": 1,
                        "compliance": round(59 / 64, 4), "compliance_target": 0.97,
                        "meets_target": False, "below_limit_now": [end]}


async def test_noise_periods_sum_the_monitors_limit_and_exceedance_counts(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str) -> None:
    one, two, unzoned = "noise-pudong-0001", "noise-pudong-0002", "noise-pudong-0003"
    lines = [birth_line(sensor, "noise", "pudong", AT - 40 * DAY, noise_zone="2")
             for sensor in (one, two, unzoned)]
    day, night = MIDNIGHT + 6 * HOUR, MIDNIGHT - 2 * HOUR
    for sensor, ts, limited, exceeding in (
            (one, day + HOUR, 60, 5),
            (two, day + 2 * HOUR, 60, 0),
            (one, AT - HOUR, 2, 1),                # not settled: its raw points are read
            (one, night, 60, 60),
            (two, night - HOUR, 60, 60)):          # the day before the night
        lines.append(hourly("noise", sensor, ts, laeq_mean=55.0,
                            noise_limit_db_count=limited, noise_exceeds_limit_true=exceeding,
                            count=limited))
    lines.append(hourly("noise", unzoned, day + 3 * HOUR, laeq_mean=50.0,
                        noise_limit_db_count=0, count=60))  # no limit: not a monitor here
    for sensor, ts, exceeds in (
            (one, AT - 30 * MIN, True),
            (one, AT - 10 * MIN, False),
            (two, day + 2 * HOUR + 5 * MIN, True),  # in a settled hour: its rollup counts
            (one, AT + MIN, True)):                 # after AT
        lines.append(raw("noise", sensor, ts, laeq=70.0 if exceeds else 50.0,
                         noise_limit_db=60.0, noise_exceeds_limit=exceeds))
    lines.append(raw("noise", unzoned, AT - 20 * MIN, laeq=80.0))  # no limit: not counted
    write_lines(influxd.url, influx_db, lines)

    noise = (await summary(api))["noise"]

    assert noise["day"] == {"period": "day", "start": day, "end": AT, "monitors": 2,
                            "readings": 122, "exceeding_readings": 6, "exceeding_monitors": 1}
    assert noise["night"] == {"period": "night", "start": night, "end": day, "monitors": 1,
                              "readings": 60, "exceeding_readings": 60,
                              "exceeding_monitors": 1}


async def test_energy_draw_is_the_newest_register_of_each_stretch(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str) -> None:
    office, mall, depot = "energy-pudong-0001", "energy-pudong-0002", "energy-pudong-0003"
    lines = [birth_line(sensor, "energy", "pudong", AT - 40 * DAY, interval_s=900)
             for sensor in (office, mall, depot)]
    for sensor, ts, register in (
            (office, MIDNIGHT - 5 * HOUR, 900.0),
            (office, MIDNIGHT - HOUR, 1000.0),                 # the day before's last
            (office, MIDNIGHT + 2 * HOUR, 1100.0),
            (office, MIDNIGHT - 7 * DAY - HOUR, 500.0),
            (office, AT - 7 * DAY + HOUR, 800.0),              # after 14:00 that day
            (office, MIDNIGHT - 14 * DAY - HOUR, 200.0),
            (office, AT - 14 * DAY - HOUR, 460.0),             # the hour before 14:00
            (mall, MIDNIGHT - HOUR, 5000.0),
            (depot, MIDNIGHT - HOUR, 100.0)):
        lines.append(hourly("energy", sensor, ts, total_active_energy_import_max=register,
                            total_active_energy_import_min=register - 1, count=1))
    for sensor, ts, register in (
            (depot, MIDNIGHT + 3 * HOUR + 5 * MIN, 150.0),     # a settled hour: its rollup
            (office, AT, 1300.0),                              # today's at AT
            (office, AT + MIN, 9000.0),                        # after AT
            (office, AT - 7 * DAY, 740.0),                     # a week ago at 14:00
            (office, AT - 14 * DAY + 2 * MIN, 470.0),          # after 14:00 that day
            (mall, AT - 15 * MIN, 5100.0)):
        lines.append(raw("energy", sensor, ts, total_active_energy_import=register))
    write_lines(influxd.url, influx_db, lines)

    energy = (await summary(api))["energy"]

    # The office: 300 kWh today, 240 and 260 one and two weeks ago; the mall: 100, new.
    assert energy == {"buildings": 2, "today_kwh": 400.0, "baseline_kwh": 250.0,
                      "compared_buildings": 1, "change_pct": 20.0}


async def test_dma_night_flow_is_the_newest_raw_report_without_the_state_in_memory(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str) -> None:
    meter = "dma-flow-pudong-0001"
    write_lines(influxd.url, influx_db, [
        birth_line(meter, "dma-flow", "pudong", AT - 40 * DAY, site="dma-1", interval_s=300),
        reading_line(meter, "dma-flow", "pudong", AT - 20 * HOUR, seq=1, values={
            "inflow_m3h": 90.0, "night_flow_m3h": 60.0, "night_flow_ratio": 0.7}),
        reading_line(meter, "dma-flow", "pudong", AT - 5 * MIN, seq=2, values={
            "inflow_m3h": 100.0, "night_flow_m3h": 30.0, "night_flow_ratio": 0.3})])

    dma = (await summary(api))["dma-flow"]

    assert dma == {"dmas": [{"sensor": meter, "site": "dma-1", "inflow_m3h": 100.0,
                             "night_flow_m3h": 30.0, "night_flow_ratio": 0.3}],
                   "total_inflow_m3h": 100.0, "night_flow_high": 0}


@dataclass(frozen=True)
class _Birth:
    sensor: str
    kind: str = "dma-flow"
    district: str = "pudong"
    site: str = "dma-1"
    lat: float = 31.2
    lon: float = 121.5
    interval_s: int = 300
    attributes: Mapping[str, bool | int | float | str] = field(default_factory=dict)


@dataclass
class HeldReadings:
    """The newest readings as the api holds them, and the statements anything asked."""

    rows: dict[str, dict[str, Any]]
    statements: list[str] = field(default_factory=list)

    def newest(self, sensor: str) -> Mapping[str, Any] | None:
        return self.rows.get(sensor)

    async def query(self, statement: str) -> list[Series]:
        self.statements.append(statement)
        return []


async def test_dma_night_flow_is_read_from_the_held_newest_reading_without_a_query() -> None:
    held = HeldReadings({
        "dma-flow-pudong-0001": {"time": AT - 5 * MIN, "inflow_m3h": 80.0,
                                 "night_flow_m3h": 48.0, "night_flow_ratio": 0.6},
        "dma-flow-pudong-0002": {"time": AT - 2 * DAY, "inflow_m3h": 10.0,   # too old
                                 "night_flow_m3h": 5.0, "night_flow_ratio": 0.5}})
    births = [_Birth("dma-flow-pudong-0001"), _Birth("dma-flow-pudong-0002")]

    section = await DMA_SECTION.build(SummaryRequest(
        queries=held, kind="dma-flow", district="pudong", births=births, at_ms=AT))

    assert held.statements == []
    assert [(dma.sensor, dma.inflow_m3h, dma.night_flow_m3h, dma.night_flow_ratio)
            for dma in section.dmas] == [("dma-flow-pudong-0001", 80.0, 48.0, 0.6),
                                         ("dma-flow-pudong-0002", None, None, None)]
    assert (section.total_inflow_m3h, section.night_flow_high) == (80.0, 1)


SETTLED_RAW_ONLY = {  # kind: raw readings (time, values) of settled hours only, the answer
    "energy": ([(MIDNIGHT - HOUR, {"total_active_energy_import": 10.0}),
                (AT - 3 * HOUR, {"total_active_energy_import": 20.0})],
               ("buildings", 0)),
    "noise": ([(AT - 3 * HOUR, {"laeq": 70.0, "noise_limit_db": 60.0})],
              ("day", "readings", 0)),
    "pressure": ([(AT - 3 * HOUR, {"pressure_mpa": 0.1})], ("compliance", None)),
}


@pytest.mark.parametrize("kind", sorted(SETTLED_RAW_ONLY))
async def test_a_section_reads_settled_hours_from_the_hourly_rollups_not_raw_points(
        api: httpx.AsyncClient, influxd: stack.Server, influx_db: str, kind: str) -> None:
    sensor = f"{kind}-pudong-0001"
    readings, (*path, expected) = SETTLED_RAW_ONLY[kind]
    write_lines(influxd.url, influx_db, [
        birth_line(sensor, kind, "pudong", AT - 40 * DAY, position="network-end",
                   noise_zone="2", interval_s=900 if kind == "energy" else 60),
        *(reading_line(sensor, kind, "pudong", ts, seq=n, values=values)
          for n, (ts, values) in enumerate(readings))])

    found: Any = (await summary(api))[kind]
    for key in path:
        found = found[key]

    assert found == expected, "no rollup holds anything here"
