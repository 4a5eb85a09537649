"""Sensor metadata and readings, read from InfluxDB with InfluxQL.

The ingester writes one `sensors` point per birth (tags `sensor`, `kind`,
`district`; fields `lat`, `lon`, `site`, `zone`, `interval_s` and one field per
static attribute) and one point per reading to the measurement named after the
kind (tags `sensor`, `district`; a field per metric and `seq`). A sensor's
metadata is its newest birth point; a sensor without a birth is unknown here.

InfluxDB may hold points the ingester would refuse (written before it reserved
attribute names, or by any client with write access): tags are compared as
`::tag` and birth fields selected by name, so a field named like a tag is never
read, and a newest birth that makes no sensor is left out with a warning.
Reading values are the catalog's metrics of the kind; fields the ingester
derives (such as `aqi`) are not part of them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

from api.influx import InfluxQuery
from api.models import AttributeValue, LatestReading, Point, Readings, Sensor, SensorPage
from urbanpulse.births import BIRTH_FIELDS, BIRTH_TAGS, RESERVED_ATTRIBUTES, SENSORS_MEASUREMENT
from urbanpulse.influxql import quote_identifier, tag_equals, where
from urbanpulse.kinds import SensorKind, get_kind

logger = logging.getLogger(__name__)
_SENSORS: Final = quote_identifier(SENSORS_MEASUREMENT)
"""The births' measurement, quoted for a statement."""


def _any_sensor(sensors: Iterable[str]) -> str:
    return "(" + " OR ".join(tag_equals("sensor", sensor) for sensor in sensors) + ")"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _malformed(row: Mapping[str, Any]) -> str | None:
    """Return what is wrong with a birth row, or None when it makes a Sensor."""
    for tag in BIRTH_TAGS:
        if not isinstance(row.get(tag), str) or not row[tag]:
            return f"no {tag} tag"
    lat, lon, interval_s = row.get("lat"), row.get("lon"), row.get("interval_s")
    if not (isinstance(lat, int | float) and isinstance(lon, int | float) and _is_number(lat)
            and _is_number(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return f"lat {lat!r} and lon {lon!r} are no position"
    if not isinstance(row.get("site"), str) or not isinstance(row.get("zone"), str):
        return "site or zone is not a string"
    if not isinstance(interval_s, int) or isinstance(interval_s, bool) or interval_s <= 0:
        return f"interval_s {interval_s!r} is not a positive integer"
    if not isinstance(row.get("time"), int):
        return "no time"
    return None


def _sensor_from_row(row: Mapping[str, Any], attribute_names: Iterable[str],
                     float_fields: frozenset[str]) -> Sensor:
    attributes: dict[str, AttributeValue] = {}
    for key in attribute_names:
        value = row.get(key)
        if value is None:
            continue
        is_integral = isinstance(value, int) and not isinstance(value, bool)
        attributes[key] = float(value) if key in float_fields and is_integral else value
    return Sensor(
        sensor=row["sensor"], kind=row["kind"], district=row["district"],
        site=row["site"], zone=row["zone"], lat=row["lat"], lon=row["lon"],
        interval_s=row["interval_s"], attributes=attributes, birth_ts=row["time"],
    )


def _metric_values(kind: SensorKind, row: Mapping[str, Any]) -> dict[str, float]:
    return {name: float(row[name]) for name in kind.metrics if row.get(name) is not None}


class SensorStore:
    """Answers the sensor routes' questions with InfluxQL queries."""

    def __init__(self, influx: InfluxQuery) -> None:
        self._influx = influx

    async def _field_types(self) -> dict[str, set[str]]:
        """Return the `sensors` fields and the types InfluxDB stores each as (per shard)."""
        series = await self._influx.query(f"SHOW FIELD KEYS FROM {_SENSORS}")
        types: dict[str, set[str]] = {}
        for one in series:
            for row in one.rows():
                types.setdefault(str(row["fieldKey"]), set()).add(str(row["fieldType"]))
        return types

    async def _births(self, condition: str) -> list[Sensor]:
        """Return the newest birth of every sensor matching `condition`, ordered by id.

        Tags and fields are selected by name and type, so fields named like a tag
        (which InfluxDB would return renamed, as `sensor_1`) are never read; a
        newest birth that makes no sensor (a string latitude, no site) is left out
        and logged.
        """
        types = await self._field_types()
        if not types:
            return []
        attribute_names = sorted(name for name in types if name not in RESERVED_ATTRIBUTES)
        columns = ", ".join([
            *(f"{quote_identifier(tag)}::tag" for tag in BIRTH_TAGS[1:]),
            *(f"{quote_identifier(name)}::field" for name in (*BIRTH_FIELDS, *attribute_names)),
        ])
        statement = (f"SELECT {columns} FROM {_SENSORS}{where(condition)} "
                     f"GROUP BY {quote_identifier('sensor')} ORDER BY time DESC LIMIT 1")
        float_fields = frozenset(name for name, kinds in types.items() if "float" in kinds)
        sensors = []
        for one in await self._influx.query(statement):
            for found in one.rows():
                row = {**found, "sensor": one.tags.get("sensor")}
                problem = _malformed(row)
                if problem is not None:
                    logger.warning("ignored the newest birth of sensor %.80r at %s: %s",
                                   row["sensor"], row.get("time"), problem)
                    continue
                sensors.append(_sensor_from_row(row, attribute_names, float_fields))
        return sorted(sensors, key=lambda sensor: sensor.sensor)

    async def list_sensors(self, *, kind: str | None, district: str | None,
                           limit: int, offset: int) -> SensorPage:
        """Return one page of the sensors of `kind` in `district` (None: any)."""
        filters = where(tag_equals("kind", kind), tag_equals("district", district))
        series = await self._influx.query(
            f"SHOW TAG VALUES FROM {_SENSORS} "
            f"WITH KEY = {quote_identifier('sensor')}{filters}")
        ids = sorted({row["value"] for one in series for row in one.rows()})
        page = ids[offset:offset + limit]
        items: list[Sensor] = []
        if page:
            condition = " AND ".join(
                part for part in (_any_sensor(page), tag_equals("kind", kind),
                                  tag_equals("district", district)) if part)
            items = await self._births(condition)
        return SensorPage(items=items, total=len(ids), limit=limit, offset=offset)

    async def births(self, *, kind: str | None = None, district: str | None = None,
                     until_ms: int | None = None) -> list[Sensor]:
        """Return the metadata of every sensor of `kind` in `district` (None: any), by id,
        from its newest birth at or before `until_ms` (None: its newest birth)."""
        return await self._births(" AND ".join(
            part for part in (tag_equals("kind", kind), tag_equals("district", district),
                              "" if until_ms is None else f"time <= {until_ms}ms")
            if part))

    async def has_district(self, district: str) -> bool:
        """Return whether InfluxDB holds a sensor birth in `district`, at any time."""
        series = await self._influx.query(
            f"SHOW TAG VALUES FROM {_SENSORS} "
            f"WITH KEY = {quote_identifier('district')}"
            f"{where(tag_equals('district', district))}")
        return any(row["value"] == district for one in series for row in one.rows())

    async def kinds_by_district(self) -> dict[str, dict[str, int]]:
        """Return how many sensors of each kind every district has, from the series keys."""
        series = await self._influx.query(f"SHOW SERIES FROM {_SENSORS}")
        counts: dict[str, dict[str, int]] = {}
        for one in series:
            for row in one.rows():
                # Keys read `sensors,district=d,kind=k,sensor=s`; names are [a-z0-9-] only.
                tags = dict(part.split("=", 1) for part in str(row["key"]).split(",")[1:])
                if "district" in tags and "kind" in tags:
                    kinds = counts.setdefault(tags["district"], {})
                    kinds[tags["kind"]] = kinds.get(tags["kind"], 0) + 1
        return counts

    async def get_sensor(self, sensor: str) -> Sensor | None:
        """Return the metadata of `sensor`, or None when no birth of it was stored."""
        births = await self._births(tag_equals("sensor", sensor))
        return births[0] if births else None

    async def latest(self, sensor: Sensor) -> LatestReading | None:
        """Return the newest reading of `sensor`, or None when there is none."""
        kind = get_kind(sensor.kind)
        columns = ", ".join(quote_identifier(name) for name in (*kind.metrics, "seq"))
        series = await self._influx.query(
            f"SELECT {columns} FROM {quote_identifier(kind.name)}"
            f"{where(tag_equals('sensor', sensor.sensor))} ORDER BY time DESC LIMIT 1")
        rows = [row for one in series for row in one.rows()]
        if not rows:
            return None
        row = rows[0]
        seq = row.get("seq")
        return LatestReading(ts=row["time"], seq=None if seq is None else int(seq),
                             values=_metric_values(kind, row))

    async def readings(self, sensor: Sensor, *, start_ms: int, end_ms: int,
                       every: str | None, max_points: int) -> Readings:
        """Return readings in [start, end): raw, or the mean per `every` bucket.

        `every` must already be a validated InfluxQL duration; at most
        `max_points` points come back, `truncated` says whether more exist.
        """
        kind = get_kind(sensor.kind)
        if every is None:
            columns = ", ".join(quote_identifier(name) for name in kind.metrics)
            grouping = ""
        else:
            columns = ", ".join(f"MEAN({quote_identifier(name)}) AS {quote_identifier(name)}"
                                for name in kind.metrics)
            grouping = f" GROUP BY time({every}) fill(none)"
        condition = where(tag_equals("sensor", sensor.sensor),
                           f"time >= {start_ms}ms", f"time < {end_ms}ms")
        series = await self._influx.query(
            f"SELECT {columns} FROM {quote_identifier(kind.name)}{condition}{grouping} "
            f"LIMIT {max_points + 1}")
        points = [Point(ts=row["time"], values=values)
                  for one in series for row in one.rows()
                  if (values := _metric_values(kind, row))]
        return Readings(
            sensor=sensor.sensor, kind=kind.name,
            unit={name: metric.unit for name, metric in kind.metrics.items()},
            points=points[:max_points], truncated=len(points) > max_points,
        )
