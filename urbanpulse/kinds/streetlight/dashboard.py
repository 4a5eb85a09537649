"""The street-light dashboard and its chart on the city overview."""

from __future__ import annotations

from urbanpulse.kinds import KINDS
from urbanpulse.kinds.panels import (
    CHART,
    EVERY,
    WHERE,
    Grid,
    Json,
    KindDashboard,
    Overview,
    SystemPart,
    colour_cells,
    grafana_unit,
    sensor_filter,
    silence,
    stat,
    state_timeline,
    table,
    target,
    thresholds,
    timeseries,
    value_mappings,
)
from urbanpulse.kinds.streetlight import SPEC
from urbanpulse.kinds.systems import POLES

NAME = SPEC.name
POWER = grafana_unit(SPEC.metrics["power_w"])
FAULTS = value_mappings({0: ("ok", "green"), 1: ("out at night", "red"),
                         2: ("on by day", "orange")})
LAMP = value_mappings({0: ("off", "dark-blue"), 1: ("lit", "yellow")})


def _power_by_district(title: str, grid: Grid) -> Json:
    return timeseries(title, "Sum over the district's poles of each pole's mean power.", grid, [
        target(f'SELECT sum("power") FROM (SELECT mean("power_w") AS "power" FROM "{NAME}" '
               f'{WHERE} {EVERY}, "sensor", "district" fill(none)) WHERE $timeFilter '
               f'{EVERY}, "district" fill(none)', alias="$tag_district")],
        unit=POWER, minimum=0)


def dashboard() -> KindDashboard:
    """Return the street-light dashboard."""
    last = (f'SELECT last("lamp_on") AS "lit", last("lamp_fault") AS "fault" FROM "{NAME}" '
            f'{WHERE} GROUP BY "sensor"')
    return KindDashboard("Lamp controllers of the smart poles: lamp state against dusk and "
                         "dawn, power, leakage, door and tilt.", [
        stat("Lamps lit now", "Poles whose last reading has the lamp lit.", (0, 0, 8, 5),
             [target(f'SELECT sum("lit") FROM ({last})')], steps=thresholds("yellow")),
        stat("Lamp faults now", "Poles whose last reading is a lamp fault (out at night "
             "or on by day).", (8, 0, 8, 5),
             [target(f'SELECT count("fault") FROM ({last}) WHERE "fault" > 0')],
             steps=thresholds("green", (1, "red"))),
        stat("Controllers reporting", "Poles with a reading in the time range.", (16, 0, 8, 5),
             [target(f'SELECT count("lit") FROM ({last})')]),
        state_timeline("Lamp state by pole", "Lit or off, per interval.", (0, 5, 12, 9), [
            target(f'SELECT max("lamp_on") FROM "{NAME}" {WHERE} {EVERY}, "sensor" '
                   'fill(none)', alias="$tag_sensor")],
            mappings=LAMP, steps=thresholds("dark-blue", (1, "yellow"))),
        _power_by_district("Power by district", (12, 5, 12, 9)),
        state_timeline("Lamp faults by pole", "0 ok, 1 out at night, 2 on by day.",
                       (0, 14, 12, 9), [target(
                           f'SELECT max("lamp_fault") FROM "{NAME}" {WHERE} {EVERY}, '
                           '"sensor" fill(none)', alias="$tag_sensor")],
                       mappings=FAULTS, steps=thresholds("green", (1, "red"), (2, "orange"))),
        timeseries("Leakage current by pole", "Highest leakage per interval; the line is "
                   "the 30 mA alarm.", (12, 14, 12, 9), [target(
                       f'SELECT max("leakage_ma") FROM "{NAME}" {WHERE} {EVERY}, "sensor" '
                       'fill(none)', alias="$tag_sensor")],
                   unit=grafana_unit(SPEC.metrics["leakage_ma"]), minimum=0,
                   steps=thresholds("transparent", (30, "red")), threshold_style="line"),
        table("Faults now", "Each pole's last reading: lamp, fault, leakage, door, tilt.",
              (0, 23, 24, 9), [target(
                  'SELECT last("lamp_on") AS "lit", last("lamp_fault") AS "fault", '
                  'last("power_w") AS "power_w", last("leakage_ma") AS "leakage_ma", '
                  'last("door_open") AS "door_open", last("tilt_deg") AS "tilt_deg" '
                  f'FROM "{NAME}" {WHERE} GROUP BY "sensor", "district"', table=True)],
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
              f'"sensors" WHERE {sensor_filter()} AND "carrier" =~ /./ '
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
    last = (f'SELECT last("lamp_on") AS "lit", last("lamp_fault") AS "fault" FROM "{NAME}" '
            f'{WHERE} GROUP BY "sensor"')
    return SystemPart(POLES, (
        stat("Lamps lit now", "Poles whose last reading has the lamp lit.", (0, 0, 6, 4),
             [target(f'SELECT sum("lit") FROM ({last})')], steps=thresholds("yellow")),
        stat("Poles reporting", "Poles with a reading in the time range.", (6, 0, 6, 4),
             [target(f'SELECT count("lit") FROM ({last})')]),
        _power_by_district("Street-light power by district", (0, 0, 12, 8)),
        timeseries("Poles reporting by district", "Lamp controllers with a reading per "
                   "interval: a power cut shows as a step down.", (12, 0, 12, 8), [target(
                       f'SELECT count("n") FROM (SELECT count("seq") AS "n" FROM "{NAME}" '
                       f'{WHERE} {EVERY}, "sensor", "district" fill(none)) WHERE $timeFilter '
                       f'{EVERY}, "district" fill(0)', alias="$tag_district")],
                   minimum=0, decimals=0, interval="10m"),
        _carried(),
    ))
