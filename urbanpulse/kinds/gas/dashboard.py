"""The combustible-gas dashboard and its panel on the city overview."""

from __future__ import annotations

from urbanpulse.kinds.gas import SPEC
from urbanpulse.kinds.panels import (
    CHART,
    Grid,
    Json,
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
from urbanpulse.kinds.systems import UNDERGROUND
from urbanpulse.now import TOP_N
from urbanpulse.rollups import rollup_measurement

HOURLY = rollup_measurement(SPEC.name, "district", "1h")
"""The district hourly rollup: a point per district and hour."""
LEL = grafana_unit(SPEC.metrics["ch4_lel"])
LEVELS = thresholds("green", (20, "orange"), (25, "red"))
"""The gas-warning (20 % LEL) and gas-alarm (25 % LEL) levels."""
PAST_WARNING = ('SELECT count("peak") FROM (SELECT max("ch4_lel_max") AS "peak" FROM '
                f'"{HOURLY}" WHERE $timeFilter AND {district_filter()} GROUP BY "district") '
                'WHERE "peak" >= 20')
"""Districts where a detector's reading in the range was at or past the warning: a row
per district and hour, however many detectors (which ones: the alerts and the table of
the highest now)."""


def _highest_by_district(title: str, grid: Grid) -> Json:
    return timeseries(title, "Highest methane per interval; lines at the 20 % warning and "
                      "25 % alarm.", grid, [by_district("ch4_lel", SPEC.name, "max")],
                      unit=LEL, minimum=0, steps=LEVELS, threshold_style="line")


def dashboard() -> KindDashboard:
    """Return the combustible-gas dashboard."""
    return KindDashboard("Methane (% LEL) next to the gas mains: warning at 20 %, alarm at "
                         "25 %.", [
        stat("Highest now", "Highest of the detectors' last readings.", (0, 0, 8, 5),
             [target(f'SELECT max("ch4_lel_max") FROM ({now(SPEC)})')], unit=LEL, decimals=1,
             steps=LEVELS),
        stat("Districts that reached 20 % LEL", "Districts where a detector read at or past "
             "the warning in the time range.", (8, 0, 8, 5),
             [target(PAST_WARNING)], steps=thresholds("green", (1, "red"))),
        stat("Detectors reporting", f"Detectors with a reading in the last {now_span(SPEC)}.",
             (16, 0, 8, 5), [target(reporting(SPEC))]),
        _highest_by_district("Highest methane by district", (0, 5, 12, 9)),
        timeseries("Methane by detector", "Mean % LEL of each detector.", (12, 5, 12, 9),
                   [by_sensor("ch4_lel", SPEC.name)], unit=LEL, minimum=0, steps=LEVELS,
                   threshold_style="line"),
        table("Highest detectors now", f"The {TOP_N} detectors with the highest last "
              "reading, with their last reported health.", (0, 14, 24, 8), [top(
                  SPEC, {"lel": "ch4_lel", "battery_mv": "battery_mv", "rsrp": "rsrp"})],
              overrides=[colour_cells("lel", steps=LEVELS)], sort_by="lel"),
    ])


def overview() -> Overview:
    """Return the highest methane by district, for the city overview."""
    return Overview(charts=(_highest_by_district("Combustible gas by district", CHART),))


def system() -> SystemPart:
    """Return the methane next to the mains, for the underground-safety dashboard."""
    return SystemPart(UNDERGROUND, (
        stat("Districts with gas past 20 % LEL", "Districts where a methane detector read "
             "at or past the warning in the time range.", (0, 0, 6, 4),
             [target(PAST_WARNING)], steps=thresholds("green", (1, "red"))),
        _highest_by_district("Combustible gas by district", (0, 0, 12, 8)),
    ))
