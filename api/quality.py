"""Air and water summaries of a district from its stations' current readings.

Air: as a city's AQI is computed from the mean concentrations of its stations,
each pollutant's concentration is averaged over the district's stations that
report it, and the AQI, level, colour and primary pollutants come from those
means through the same HJ 633 calculator the ingester uses.

Water: each station's newest GB 3838 class, as the ingester derived it,
against the target class its birth declares (`class_target`).
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean

from api.current import Current
from api.models import Sensor
from api.view_models import AirSummary, WaterStation, WaterSummary
from urbanpulse.standards import AQI_CATEGORIES, POLLUTANTS, aqi
from urbanpulse.standards.water import CLASS_LABELS

AIR_FIELDS = POLLUTANTS
WATER_FIELDS = ("water_class",)


def summarise_air(readings: Sequence[Current]) -> AirSummary:
    """Return the AQI of the mean concentrations of the current readings."""
    means = {}
    for pollutant in POLLUTANTS:
        values = [v for current in readings if (v := current.number(pollutant)) is not None]
        if values:
            means[pollutant] = fmean(values)
    if not means:
        return AirSummary(stations=0, aqi=None, level=None, category=None, colour=None,
                          colour_name=None, primary_pollutants=[])
    result = aqi(means)
    category = AQI_CATEGORIES[result.level - 1]
    stations = sum(1 for current in readings
                   if any(current.number(p) is not None for p in POLLUTANTS))
    return AirSummary(stations=stations, aqi=result.aqi, level=result.level,
                      category=result.category_en, colour=result.colour,
                      colour_name=category.colour_name, primary_pollutants=list(result.primary))


def _target(sensor: Sensor) -> int | None:
    value = sensor.attributes.get("class_target")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if 1 <= value <= 5 else None


def summarise_water(stations: Sequence[Sensor], readings: Sequence[Current]) -> WaterSummary:
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
