"""The manhole-cover dashboard and its panel on the city overview.

Cover sensors report on change and with a daily heartbeat, so the panels carry
each sensor's last state forward.
"""

from __future__ import annotations

from urbanpulse.kinds.manhole import SPEC
from urbanpulse.kinds.panels import (
    CHART,
    Grid,
    Json,
    KindDashboard,
    Overview,
    SystemPart,
    by_district,
    colour_cells,
    grafana_unit,
    now,
    now_over_time,
    now_span,
    stat,
    table,
    target,
    thresholds,
    timeseries,
    top,
)
from urbanpulse.kinds.systems import UNDERGROUND
from urbanpulse.now import TOP_N

WATER = grafana_unit(SPEC.metrics["water_level_cm"])


def _open_by_district(title: str, grid: Grid) -> Json:
    return timeseries(title, "Covers whose last state is open or displaced, per interval, "
                      "from the district's snapshot.", grid,
                      [target(now_over_time(SPEC, "cover_open_sum"), alias="$tag_district")],
                      minimum=0, decimals=0)


def dashboard() -> KindDashboard:
    """Return the manhole-cover dashboard."""
    return KindDashboard("Manhole covers: open or tilted covers, water under them, "
                         "device health.", [
        stat("Covers now", "Over each cover's last state: the covers open or displaced, "
             "the deepest water under one, and the covers reporting (a message in the last "
             f"{now_span(SPEC)}).", (0, 0, 24, 5), [target(
                 'SELECT sum("cover_open_sum") AS "open", max("water_level_cm_max") AS '
                 f'"deepest water", sum("sensors") AS "covers reporting" FROM ({now(SPEC)})',
                 alias="$col")],
             steps=thresholds("blue"), overrides=[
                 {"matcher": {"id": "byName", "options": "open"}, "properties": [
                     {"id": "thresholds", "value": thresholds("green", (1, "red"))}]},
                 {"matcher": {"id": "byName", "options": "deepest water"}, "properties": [
                     {"id": "unit", "value": WATER},
                     {"id": "thresholds", "value": thresholds("green", (100, "orange"),
                                                              (150, "red"))}]}]),
        _open_by_district("Open covers by district", (0, 5, 12, 9)),
        timeseries("Water under the covers", "Highest water depth reported per interval, by "
                   "district; the line is the manhole-water-high rule's 150 cm.",
                   (12, 5, 12, 9), [by_district("water_level_cm", SPEC.name, "max")], unit=WATER,
                   minimum=0, steps=thresholds("transparent", (150, "red")),
                   threshold_style="line"),
        table("Most tilted covers now", f"The {TOP_N} covers with the largest last tilt, "
              "with their state and last reported health (startup and daily heartbeat "
              "messages).", (0, 14, 24, 9), [top(SPEC, {
                  "tilt": "tilt_deg", "open": "cover_open", "water": "water_level_cm",
                  "battery_mv": "battery_mv", "rsrp": "rsrp"})],
              overrides=[colour_cells("tilt", steps=thresholds("green", (10, "red")))],
              sort_by="tilt"),
    ])


def overview() -> Overview:
    """Return the open covers by district, for the city overview."""
    return Overview(charts=(_open_by_district("Open manhole covers by district", CHART),))


def system() -> SystemPart:
    """Return the open covers, for the underground-safety dashboard."""
    return SystemPart(UNDERGROUND, (
        stat("Covers open now", "Covers whose last state is open or displaced.", (0, 0, 6, 4),
             [target(f'SELECT sum("cover_open_sum") FROM ({now(SPEC)})')],
             steps=thresholds("green", (1, "red"))),
        _open_by_district("Open manhole covers by district", (0, 0, 12, 8)),
    ))
