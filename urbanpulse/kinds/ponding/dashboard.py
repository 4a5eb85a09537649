"""The ponding dashboard and its chart on the city overview."""

from __future__ import annotations

from urbanpulse.kinds.panels import (
    CHART,
    EVERY,
    WHERE,
    KindDashboard,
    Overview,
    by_sensor,
    colour_cells,
    grafana_unit,
    stat,
    table,
    target,
    thresholds,
    timeseries,
)
from urbanpulse.kinds.ponding import SPEC

DEPTH = grafana_unit(SPEC.metrics["depth_cm"])
STAGES = thresholds("green", (5, "yellow"), (15, "orange"), (25, "red"))
"""Depth colours at the notify, report and close depths."""


def dashboard() -> KindDashboard:
    """Return the ponding dashboard."""
    last = f'SELECT last("depth_cm") AS "depth" FROM "{SPEC.name}" {WHERE} GROUP BY "sensor"'
    return KindDashboard("Water depth at underpasses and low roads; lines at 5 cm (notify), "
                         "15 cm (report) and 25 cm (close).", [
        stat("Deepest now", "Deepest last reading over the gauges.", (0, 0, 8, 5),
             [target(f'SELECT max("depth") FROM ({last})')], unit=DEPTH, steps=STAGES),
        stat("Flood points now", "Gauges whose last reading is 5 cm or deeper.",
             (8, 0, 8, 5), [target(f'SELECT count("depth") FROM ({last}) WHERE "depth" >= 5')]),
        stat("Highest stage", "Highest response stage in the time range.", (16, 0, 8, 5),
             [target(f'SELECT max("stage") FROM "{SPEC.name}" {WHERE}')], decimals=0),
        timeseries("Depth by gauge", "Mean depth of each gauge.", (0, 5, 24, 9),
                   [by_sensor("depth_cm", SPEC.name, "max")], unit=DEPTH, minimum=0,
                   steps=thresholds("transparent", (5, "yellow"), (15, "orange"),
                                    (25, "red")), threshold_style="line"),
        table("Gauges now", "Each gauge's last depth and stage.", (0, 14, 24, 8), [target(
            'SELECT last("depth_cm") AS "depth_cm", last("stage") AS "stage" '
            f'FROM "{SPEC.name}" {WHERE} GROUP BY "sensor", "district"', table=True)],
              overrides=[colour_cells("depth_cm", steps=STAGES)], sort_by="depth_cm"),
    ])


def overview() -> Overview:
    """Return the deepest ponding by district, for the city overview."""
    return Overview(charts=(timeseries(
        "Deepest ponding by district", "Deepest gauge reading of the district.", CHART,
        [target(f'SELECT max("depth_cm") FROM "{SPEC.name}" {WHERE} {EVERY}, '
                '"district" fill(none)', alias="$tag_district")], unit=DEPTH, minimum=0),))
