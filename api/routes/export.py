"""`/v1/export/{kind}.csv` and `.json`: the open-data feed of hourly aggregates per sensor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Response

from api.deps import InfluxDep, SettingsDep
from api.influx import InfluxQuery
from api.models import INFLUX_ERRORS, json_error
from api.open_data import hourly_rows, render_csv, sensor_count
from api.params import (
    ExportDistrictQuery,
    ExportEndQuery,
    ExportKindPath,
    ExportStartQuery,
    invalid,
    resolve_range,
)
from api.view_models import Export, ExportMetadata
from urbanpulse import __version__
from urbanpulse.kinds import get_kind
from urbanpulse.kinds.summaries import HOUR_MS
from urbanpulse.settings import ApiSettings

router = APIRouter(prefix="/export", tags=["open data"])

EXPORT_SPAN = timedelta(hours=24)
_CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "A `# ` metadata block, a header line and one line per sensor-hour",
          "content": {"text/csv": {"schema": {"type": "string"}}}},
    # The errors are JSON, not CSV.
    **{status: json_error(answer["description"]) for status, answer in INFLUX_ERRORS.items()},
}


class CsvResponse(Response):
    """A CSV body; Starlette adds `; charset=utf-8`, as to every text type."""

    media_type = "text/csv"


async def _export(influx: InfluxQuery, settings: ApiSettings, kind_name: str,
                  district: str | None, start: datetime | None, end: datetime | None
                  ) -> Export:
    """Check the range and its size in rows, then query and return the export."""
    kind = get_kind(kind_name)
    # Widened to whole hours before the check: the limit holds for the range queried.
    start_ms, end_ms = resolve_range(start, end, now=datetime.now(UTC),
                                     max_range_s=settings.api_export_max_range_s,
                                     span=EXPORT_SPAN, align_ms=HOUR_MS)
    hours = (end_ms - start_ms) // HOUR_MS
    sensors = await sensor_count(influx, kind, district)
    if sensors * hours > settings.api_export_max_rows:
        raise invalid("start", f"{sensors} sensors over {hours} hours could make "
                               f"{sensors * hours} rows, more than the allowed "
                               f"{settings.api_export_max_rows}: narrow the range or give "
                               "a district", None if start is None else start.isoformat())
    rows = await hourly_rows(influx, kind, district=district, start_ms=start_ms, end_ms=end_ms)
    metadata = ExportMetadata(
        title=f"UrbanPulse hourly aggregates of {kind.name} sensors ({kind.description})",
        kind=kind.name, start=start_ms, end=end_ms, district=district,
        units={name: metric.unit for name, metric in kind.metrics.items()},
        licence=settings.api_export_licence,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        source=f"UrbanPulse api {__version__}, InfluxDB measurement {kind.name!r}")
    return Export(metadata=metadata, rows=rows)


@router.get("/{kind}.json", summary="Open data: hourly aggregates as JSON",
            responses=INFLUX_ERRORS)
async def export_json(*, kind: ExportKindPath, influx: InfluxDep, settings: SettingsDep,
                      district: ExportDistrictQuery = None, start: ExportStartQuery = None,
                      end: ExportEndQuery = None) -> Export:
    """Return the mean, minimum and maximum of every metric per sensor and hour.

    The range is widened to whole hours, and the widened range may span at most
    `URBANPULSE_API_EXPORT_MAX_RANGE_S`; sensors times hours may be at most
    `URBANPULSE_API_EXPORT_MAX_ROWS` (else 422 on `start`). `metadata` names
    the units, the licence and the generation time.
    """
    return await _export(influx, settings, kind, district, start, end)


@router.get("/{kind}.csv", summary="Open data: hourly aggregates as CSV",
            response_class=CsvResponse, responses=_CSV_RESPONSES)
async def export_csv(*, kind: ExportKindPath, influx: InfluxDep, settings: SettingsDep,
                     district: ExportDistrictQuery = None, start: ExportStartQuery = None,
                     end: ExportEndQuery = None) -> CsvResponse:
    """Return the same aggregates as the JSON export, as CSV with a `# ` metadata block."""
    export = await _export(influx, settings, kind, district, start, end)
    metrics = list(export.metadata.units)
    name = (f"urbanpulse-{kind}-{export.metadata.start // 1000}-"
            f"{export.metadata.end // 1000}.csv")
    return CsvResponse(render_csv(export.metadata, metrics, export.rows),
                       headers={"Content-Disposition": f'attachment; filename="{name}"'})
