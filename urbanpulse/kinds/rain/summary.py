"""Rain in the district summary: how much fell, and which gauges are at rainstorm levels.

Levels are the CMA rainstorm signals (domain facts §10): 50 mm in 12 h, 6 h or
3 h, and 100 mm in 3 h.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from urbanpulse.kinds.summaries import Section, SummaryRequest, current_readings, derived

FIELDS = ("rain_1h", "rain_3h", "rain_6h", "rain_12h", "rain_24h", "intensity_mm_h")
RAINSTORM_MM, SEVERE_3H_MM = 50.0, 100.0


class RainSummary(BaseModel):
    """The district's gauges with a current reading, and their rain."""

    model_config = ConfigDict(frozen=True)

    gauges: int = Field(description="Gauges with a current reading")
    raining: int = Field(description="Gauges with rain in the last hour")
    max_rain_1h: float | None = Field(description="Most rain in the last hour, mm; null: none")
    max_rain_24h: float | None = Field(description="Most rain in the last 24 h, mm; null: none")
    mean_rain_24h: float | None = Field(description="Mean rain of the last 24 h, mm; null: none")
    max_intensity_mm_h: float | None = Field(description="Highest current rain rate, mm/h")
    rainstorm: int = Field(
        description="Gauges at a rainstorm level: ≥ 50 mm in 3 h, 6 h or 12 h")
    severe: int = Field(description="Gauges with ≥ 100 mm in 3 h")


def _most(values: list[float]) -> float | None:
    return derived(max(values)) if values else None


async def build(request: SummaryRequest) -> RainSummary:
    """Summarise the current rolling totals of the district's gauges."""
    readings = await current_readings(request.queries, request.kind, request.births, FIELDS,
                                      at_ms=request.at_ms)
    rows = [{name: current.number(name) for name in FIELDS} for current in readings]
    rows = [row for row in rows if row["rain_24h"] is not None]
    day = [row["rain_24h"] or 0.0 for row in rows]
    storm = [row for row in rows
             if max(row[name] or 0.0 for name in ("rain_3h", "rain_6h", "rain_12h"))
             >= RAINSTORM_MM]
    return RainSummary(
        gauges=len(rows), raining=sum(1 for row in rows if (row["rain_1h"] or 0.0) > 0),
        max_rain_1h=_most([row["rain_1h"] or 0.0 for row in rows]),
        max_rain_24h=_most(day), mean_rain_24h=derived(sum(day) / len(day)) if day else None,
        max_intensity_mm_h=_most([row["intensity_mm_h"] or 0.0 for row in rows]),
        rainstorm=len(storm),
        severe=sum(1 for row in rows if (row["rain_3h"] or 0.0) >= SEVERE_3H_MM))


SECTION = Section(RainSummary, build)
