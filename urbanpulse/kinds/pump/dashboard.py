"""The pump-station dashboard and its chart on the city overview."""

from __future__ import annotations

from urbanpulse.kinds.panels import (
    CHART,
    KindDashboard,
    Overview,
    SystemPart,
    by_district,
    by_sensor,
    colour_cells,
    grafana_unit,
    now,
    now_span,
    per_district,
    reporting,
    stat,
    table,
    target,
    thresholds,
    timeseries,
    top,
)
from urbanpulse.kinds.pump import SPEC
from urbanpulse.kinds.systems import FLOOD
from urbanpulse.now import TOP_N

LEVEL = grafana_unit(SPEC.metrics["forebay_level_m"])
FLOW = grafana_unit(SPEC.metrics["discharge_m3s"])
DISCHARGING = f'SELECT sum("river_discharge_nonzero") FROM ({now(SPEC)})'
"""The stations whose last reading says 放江."""


def dashboard() -> KindDashboard:
    """Return the pump-station dashboard."""
    return KindDashboard("Forebay level, pumps running and discharge to the river (放江) "
                         "of the drainage pump stations.", [
        stat("Discharging to the river now", "Stations whose last reading says 放江.",
             (0, 0, 8, 5), [target(DISCHARGING)],
             steps=thresholds("green", (1, "orange"))),
        stat("Pumps running now", "Sum of each station's last count of running pumps.",
             (8, 0, 8, 5), [target(f'SELECT sum("pumps_running_sum") FROM ({now(SPEC)})')]),
        stat("Stations reporting", f"Stations with a reading in the last {now_span(SPEC)}.",
             (16, 0, 8, 5), [target(reporting(SPEC))]),
        timeseries("Forebay level by station", "Mean forebay level; the line is the "
                   "forebay-high rule's 4 m.", (0, 5, 12, 9),
                   [by_sensor("forebay_level_m", SPEC.name)], unit=LEVEL, minimum=0,
                   steps=thresholds("transparent", (4.0, "red")), threshold_style="line"),
        timeseries("Discharge by district", "Flow the district's pumps lift: the mean of "
                   "their readings in each hour times the stations reporting.", (12, 5, 12, 9),
                   [target(per_district('mean("discharge_m3s_mean") * mean("sensors")',
                                        SPEC.name, "1h"), alias="$tag_district")],
                   unit=FLOW, minimum=0, interval="1h"),
        table("Highest forebays now", f"The {TOP_N} stations with the highest last forebay "
              "level, with their last reading.", (0, 14, 24, 8), [top(SPEC, {
                  name: name for name in ("forebay_level_m", "pumps_running", "discharge_m3s",
                                          "river_discharge", "river_level_m")})],
              overrides=[colour_cells("forebay_level_m", steps=thresholds(
                  "green", (3.5, "orange"), (4.0, "red")))], sort_by="forebay_level_m"),
    ])


def overview() -> Overview:
    """Return the pumped discharge by district, for the city overview."""
    return Overview(charts=(timeseries(
        "Pumped discharge by district", "Mean flow the district's pump stations lift.",
        CHART, [by_district("discharge_m3s", SPEC.name)], unit=FLOW,
        minimum=0),))


def system() -> SystemPart:
    """Return the stations discharging and their flow, for the flood dashboard."""
    return SystemPart(FLOOD, (
        stat("Pump stations discharging now", "Stations whose last reading says 放江 "
             "(discharge to the river).", (0, 0, 6, 4),
             [target(DISCHARGING)],
             steps=thresholds("green", (1, "orange"))),
        timeseries("Pumped discharge by district", "Mean flow the district's pump stations "
                   "lift.", (0, 0, 12, 8), [by_district("discharge_m3s", SPEC.name)], unit=FLOW,
                   minimum=0),
    ))
