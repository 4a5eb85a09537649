"""The city overview: a map of the sensors coloured by their active alerts, and headline values.

The map joins two tables by sensor: each sensor's position from `sensors` (births
are written once, when a sensor announces itself, so that read has no time
filter) and the number of its alerts whose latest state is not `resolved`
(read over the last `ACTIVE_WINDOW` of `alerts`, not the time range: an alert
opened before the time range is still open).
"""

from __future__ import annotations

from grafana.builder.panels import (
    Json,
    dashboard,
    panel,
    sensor_filter,
    stat,
    target,
    thresholds,
    timeseries,
)
from grafana.builder.standards import (
    alert_annotation,
    aqi_steps,
    place_variables,
    water_class_mappings,
    water_class_steps,
)
from urbanpulse.kinds import KINDS

WHERE = f"WHERE $timeFilter AND {sensor_filter()}"
EVERY = "GROUP BY time($__interval)"
ALL_KINDS = ", ".join(f'"{kind}"' for kind in KINDS)


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


def active_alerts(condition: str, group_by: str = "") -> str:
    """Return a query counting the alerts whose latest state is not resolved."""
    tail = f" GROUP BY {group_by}" if group_by else ""
    return (f'SELECT count("since") AS "active_alerts" FROM ({latest_alert_states(condition)}) '
            f"WHERE \"current\" <> 'resolved'{tail}")


def _sensor_map() -> Json:
    alert_colours = thresholds("green", (1, "orange"), (2, "red"))
    no_alert = [{"type": "special", "options": {"match": "null",
                                                "result": {"text": "0", "color": "green"}}}]
    return panel(
        "geomap", "Sensors by state", "Every sensor at its announced position, coloured by "
        "its active alerts: green none, orange one, red two or more.", (0, 4, 12, 15),
        [target('SELECT last("lat") AS "lat", last("lon") AS "lon", last("site") AS "site" '
                f'FROM "sensors" WHERE {sensor_filter()} GROUP BY "sensor", "kind", "district"',
                table=True),
         target(active_alerts(sensor_filter(), '"sensor"'), ref="B", table=True)],
        defaults={"color": {"mode": "thresholds"}, "thresholds": alert_colours,
                  "mappings": no_alert},
        options={
            "view": {"id": "fit", "allLayers": True, "lat": 31.2, "lon": 121.5, "zoom": 10},
            "controls": {"showZoom": True, "mouseWheelZoom": True, "showAttribution": True},
            "basemap": {"type": "default", "name": "Basemap", "config": {}},
            "layers": [{"type": "markers", "name": "Sensors", "tooltip": True,
                        "location": {"mode": "coords", "latitude": "lat", "longitude": "lon"},
                        "config": {"showLegend": True, "style": {
                            "size": {"fixed": 7}, "opacity": 0.9,
                            "color": {"field": "active_alerts", "fixed": "green"},
                            "symbol": {"mode": "fixed",
                                       "fixed": "img/icons/marker/circle.svg"}}}}],
            "tooltip": {"mode": "details"}},
        # One row per sensor: the positions, with the alert count where a sensor has any.
        transformations=[{"id": "joinByField",
                          "options": {"byField": "sensor", "mode": "outerTabular"}}])


def city_overview() -> Json:
    """Return the city overview dashboard (Grafana's home dashboard)."""
    panels = [
        stat("Sensors", "Sensors that announced themselves (births).", (0, 0, 4, 4), [target(
            'SELECT count("lat") FROM (SELECT last("lat") AS "lat" FROM "sensors" '
            f'WHERE {sensor_filter()} GROUP BY "sensor")')], steps=thresholds("blue")),
        stat("Readings in the time range", "Readings written to InfluxDB, by kind.",
             (4, 0, 8, 4), [target(f'SELECT count("seq") FROM {ALL_KINDS} {WHERE}',
                                   alias="$measurement")],
             steps=thresholds("blue")),
        stat("Active alerts", "Alerts pending, firing or acknowledged now.", (12, 0, 4, 4),
             [target(active_alerts(sensor_filter()))],
             steps=thresholds("green", (1, "orange"), (5, "red"))),
        stat("Worst AQI now", "Highest of the air stations' last AQI (HJ 633).",
             (16, 0, 4, 4), [target('SELECT max("aqi") FROM (SELECT last("aqi") AS "aqi" '
                                    f'FROM "air" {WHERE} GROUP BY "sensor")')],
             steps=aqi_steps()),
        stat("Worst water class now", "Worst of the water stations' last GB 3838 class.",
             (20, 0, 4, 4), [target('SELECT max("class") FROM (SELECT last("water_class") AS '
                                    f'"class" FROM "water" {WHERE} GROUP BY "sensor")')],
             mappings=water_class_mappings(), steps=water_class_steps()),
        _sensor_map(),
        timeseries("Readings per minute by kind", "Readings written per minute (count of "
                   "`seq` per interval, scaled to one minute).", (12, 4, 12, 8), [target(
                       f'SELECT count("seq") * 60000 / $__interval_ms FROM {ALL_KINDS} '
                       f'{WHERE} {EVERY} fill(0)', alias="$measurement")], decimals=1),
        timeseries("Alert state changes by kind", "Alert state changes per interval.",
                   (12, 12, 12, 7), [target(
                       f'SELECT count("since") FROM "alerts" {WHERE} {EVERY}, "kind" fill(none)',
                       alias="$tag_kind")], bars=True, minimum=0),
        timeseries("PM2.5 by district", "Mean PM2.5 of the district's air stations.",
                   (0, 19, 12, 8), [target(f'SELECT mean("pm25") FROM "air" {WHERE} {EVERY}, '
                                           '"district" fill(none)', alias="$tag_district")],
                   unit="conμgm3", minimum=0),
        timeseries("Parking occupancy by district", "1 − Σ free / Σ spaces over the lots.",
                   (12, 19, 12, 8), [target(
                       'SELECT 1 - sum("available_spot_number") / sum("total_spot_number") '
                       f'FROM "parking" {WHERE} {EVERY}, "district" fill(none)',
                       alias="$tag_district")], unit="percentunit", minimum=0),
        timeseries("Building power by district", "Sum of each meter's mean power; meters "
                   "report every 15 minutes.", (0, 27, 12, 8), [target(
                       'SELECT sum("power") FROM (SELECT mean("total_active_power") AS "power" '
                       f'FROM "energy" {WHERE} {EVERY}, "sensor", "district" fill(previous)) '
                       f'WHERE $timeFilter {EVERY}, "district" fill(none)',
                       alias="$tag_district")], unit="kwatt", minimum=0, interval="15m"),
        timeseries("Noise LAeq by district", "Energy average of the monitors: "
                   "10·log10(mean(10^(LAeq/10))).", (12, 27, 12, 8), [target(
                       'SELECT 10 * log10(mean("energy")) FROM (SELECT exp("laeq" * '
                       f'0.23025850929940458) AS "energy" FROM "noise" {WHERE}) '
                       f'WHERE $timeFilter {EVERY}, "district" fill(none)',
                       alias="$tag_district")], unit="dB", decimals=1),
    ]
    return dashboard("urbanpulse-city-overview", "City overview",
                     "UrbanPulse: where the sensors are, their alert state, and the headline "
                     "value of each sensing use case.", panels, place_variables("sensors"),
                     [alert_annotation()])

