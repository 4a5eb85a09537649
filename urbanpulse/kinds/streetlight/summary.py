"""Street lights in the district summary: lamps lit, faults, leakage, doors, tilt and power.

Counts come from each controller's current reading (its newest, if within
three reporting intervals): `lamp_fault` is derived by the ingester from the
lamp's state and the reading's local time against sunset and sunrise.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from urbanpulse.kinds.summaries import Current, Section, SummaryRequest, current_readings, derived

FIELDS = ("lamp_on", "power_w", "leakage_ma", "door_open", "tilt_deg", "lamp_fault")
LEAKAGE_MA = 30.0
TILT_DEG = 5.0
"""The thresholds of the kind's default rules `pole-cable-leakage` and `pole-tilted`."""


class StreetlightSummary(BaseModel):
    """The district's lamp controllers with a current reading."""

    model_config = ConfigDict(frozen=True)

    controllers: int = Field(description="Lamp controllers with a current reading")
    lit: int = Field(description="Lamps burning now")
    out_at_night: int = Field(description="Lamps dark at night (lamp_fault 1)")
    on_by_day: int = Field(description="Lamps burning by day (lamp_fault 2)")
    leakage_alarms: int = Field(description="Controllers with leakage current above 30 mA")
    doors_open: int = Field(description="Poles with their maintenance door open")
    tilted: int = Field(description="Poles leaning more than 5° from vertical")
    power_kw: float = Field(description="Sum of the controllers' active power, kW, to 4 places")


def _count(readings: Sequence[Current], name: str, test: float) -> int:
    return sum(1 for current in readings if (value := current.number(name)) is not None
               and value > test)


def _equal(readings: Sequence[Current], name: str, wanted: float) -> int:
    return sum(1 for current in readings if current.number(name) == wanted)


def summarise(readings: Sequence[Current]) -> StreetlightSummary:
    """Return the district's counts from its controllers' current readings."""
    power = sum(value for current in readings if (value := current.number("power_w")))
    return StreetlightSummary(
        controllers=len(readings), lit=_count(readings, "lamp_on", 0.5),
        out_at_night=_equal(readings, "lamp_fault", 1),
        on_by_day=_equal(readings, "lamp_fault", 2),
        leakage_alarms=_count(readings, "leakage_ma", LEAKAGE_MA),
        doors_open=_count(readings, "door_open", 0.5),
        tilted=_count(readings, "tilt_deg", TILT_DEG),
        power_kw=derived(power / 1000))


async def build(request: SummaryRequest) -> StreetlightSummary:
    """Return the street-light section from the current readings of the district's poles."""
    return summarise(await current_readings(request.queries, request.kind, request.births,
                                            FIELDS, at_ms=request.at_ms))


SECTION = Section(StreetlightSummary, build)
