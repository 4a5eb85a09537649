"""Air in the district summary: the AQI of the stations' mean concentrations.

As a city's AQI is computed from the mean concentrations of its stations, each
pollutant's concentration is averaged over the district's stations that report
it, and the AQI, level, colour and primary pollutants come from those means
through the same HJ 633 calculator the ingester uses. PM is each station's
calibrated value (`pm25_cal`, `pm10_cal`: a low-cost station's corrected
against the reference stations, `calibration.py`), or its reading where a
point predates calibration.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean

from pydantic import BaseModel, ConfigDict, Field

from urbanpulse.kinds.air.calibration import CALIBRATION
from urbanpulse.kinds.summaries import Current, Section, SummaryRequest, current_readings
from urbanpulse.standards import AQI_CATEGORIES, POLLUTANTS, aqi

FIELDS = (*POLLUTANTS, *CALIBRATION.corrected.values())


def concentration(current: Current, pollutant: str) -> float | None:
    """Return a station's current concentration of `pollutant`: calibrated where it is."""
    calibrated = CALIBRATION.corrected.get(pollutant)
    value = current.number(calibrated) if calibrated is not None else None
    return value if value is not None else current.number(pollutant)


class AirSummary(BaseModel):
    """The district's current AQI (HJ 633) from the mean of its stations' readings."""

    model_config = ConfigDict(frozen=True)

    stations: int = Field(description="Stations with a current reading")
    aqi: int | None = Field(description="AQI; null when no station reports")
    level: int | None = Field(description="HJ 633 level 1 (excellent) to 6 (severe)")
    category: str | None = Field(description="Category name", examples=["Good"])
    colour: str | None = Field(description="Category colour, #RRGGBB", examples=["#FFFF00"])
    colour_name: str | None = Field(description="Category colour name", examples=["yellow"])
    primary_pollutants: list[str] = Field(
        description="Pollutants whose IAQI equals the AQI; empty when AQI <= 50")


def summarise(readings: Sequence[Current]) -> AirSummary:
    """Return the AQI of the mean concentrations of the current readings."""
    means = {}
    for pollutant in POLLUTANTS:
        values = [v for current in readings if (v := concentration(current, pollutant))
                  is not None]
        if values:
            means[pollutant] = fmean(values)
    if not means:
        return AirSummary(stations=0, aqi=None, level=None, category=None, colour=None,
                          colour_name=None, primary_pollutants=[])
    result = aqi(means)
    category = AQI_CATEGORIES[result.level - 1]
    stations = sum(1 for current in readings
                   if any(concentration(current, p) is not None for p in POLLUTANTS))
    return AirSummary(stations=stations, aqi=result.aqi, level=result.level,
                      category=result.category_en, colour=result.colour,
                      colour_name=category.colour_name, primary_pollutants=list(result.primary))


async def build(request: SummaryRequest) -> AirSummary:
    """Return the air section from the current readings of the district's stations."""
    return summarise(await current_readings(request.queries, request.kind, request.births,
                                            FIELDS, at_ms=request.at_ms))


SECTION = Section(AirSummary, build)
