"""The parking dashboard and the parking panel of the city overview.

Lots count their spaces every minute; on-street bay sensors report on change
and with a daily heartbeat, so their panels carry each bay's last state forward.
"""

from __future__ import annotations

from urbanpulse.kinds.panels import (
    CHART,
    Grid,
    Json,
    KindDashboard,
    Overview,
    by_sensor,
    colour_cells,
    grafana_unit,
    now,
    now_over_time,
    now_span,
    per_district,
    stat,
    table,
    target,
    thresholds,
    timeseries,
    top,
)
from urbanpulse.kinds.parking import SPEC
from urbanpulse.now import TOP_N

NEARLY_FULL = 0.95
"""The occupancy of the lot-nearly-full rule, drawn as a line and coloured red."""


def _occupancy_by_district(title: str, description: str, grid: Grid) -> Json:
    return timeseries(title, description, grid, [target(per_district(
        '1 - sum("available_spot_number_mean") / sum("total_spot_number_mean")', SPEC.name),
        alias="$tag_district")], unit=grafana_unit(SPEC.metrics["occupancy"]), minimum=0)


def dashboard() -> KindDashboard:
    """Return the parking dashboard."""
    occupancy = grafana_unit(SPEC.metrics["occupancy"])
    return KindDashboard("Off-street lots (counts) and on-street bay sensors "
                         "(occupancy, device health).", [
        stat("Lots now", "Over each lot's last reading: the occupancy (1 − Σ free / Σ "
             "spaces), the free spaces (Σ free) and the lots reporting (with a reading in "
             f"the last {now_span(SPEC)}).", (0, 0, 24, 5), [target(
                 'SELECT 1 - sum("available_spot_number_sum") / sum("total_spot_number_sum") '
                 'AS "occupancy", sum("available_spot_number_sum") AS "free spaces", '
                 f'sum("total_spot_number_sensors") AS "lots reporting" FROM ({now(SPEC)})',
                 alias="$col")], steps=thresholds("blue"),
             overrides=[{"matcher": {"id": "byName", "options": "occupancy"}, "properties": [
                 {"id": "unit", "value": occupancy}, {"id": "decimals", "value": 1},
                 {"id": "thresholds", "value": thresholds("green", (0.85, "orange"),
                                                          (NEARLY_FULL, "red"))}]}]),
        _occupancy_by_district("Occupancy by district", "1 − Σ free / Σ spaces per "
                               "interval, so big lots weigh more.", (0, 5, 12, 9)),
        timeseries("Occupancy by lot", "Mean occupancy of each lot; the line is the "
                   "lot-nearly-full rule's 0.95.", (12, 5, 12, 9),
                   [by_sensor("occupancy", SPEC.name)], unit=occupancy, minimum=0,
                   steps=thresholds("transparent", (NEARLY_FULL, "red")),
                   threshold_style="line"),
        table("Fullest lots now", f"The {TOP_N} lots with the highest last occupancy.",
              (0, 14, 24, 8), [top(SPEC, {"occupancy": "occupancy",
                                          "spaces": "total_spot_number",
                                          "free": "available_spot_number"})],
              overrides=[colour_cells("occupancy", steps=thresholds(
                  "green", (0.85, "orange"), (NEARLY_FULL, "red")))], sort_by="occupancy"),
        timeseries("Occupied bays by district", "On-street bay sensors report on change: "
                   "the bays whose last state is occupied, per interval, from the "
                   "district's snapshot.", (0, 22, 12, 8),
                   [target(now_over_time(SPEC, "occupied_sum"), alias="$tag_district")],
                   minimum=0, decimals=0),
        table("Bay sensors, lowest battery", f"The {TOP_N} bays with the lowest last "
              "reported battery, with their last state and signal (startup and daily "
              "heartbeat messages).", (12, 22, 12, 8), [top(
                  SPEC, {"battery_mv": "battery_mv", "occupied": "occupied", "rsrp": "rsrp",
                         "snr": "snr"}, lowest=True)],
              overrides=[colour_cells("battery_mv", steps=thresholds(
                  "red", (3_000, "orange"), (3_300, "green")))], sort_by="battery_mv"),
    ])


def overview() -> Overview:
    """Return the parking occupancy by district, for the city overview."""
    return Overview(charts=(_occupancy_by_district(
        "Parking occupancy by district", "1 − Σ free / Σ spaces over the lots.", CHART),))
