"""The open-data feed: hourly aggregates per sensor of one kind, as JSON or CSV.

The rows are the hourly rollups the ingester writes, never raw readings: one
point per sensor and hour in `{kind}_1h`, with `<metric>_mean`, `_min`, `_max`
and `count` (the readings in the hour). So a day of 10,000 sensors is 240,000
small points to read, whatever the sensors' cadence. Hours are aligned on UTC
hours, which are also Asia/Shanghai hours (UTC+8); hours without readings have
no rollup and are left out, and so is a metric the hour has no value of. The
hour still being written is exported as it stands: its `count` so far and the
aggregates of those readings.

Sensors are read `BATCH_SENSORS` at a time, in id order, one statement per
batch, so the CSV streams rows as InfluxDB returns them and no statement reads
more than a batch's day. The CSV starts with a block of `# ` comment lines
holding the same metadata as the JSON `metadata` object (units, licence,
generation time...), then one header line and one line per sensor and hour.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import msgspec

from api.influx import InfluxQuery
from api.view_models import ExportMetadata
from urbanpulse.influxql import Series, quote_identifier, tag_equals, time_from, where
from urbanpulse.kinds import SensorKind
from urbanpulse.kinds.summaries import derived
from urbanpulse.rollups import rollup_measurement

STATS = ("mean", "min", "max")
BATCH_SENSORS = 500
"""Sensors per statement: a day of them is 12,000 rollup points, well under InfluxDB's timeout."""
COUNT = "count"
"""The rollup field holding the readings of the hour, exported as `readings`."""


def iso(ms: int) -> str:
    """Return epoch ms as ISO 8601 UTC with a `Z`, to the second."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hourly_measurement(kind: SensorKind) -> str:
    """Return the name of the kind's per-sensor hourly rollup measurement."""
    return rollup_measurement(kind.name, "sensor", "1h")


async def export_sensors(influx: InfluxQuery, kind: SensorKind, district: str | None
                         ) -> list[str]:
    """Return the ids of the sensors with hourly rollups of `kind` (in `district`), sorted."""
    series = await influx.query(
        f"SHOW TAG VALUES FROM {quote_identifier(hourly_measurement(kind))} "
        f"WITH KEY = {quote_identifier('sensor')}{where(tag_equals('district', district))}")
    return sorted({str(row["value"]) for one in series for row in one.rows()})


class Hour(NamedTuple):
    """One sensor's rollup of one hour, as both forms of the export show it."""

    hour_start: int
    sensor: str
    district: str
    readings: int
    values: dict[str, tuple[float, float, float]]
    """(mean rounded to `DECIMALS` places, min, max) of each metric the hour has."""


async def hourly_batches(influx: InfluxQuery, kind: SensorKind, sensors: Sequence[str], *,
                         district: str | None, start_ms: int, end_ms: int
                         ) -> AsyncIterator[list[Hour]]:
    """Yield the hours of `sensors` in [start, end), a batch at a time, by sensor, hour."""
    columns = ", ".join([f"{quote_identifier('district')}::tag",
                         quote_identifier(COUNT),
                         *(quote_identifier(f"{metric}_{stat}")
                           for metric in kind.metrics for stat in STATS)])
    source = quote_identifier(hourly_measurement(kind))
    statements = [
        f"SELECT {columns} FROM {source}"
        + where(_any_of("sensor", sensors[first:first + BATCH_SENSORS]),
                tag_equals("district", district), time_from(start_ms), f"time < {end_ms}ms")
        + f" GROUP BY {quote_identifier('sensor')}"
        for first in range(0, len(sensors), BATCH_SENSORS)]
    for statement in statements:
        yield _hours(kind, await influx.query(statement))


def _any_of(tag: str, values: Sequence[str]) -> str:
    """Return `"tag" =~ /^(?:a|b|…)$/`: InfluxDB matches one regex faster than ORed equalities.

    The rollups have no field named like a tag, so the comparison needs no `::tag`.
    """
    escaped = "|".join(re.escape(value).replace("/", r"\/") for value in values)
    return f"{quote_identifier(tag)} =~ /^(?:{escaped})$/"


def _hours(kind: SensorKind, series: list[Series]) -> list[Hour]:
    """Return the hours of one batch's series, by sensor, then hour."""
    hours = []
    for one in series:
        column = {name: index for index, name in enumerate(one.columns)}
        # Column positions once per series: a batch is 12,000 rows of a dozen stats each.
        places = []
        for metric in kind.metrics:
            mean, low, high = (f"{metric}_{stat}" for stat in STATS)
            if mean in column and low in column and high in column:
                places.append((metric, column[mean], column[low], column[high]))
        sensor, at = one.tags.get("sensor", ""), column["time"]
        district, count = column.get("district"), column.get(COUNT)
        for row in one.values:
            hours.append(Hour(
                int(row[at]), sensor, "" if district is None else str(row[district] or ""),
                0 if count is None else int(row[count] or 0), _values(places, row)))
    hours.sort(key=lambda hour: (hour.sensor, hour.hour_start))
    return hours


def _values(places: Sequence[tuple[str, int, int, int]], row: Sequence[Any]
            ) -> dict[str, tuple[float, float, float]]:
    """Return the stats of each metric the row has all three numbers of."""
    values = {}
    for metric, mean_at, low_at, high_at in places:
        mean, low, high = row[mean_at], row[low_at], row[high_at]
        # A metric the hour never carried has no values; the open hour may lack some too.
        if (isinstance(mean, int | float) and isinstance(low, int | float)
                and isinstance(high, int | float)):
            values[metric] = (derived(float(mean)), float(low), float(high))
    return values


def json_body(metadata: ExportMetadata, hours: Sequence[Hour]) -> bytes:
    """Return the JSON export, shaped as the `Export` model, encoded without building models.

    A month of a district is up to `URBANPULSE_API_EXPORT_MAX_ROWS` rows of a dozen
    stats each: pydantic models for them cost more than the query.
    """
    rows = [{"hour_start": hour.hour_start, "sensor": hour.sensor, "district": hour.district,
             "readings": hour.readings,
             "values": {metric: dict(zip(STATS, stats, strict=True))
                        for metric, stats in hour.values.items()}}
            for hour in hours]
    return msgspec.json.encode({"metadata": metadata.model_dump(mode="json"), "rows": rows})


def csv_head(metadata: ExportMetadata) -> str:
    """Return the CSV's `# ` metadata block and its header line."""
    out = io.StringIO()
    units = "; ".join(f"{metric}={unit}" for metric, unit in metadata.units.items())
    for key, value in (
            ("title", metadata.title), ("kind", metadata.kind),
            ("range", f"{iso(metadata.start)} to {iso(metadata.end)} "
                      "(start inclusive, end exclusive, UTC)"),
            ("district", metadata.district or "all"), ("units", units),
            ("columns", "readings: the readings of the hour (so far, for the hour still "
                        "being written); <metric>_mean, <metric>_min, <metric>_max over "
                        "the hour; empty when the hour had no value of the metric"),
            ("licence", metadata.licence), ("generated_at", metadata.generated_at),
            ("source", metadata.source)):
        # One line per entry: a line break in a setting must not end the comment block.
        out.write(f"# {key}: {' '.join(str(value).split())}\n")
    csv.writer(out, lineterminator="\n").writerow(
        ["hour_start", "sensor", "district", "readings",
         *(f"{metric}_{stat}" for metric in metadata.units for stat in STATS)])
    return out.getvalue()


def csv_rows(metrics: Sequence[str], hours: Sequence[Hour]) -> str:
    """Return CSV lines for `hours`, with the columns of `csv_head`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    blank = ("", "", "")
    for hour in hours:
        cells: list[str | int | float] = [iso(hour.hour_start), hour.sensor, hour.district,
                                          hour.readings]
        for metric in metrics:
            cells += hour.values.get(metric, blank)
        writer.writerow(cells)
    return out.getvalue()
