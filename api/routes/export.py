"""`/v1/export/{kind}.csv` and `.json`: the open-data feed of hourly aggregates per sensor.

Both read the ingester's hourly rollups (`api.open_data`), settled hours mostly
from the pieces the api keeps rendered. At most `EXPORT_SLOTS` exports run at
once in one api process: one more is refused at once with 429 and a
`Retry-After`, rather than queueing until InfluxDB times out. Both stream: the
first piece is read before the answer starts (so a failing InfluxDB is still a
503), the others as the client reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import StreamingResponse

from api.deps import InfluxDep, SettingsDep
from api.influx import InfluxQuery
from api.models import INFLUX_ERRORS, json_error
from api.open_data import (
    Form,
    csv_head,
    export_sensors,
    hourly_measurement,
    json_body,
    json_head,
    pieces,
)
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
EXPORT_SLOTS = 2
"""Exports one api process runs at once; each may read up to a month of rollups."""
RETRY_AFTER_S = 5
"""What a refused client is told to wait: a day's export takes well under a second."""
_BUSY: dict[int | str, dict[str, Any]] = {429: json_error(
    f"More than {EXPORT_SLOTS} exports at once: retry after the `Retry-After` seconds")}
_JSON_RESPONSES: dict[int | str, dict[str, Any]] = {**INFLUX_ERRORS, **_BUSY}
_CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "A `# ` metadata block, a header line and one line per sensor-hour",
          "content": {"text/csv": {"schema": {"type": "string"}}}},
    # The errors are JSON, not CSV.
    **{status: json_error(answer["description"]) for status, answer in INFLUX_ERRORS.items()},
    **_BUSY,
}


class CsvStream(StreamingResponse):
    """A streamed CSV body; Starlette adds `; charset=utf-8`, as to every text type."""

    media_type = "text/csv"


class JsonStream(StreamingResponse):
    """A streamed JSON body (the route documents its model, `Export`)."""

    media_type = "application/json"


class ExportSlots:
    """Counts the exports running in one app; `take` refuses one beyond `size` with 429."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.busy = 0

    def take(self) -> None:
        """Take a slot, or raise the 429 saying when to come back."""
        if self.busy >= self.size:
            raise HTTPException(
                429, detail=f"{self.busy} exports are running, the most this server runs at "
                            f"once: retry in {RETRY_AFTER_S} s.",
                headers={"Retry-After": str(RETRY_AFTER_S)})
        self.busy += 1

    def give_back(self) -> None:
        """Free a slot taken with `take`."""
        self.busy -= 1


async def export_slot(request: Request) -> AsyncIterator[None]:
    """Hold one of the app's export slots until the answer has been sent (streamed) in full."""
    slots: ExportSlots | None = getattr(request.app.state, "export_slots", None)
    if slots is None:
        slots = request.app.state.export_slots = ExportSlots(EXPORT_SLOTS)
    slots.take()
    try:
        yield
    finally:
        slots.give_back()


async def _export(request: Request, influx: InfluxQuery, settings: ApiSettings,
                  kind_name: str, form: Form, district: str | None, start: datetime | None,
                  end: datetime | None) -> tuple[ExportMetadata, AsyncIterator[bytes]]:
    """Check the range and its size in rows; return the metadata and the pieces, started.

    The first piece has been read, so a failing InfluxDB is an error answer, not a
    broken stream.
    """
    kind = get_kind(kind_name)
    now = datetime.now(UTC)
    # Widened to whole hours before the check: the limit holds for the range queried.
    start_ms, end_ms = resolve_range(start, end, now=now,
                                     max_range_s=settings.api_export_max_range_s,
                                     span=EXPORT_SPAN, align_ms=HOUR_MS)
    hours = (end_ms - start_ms) // HOUR_MS
    sensors = await export_sensors(influx, kind, district)
    if len(sensors) * hours > settings.api_export_max_rows:
        raise invalid("start", f"{len(sensors)} sensors over {hours} hours could make "
                               f"{len(sensors) * hours} rows, more than the allowed "
                               f"{settings.api_export_max_rows}: narrow the range or give "
                               "a district", None if start is None else start.isoformat())
    metadata = ExportMetadata(
        title=f"UrbanPulse hourly aggregates of {kind.name} sensors ({kind.description})",
        kind=kind.name, start=start_ms, end=end_ms, district=district,
        units={name: metric.unit for name, metric in kind.metrics.items()},
        licence=settings.api_export_licence,
        generated_at=now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        source=f"UrbanPulse api {__version__}, InfluxDB measurement "
               f"{hourly_measurement(kind)!r} (hourly rollups written by the ingester)")
    found = pieces(influx, request.app.state.export_pieces, kind, form, district=district,
                   sensors=len(sensors), start_ms=start_ms, end_ms=end_ms,
                   now_ms=int(now.timestamp() * 1000))
    first = await anext(found, b"")
    return metadata, _chain(first, found)


async def _chain(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Yield `first` (unless empty), then the rest."""
    if first:
        yield first
    async for piece in rest:
        yield piece


@router.get("/{kind}.json", summary="Open data: hourly aggregates as JSON",
            response_model=Export, responses=_JSON_RESPONSES,
            dependencies=[Depends(export_slot)])
async def export_json(*, request: Request, kind: ExportKindPath, influx: InfluxDep,
                      settings: SettingsDep, district: ExportDistrictQuery = None,
                      start: ExportStartQuery = None, end: ExportEndQuery = None
                      ) -> Response:
    """Return the mean, minimum and maximum of every metric per sensor and hour.

    The range is widened to whole hours, and the widened range may span at most
    `URBANPULSE_API_EXPORT_MAX_RANGE_S`; sensors times hours may be at most
    `URBANPULSE_API_EXPORT_MAX_ROWS` (else 422 on `start`). `metadata` names
    the units, the licence and the generation time. Rows come by hour, then
    district, then sensor. More exports at once than the server runs are
    refused with 429 and `Retry-After`.
    """
    metadata, found = await _export(request, influx, settings, kind, "json", district, start,
                                    end)
    return JsonStream(json_body(json_head(metadata), found))


@router.get("/{kind}.csv", summary="Open data: hourly aggregates as CSV",
            response_class=CsvStream, responses=_CSV_RESPONSES,
            dependencies=[Depends(export_slot)])
async def export_csv(*, request: Request, kind: ExportKindPath, influx: InfluxDep,
                     settings: SettingsDep, district: ExportDistrictQuery = None,
                     start: ExportStartQuery = None, end: ExportEndQuery = None) -> CsvStream:
    """Return the same aggregates as the JSON export, as CSV with a `# ` metadata block."""
    metadata, found = await _export(request, influx, settings, kind, "csv", district, start,
                                    end)
    name = f"urbanpulse-{kind}-{metadata.start // 1000}-{metadata.end // 1000}.csv"
    return CsvStream(_chain(csv_head(metadata), found),
                     headers={"Content-Disposition": f'attachment; filename="{name}"'})
