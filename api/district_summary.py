"""A district's summary at one time: parking, air, water, energy, noise and active alerts.

The sensors of the district are its births; every kind's current readings,
today's energy draw, the noise counts and the active alerts are fetched at
once, then summarised by the module that knows the kind.
"""

from __future__ import annotations

import asyncio

from api.alert_store import AlertStore
from api.current import current_readings, local_day_start
from api.energy_today import building_draws, summarise_energy
from api.influx import InfluxQuery
from api.models import Sensor
from api.noise_periods import period_counts, summarise_noise
from api.parking_state import PARKING_FIELDS, is_bay
from api.parking_state import summarise as summarise_parking
from api.quality import AIR_FIELDS, WATER_FIELDS, summarise_air, summarise_water
from api.store import SensorStore
from api.view_models import AlertCounts, DistrictSummary


def _of_kind(births: list[Sensor], kind: str) -> list[Sensor]:
    return [sensor for sensor in births if sensor.kind == kind]


async def summarise_district(influx: InfluxQuery, district: str, *, at_ms: int
                             ) -> DistrictSummary | None:
    """Return the summary of `district` at `at_ms`, or None when no sensor was ever born in it.

    The sensors are those born at or before `at_ms`, each as its newest birth then.
    """
    store = SensorStore(influx)
    births = await store.births(district=district, until_ms=at_ms)
    if not births and not await store.has_district(district):
        return None
    parking = _of_kind(births, "parking")
    # Lots and bays apart: a bay's day-long heartbeat would stretch the lots' query window.
    readings = asyncio.gather(
        current_readings(influx, "parking", [s for s in parking if not is_bay(s)],
                         PARKING_FIELDS, at_ms=at_ms),
        current_readings(influx, "parking", [s for s in parking if is_bay(s)],
                         PARKING_FIELDS, at_ms=at_ms),
        current_readings(influx, "air", _of_kind(births, "air"), AIR_FIELDS, at_ms=at_ms),
        current_readings(influx, "water", _of_kind(births, "water"), WATER_FIELDS,
                         at_ms=at_ms))
    (lots, bays, air, water), draws, noise, alerts = await asyncio.gather(
        readings,
        building_draws(influx, district, at_ms=at_ms),
        period_counts(influx, district, at_ms=at_ms),
        AlertStore(influx).active(district=district, end_ms=at_ms),
    )
    by_severity = {severity: sum(1 for alert in alerts if alert.severity == severity)
                   for severity in ("info", "low", "medium", "high", "critical")}
    return DistrictSummary(
        district=district, at=at_ms, day_start=local_day_start(at_ms),
        parking=summarise_parking([*lots, *bays]), air=summarise_air(air),
        water=summarise_water(_of_kind(births, "water"), water),
        energy=summarise_energy(_of_kind(births, "energy"), draws),
        noise=summarise_noise(_of_kind(births, "noise"), noise),
        alerts=AlertCounts(total=len(alerts), **by_severity),
    )
