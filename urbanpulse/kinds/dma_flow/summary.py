"""DMA inflow in the district summary: each area's inflow now and last night's minimum flow.

The minimum night flow (MNF) is what the meter's logger reports once a day after
04:00: the least inflow of the 02-04 h window, when demand is lowest and leakage
is most of the flow. `night_flow_ratio` puts it over the mean inflow of the day
before; above 0.5 the `dma-night-flow-high` rule fires. The meter carries both
with every reading until the next night's, so last night's flow is that of the
newest reading: the one held in memory when the api holds the latest readings,
else the newest raw point of the last 30 hours that has one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from urbanpulse.influxql import quote_identifier, tag_equals, time_from, where
from urbanpulse.kinds.summaries import (
    DAY_MS,
    HOUR_MS,
    Birth,
    Current,
    Section,
    SummaryRequest,
    current_readings,
    derived,
    holds_latest,
)

FIELDS = ("inflow_m3h",)
NIGHT_FIELDS = ("night_flow_m3h", "night_flow_ratio")
NIGHT_LOOKBACK_MS = DAY_MS + 6 * HOUR_MS
"""Last night's report is at most 30 h old (reported after 04:00)."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Dma(_Model):
    """One DMA's inflow now and its last minimum night flow."""

    sensor: str
    site: str
    inflow_m3h: float | None = Field(description="Current inflow, m³/h; null: none")
    night_flow_m3h: float | None = Field(description="Last night's MNF, m³/h; null: none")
    night_flow_ratio: float | None = Field(
        description="Last night's MNF over the mean inflow of the day before; null: none")


class DmaSummary(_Model):
    """The district's DMAs, their total inflow now and their last night flows."""

    dmas: list[Dma]
    total_inflow_m3h: float = Field(description="Sum of the current inflows, m³/h")
    night_flow_high: int = Field(description="DMAs whose last MNF ratio is above 0.5")


def summarise(births: Sequence[Birth], readings: Sequence[Current],
              night: Mapping[str, Mapping[str, Any]]) -> DmaSummary:
    """Return each DMA of `births` with its current inflow and last night's flow (`night`:
    the newest reading with one, by sensor)."""
    now = {current.sensor.sensor: current.number("inflow_m3h") for current in readings}
    rows = [Dma(sensor=sensor.sensor, site=sensor.site, inflow_m3h=now.get(sensor.sensor),
                night_flow_m3h=night.get(sensor.sensor, {}).get("night_flow_m3h"),
                night_flow_ratio=night.get(sensor.sensor, {}).get("night_flow_ratio"))
            for sensor in births]
    return DmaSummary(
        dmas=rows, total_inflow_m3h=derived(sum(row.inflow_m3h or 0.0 for row in rows)),
        night_flow_high=sum(1 for row in rows if (row.night_flow_ratio or 0.0) > 0.5))


async def last_nights(request: SummaryRequest) -> dict[str, Mapping[str, Any]]:
    """Return, by sensor, the newest reading of the last 30 hours with a night flow."""
    at_ms, queries = request.at_ms, request.queries
    if holds_latest(queries):
        held = {sensor.sensor: queries.newest(sensor.sensor) for sensor in request.births}
        return {sensor: row for sensor, row in held.items() if row is not None
                and at_ms - NIGHT_LOOKBACK_MS <= row["time"] <= at_ms
                and row.get("night_flow_m3h") is not None}
    scope = where(tag_equals("district", request.district),
                  time_from(at_ms - NIGHT_LOOKBACK_MS), f"time <= {at_ms}ms",
                  '"night_flow_m3h" >= 0')
    nights = await queries.query(
        f"SELECT {', '.join(map(quote_identifier, NIGHT_FIELDS))} FROM "
        f'{quote_identifier(request.kind)}{scope} GROUP BY "sensor" ORDER BY time DESC LIMIT 1')
    return {one.tags.get("sensor", ""): row for one in nights for row in one.rows()}


async def build(request: SummaryRequest) -> DmaSummary:
    """Return the DMA section from the current inflows and the newest night-flow reports."""
    if not request.births:  # no meter, no history to read
        return summarise([], [], {})
    readings = await current_readings(request.queries, request.kind, request.births, FIELDS,
                                      at_ms=request.at_ms)
    return summarise(request.births, readings, await last_nights(request))


SECTION = Section(DmaSummary, build)
