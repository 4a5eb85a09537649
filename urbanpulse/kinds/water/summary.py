"""Water in the district summary: each station's GB 3838 class against its target.

The class is the newest one the ingester derived (`water_class`); the target is
the class the station's birth declares (`class_target`).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from urbanpulse.kinds.summaries import Birth, Current, Section, SummaryRequest, current_readings
from urbanpulse.standards.water import CLASS_LABELS

FIELDS = ("water_class",)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class WaterStation(_Model):
    """A water station's newest GB 3838 class against its target class."""

    sensor: str
    site: str
    water_class: int | None = Field(description="1..5 (I..V), 6 for worse than V; null: none")
    label: str | None = Field(description="The class as GB 3838 writes it", examples=["III"])
    target_class: int | None = Field(description="The class the site must meet (from its birth)")
    meets_target: bool | None = Field(description="Class at or better than the target")
    ts: int | None = Field(description="Time of the reading the class comes from, epoch ms")


class WaterSummary(_Model):
    """Every water station of the district, with how many meet their target."""

    stations: list[WaterStation]
    meeting_target: int = Field(description="Stations whose current class is at or better "
                                            "than their target")
    worse_than_target: int = Field(
        description="Stations whose current class is worse than their target; stations "
                    "without a current class or a target are in neither count")


def _target(sensor: Birth) -> int | None:
    value = sensor.attributes.get("class_target")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if 1 <= value <= 5 else None


def summarise(stations: Sequence[Birth], readings: Sequence[Current]) -> WaterSummary:
    """Return every station of `stations` with its current class (if any) and its target."""
    by_sensor = {current.sensor.sensor: current for current in readings}
    rows = []
    for sensor in stations:
        current = by_sensor.get(sensor.sensor)
        number = None if current is None else current.number("water_class")
        water_class = None if number is None or int(number) not in CLASS_LABELS else int(number)
        target = _target(sensor)
        rows.append(WaterStation(
            sensor=sensor.sensor, site=sensor.site, water_class=water_class,
            label=None if water_class is None else CLASS_LABELS[water_class],
            target_class=target,
            meets_target=None if water_class is None or target is None
            else water_class <= target,
            ts=None if water_class is None or current is None else current.ts))
    return WaterSummary(stations=rows,
                        meeting_target=sum(1 for row in rows if row.meets_target is True),
                        worse_than_target=sum(1 for row in rows if row.meets_target is False))


async def build(request: SummaryRequest) -> WaterSummary:
    """Return the water section: every station of the district with its current class."""
    readings = await current_readings(request.queries, request.kind, request.births, FIELDS,
                                      at_ms=request.at_ms)
    return summarise(request.births, readings)


SECTION = Section(WaterSummary, build)
