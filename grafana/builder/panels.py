"""Builders for the pieces of a Grafana dashboard JSON model (schema 39, Grafana 11 and 12).

Every panel, target, variable and annotation names the provisioned InfluxDB data
source by its fixed uid, and every query is raw InfluxQL. Variables are used in
regular expressions as `/^(${name:regex})$/`: Grafana's `regex` format escapes
each value and joins several as `(a|b)`, and a custom all value (`.*`) is
inserted as it is, so one selected value, several, and All all match whole tag
values.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

DATASOURCE: Json = {"type": "influxdb", "uid": "urbanpulse-influxdb"}
TAG = "urbanpulse"
SCHEMA_VERSION = 39


def regex(variable: str) -> str:
    """Return the InfluxQL regex that matches a tag against a (multi-value) variable."""
    return f"/^(${{{variable}:regex}})$/"


def district_filter() -> str:
    """Return the WHERE condition of the city and district variables.

    The district drop-down lists only the chosen city's districts, but its All is
    `.*`, so the city's own regex (`${city:raw}`, a single value) restricts too.
    """
    return f'"district" =~ {regex("district")} AND "district" =~ /^(${{city:raw}})$/'


def sensor_filter() -> str:
    """Return the WHERE condition of the district and sensor variables."""
    return f'{district_filter()} AND "sensor" =~ {regex("sensor")}'


def target(query: str, *, ref: str = "A", table: bool = False, alias: str | None = None) -> Json:
    """Return a raw InfluxQL target."""
    result: Json = {"refId": ref, "datasource": DATASOURCE, "rawQuery": True, "query": query,
                    "resultFormat": "table" if table else "time_series"}
    if alias:
        result["alias"] = alias
    return result


def thresholds(base: str, *steps: tuple[float, str]) -> Json:
    """Return absolute thresholds: `base` colour below the first step."""
    return {"mode": "absolute", "steps": [{"color": base, "value": None},
                                          *({"color": c, "value": v} for v, c in steps)]}


def value_mappings(entries: dict[int, tuple[str, str]]) -> list[Json]:
    """Return one value mapping from numbers to (text, colour)."""
    options = {str(value): {"text": text, "color": colour, "index": index}
               for index, (value, (text, colour)) in enumerate(entries.items())}
    return [{"type": "value", "options": options}]


def panel(kind: str, title: str, description: str, grid: tuple[int, int, int, int],
          targets: list[Json], *, defaults: Json | None = None, options: Json | None = None,
          overrides: list[Json] | None = None, **extra: Any) -> Json:
    """Return a panel at grid (x, y, w, h); the id is set when the dashboard is assembled."""
    x, y, w, h = grid
    return {"type": kind, "title": title, "description": description,
            "datasource": DATASOURCE, "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "fieldConfig": {"defaults": defaults or {}, "overrides": overrides or []},
            "options": options or {}, "targets": targets, **extra}


def timeseries(title: str, description: str, grid: tuple[int, int, int, int],
               targets: list[Json], *, unit: str = "short", minimum: float | None = None,
               bars: bool = False, steps: Json | None = None, threshold_style: str = "off",
               decimals: int | None = None, **extra: Any) -> Json:
    """Return a time-series panel."""
    defaults: Json = {
        "unit": unit, "color": {"mode": "palette-classic"},
        "custom": {"drawStyle": "bars" if bars else "line", "lineWidth": 1,
                   "fillOpacity": 60 if bars else 10, "showPoints": "never", "spanNulls": True,
                   "thresholdsStyle": {"mode": threshold_style}},
    }
    if minimum is not None:
        defaults["min"] = minimum
    if steps is not None:
        defaults["thresholds"] = steps
    if decimals is not None:
        defaults["decimals"] = decimals
    return panel("timeseries", title, description, grid, targets, defaults=defaults,
                 options={"legend": {"displayMode": "list", "placement": "bottom",
                                     "showLegend": True},
                          "tooltip": {"mode": "multi", "sort": "desc"}}, **extra)


def stat(title: str, description: str, grid: tuple[int, int, int, int], targets: list[Json],
         *, unit: str = "short", steps: Json | None = None, mappings: list[Json] | None = None,
         decimals: int | None = None, **extra: Any) -> Json:
    """Return a stat panel showing each series' last value, coloured by thresholds."""
    defaults: Json = {"unit": unit, "color": {"mode": "thresholds"},
                      "thresholds": steps or thresholds("green"), "mappings": mappings or [],
                      "noValue": "0"}
    if decimals is not None:
        defaults["decimals"] = decimals
    return panel("stat", title, description, grid, targets, defaults=defaults,
                 options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                            "values": False},
                          "colorMode": "background", "graphMode": "area", "textMode": "auto",
                          "justifyMode": "auto", "orientation": "auto"}, **extra)


def state_timeline(title: str, description: str, grid: tuple[int, int, int, int],
                   targets: list[Json], *, mappings: list[Json], steps: Json,
                   **extra: Any) -> Json:
    """Return a state-timeline panel whose states are value mappings."""
    return panel("state-timeline", title, description, grid, targets,
                 defaults={"color": {"mode": "thresholds"}, "thresholds": steps,
                           "mappings": mappings, "custom": {"fillOpacity": 80, "lineWidth": 0}},
                 options={"mergeValues": True, "showValue": "auto", "alignValue": "left",
                          "rowHeight": 0.9, "legend": {"displayMode": "list",
                                                       "placement": "bottom",
                                                       "showLegend": True}}, **extra)


def table(title: str, description: str, grid: tuple[int, int, int, int], targets: list[Json],
          *, overrides: list[Json] | None = None, sort_by: str | None = None,
          **extra: Any) -> Json:
    """Return a table panel of table-format targets, merged into one frame."""
    options: Json = {"showHeader": True, "cellHeight": "sm",
                     "footer": {"show": False, "reducer": ["sum"], "fields": ""}}
    if sort_by:
        options["sortBy"] = [{"displayName": sort_by, "desc": True}]
    return panel("table", title, description, grid, targets,
                 defaults={"custom": {"align": "auto", "cellOptions": {"type": "auto"}}},
                 options=options, overrides=overrides,
                 transformations=[{"id": "merge", "options": {}}], **extra)


def colour_cells(field: str, *, mappings: list[Json] | None = None,
                 steps: Json | None = None) -> Json:
    """Return a table override that colours the background of `field`'s cells."""
    properties: list[Json] = [{"id": "custom.cellOptions",
                               "value": {"type": "color-background", "mode": "basic"}}]
    if mappings is not None:
        properties.append({"id": "mappings", "value": mappings})
    if steps is not None:
        properties.append({"id": "thresholds", "value": steps})
    return {"matcher": {"id": "byName", "options": field}, "properties": properties}


def text(title: str, grid: tuple[int, int, int, int], markdown: str) -> Json:
    """Return a markdown text panel (no query)."""
    x, y, w, h = grid
    return {"type": "text", "title": title, "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "options": {"mode": "markdown", "content": markdown}}


def query_variable(name: str, label: str, query: str, *, multi: bool = True) -> Json:
    """Return a query variable over SHOW TAG VALUES, with All matching every value."""
    return {"name": name, "label": label, "type": "query", "datasource": DATASOURCE,
            "query": query, "definition": query, "refresh": 1, "sort": 1, "multi": multi,
            "includeAll": True, "allValue": ".*", "regex": "", "hide": 0,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": []}


def custom_variable(name: str, label: str, choices: dict[str, str]) -> Json:
    """Return a single-value custom variable of `text : value` choices plus All."""
    query = ",".join(f"{name} : {value}" for name, value in choices.items())
    options = [{"text": "All", "value": "$__all", "selected": True}]
    options += [{"text": name, "value": value, "selected": False}
                for name, value in choices.items()]
    return {"name": name, "label": label, "type": "custom", "query": query, "multi": False,
            "includeAll": True, "allValue": ".*", "hide": 0, "options": options,
            "current": {"selected": True, "text": "All", "value": "$__all"}}


def annotation(name: str, query: str, *, colour: str, text_column: str,
               tags_column: str) -> Json:
    """Return an InfluxQL annotation: each row of `query` marks its time on every panel."""
    return {"name": name, "datasource": DATASOURCE, "enable": True, "hide": False,
            "iconColor": colour,
            "target": {"refId": "Anno", "datasource": DATASOURCE, "rawQuery": True,
                       "query": query, "textColumn": text_column, "tagsColumn": tags_column,
                       "titleColumn": "", "timeEndColumn": ""}}


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
