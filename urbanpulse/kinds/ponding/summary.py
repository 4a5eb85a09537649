"""Ponding in the district summary, and the flood view: gauges by depth and stage.

A gauge's stage follows Shanghai's underpass practice (domain facts §10):
1 from 5 cm (notify), 2 from 15 cm (report to the flood HQ), 3 from 25 cm
(close). The summary counts the open flood points (stage 1 or more) and the
closed underpasses (stage 3); the view lists every gauge with its depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from urbanpulse.kinds.ponding import SPEC
from urbanpulse.kinds.ponding.derive import stage
from urbanpulse.kinds.summaries import Current, Section, SummaryRequest, View, current_readings

FIELDS = ("depth_cm",)
SiteType = Literal["underpass", "low-road"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class FloodPoint(_Model):
    """A gauge's current depth and response stage."""

    sensor: str = Field(examples=[f"{SPEC.name}-pudong-0003"])
    district: str
    site: str
    site_type: str = Field(description="underpass or low-road")
    lat: float
    lon: float
    depth_cm: float
    stage: int = Field(description="0 dry (<5 cm), 1 notify, 2 report (>=15), 3 closed (>=25)")
    ts: int = Field(description="Time of the gauge's newest reading, epoch ms")
    distance_m: float | None = Field(
        description="Great-circle distance from `near`, metres to 4 places; null without `near`")


class PondingSummary(_Model):
    """The district's ponding gauges and the flood points open now."""

    gauges: int = Field(description="Gauges with a current reading")
    max_depth_cm: float | None = Field(description="Deepest current reading, cm; null: none")
    open_flood_points: list[FloodPoint] = Field(
        description="Gauges at stage 1 or more (5 cm and deeper), deepest first")
    closed_underpasses: list[str] = Field(
        description="Sensors of underpasses at stage 3 (25 cm and deeper)")


def to_point(current: Current, distance_m: float | None) -> FloodPoint | None:
    """Return the flood-view entry of a gauge's current reading (None: no depth)."""
    depth = current.number("depth_cm")
    if depth is None:
        return None
    sensor = current.sensor
    return FloodPoint(sensor=sensor.sensor, district=sensor.district, site=sensor.site,
                      site_type=str(sensor.attributes.get("site_type", "")), lat=sensor.lat,
                      lon=sensor.lon, depth_cm=depth, stage=stage(depth), ts=current.ts,
                      distance_m=distance_m)


def summarise(readings: Sequence[Current]) -> PondingSummary:
    """Return the ponding section from the gauges' current readings."""
    points = [point for current in readings if (point := to_point(current, None)) is not None]
    flooded = sorted((p for p in points if p.stage >= 1), key=lambda p: (-p.depth_cm, p.sensor))
    return PondingSummary(
        gauges=len(points), max_depth_cm=max((p.depth_cm for p in points), default=None),
        open_flood_points=flooded,
        closed_underpasses=[p.sensor for p in flooded
                            if p.stage == 3 and p.site_type == "underpass"])


async def build(request: SummaryRequest) -> PondingSummary:
    """Return the ponding section of the district summary."""
    return summarise(await current_readings(request.queries, request.kind, request.births,
                                            FIELDS, at_ms=request.at_ms))


SECTION = Section(PondingSummary, build)
VIEWS = {
    "flood": View(
        item=FloodPoint, summary="Flood points: underpasses and low roads by water depth",
        description=(
            "List ponding gauges at underpasses and low roads with their water depth and "
            "response stage (0 dry under 5 cm, 1 notify from 5 cm, 2 report to the flood HQ "
            "from 15 cm, 3 closed from 25 cm; Shanghai underpass practice).\n\n"
            "Give `district`, `near` (lat,lon) or both. With `near`, gauges within "
            "`radius_m` come nearest first, each with its distance; with `district` only, "
            "the deepest come first. Gauges without a current reading (none in three "
            "reporting intervals) or born after `at` are left out. A `district` where no "
            "sensor was ever born is a 404, as for the summary. `total` counts every "
            "matching gauge; there is no offset."),
        fields=FIELDS, lists=lambda sensor: True, to_item=to_point,
        ranking=lambda point: (-point.depth_cm, point.sensor),
        keeps=lambda current: current.number("depth_cm") is not None),
}
"""The views of this kind, served at `/v1/ponding/{name}`."""
