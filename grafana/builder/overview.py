"""The city overview: maps of the districts and sensors coloured by their active alerts,
and each kind's panels.

The districts' map joins two tables by district, both from the few points the
ingesters write every metrics interval: each district's sensors and their mean
position (`sensors_announced`) and its active alerts (`alerts_active`). The
sensors' map, drawn once a district is chosen (a point per sensor of
the whole city is thousands), joins two tables by sensor: each sensor's position
from `sensors` (births are written once, when a sensor announces itself, so
that read has no time filter) and the number of its alerts whose latest state
is not `resolved` (read over the last `ACTIVE_WINDOW` of `alerts`, not the time
range: an alert opened before the time range is still open).

Each kind with a dashboard module adds its headline stats (`overview()` in
`urbanpulse/kinds/<kind>/dashboard.py`) to the top row after the city's own,
and its charts below the map, two to a row, in registry (name) order.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana.builder.frame import alert_annotation, dashboard
from grafana.builder.kinds import dashboard_modules, kind_overview
from grafana.builder.variables import place_variables
from urbanpulse.alert_views import CHANGES
from urbanpulse.kinds import KINDS
from urbanpulse.kinds.panels import (
    CHOSEN,
    EVERY,
    Json,
    district_filter,
    geomap,
    measurements,
    sensor_filter,
    stat,
    target,
    thresholds,
    timeseries,
)
from urbanpulse.rollups import rollup_measurement

WIDTH = 24
"""Grafana's grid is 24 columns wide."""


ACTIVE_WINDOW = "31d"
"""How far back the "active now" panels look for an alert's latest state change.

Without a bound every 30 s refresh would read the whole alert history. The cost:
an alert whose last change is older than this drops out of these panels (its
retained MQTT topic and the api's `/v1/alerts/{id}` still show it). The same
31 days as the api's summaries (`api.alert_store.ACTIVE_LOOKBACK_MS`), so both
count the same alerts; it outlasts the compose bucket's 30-day retention.
"""
RECENT_ALERTS = f"time > now() - {ACTIVE_WINDOW}"


def latest_alert_states(condition: str) -> str:
    """Return a subquery: each alert's latest state (as `current`) and its `since`."""
    return ('SELECT last("since") AS "since", "state" AS "current" FROM "alerts" '
            f'WHERE {RECENT_ALERTS} AND {condition} GROUP BY "alert_id"')


NO_ALERT = [{"type": "special", "options": {"match": "null",
                                            "result": {"text": "0", "color": "green"}}}]
"""A place without active alerts has none counted: shown as 0, green."""
COUNTS_WINDOW = "10m"
"""How far back the counted panels look for the ingesters' newest `alerts_active` and
`sensors_announced` points.

The ingester writes them every `URBANPULSE_INGEST_METRICS_INTERVAL_S` (5 s by
default); a partition whose ingester has written none for this long shows none.
"""


def _newest(fields: str, measurement: str, condition: str, tags: str) -> str:
    """Return a subquery of `fields` of the newest point of each `tags` combination the
    ingesters wrote to `measurement` within `COUNTS_WINDOW`.

    Such a measurement holds a point per combination every metrics interval
    (docs/contract.md): its cost follows the combinations, not the alert history
    or the sensors. It has no sensor tag, so `condition` may not name a sensor.
    """
    return (f'SELECT {fields} FROM "{measurement}" WHERE time > now() - {COUNTS_WINDOW} '
            f'AND {condition} GROUP BY {tags}')


def active_alert_counts(condition: str, group_by: str = "") -> str:
    """Return a query summing the newest counts of active alerts the ingesters write."""
    tail = f" GROUP BY {group_by}" if group_by else ""
    newest = _newest('last("active") AS "active"', "alerts_active", condition,
                     '"district", "kind", "severity"')
    return f'SELECT sum("active") AS "active_alerts" FROM ({newest}){tail}'


def announced_sensors(condition: str, group_by: str = "") -> str:
    """Return a query summing the ingesters' newest counts of the sensors announced."""
    tail = f" GROUP BY {group_by}" if group_by else ""
    newest = _newest('last("sensors") AS "sensors"', "sensors_announced", condition,
                     '"district", "kind"')
    return f'SELECT sum("sensors") AS "sensors" FROM ({newest}){tail}'


def district_places(condition: str) -> str:
    """Return a query of each district's sensors and their mean position, by district.

    Each kind's mean position weighs by its sensors (InfluxQL has no weighted
    mean: the subquery multiplies, the outer query divides).
    """
    newest = _newest('last("lat") * last("sensors") AS "lat_w", last("lon") * last("sensors") '
                     'AS "lon_w", last("sensors") AS "sensors"', "sensors_announced",
                     condition, '"district", "kind"')
    return ('SELECT sum("lat_w") / sum("sensors") AS "lat", sum("lon_w") / sum("sensors") '
            f'AS "lon", sum("sensors") AS "sensors" FROM ({newest}) GROUP BY "district"')


def active_alerts(condition: str, group_by: str = "") -> str:
    """Return a query counting the alerts whose latest state is not resolved."""
    tail = f" GROUP BY {group_by}" if group_by else ""
    return (f'SELECT count("since") AS "active_alerts" FROM ({latest_alert_states(condition)}) '
            f"WHERE \"current\" <> 'resolved'{tail}")


def place(panels: Sequence[Json], x: int, y: int, height: int = 0) -> int:
    """Place `panels` left to right from (x, y), wrapping at the grid's width.

    `height` is that of what already stands in the first row; return the y below it all.
    """
    for item in panels:
        grid = item["gridPos"]
        if x + grid["w"] > WIDTH:
            x, y, height = 0, y + height, 0
        grid.update(x=x, y=y)
        x += grid["w"]
        height = max(height, grid["h"])
    return y + height


def _district_map(top: int) -> Json:
    return geomap(
        "Districts by active alerts", "Each district at the mean announced position of its "
        "sensors, coloured by its active alerts: green none, orange one to four, red five or "
        "more; its sensors and alerts in the tooltip. Choose a district to see its sensors "
        "on the map beside.", (0, top, 12, 15),
        # From the ingesters' few points per district: at 22,150 sensors the map of every
        # sensor took 0.88 s to read (docs/performance.md).
        [target(district_places(district_filter()), table=True),
         target(active_alert_counts(district_filter(), '"district"'), ref="B", table=True)],
        layer="Districts", colour_by="active_alerts", size=14, by="district",
        defaults={"color": {"mode": "thresholds"},
                  "thresholds": thresholds("green", (1, "orange"), (5, "red")),
                  "mappings": NO_ALERT})


def _sensor_map(top: int) -> Json:
    return geomap(
        "Sensors by state", "Once a district is chosen, each of its sensors at "
        "its announced position, coloured by its active alerts: green none, orange one, red "
        "two or more.", (12, top, 12, 15),
        # Each sensor's newest birth as it is: at 10,000 sensors 0.25 to 0.29 s, where last()
        # of each field took 0.55 to 0.62 s (InfluxDB 1.6, docs/performance.md).
        [target('SELECT "lat", "lon", "site" FROM "sensors" '
                f'WHERE {sensor_filter()} AND {CHOSEN} GROUP BY "sensor", "kind", "district" '
                'ORDER BY time DESC LIMIT 1', table=True),
         target(active_alerts(f"{sensor_filter()} AND {CHOSEN}", '"sensor"'), ref="B",
                table=True)],
        layer="Sensors", colour_by="active_alerts", size=7,
        defaults={"color": {"mode": "thresholds"},
                  "thresholds": thresholds("green", (1, "orange"), (2, "red")),
                  "mappings": NO_ALERT})


def city_overview() -> Json:
    """Return the city overview dashboard (Grafana's home dashboard)."""
    overviews = [kind_overview(module) for module in dashboard_modules().values()]
    headlines = [item for overview in overviews for item in overview.headlines]
    charts = [item for overview in overviews for item in overview.charts]
    top = place(headlines, 16, 0, height=4)
    every_kind = measurements(rollup_measurement(kind, "district", "1m") for kind in KINDS)
    in_districts = f"WHERE $timeFilter AND {district_filter()}"
    panels = [
        # As the ingesters last counted them: at 22,150 sensors the distinct sensors among
        # the birth points took 0.27 s (docs/performance.md).
        stat("Sensors", "Sensors that announced themselves (births), in the chosen "
             "districts, as the ingesters last counted them.", (0, 0, 4, 4),
             [target(announced_sensors(district_filter()))], steps=thresholds("blue")),
        stat("Readings in the time range", "Readings written to InfluxDB, by kind.",
             (4, 0, 8, 4), [target(f'SELECT sum("count") FROM {every_kind} {in_districts}',
                                   alias="$measurement")],
             steps=thresholds("blue")),
        stat("Active alerts", "Alerts pending, firing or acknowledged now, in the chosen "
             "districts, as the ingesters last counted them.", (12, 0, 4, 4),
             [target(active_alert_counts(district_filter()))],
             steps=thresholds("green", (1, "orange"), (5, "red"))),
        *headlines,
        _district_map(top),
        _sensor_map(top),
        timeseries("Readings per minute by kind", "Readings written per minute (count of "
                   "`seq` per interval, scaled to one minute).", (0, top + 15, 12, 8), [target(
                       f'SELECT sum("count") * 60000 / $__interval_ms FROM {every_kind} '
                       f'{in_districts} {EVERY} fill(0)', alias="$measurement")], decimals=1),
        timeseries("Alert state changes by kind", "Alert state changes per interval (5 "
                   "minutes or more), in the chosen districts (the ingesters' counts per "
                   "minute are not kept per sensor).", (12, top + 15, 12, 8), [target(
                       f'SELECT sum("changes") FROM "{CHANGES}" WHERE $timeFilter AND '
                       f'{district_filter()} {EVERY}, "kind" fill(none)', alias="$tag_kind")],
                   bars=True, minimum=0, interval="5m"),
        *charts,
    ]
    place(charts, 0, top + 23)
    return dashboard("urbanpulse-city-overview", "City overview",
                     "UrbanPulse: where the sensors are, their alert state, and the headline "
                     "value of each sensing use case.", panels, place_variables("sensors"),
                     [alert_annotation()])
