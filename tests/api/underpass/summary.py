"""The test kind's summary section (gauges and the deepest water) and its `flooded` view."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from urbanpulse.kinds.summaries import Current, Section, SummaryRequest, View, current_readings

FIELDS = ("depth_cm",)


class UnderpassSummary(BaseModel):
    """Gauges with a current reading and the deepest water among them."""

    model_config = ConfigDict(frozen=True)

    gauges: int
    deepest_cm: float | None


class Underpass(BaseModel):
    """A flooded underpass."""

    model_config = ConfigDict(frozen=True)

    sensor: str
    depth_cm: float
    distance_m: float | None


async def build(request: SummaryRequest) -> UnderpassSummary:
    """Return the gauges with a current reading and the deepest water."""
    readings = await current_readings(request.queries, request.kind, request.births, FIELDS,
                                      at_ms=request.at_ms)
    depths = [depth for current in readings if (depth := current.number("depth_cm")) is not None]
    return UnderpassSummary(gauges=len(depths), deepest_cm=max(depths) if depths else None)


def to_underpass(current: Current, distance_m: float | None) -> Underpass | None:
    """Return the item of a gauge with water over the road (None: dry)."""
    depth = current.number("depth_cm")
    if not depth:
        return None
    return Underpass(sensor=current.sensor.sensor, depth_cm=depth, distance_m=distance_m)


SECTION = Section(UnderpassSummary, build)
VIEWS = {"flooded": View(
    item=Underpass, summary="Flooded underpasses", description="Underpasses under water.",
    fields=FIELDS, lists=lambda sensor: sensor.attributes.get("closes_at_cm") is not None,
    to_item=to_underpass, ranking=lambda item: (-item.depth_cm, item.sensor))}
