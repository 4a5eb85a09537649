"""Combustible gas in the district summary: the detectors in warning or alarm now."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from urbanpulse.kinds.summaries import Section, SummaryRequest, current_readings, derived

WARNING_LEL = 20.0
ALARM_LEL = 25.0


class GasSummary(BaseModel):
    """The district's gas detectors with a current reading."""

    model_config = ConfigDict(frozen=True)

    detectors: int = Field(description="Detectors with a current reading")
    max_lel: float | None = Field(description="Highest current methane, % LEL; null: none")
    warning: list[str] = Field(description="Detectors at 20 % LEL or more (gas-warning)")
    alarm: list[str] = Field(description="Detectors at 25 % LEL or more (gas-alarm)")


async def build(request: SummaryRequest) -> GasSummary:
    """Return the gas section from the current readings of the district's detectors."""
    readings = await current_readings(request.queries, request.kind, request.births,
                                      ("ch4_lel",), at_ms=request.at_ms)
    levels = [(current.sensor.sensor, lel) for current in readings
              if (lel := current.number("ch4_lel")) is not None]
    return GasSummary(
        detectors=len(levels),
        max_lel=derived(max(lel for _, lel in levels)) if levels else None,
        warning=[sensor for sensor, lel in levels if lel >= WARNING_LEL],
        alarm=[sensor for sensor, lel in levels if lel >= ALARM_LEL])


SECTION = Section(GasSummary, build)
