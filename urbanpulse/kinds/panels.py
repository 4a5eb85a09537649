"""The Grafana panel vocabulary a kind's dashboard module is written in (pure: JSON dicts only).

A kind's `dashboard.py` returns a `KindDashboard` (its panels, placed on the
grid), an `Overview` (its headline stats and district charts on the city
overview, which the builder places) and, when the kind belongs to a city
system (`urbanpulse.kinds.systems`), a `SystemPart` (its panels on that
system's dashboard, placed by the builder too); `python -m grafana.builder` adds the
frame: uid, variables, alert annotation and links. Every panel and target
names the provisioned InfluxDB data source by its fixed uid, and every query is
raw InfluxQL. Variables are used in regular expressions as `/^(${name:regex})$/`:
Grafana's `regex` format escapes each value and joins several as `(a|b)`, and a
custom all value (`.*`) is inserted as it is, so one selected value, several,
and All all match whole tag values.

Panels read what their resolution needs (docs/dashboards.md, "Reading at city
scale"): charts by district read the district rollups the ingester writes
(`{kind}_district_1m`, or `_1h` for panels of an hour or more); charts of one
line per sensor read the sensors' minutes (`urbanpulse.rollups.sensor_minutes`:
the raw points of a kind that reports once a minute or less often, else the
per-sensor minute rollup) and show only when a district is chosen
(`CHOSEN`); "now" values and tables of the worst `TOP_N` sensors read the
snapshot the ingester writes of each district (`now()`, `top()`,
`urbanpulse.now`), a few points per district. So no query at the city's scale
returns a row or a series per sensor. Rollup measurements are named by
`urbanpulse.rollups.rollup_measurement` alone, the snapshot's by
`urbanpulse.now`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from urbanpulse.kinds import KINDS
from urbanpulse.kinds.spec import DerivedField, Metric, Ranking, SensorKind
from urbanpulse.now import LOOKBACK_S, TOP_N, now_measurement, top_measurement
from urbanpulse.rollups import Resolution, has_sensor_minutes, rollup_measurement, sensor_minutes

Json = dict[str, Any]
Grid = tuple[int, int, int, int]
"""A panel's x, y, width and height on Grafana's 24-column grid."""

DATASOURCE: Json = {"type": "influxdb", "uid": "urbanpulse-influxdb"}

HEADLINE: Grid = (0, 0, 4, 4)
"""The size of a headline stat on the city overview; the builder sets x and y."""
CHART: Grid = (0, 0, 12, 8)
"""The size of a chart on the city overview; the builder sets x and y."""

UNITS = {"µg/m³": "conμgm3", "mg/m³": "conmgm3", "kW": "kwatt", "kWh": "kwatth",
         "dB(A)": "dB", "dB": "dB", "ratio": "percentunit", "%": "percent", "°C": "celsius",
         "mV": "mvolt", "dBm": "dBm"}
"""Grafana's unit id for each unit a kind declares; any other becomes a suffix."""


@dataclass(frozen=True, slots=True)
class KindDashboard:
    """A kind's own dashboard: what it shows, in panels placed on the grid.

    The builder titles it with the kind's `title` and adds the uid
    `urbanpulse-<kind>`, the city, district and sensor variables and the kind's
    alert annotation.
    """

    description: str
    panels: list[Json]


@dataclass(frozen=True, slots=True)
class Overview:
    """A kind's panels on the city overview: headline stats (`HEADLINE` size) and charts
    by district (`CHART` size), in order; the builder places them."""

    headlines: tuple[Json, ...] = ()
    charts: tuple[Json, ...] = ()


@dataclass(frozen=True, slots=True)
class System:
    """A city system several kinds share a dashboard of (flood, water supply…).

    `name` is the dashboard's file name and uid suffix (`urbanpulse-<name>`).
    """

    name: str
    title: str
    description: str


@dataclass(frozen=True, slots=True)
class SystemPart:
    """A kind's panels on its system's dashboard, each sized; the builder places them
    left to right in registry order, wrapping at the grid's width."""

    system: System
    panels: tuple[Json, ...]


def grafana_unit(*fields: Metric | DerivedField) -> str:
    """Return Grafana's unit for fields declared with one unit.

    Raises:
        ValueError: No field is given, or the fields' units differ.
    """
    units = {field.unit for field in fields}
    if len(units) != 1:
        names = ", ".join(f"{field.name} ({field.unit})" for field in fields)
        raise ValueError(f"One panel unit needs fields of one unit, not {names or 'none'}.")
    (unit,) = units
    return UNITS.get(unit, f"suffix: {unit}")


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


WHERE = f"WHERE $timeFilter AND {sensor_filter()}"
"""The WHERE clause of a kind's read: the time range and the chosen places."""
EVERY = "GROUP BY time($__interval)"


def _is_chosen(variable: str) -> str:
    """Return a condition true for every series when `variable` is not All, else for none.

    The regex `(V){2}` is the chosen value twice in a row: with All (`.*`) it matches
    every tag value, so `!~` holds for none; with sensor or district names it matches
    none (no name is another name twice), so `!~` holds for all.
    """
    return f'"{variable}" !~ /^(${{{variable}:regex}}){{2}}$/'


CHOSEN = _is_chosen("district")
"""The condition of a chart of one line per sensor: a district is chosen.

With the district at All (the whole city: thousands of sensors) the chart returns
nothing and says so (`panel` sets its no-data text). A sensor is chosen only
within chosen districts: the sensor variable lists their sensors alone. So the
condition needs no test of the sensor variable, whose All regex InfluxDB would
match against every sensor name of the measurement (at 22,150 sensors a chart
with nothing to draw took 0.07 to 0.19 s that way, 0.02 s on the district alone)."""
CHOOSE = "Choose a district"
"""What a per-sensor chart shows while the whole city is chosen."""
ROLLED = {"mean": "mean", "max": "max", "min": "min", "last": "mean"}
"""The rollup statistic each function summarises: max of maxima, min of minima, mean or
last of means."""


def rolled(field: str, function: str = "mean") -> str:
    """Return `function` over the rollup field of `field` it summarises: `max("x_max")`."""
    return f'{function}("{field}_{ROLLED[function]}")'


def per_district(select: str, kind: str, span: Resolution = "1m") -> str:
    """Return `SELECT select` per interval and district from the kind's district rollup."""
    return (f'SELECT {select} FROM "{rollup_measurement(kind, "district", span)}" WHERE '
            f'$timeFilter AND {district_filter()} {EVERY}, "district" fill(none)')


def over_range(select: str, kind: str) -> str:
    """Return `SELECT select` over the whole time range from the kind's district minute
    rollup, in the chosen districts (the sensor variable does not apply)."""
    return (f'SELECT {select} FROM "{rollup_measurement(kind, "district", "1m")}" WHERE '
            f'$timeFilter AND {district_filter()}')


def by_district(field: str, kind: str, function: str = "mean", span: Resolution = "1m"
                ) -> Json:
    """Return a target of `function(field)` per interval, one series per district."""
    return target(per_district(rolled(field, function), kind, span), alias="$tag_district")


NOW = f"time > ${{__to}}ms - {LOOKBACK_S}s AND time <= ${{__to}}ms"
"""The condition of a read of the "now" snapshot: the points written in the `LOOKBACK_S`
before the range's end (a longer range costs no more)."""


def now(kind: SensorKind) -> str:
    """Return a query of each chosen district's newest snapshot of `kind`, tagged district.

    Its columns are `sensors` (those with a reading within `kind.now_s`) and each
    numeric field's `_sum`, `_min`, `_max`, `_count` and `_nonzero` over those
    sensors' last values (`urbanpulse.now`): select from it, as
    `SELECT max("aqi_max") FROM (now(air))`.
    """
    return (f'SELECT last("sensors") AS "newest", * FROM "{now_measurement(kind.name)}" '
            f'WHERE {NOW} AND {district_filter()} GROUP BY "district"')


def top(kind: SensorKind, columns: Mapping[str, str], *, lowest: bool = False) -> Json:
    """Return a table target of the `TOP_N` sensors by their last value of the first column.

    `bottom()` with `lowest`; each row has the sensor, its district and every
    column (`alias: field`), from each district's ranks of the kind's ranking by
    that field (`SensorKind.ranked`); a column the sensor has never reported is empty.

    Raises:
        ValueError: The kind does not rank its sensors by the first column's field
            that way.
    """
    (order, field), *rest = columns.items()
    if Ranking(field, lowest) not in kind.ranked:
        raise ValueError(f"Kind {kind.name!r} does not rank its sensors by {field!r} "
                         f"{'lowest' if lowest else 'highest'} first: add the ranking to "
                         "its SensorKind.ranked.")
    pick = "bottom" if lowest else "top"
    others = "".join(f', "{name}" AS "{alias}"' for alias, name in rest)
    ranks = (f'SELECT last("sensor") AS "newest", * FROM "{top_measurement(kind.name)}" WHERE '
             f'{NOW} AND {district_filter()} AND "by" = \'{field}\' GROUP BY "district", "rank"')
    return target(f'SELECT {pick}("{field}", {TOP_N}) AS "{order}", "sensor", "district"'
                  f"{others} FROM ({ranks})", table=True)


def now_over_time(kind: SensorKind, column: str) -> str:
    """Return a query of one column of the kind's "now" snapshot per interval, by district.

    The snapshot's value at the end of each interval (`last`): for a field's
    `_sum` over the sensors' last values (covers open, bays occupied) the total of
    every sensor's latest state, carried forward, from the few points per district
    the ingester writes every 15 s (`urbanpulse.now`), whatever the city's size.
    The sensor variable does not apply: a snapshot is of a district.
    """
    return (f'SELECT last("{column}") FROM "{now_measurement(kind.name)}" WHERE $timeFilter '
            f'AND {district_filter()} {EVERY}, "district" fill(none)')


def now_span(kind: SensorKind) -> str:
    """Return how recent a reading of the kind is "now", in words: "6 hours", "3 days"."""
    hours = kind.now_s // 3_600
    return f"{hours // 24} days" if hours >= 48 and hours % 24 == 0 else f"{hours} hours"


def reporting(kind: SensorKind) -> str:
    """Return a query of the number of the kind's sensors with a reading within its `now_s`."""
    return f'SELECT sum("sensors") FROM ({now(kind)})'


def target(query: str, *, ref: str = "A", table: bool = False, alias: str | None = None) -> Json:
    """Return a raw InfluxQL target."""
    result: Json = {"refId": ref, "datasource": DATASOURCE, "rawQuery": True, "query": query,
                    "resultFormat": "table" if table else "time_series"}
    if alias:
        result["alias"] = alias
    return result


def measurements(names: Iterable[str]) -> str:
    """Return the FROM list of several measurements: `"a", "b"`."""
    return ", ".join(f'"{name}"' for name in names)


def silence(names: Iterable[str]) -> str:
    """Return a query of each sensor's silence: seconds from its last reading to the range end.

    InfluxQL 1.x cannot subtract a point's time from now() in SELECT, but
    `elapsed()` measures between two rows of a series: an aggregate's row
    (`count`) is stamped with the start of the time range, a selector's (`last`)
    with its point, so the elapsed seconds between them are the time from the range's
    start to the last reading, and the range (`${__to}` − `${__from}`, Grafana's
    epoch milliseconds) minus that is the silence. A sensor without a reading in
    the range has no row. One row per sensor, tagged sensor and district, when a
    district is chosen (`CHOSEN`); the subqueries return one row per
    sensor each, whatever the range. A table of silences lists every sensor of the
    chosen districts: it does not test the sensor variable, whose All regex
    InfluxDB would match against every sensor name of the kinds even while the
    district is All and nothing is returned (33 ms against 6 ms over the sixteen
    kinds' 22,150 sensors).
    """
    source = (f"FROM {measurements(names)} WHERE $timeFilter AND {district_filter()} "
              f"AND {CHOSEN} GROUP BY \"sensor\", \"district\"")
    seen = (f'SELECT elapsed("t", 1s) AS "seen_s" FROM (SELECT count("seq") AS "t" {source}), '
            f'(SELECT last("seq") AS "t" {source}) GROUP BY "sensor", "district"')
    return (f'SELECT (${{__to}} - ${{__from}}) / 1000 - "seen_s" AS "silent_s" FROM ({seen}) '
            'GROUP BY "sensor", "district"')


def by_sensor(field: str, kind: str, function: str = "mean") -> Json:
    """Return a target of `function(field)` per interval, one series per sensor, when a
    district is chosen (`CHOSEN`).

    It reads the `sensor_minutes` of the registered kind named `kind`: Grafana's
    interval is never below the data source's minute, and a sensor that reports
    once a minute or less often has a raw point per minute at most, which a
    minute rollup would only repeat.
    """
    spec = KINDS[kind]
    column = rolled(field, function) if has_sensor_minutes(spec) else f'{function}("{field}")'
    return target(f'SELECT {column} FROM "{sensor_minutes(spec)}" {WHERE} AND {CHOSEN} '
                  f'{EVERY}, "sensor" fill(none)', alias="$tag_sensor")


def thresholds(base: str, *steps: tuple[float, str]) -> Json:
    """Return absolute thresholds: `base` colour below the first step."""
    return {"mode": "absolute", "steps": [{"color": base, "value": None},
                                          *({"color": c, "value": v} for v, c in steps)]}


def value_mappings(entries: dict[int, tuple[str, str]]) -> list[Json]:
    """Return one value mapping from numbers to (text, colour)."""
    options = {str(value): {"text": text, "color": colour, "index": index}
               for index, (value, (text, colour)) in enumerate(entries.items())}
    return [{"type": "value", "options": options}]


def panel(kind: str, title: str, description: str, grid: Grid, targets: list[Json], *,
          defaults: Json | None = None, options: Json | None = None,
          overrides: list[Json] | None = None, **extra: Any) -> Json:
    """Return a panel at grid (x, y, w, h); the id is set when the dashboard is assembled.

    A panel of per-sensor charts (`CHOSEN`) says, while it has no data, what to choose.
    """
    x, y, w, h = grid
    if any(CHOSEN in item["query"] for item in targets):
        defaults = {**(defaults or {}), "noValue": CHOOSE}
        description = f"{description} Shown when a district is chosen."
    return {"type": kind, "title": title, "description": description,
            "datasource": DATASOURCE, "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "fieldConfig": {"defaults": defaults or {}, "overrides": overrides or []},
            "options": options or {}, "targets": targets, **extra}


def geomap(title: str, description: str, grid: Grid, targets: list[Json], *, layer: str,
           colour_by: str, size: int, defaults: Json, by: str = "sensor") -> Json:
    """Return a map of places (sensors, or what `by` names) coloured by `colour_by`.

    The first target gives each place's position (lat, lon), the others its
    values; the rows are joined by the `by` column, keeping places without values.
    """
    return panel(
        "geomap", title, description, grid, targets, defaults=defaults,
        options={
            "view": {"id": "fit", "allLayers": True, "lat": 31.2, "lon": 121.5, "zoom": 10},
            "controls": {"showZoom": True, "mouseWheelZoom": True, "showAttribution": True},
            "basemap": {"type": "default", "name": "Basemap", "config": {}},
            "layers": [{"type": "markers", "name": layer, "tooltip": True,
                        "location": {"mode": "coords", "latitude": "lat", "longitude": "lon"},
                        "config": {"showLegend": True, "style": {
                            "size": {"fixed": size}, "opacity": 0.9,
                            "color": {"field": colour_by, "fixed": "green"},
                            "symbol": {"mode": "fixed",
                                       "fixed": "img/icons/marker/circle.svg"}}}}],
            "tooltip": {"mode": "details"}},
        transformations=[{"id": "joinByField",
                          "options": {"byField": by, "mode": "outerTabular"}}])


def timeseries(title: str, description: str, grid: Grid, targets: list[Json], *,
               unit: str = "short", minimum: float | None = None, bars: bool = False,
               steps: Json | None = None, threshold_style: str = "off",
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


def stat(title: str, description: str, grid: Grid, targets: list[Json], *,
         unit: str = "short", steps: Json | None = None, mappings: list[Json] | None = None,
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


def state_timeline(title: str, description: str, grid: Grid, targets: list[Json], *,
                   mappings: list[Json], steps: Json, **extra: Any) -> Json:
    """Return a state-timeline panel whose states are value mappings."""
    return panel("state-timeline", title, description, grid, targets,
                 defaults={"color": {"mode": "thresholds"}, "thresholds": steps,
                           "mappings": mappings, "custom": {"fillOpacity": 80, "lineWidth": 0}},
                 options={"mergeValues": True, "showValue": "auto", "alignValue": "left",
                          "rowHeight": 0.9, "legend": {"displayMode": "list",
                                                       "placement": "bottom",
                                                       "showLegend": True}}, **extra)


def table(title: str, description: str, grid: Grid, targets: list[Json], *,
          overrides: list[Json] | None = None, sort_by: str | None = None,
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


def text(title: str, grid: Grid, markdown: str) -> Json:
    """Return a markdown text panel (no query)."""
    x, y, w, h = grid
    return {"type": "text", "title": title, "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "options": {"mode": "markdown", "content": markdown}}
