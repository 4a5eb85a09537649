"""The street-light dashboard and its chart on the city overview."""

from __future__ import annotations

from urbanpulse.kinds import KINDS
from urbanpulse.kinds.panels import (
    CHART,
    CHOSEN,
    Grid,
    Json,
    KindDashboard,
    Overview,
    SystemPart,
    by_sensor,
    colour_cells,
    district_filter,
    grafana_unit,
    now,
    now_span,
    per_district,
    reporting,
    silence,
    stat,
    state_timeline,
    table,
    target,
    thresholds,
    timeseries,
    top,
    value_mappings,
)
from urbanpulse.kinds.streetlight import SPEC
from urbanpulse.kinds.systems import POLES
from urbanpulse.now import TOP_N

NAME = SPEC.name
POWER = grafana_unit(SPEC.metrics["power_w"])
FAULTS = value_mappings({0: ("ok", "green"), 1: ("out at night", "red"),
                         2: ("on by day", "orange")})
LAMP = value_mappings({0: ("off", "dark-blue"), 1: ("lit", "yellow")})
LIT = f'SELECT sum("lamp_on_nonzero") FROM ({now(SPEC)})'
"""The poles whose last reading has the lamp lit."""


def _power_by_district(title: str, grid: Grid) -> Json:
    return timeseries(title, "Sum of the district's poles' mean power per hour: the mean of "
                      "their readings times the poles reporting.", grid, [target(per_district(
                          'mean("power_w_mean") * mean("sensors")', NAME, "1h"),
                          alias="$tag_district")], unit=POWER, minimum=0, interval="1h")


def dashboard() -> KindDashboard:
    """Return the street-light dashboard."""
    return KindDashboard("Lamp controllers of the smart poles: lamp state against dusk and "
                         "dawn, power, leakage, door and tilt.", [
        stat("Lamps lit now", "Poles whose last reading has the lamp lit.", (0, 0, 8, 5),
             [target(LIT)], steps=thresholds("yellow")),
        stat("Lamp faults now", "Poles whose last reading is a lamp fault (out at night "
             "or on by day).", (8, 0, 8, 5),
             [target(f'SELECT sum("lamp_fault_nonzero") FROM ({now(SPEC)})')],
             steps=thresholds("green", (1, "red"))),
        stat("Controllers reporting", f"Poles with a reading in the last {now_span(SPEC)}.",
             (16, 0, 8, 5), [target(reporting(SPEC))]),
        state_timeline("Lamp state by pole", "Lit or off, per interval.", (0, 5, 12, 9), [
            by_sensor("lamp_on", NAME, "max")],
            mappings=LAMP, steps=thresholds("dark-blue", (1, "yellow"))),
        _power_by_district("Power by district", (12, 5, 12, 9)),
        state_timeline("Lamp faults by pole", "0 ok, 1 out at night, 2 on by day.",
                       (0, 14, 12, 9), [by_sensor("lamp_fault", NAME, "max")],
                       mappings=FAULTS, steps=thresholds("green", (1, "red"), (2, "orange"))),
        timeseries("Leakage current by pole", "Highest leakage per interval; the line is "
                   "the 30 mA alarm.", (12, 14, 12, 9), [by_sensor("leakage_ma", NAME, "max")],
                   unit=grafana_unit(SPEC.metrics["leakage_ma"]), minimum=0,
                   steps=thresholds("transparent", (30, "red")), threshold_style="line"),
        table("Faults now", f"The {TOP_N} poles with the worst last lamp fault, with their "
              "lamp, leakage, door and tilt.", (0, 23, 24, 9), [top(SPEC, {
                  "fault": "lamp_fault", "lit": "lamp_on", "power_w": "power_w",
                  "leakage_ma": "leakage_ma", "door_open": "door_open",
                  "tilt_deg": "tilt_deg"})],
              overrides=[colour_cells("fault", mappings=FAULTS),
                         colour_cells("leakage_ma", steps=thresholds("green", (30, "red"))),
                         colour_cells("door_open", steps=thresholds("green", (1, "red"))),
                         colour_cells("tilt_deg", steps=thresholds("green", (5, "red")))],
              sort_by="fault"),
    ])


def overview() -> Overview:
    """Return the street-light power by district, for the city overview."""
    return Overview(charts=(_power_by_district("Street-light power by district", CHART),))


def _carried() -> Json:
    """Return a table of the sensors the poles carry, by pole, with their silence."""
    carried = [name for name, kind in KINDS.items() if "carrier" in kind.attributes]
    births = ('SELECT last("carrier") AS "pole", last("interval_s") AS "interval_s" FROM '
              f'"sensors" WHERE {district_filter()} AND {CHOSEN} AND "carrier" =~ /./ '
              'GROUP BY "sensor", "kind", "district"')
    result = table("Sensors on the poles", "Each sensor a pole carries (`carrier` in its "
                   "birth) with the seconds since its last reading in the time range: a "
                   "pole's outage silences all of its sensors.", (0, 0, 24, 9), [
                       target(births, table=True),
                       target(silence(carried), ref="B", table=True)],
                   overrides=[{"matcher": {"id": "byName", "options": "silent_s"},
                               "properties": [{"id": "unit", "value": "s"}]}],
                   sort_by="silent_s")
    result["transformations"] = [{"id": "joinByField",
                                  "options": {"byField": "sensor", "mode": "inner"}}]
    return result


def system() -> SystemPart:
    """Return the lamps and the sensors the poles carry, for the poles dashboard."""
    return SystemPart(POLES, (
        stat("Lamps lit now", "Poles whose last reading has the lamp lit.", (0, 0, 6, 4),
             [target(LIT)], steps=thresholds("yellow")),
        stat("Poles reporting", f"Poles with a reading in the last {now_span(SPEC)}.",
             (6, 0, 6, 4), [target(reporting(SPEC))]),
        _power_by_district("Street-light power by district", (0, 0, 12, 8)),
        timeseries("Poles reporting by district", "Lamp controllers with a reading per "
                   "interval (each reports once in it): a power cut shows as a step down.",
                   (12, 0, 12, 8), [target(per_district('sum("sensors")', NAME).replace(
                       "fill(none)", "fill(0)"), alias="$tag_district")],
                   minimum=0, decimals=0, interval="10m"),
        _carried(),
    ))
