"""The open-data feed: hourly aggregates per sensor of one kind, as JSON or CSV.

Every metric of the kind's catalog entry gets its mean, minimum and maximum
over each hour, with the number of readings; hours without readings are left
out. Hours are aligned on UTC hours, which are also Asia/Shanghai hours (UTC+8).
The CSV starts with a block of `# ` comment lines holding the same metadata as
the JSON `metadata` object (units, licence, generation time...), then one
header line and one line per sensor and hour.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime

from api.influx import InfluxQuery
from api.view_models import ExportMetadata, ExportRow, MetricStats
from urbanpulse.influxql import quote_identifier, tag_equals, where
from urbanpulse.kinds import SensorKind
from urbanpulse.kinds.summaries import derived

STATS = ("mean", "min", "max")
_AGGREGATE = {"mean": "MEAN", "min": "MIN", "max": "MAX"}


def iso(ms: int) -> str:
    """Return epoch ms as ISO 8601 UTC with a `Z`, to the second."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def sensor_count(influx: InfluxQuery, kind: SensorKind, district: str | None) -> int:
    """Return how many sensors ever wrote to the kind's measurement (in `district`)."""
    series = await influx.query(
        f"SHOW TAG VALUES FROM {quote_identifier(kind.name)} "
        f"WITH KEY = {quote_identifier('sensor')}{where(tag_equals('district', district))}")
    return len({row["value"] for one in series for row in one.rows()})


async def hourly_rows(influx: InfluxQuery, kind: SensorKind, *, district: str | None,
                      start_ms: int, end_ms: int) -> list[ExportRow]:
    """Return the hourly aggregates of each sensor of `kind` in [start, end), by sensor, hour."""
    columns = [f"{_AGGREGATE[stat]}({quote_identifier(metric)}) AS "
               f"{quote_identifier(f'{metric}_{stat}')}"
               for metric in kind.metrics for stat in STATS]
    columns.append(f"COUNT({quote_identifier('seq')}) AS {quote_identifier('readings')}")
    condition = where(tag_equals("district", district), f"time >= {start_ms}ms",
                      f"time < {end_ms}ms")
    series = await influx.query(
        f"SELECT {', '.join(columns)} FROM {quote_identifier(kind.name)}{condition} "
        f"GROUP BY time(1h), {quote_identifier('sensor')}, {quote_identifier('district')} "
        "fill(none)")
    rows = []
    for one in series:
        for row in one.rows():
            values = {metric: MetricStats(mean=derived(float(row[f"{metric}_mean"])),
                                          min=float(row[f"{metric}_min"]),
                                          max=float(row[f"{metric}_max"]))
                      for metric in kind.metrics if row.get(f"{metric}_mean") is not None}
            rows.append(ExportRow(hour_start=row["time"], sensor=one.tags.get("sensor", ""),
                                  district=one.tags.get("district", ""),
                                  readings=int(row.get("readings") or 0), values=values))
    rows.sort(key=lambda row: (row.sensor, row.hour_start))
    return rows


def render_csv(metadata: ExportMetadata, metrics: Sequence[str], rows: Sequence[ExportRow]
               ) -> str:
    """Return the export as CSV: a `# ` metadata block, a header line, then the rows."""
    out = io.StringIO()
    units = "; ".join(f"{metric}={unit}" for metric, unit in metadata.units.items())
    for key, value in (
            ("title", metadata.title), ("kind", metadata.kind),
            ("range", f"{iso(metadata.start)} to {iso(metadata.end)} "
                      "(start inclusive, end exclusive, UTC)"),
            ("district", metadata.district or "all"), ("units", units),
            ("columns", "<metric>_mean, <metric>_min, <metric>_max over the hour; "
                        "empty when the hour had no value of the metric"),
            ("licence", metadata.licence), ("generated_at", metadata.generated_at),
            ("source", metadata.source)):
        # One line per entry: a line break in a setting must not end the comment block.
        out.write(f"# {key}: {' '.join(str(value).split())}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["hour_start", "sensor", "district", "readings",
                     *(f"{metric}_{stat}" for metric in metrics for stat in STATS)])
    for row in rows:
        cells: list[str | int | float] = [iso(row.hour_start), row.sensor, row.district,
                                          row.readings]
        for metric in metrics:
            stats = row.values.get(metric)
            cells += ["", "", ""] if stats is None else [stats.mean, stats.min, stats.max]
        writer.writerow(cells)
    return out.getvalue()
