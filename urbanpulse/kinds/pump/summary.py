"""Pump stations in the district summary: which discharge to the river (放江) now."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from urbanpulse.kinds.summaries import Current, Section, SummaryRequest, current_readings, derived

FIELDS = ("forebay_level_m", "pumps_running", "discharge_m3s", "river_discharge")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Discharging(_Model):
    """A station discharging to the river now."""

    sensor: str
    pumps_running: int
    discharge_m3s: float
    forebay_level_m: float


class PumpSummary(_Model):
    """The district's pump stations with a current reading."""

    stations: int = Field(description="Stations with a current reading")
    pumps_running: int = Field(description="Main pumps running over those stations")
    discharge_m3s: float = Field(description="Flow those pumps lift, m³/s")
    discharging: list[Discharging] = Field(
        description="Stations discharging to the river (放江), largest flow first")


def summarise(readings: Sequence[Current]) -> PumpSummary:
    """Return the pump section from the stations' current readings."""
    stations = [current for current in readings
                if current.number("forebay_level_m") is not None]
    discharging = sorted(
        (Discharging(sensor=current.sensor.sensor,
                     pumps_running=int(current.number("pumps_running") or 0),
                     discharge_m3s=current.number("discharge_m3s") or 0.0,
                     forebay_level_m=current.number("forebay_level_m") or 0.0)
         for current in stations if (current.number("river_discharge") or 0.0) >= 0.5),
        key=lambda station: (-station.discharge_m3s, station.sensor))
    return PumpSummary(
        stations=len(stations),
        pumps_running=sum(int(current.number("pumps_running") or 0) for current in stations),
        discharge_m3s=derived(sum(current.number("discharge_m3s") or 0.0
                                  for current in stations)),
        discharging=discharging)


async def build(request: SummaryRequest) -> PumpSummary:
    """Return the pump section of the district summary."""
    return summarise(await current_readings(request.queries, request.kind, request.births,
                                            FIELDS, at_ms=request.at_ms))


SECTION = Section(PumpSummary, build)
