"""Manhole covers in the district summary: open or tilted covers, and flooded wells.

Every message of a cover sensor carries the cover's state (a change or the
daily heartbeat), so each sensor's newest message is its current state.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from urbanpulse.kinds.summaries import Current, Section, SummaryRequest, current_readings

FIELDS = ("tilt_deg", "cover_open", "water_level_cm")
TILTED_ABOVE_DEG = 10.0
FLOODED_AT_CM = 150.0


class ManholeSummary(BaseModel):
    """The district's covers with a current state."""

    model_config = ConfigDict(frozen=True)

    covers: int = Field(description="Cover sensors with a current state")
    open: list[str] = Field(description="Sensors whose cover is open or displaced")
    tilted: list[str] = Field(description="Sensors whose cover tilts more than 10°")
    flooded: list[str] = Field(description="Sensors with 150 cm of water or more under the cover")


def summarise(readings: Sequence[Current]) -> ManholeSummary:
    """Return the open, tilted and flooded covers among current readings."""

    def above(name: str, limit: float) -> list[str]:
        return [current.sensor.sensor for current in readings
                if (value := current.number(name)) is not None and value > limit]

    return ManholeSummary(covers=len(readings), open=above("cover_open", 0.5),
                          tilted=above("tilt_deg", TILTED_ABOVE_DEG),
                          flooded=above("water_level_cm", FLOODED_AT_CM - 1e-9))


async def build(request: SummaryRequest) -> ManholeSummary:
    """Return the manhole section from the current states of the district's covers."""
    return summarise(await current_readings(request.queries, request.kind, request.births,
                                            FIELDS, at_ms=request.at_ms))


SECTION = Section(ManholeSummary, build)
