"""DMA inflow in the district summary: each area's inflow now and last night's minimum flow.

The minimum night flow (MNF) is what the meter's logger reports once a day after
04:00: the least inflow of the 02-04 h window, when demand is lowest and leakage
is most of the flow. `night_flow_ratio` puts it over the mean inflow of the day
before; above 0.5 the `dma-night-flow-high` rule fires.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from urbanpulse.influxql import Series, quote_identifier, tag_equals, time_from, where
from urbanpulse.kinds.summaries import (
    DAY_MS,
    HOUR_MS,
    Birth,
    Current,
    Section,
    SummaryRequest,
    current_readings,
    derived,
)

FIELDS = ("inflow_m3h",)
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
              nights: Sequence[Series]) -> DmaSummary:
    """Return each DMA of `births` with its current inflow and last night's flow."""
    now = {current.sensor.sensor: current.number("inflow_m3h") for current in readings}
    night = {one.tags.get("sensor", ""): row for one in nights for row in one.rows()}
    rows = [Dma(sensor=sensor.sensor, site=sensor.site, inflow_m3h=now.get(sensor.sensor),
                night_flow_m3h=night.get(sensor.sensor, {}).get("night_flow_m3h"),
                night_flow_ratio=night.get(sensor.sensor, {}).get("night_flow_ratio"))
            for sensor in births]
    return DmaSummary(
        dmas=rows, total_inflow_m3h=derived(sum(row.inflow_m3h or 0.0 for row in rows)),
        night_flow_high=sum(1 for row in rows if (row.night_flow_ratio or 0.0) > 0.5))


async def build(request: SummaryRequest) -> DmaSummary:
    """Return the DMA section from the current inflows and the newest night-flow reports."""
    if not request.births:  # no meter, no history to read
        return summarise([], [], [])
    readings = await current_readings(request.queries, request.kind, request.births, FIELDS,
                                      at_ms=request.at_ms)
    scope = where(tag_equals("district", request.district),
                  time_from(request.at_ms - NIGHT_LOOKBACK_MS), f"time <= {request.at_ms}ms",
                  '"night_flow_m3h" >= 0')
    nights = await request.queries.query(
        f'SELECT "night_flow_m3h", "night_flow_ratio" FROM {quote_identifier(request.kind)}'
        f'{scope} GROUP BY "sensor" ORDER BY time DESC LIMIT 1')
    return summarise(request.births, readings, nights)


SECTION = Section(DmaSummary, build)
