"""The rain-gauge dashboard and its chart on the city overview."""

from __future__ import annotations

from urbanpulse.kinds.panels import (
    CHART,
    EVERY,
    KindDashboard,
    Overview,
    SystemPart,
    by_district,
    by_sensor,
    colour_cells,
    district_filter,
    grafana_unit,
    now,
    now_span,
    reporting,
    stat,
    table,
    target,
    thresholds,
    timeseries,
    top,
)
from urbanpulse.kinds.rain import SPEC
from urbanpulse.kinds.systems import FLOOD
from urbanpulse.now import TOP_N
from urbanpulse.rollups import rollup_measurement

MM = grafana_unit(*(SPEC.metrics[name] for name in ("rain_1h", "rain_3h", "rain_24h")))
RATE = grafana_unit(SPEC.metrics["intensity_mm_h"])
RAINSTORM = thresholds("green", (50, "orange"), (100, "red"))
"""The CMA rainstorm levels: 50 mm in 3/6/12 h, 100 mm in 3 h."""
ACCUMULATIONS = {"rain_1h": "1 h", "rain_3h": "3 h", "rain_12h": "12 h", "rain_24h": "24 h"}
"""The rolling totals the flood dashboard shows, with their column names."""


def dashboard() -> KindDashboard:
    """Return the rain-gauge dashboard."""
    return KindDashboard("Rain at the gauges against the CMA rainstorm levels.", [
        stat("Most rain in 3 h now", "Highest last 3-hour total; 50 mm is a rainstorm, "
             "100 mm the red signal.", (0, 0, 8, 5),
             [target(f'SELECT max("rain_3h_max") FROM ({now(SPEC)})')], unit=MM, decimals=1,
             steps=RAINSTORM),
        stat("Most rain in 24 h now", "Highest last 24-hour total.", (8, 0, 8, 5),
             [target(f'SELECT max("rain_24h_max") FROM ({now(SPEC)})')], unit=MM, decimals=1),
        stat("Gauges reporting", f"Gauges with a reading in the last {now_span(SPEC)}.",
             (16, 0, 8, 5), [target(reporting(SPEC))]),
        timeseries("Rain rate by gauge", "Highest 5-minute rate × 12 of each gauge; the "
                   "central sewers were built for about 36 mm/h.", (0, 5, 12, 9),
                   [by_sensor("intensity_mm_h", SPEC.name, "max")],
                   unit=RATE, minimum=0, steps=thresholds("transparent", (36, "red")),
                   threshold_style="line"),
        timeseries("3-hour rain by gauge", "Rolling 3-hour total; the lines are the "
                   "rainstorm levels.", (12, 5, 12, 9), [by_sensor("rain_3h", SPEC.name)],
                   unit=MM, minimum=0, steps=thresholds("transparent", (50, "orange"),
                                                        (100, "red")),
                   threshold_style="line"),
        table("Wettest gauges now", f"The {TOP_N} gauges with the highest last 3-hour "
              "total, with their other rolling totals.", (0, 14, 24, 8), [top(SPEC, {
                  "3h": "rain_3h", "1h": "rain_1h", "6h": "rain_6h", "12h": "rain_12h",
                  "24h": "rain_24h", "battery_v": "battery_v"})],
                  overrides=[colour_cells("3h", steps=RAINSTORM)], sort_by="3h"),
    ])


def overview() -> Overview:
    """Return the highest hourly rain by district, for the city overview."""
    return Overview(charts=(timeseries(
        "Rain by district", "Highest 1-hour total among the district's gauges.", CHART,
        [by_district("rain_1h", SPEC.name, "max")], unit=MM, minimum=0),))


def system() -> SystemPart:
    """Return the rain accumulations, for the flood dashboard."""
    highest = ", ".join(f'max("{field}_max") AS "{label}"'
                        for field, label in ACCUMULATIONS.items())
    return SystemPart(FLOOD, (
        timeseries("Rain accumulations, wettest gauge", "Highest 1-, 3-, 12- and 24-hour "
                   "totals over the gauges per interval; lines at the CMA rainstorm levels.",
                   (0, 0, 12, 8), [target(
                       f'SELECT {highest} FROM "{rollup_measurement(SPEC.name, "district", "1m")}" '
                       'WHERE $timeFilter '
                       f'AND {district_filter()} {EVERY} fill(none)', alias="$col")],
                   unit=MM, minimum=0, threshold_style="line",
                   steps=thresholds("transparent", (50, "orange"), (100, "red"))),
        table("Rain accumulations now by district", "Wettest gauge's last totals in each "
              "district.", (12, 0, 12, 8), [target(
                  f'SELECT {highest} FROM ({now(SPEC)}) GROUP BY "district"', table=True)],
              overrides=[colour_cells("3 h", steps=RAINSTORM)], sort_by="3 h"),
    ))
