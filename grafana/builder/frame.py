"""The frame every dashboard shares: tag, links, annotations, schema and panel numbering."""

from __future__ import annotations

from urbanpulse.kinds.panels import CHOSEN, DATASOURCE, Json, sensor_filter

TAG = "urbanpulse"
SCHEMA_VERSION = 39
"""The dashboard JSON model of Grafana 11 and 12."""


def annotation(name: str, query: str, *, colour: str, text_column: str,
               tags_column: str) -> Json:
    """Return an InfluxQL annotation: each row of `query` marks its time on every panel."""
    return {"name": name, "datasource": DATASOURCE, "enable": True, "hide": False,
            "iconColor": colour,
            "target": {"refId": "Anno", "datasource": DATASOURCE, "rawQuery": True,
                       "query": query, "textColumn": text_column, "tagsColumn": tags_column,
                       "titleColumn": "", "timeEndColumn": ""}}


def alert_annotation(*kinds: str) -> Json:
    """Return the annotation of alert state changes (of `kinds`) in the chosen places.

    Of every kind (no `kinds`: the overview, the fleet) only once a district is
    chosen: at 22,150 sensors the whole city's changes of the default six hours
    were 1.35 MB (0.19 s), thousands of marks on one chart.
    """
    if len(kinds) == 1:
        scope = f""""kind" = '{kinds[0]}' AND """
    else:
        scope = f'"kind" =~ /^({"|".join(kinds)})$/ AND ' if kinds else f"{CHOSEN} AND "
    return annotation(
        "Alerts",
        'SELECT "message", "rule", "state", "severity", "sensor" FROM "alerts" '
        f"WHERE $timeFilter AND {scope}{sensor_filter()}",
        colour="red", text_column="message", tags_column="rule,state,severity,sensor")


BUILT_IN_ANNOTATION: Json = {
    "name": "Annotations & Alerts", "builtIn": 1, "enable": True, "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)", "type": "dashboard",
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
}

LINKS: list[Json] = [{"title": "UrbanPulse", "type": "dashboards", "tags": [TAG],
                      "asDropdown": True, "includeVars": True, "keepTime": True,
                      "targetBlank": False, "icon": "external link", "tooltip": "",
                      "url": ""}]


def dashboard(uid: str, title: str, description: str, panels: list[Json],
              variables: list[Json], annotations: list[Json], *,
              time_from: str = "now-6h") -> Json:
    """Return a dashboard, numbering its panels in order."""
    for number, item in enumerate(panels, start=1):
        item["id"] = number
    return {
        "uid": uid, "title": title, "description": description, "tags": [TAG],
        "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": False, "graphTooltip": 1,
        "timezone": "browser", "time": {"from": time_from, "to": "now"}, "refresh": "30s",
        "links": LINKS, "annotations": {"list": [BUILT_IN_ANNOTATION, *annotations]},
        "templating": {"list": variables}, "panels": panels,
    }
