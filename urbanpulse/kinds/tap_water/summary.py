"""Tap water in the district summary: the points below the chlorine or above the turbidity limit.

GB 5749-2022 asks for at least 0.05 mg/L of free chlorine at the network end and
at most 1 NTU of turbidity.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from urbanpulse.kinds.summaries import Section, SummaryRequest, current_readings, derived

CHLORINE_MIN_MGL = 0.05
TURBIDITY_MAX_NTU = 1.0
FIELDS = ("chlorine_mgl", "turbidity_ntu")


class TapWaterSummary(BaseModel):
    """The district's tap-water points now against the GB 5749-2022 limits."""

    model_config = ConfigDict(frozen=True)

    points: int = Field(description="Points with a current reading")
    min_chlorine_mgl: float | None = Field(description="Lowest current chlorine; null: none")
    max_turbidity_ntu: float | None = Field(description="Highest current turbidity; null: none")
    below_chlorine_limit: list[str] = Field(description="Points below 0.05 mg/L now")
    above_turbidity_limit: list[str] = Field(description="Points above 1 NTU now")


async def build(request: SummaryRequest) -> TapWaterSummary:
    """Return the tap-water section from the points' current readings."""
    readings = await current_readings(request.queries, request.kind, request.births, FIELDS,
                                      at_ms=request.at_ms)
    chlorine = {c.sensor.sensor: v for c in readings if (v := c.number("chlorine_mgl"))
                is not None}
    turbidity = {c.sensor.sensor: v for c in readings if (v := c.number("turbidity_ntu"))
                 is not None}
    return TapWaterSummary(
        points=len(readings),
        min_chlorine_mgl=derived(min(chlorine.values())) if chlorine else None,
        max_turbidity_ntu=derived(max(turbidity.values())) if turbidity else None,
        below_chlorine_limit=[s for s, v in chlorine.items() if v < CHLORINE_MIN_MGL],
        above_turbidity_limit=[s for s, v in turbidity.items() if v > TURBIDITY_MAX_NTU])


SECTION = Section(TapWaterSummary, build)
