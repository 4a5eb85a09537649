"""Supply pressure in the district summary: CJJ 58 compliance at the network ends.

CJJ 58 (as a supply-service standard cites it) asks for at least 0.14 MPa at the
network end, met by 97 % of the readings. Compliance here is the share of the
network-end points' readings of the last 24 hours (to the summary's
`history_at`) at or above 0.14 MPa; the points below it now are listed by name.

The 24 hours up to the end of the minute holding `history_at` are read per point (the
district's mix trunk mains and network ends): `count` and the kind's tally of
readings at or above the limit from the per-sensor hourly rollups where whole
hours are settled, the readings and those at or above the limit counted from the
raw points elsewhere (`history_spans`).
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean

from pydantic import BaseModel, ConfigDict, Field

from urbanpulse.influxql import Series
from urbanpulse.kinds.pressure import SERVICE_PRESSURE_MPA, SPEC
from urbanpulse.kinds.summaries import (
    DAY_MS,
    MINUTE_MS,
    Birth,
    Section,
    SummaryRequest,
    current_readings,
    derived,
    history_spans,
    history_statement,
    readings_count,
    tally_count,
)

LIMIT_MPA = SERVICE_PRESSURE_MPA
COUNTS = (readings_count("readings"), tally_count(SPEC, "pressure_service_count", "good"))
"""Readings, and readings at or above `LIMIT_MPA` (the kind's tally)."""
TARGET = 0.97
FIELDS = ("pressure_mpa",)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class PressureSummary(_Model):
    """The district's pressure points now, and the network ends' compliance over 24 hours."""

    points: int = Field(description="Points with a current reading")
    mean_pressure_mpa: float | None = Field(description="Mean current pressure, MPa; null: none")
    network_end_points: int = Field(description="Network-end points with a current reading")
    compliance: float | None = Field(
        description="Share of the network-end readings of the 24 h to `history_at` at or above "
                    "0.14 MPa, 0..1; null: none")
    compliance_target: float = Field(description="The CJJ 58 target share, 0.97")
    meets_target: bool | None = Field(description="Compliance at or above the target")
    below_limit_now: list[str] = Field(
        description="Network-end points whose current reading is below 0.14 MPa")


def is_network_end(sensor: Birth) -> bool:
    """Return whether the point's birth places it at a network end."""
    return sensor.attributes.get("position") == "network-end"


def compliance_statement(kind: str, district: str, at_ms: int) -> str:
    """Return the query of each point's readings and good readings in the 24 h to `at_ms`."""
    end = at_ms - at_ms % MINUTE_MS + MINUTE_MS
    return history_statement(kind, district, COUNTS,
                             history_spans(end - DAY_MS, end, at_ms=at_ms))


def compliance(ends: Sequence[Birth], counts: Sequence[Series]) -> float | None:
    """Return the share of the network ends' readings at or above the limit (None: none)."""
    names = {sensor.sensor for sensor in ends}
    rows = [row for one in counts if one.tags.get("sensor") in names for row in one.rows()]
    readings = sum(int(row["readings"] or 0) for row in rows)
    good = sum(int(row["good"] or 0) for row in rows)
    return derived(good / readings) if readings else None


async def build(request: SummaryRequest) -> PressureSummary:
    """Return the pressure section: current pressures and the last 24 hours' compliance."""
    readings = await current_readings(request.queries, request.kind, request.births, FIELDS,
                                      at_ms=request.at_ms)
    ends = [sensor for sensor in request.births if is_network_end(sensor)]
    share = None
    if ends:
        share = compliance(ends, await request.queries.query(
            compliance_statement(request.kind, request.district, request.history_at)))
    now = [(current, value) for current in readings
           if (value := current.number("pressure_mpa")) is not None]
    at_ends = [(current, value) for current, value in now if is_network_end(current.sensor)]
    return PressureSummary(
        points=len(now), mean_pressure_mpa=derived(fmean(v for _, v in now)) if now else None,
        network_end_points=len(at_ends), compliance=share, compliance_target=TARGET,
        meets_target=None if share is None else share >= TARGET,
        below_limit_now=[current.sensor.sensor for current, value in at_ends
                         if value < LIMIT_MPA])


SECTION = Section(PressureSummary, build)
