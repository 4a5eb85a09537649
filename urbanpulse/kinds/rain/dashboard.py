"""The rain-gauge dashboard and its chart on the city overview."""

from __future__ import annotations

from urbanpulse.kinds.panels import (
    CHART,
    EVERY,
    WHERE,
    KindDashboard,
    Overview,
    SystemPart,
    by_sensor,
    colour_cells,
    grafana_unit,
    stat,
    table,
    target,
    thresholds,
    timeseries,
)
from urbanpulse.kinds.rain import SPEC
from urbanpulse.kinds.systems import FLOOD

MM = grafana_unit(*(SPEC.metrics[name] for name in ("rain_1h", "rain_3h", "rain_24h")))
RATE = grafana_unit(SPEC.metrics["intensity_mm_h"])
RAINSTORM = thresholds("green", (50, "orange"), (100, "red"))
"""The CMA rainstorm levels: 50 mm in 3/6/12 h, 100 mm in 3 h."""
ACCUMULATIONS = {"rain_1h": "1 h", "rain_3h": "3 h", "rain_12h": "12 h", "rain_24h": "24 h"}
"""The rolling totals the flood dashboard shows, with their column names."""


def dashboard() -> KindDashboard:
    """Return the rain-gauge dashboard."""
    last = (f'SELECT last("rain_3h") AS "rain_3h", last("rain_24h") AS "rain_24h" '
            f'FROM "{SPEC.name}" {WHERE} GROUP BY "sensor"')
    return KindDashboard("Rain at the gauges against the CMA rainstorm levels.", [
        stat("Most rain in 3 h now", "Highest last 3-hour total; 50 mm is a rainstorm, "
             "100 mm the red signal.", (0, 0, 8, 5),
             [target(f'SELECT max("rain_3h") FROM ({last})')], unit=MM, decimals=1,
             steps=RAINSTORM),
        stat("Most rain in 24 h now", "Highest last 24-hour total.", (8, 0, 8, 5),
             [target(f'SELECT max("rain_24h") FROM ({last})')], unit=MM, decimals=1),
        stat("Gauges reporting", "Gauges with a reading in the time range.", (16, 0, 8, 5),
             [target(f'SELECT count("rain_24h") FROM ({last})')]),
        timeseries("Rain rate by gauge", "Highest 5-minute rate × 12 of each gauge; the "
                   "central sewers were built for about 36 mm/h.", (0, 5, 12, 9),
                   [target(f'SELECT max("intensity_mm_h") FROM "{SPEC.name}" {WHERE} {EVERY}, '
                           '"sensor" fill(none)', alias="$tag_sensor")],
                   unit=RATE, minimum=0, steps=thresholds("transparent", (36, "red")),
                   threshold_style="line"),
        timeseries("3-hour rain by gauge", "Rolling 3-hour total; the lines are the "
                   "rainstorm levels.", (12, 5, 12, 9), [by_sensor("rain_3h", SPEC.name)],
                   unit=MM, minimum=0, steps=thresholds("transparent", (50, "orange"),
                                                        (100, "red")),
                   threshold_style="line"),
        table("Gauges now", "Each gauge's last rolling totals.", (0, 14, 24, 8), [target(
            'SELECT last("rain_1h") AS "1h", last("rain_3h") AS "3h", last("rain_6h") AS "6h", '
            'last("rain_12h") AS "12h", last("rain_24h") AS "24h", last("battery_v") AS '
            f'"battery_v" FROM "{SPEC.name}" {WHERE} GROUP BY "sensor", "district"',
            table=True)], overrides=[colour_cells("3h", steps=RAINSTORM)], sort_by="3h"),
    ])


def overview() -> Overview:
    """Return the highest hourly rain by district, for the city overview."""
    return Overview(charts=(timeseries(
        "Rain by district", "Highest 1-hour total among the district's gauges.", CHART,
        [target(f'SELECT max("rain_1h") FROM "{SPEC.name}" {WHERE} {EVERY}, '
                '"district" fill(none)', alias="$tag_district")], unit=MM, minimum=0),))


def system() -> SystemPart:
    """Return the rain accumulations, for the flood dashboard."""
    sums = ", ".join(f'max("{field}") AS "{label}"' for field, label in ACCUMULATIONS.items())
    last = ", ".join(f'last("{field}") AS "{field}"' for field in ACCUMULATIONS)
    return SystemPart(FLOOD, (
        timeseries("Rain accumulations, wettest gauge", "Highest 1-, 3-, 12- and 24-hour "
                   "totals over the gauges per interval; lines at the CMA rainstorm levels.",
                   (0, 0, 12, 8), [target(f'SELECT {sums} FROM "{SPEC.name}" {WHERE} {EVERY} '
                                          'fill(none)', alias="$col")], unit=MM, minimum=0,
                   steps=thresholds("transparent", (50, "orange"), (100, "red")),
                   threshold_style="line"),
        table("Rain accumulations now by district", "Wettest gauge's last totals in each "
              "district.", (12, 0, 12, 8), [target(
                  f'SELECT {sums} FROM (SELECT {last} FROM "{SPEC.name}" {WHERE} '
                  'GROUP BY "sensor", "district") GROUP BY "district"', table=True)],
              overrides=[colour_cells("3 h", steps=RAINSTORM)], sort_by="3 h"),
    ))
