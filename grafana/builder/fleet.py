"""The device-fleet dashboard: every kind's sensors as devices, from their births and readings.

Births (`sensors`: kind, district, `interval_s`, a carried sensor's `carrier`)
say what should report and how often; readings say what did. InfluxQL 1.x
keeps each measurement's series apart (an outer query over subqueries of
`sensors` and of a kind measurement returns them as separate series) and
cannot subtract a point's time from now() in SELECT (influxdata/influxdb
issues 9149 and 10338), so a sensor's silence is computed from its readings
(`urbanpulse.kinds.panels.silence`) and set against its birth's interval by
Grafana: the tables join both by sensor and divide. A sensor is stale when it
has been silent for more than `STALE_INTERVALS` of its intervals. Battery and
signal panels read the metrics the kinds declare: names starting `battery_`,
and signal in dBm or, as an SNR, in dB.
"""

from __future__ import annotations

from grafana.builder.frame import alert_annotation, dashboard
from grafana.builder.overview import announced_sensors, place
from grafana.builder.variables import place_variables
from urbanpulse.kinds import KINDS, Metric
from urbanpulse.kinds.panels import (
    CHOSEN,
    EVERY,
    NOW,
    WHERE,
    Grid,
    Json,
    colour_cells,
    district_filter,
    grafana_unit,
    measurements,
    silence,
    stat,
    table,
    target,
    thresholds,
    timeseries,
)
from urbanpulse.kinds.spec import NOW_S
from urbanpulse.now import now_measurement
from urbanpulse.rollups import has_sensor_minutes, rollup_measurement, sensor_minutes

STALE_INTERVALS = 3
"""A sensor silent for more than this many of its reporting intervals is stale."""
BIRTHS = ('SELECT last("interval_s") AS "interval_s", last("carrier") AS "carrier", '
          f'last("site") AS "site" FROM "sensors" WHERE {district_filter()} AND {CHOSEN} '
          'GROUP BY "sensor", "kind", "district"')
"""Every birth of the chosen districts (not narrowed by the sensor variable, as `silence`)."""


def _metrics(family: str) -> dict[str, tuple[Metric, list[str]]]:
    """Return each declared metric of `family` (battery or signal) by name, with its kinds."""
    found: dict[str, tuple[Metric, list[str]]] = {}
    for name, kind in KINDS.items():
        for metric in kind.metrics.values():
            is_battery = metric.name.startswith("battery_")
            is_signal = metric.unit == "dBm" or metric.name == "snr"
            if is_battery if family == "battery" else is_signal:
                found.setdefault(metric.name, (metric, []))[1].append(name)
    return found


def _silent_table(title: str, description: str, grid: Grid, births: str, join: str) -> Json:
    """Return a table of births joined (`join` mode) with their silence, divided by interval."""
    result = table(title, description, grid, [
        target(births, table=True), target(silence(KINDS), ref="B", table=True)],
        overrides=[colour_cells("intervals_silent",
                                steps=thresholds("green", (STALE_INTERVALS, "red"))),
                   {"matcher": {"id": "byName", "options": "silent_s"},
                    "properties": [{"id": "unit", "value": "s"}]}],
        sort_by="intervals_silent")
    result["transformations"] = [
        {"id": "joinByField", "options": {"byField": "sensor", "mode": join}},
        {"id": "calculateField", "options": {
            "mode": "binary", "alias": "intervals_silent", "replaceFields": False,
            "binary": {"left": "silent_s", "operator": "/", "right": "interval_s"}}}]
    return result


def _by_district(function: str, metric: Metric, kinds: list[str]) -> Json:
    """Return a chart of `function(metric)` per interval by district, one line per kind."""
    hours = measurements(rollup_measurement(kind, "district", "1h") for kind in kinds)
    return timeseries(f"{function.capitalize()} {metric.name} by district",
                      f"{metric.description}: the {function} per interval and district "
                      f"({', '.join(kinds)}).", (0, 0, 12, 8), [target(
                          f'SELECT {function}("{metric.name}_{function}") FROM {hours} WHERE '
                          f'$timeFilter AND {district_filter()} {EVERY}, "district" fill(none)',
                          alias="$measurement $tag_district")],
                      unit=grafana_unit(metric), interval="1h")


def _sensor_minutes() -> dict[str, list[str]]:
    """Return the measurements of every kind's sensors' minutes (`sensor_minutes`), by a
    field each of their points has: `count` of a minute rollup, `seq` of a raw point."""
    found: dict[str, list[str]] = {}
    for kind in KINDS.values():
        field = "count" if has_sensor_minutes(kind) else "seq"
        found.setdefault(field, []).append(sensor_minutes(kind))
    return found


def _kind_names(panel: Json, suffix: str = rollup_measurement("", "district", "1h")) -> Json:
    """Name the series of a panel of a measurement per kind by kind: `air_district_1h` (or
    the measurement `suffix` names) as `air`."""
    panel["transformations"] = [{"id": "renameByRegex", "options": {
        "regex": f"^(.*){suffix}$", "renamePattern": "$1"}}]
    return panel


def fleet() -> Json:
    """Return the device-fleet dashboard."""
    snapshots = measurements(now_measurement(kind) for kind in KINDS)
    minutes = ", ".join(f'(SELECT last("{field}") AS "n" FROM {measurements(names)} {WHERE} '
                        f'AND {CHOSEN} {EVERY}, "sensor" fill(none))'
                        for field, names in _sensor_minutes().items())
    district_hours = measurements(rollup_measurement(kind, "district", "1h") for kind in KINDS)
    batteries, signals = _metrics("battery"), _metrics("signal")
    health = {**batteries, **signals}
    charts = [*(_by_district("min", metric, kinds) for metric, kinds in batteries.values()),
              *(_by_district("mean", metric, kinds) for metric, kinds in signals.values())]
    bottom = place(charts, 0, 30)
    radios = sorted({kind for _, kinds in health.values() for kind in kinds})
    panels = [
        stat("Sensors announced, by kind", "Sensors whose birth was received, in the chosen "
             "districts, as the ingesters last counted them.", (0, 0, 12, 4),
             [target(announced_sensors(district_filter(), '"kind"'), alias="$tag_kind")],
             steps=thresholds("blue")),
        _kind_names(stat(
            "Sensors reporting now, by kind", "Sensors with a reading in the last "
            f"{NOW_S // 3_600} hours (three intervals of a kind that reports more rarely), "
            "from the ingesters' snapshot of each district; against the announced ones, "
            "the share online.", (12, 0, 12, 4), [target(
                f'SELECT sum("n") FROM (SELECT last("sensors") AS "n" FROM {snapshots} WHERE '
                f'{NOW} AND {district_filter()} GROUP BY "district")', alias="$measurement")],
            steps=thresholds("blue")), now_measurement("")),
        _silent_table("Sensors by silence", "Each announced sensor: its kind, district, pole "
                      "(`carrier`) and interval from its birth, the seconds since its last "
                      "reading in the time range (empty: none in it) and how many intervals "
                      f"that is; more than {STALE_INTERVALS} is stale (red).", (0, 4, 24, 10),
                      BIRTHS, "outerTabular"),
        _kind_names(timeseries(
            "Sensors reporting by kind, hour by hour", "Sensors with a reading in each hour, "
            "by kind, from the districts' hourly rollups (`sensors`): an outage of an hour or "
            "more shows as a step down; a shorter one shows in the chart beside, once a "
            "district is chosen, and in the readings per minute of the city overview.",
            (0, 14, 12, 8), [target(
                f'SELECT max("n") FROM (SELECT sum("sensors") AS "n" FROM {district_hours} '
                f'WHERE $timeFilter AND {district_filter()} GROUP BY time(1h) fill(none)) '
                f'WHERE $timeFilter {EVERY} fill(none)', alias="$measurement")],
            minimum=0, decimals=0, interval="1h")),
        timeseries("Sensors reporting by kind, every 10 minutes", "Sensors of the chosen "
                   "district (or the chosen sensors) with a reading in each interval, by kind: "
                   "a power cut or a network outage shows as a step down. It reads each "
                   "sensor's readings, so it waits for a district to be chosen.",
                   (12, 14, 12, 8), [target(
                       f'SELECT count("n") FROM {minutes} WHERE $timeFilter {EVERY} fill(0)',
                       alias="$measurement")], minimum=0, decimals=0,
                   interval="10m"),
        table("Batteries and signal now", "Each battery or radio device's last reported "
              "battery and signal (its startup, heartbeat or hourly health message).",
              (0, 22, 24, 8), [target(
                  "SELECT " + ", ".join(f'last("{name}") AS "{name}"' for name in health)
                  + f' FROM {measurements(radios)} {WHERE} AND {CHOSEN} '
                  'GROUP BY "sensor", "district"',
                  table=True)], sort_by=next(iter(batteries), None)),
        *charts,
        _silent_table("Sensors on poles", "Each sensor a pole carries (`carrier` in its "
                      "birth), with its silence: a pole's power cut silences all of its "
                      "sensors.", (0, bottom, 24, 9),
                      BIRTHS.replace("GROUP BY", 'AND "carrier" =~ /./ GROUP BY'), "inner"),
    ]
    return dashboard("urbanpulse-fleet", "Device fleet", "Every kind's sensors as devices: "
                     "which report and which are stale, battery and signal, by district and "
                     "by pole.", panels, place_variables("sensors"), [alert_annotation()])
