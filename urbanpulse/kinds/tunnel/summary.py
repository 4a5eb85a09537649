"""Utility tunnels in the district summary: the compartments outside any limit now."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from urbanpulse.kinds.summaries import Section, SummaryRequest, current_readings

LIMITS: Mapping[str, tuple[float | None, float | None]] = {
    "temperature": (None, 40.0), "o2_pct": (19.5, 23.5), "ch4_lel": (None, 20.0),
    "h2s_mgm3": (None, 10.0), "sump_water_cm": (None, 80.0)}
"""Each metric's (low, high) limit, as the default rules set them."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Breach(_Model):
    """A compartment outside a limit."""

    sensor: str
    breaches: list[str] = Field(description="The metrics outside their limits")


class TunnelSummary(_Model):
    """The district's tunnel compartments with a current reading."""

    compartments: int = Field(description="Compartment monitors with a current reading")
    outside_limits: list[Breach] = Field(description="Compartments outside any limit")


def outside(values: Mapping[str, float | None]) -> list[str]:
    """Return the metrics of `values` outside their limits, in `LIMITS` order."""
    found = []
    for name, (low, high) in LIMITS.items():
        value = values.get(name)
        if value is not None and ((low is not None and value < low)
                                  or (high is not None and value > high)):
            found.append(name)
    return found


async def build(request: SummaryRequest) -> TunnelSummary:
    """Return the tunnel section from the current readings of the district's compartments."""
    readings = await current_readings(request.queries, request.kind, request.births,
                                      tuple(LIMITS), at_ms=request.at_ms)
    breaches = [Breach(sensor=current.sensor.sensor, breaches=names) for current in readings
                if (names := outside({name: current.number(name) for name in LIMITS}))]
    return TunnelSummary(compartments=len(readings), outside_limits=breaches)


SECTION = Section(TunnelSummary, build)
