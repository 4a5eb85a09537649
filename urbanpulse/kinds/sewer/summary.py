"""Sewers in the district summary: how full the meters' pipes run, and which are surcharged."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from urbanpulse.kinds.summaries import Current, Section, SummaryRequest, current_readings, derived

FIELDS = ("level_m", "fill_ratio", "flow_m3s")
SURCHARGED_ABOVE = 1.0


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Surcharged(_Model):
    """A pipe running full, with its head above the crown."""

    sensor: str
    network: str = Field(description="storm, foul or combined")
    level_m: float
    fill_ratio: float


class SewerSummary(_Model):
    """The district's sewer meters with a current reading."""

    meters: int = Field(description="Meters with a current reading")
    mean_fill: float | None = Field(description="Mean fill ratio, to 4 places; null: none")
    total_flow_m3s: float = Field(description="Sum of the meters' flows, m³/s")
    surcharged: list[Surcharged] = Field(
        description="Pipes with a fill ratio above 1, fullest first")


def summarise(readings: Sequence[Current]) -> SewerSummary:
    """Return the sewer section from the meters' current readings."""
    fills = [(current, fill) for current in readings
             if (fill := current.number("fill_ratio")) is not None]
    surcharged = sorted(
        (Surcharged(sensor=current.sensor.sensor,
                    network=str(current.sensor.attributes.get("network", "")),
                    level_m=current.number("level_m") or 0.0, fill_ratio=fill)
         for current, fill in fills if fill > SURCHARGED_ABOVE),
        key=lambda pipe: (-pipe.fill_ratio, pipe.sensor))
    return SewerSummary(
        meters=len(fills),
        mean_fill=derived(sum(fill for _, fill in fills) / len(fills)) if fills else None,
        total_flow_m3s=derived(sum(current.number("flow_m3s") or 0.0 for current in readings)),
        surcharged=surcharged)


async def build(request: SummaryRequest) -> SewerSummary:
    """Return the sewer section of the district summary."""
    return summarise(await current_readings(request.queries, request.kind, request.births,
                                            FIELDS, at_ms=request.at_ms))


SECTION = Section(SewerSummary, build)
