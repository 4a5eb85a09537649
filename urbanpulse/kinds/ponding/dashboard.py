"""The ponding dashboard and its chart on the city overview."""

from __future__ import annotations

from urbanpulse.kinds.panels import (
    CHART,
    WHERE,
    Json,
    KindDashboard,
    Overview,
    SystemPart,
    by_district,
    by_sensor,
    colour_cells,
    geomap,
    grafana_unit,
    now,
    over_range,
    rolled,
    sensor_filter,
    stat,
    table,
    target,
    thresholds,
    timeseries,
    top,
)
from urbanpulse.kinds.ponding import SPEC
from urbanpulse.kinds.systems import FLOOD
from urbanpulse.now import TOP_N

DEPTH = grafana_unit(SPEC.metrics["depth_cm"])
STAGES = thresholds("green", (5, "yellow"), (15, "orange"), (25, "red"))
"""Depth colours at the notify, report and close depths."""
FLOOD_POINTS = f'SELECT sum("flood_point_count") FROM ({now(SPEC)})'
"""The gauges whose last reading is at stage 1 (5 cm) or more."""


def dashboard() -> KindDashboard:
    """Return the ponding dashboard."""
    return KindDashboard("Water depth at underpasses and low roads; lines at 5 cm (notify), "
                         "15 cm (report) and 25 cm (close).", [
        stat("Deepest now", "Deepest last reading over the gauges.", (0, 0, 8, 5),
             [target(f'SELECT max("depth_cm_max") FROM ({now(SPEC)})')], unit=DEPTH,
             steps=STAGES),
        stat("Flood points now", "Gauges whose last reading is 5 cm or deeper.",
             (8, 0, 8, 5), [target(FLOOD_POINTS)]),
        stat("Highest stage", "Highest response stage in the time range, in the chosen "
             "districts.", (16, 0, 8, 5),
             [target(over_range(rolled("stage", "max"), SPEC.name))], decimals=0),
        timeseries("Depth by gauge", "Mean depth of each gauge.", (0, 5, 24, 9),
                   [by_sensor("depth_cm", SPEC.name, "max")], unit=DEPTH, minimum=0,
                   steps=thresholds("transparent", (5, "yellow"), (15, "orange"),
                                    (25, "red")), threshold_style="line"),
        table("Deepest gauges now", f"The {TOP_N} gauges with the deepest last reading, "
              "and their stage.", (0, 14, 24, 8), [top(SPEC, {"depth_cm": "depth_cm",
                                                               "stage": "stage"})],
              overrides=[colour_cells("depth_cm", steps=STAGES)], sort_by="depth_cm"),
    ])


def overview() -> Overview:
    """Return the deepest ponding by district, for the city overview."""
    return Overview(charts=(timeseries(
        "Deepest ponding by district", "Deepest gauge reading of the district.", CHART,
        [by_district("depth_cm", SPEC.name, "max")], unit=DEPTH, minimum=0),))


def _gauge_map() -> Json:
    """Return a map of the gauges at their announced positions, coloured by last depth."""
    return geomap(
        "Ponding gauges by stage", "Each gauge at its announced position, coloured "
        "by its last depth: green dry, yellow from 5 cm (notify the maintainer), orange from "
        "15 cm (report to the flood command), red from 25 cm (close the underpass).",
        (0, 0, 12, 12),
        [target('SELECT "lat", "lon", "site" FROM "sensors" '
                f'WHERE {sensor_filter()} AND "kind" = \'{SPEC.name}\' '
                'GROUP BY "sensor" ORDER BY time DESC LIMIT 1', table=True),
         target('SELECT last("depth_cm") AS "depth_cm", last("stage") AS "stage" '
                f'FROM "{SPEC.name}" {WHERE} GROUP BY "sensor"', ref="B", table=True)],
        layer="Gauges", colour_by="depth_cm", size=8,
        defaults={"unit": DEPTH, "color": {"mode": "thresholds"}, "thresholds": STAGES})


def system() -> SystemPart:
    """Return the gauge map and the flood points, for the flood dashboard."""
    return SystemPart(FLOOD, (
        _gauge_map(),
        stat("Flood points now", "Gauges whose last depth is 5 cm or more (notify).",
             (0, 0, 6, 4), [target(FLOOD_POINTS)],
             steps=thresholds("green", (1, "yellow"))),
        stat("Underpasses to close now", "Gauges whose last depth is 25 cm or more.",
             (0, 0, 6, 4), [target(f'SELECT sum("close_count") FROM ({now(SPEC)})')],
             steps=thresholds("green", (1, "red"))),
        timeseries("Deepest ponding by district", "Deepest gauge reading of the district; "
                   "lines at 5, 15 and 25 cm.", (0, 0, 12, 8),
                   [by_district("depth_cm", SPEC.name, "max")], unit=DEPTH, minimum=0,
                   steps=thresholds("transparent", (5, "yellow"), (15, "orange"), (25, "red")),
                   threshold_style="line"),
    ))
