"""Fields the ingester derives from a reading with the national standards, stored beside it.

- air: `aqi`, `aqi_level` (HJ 633, real-time indicator) and `primary_pollutant`
  (comma-separated, absent when AQI ≤ 50);
- water: `water_class` (GB 3838, 1–5, 6 for worse than V) when the reading has
  the items we classify;
- noise: `noise_limit_db` and `noise_exceeds_limit` (GB 3096) for the monitor's
  zone and the local hour of the reading.

The sensor's zone comes from its birth; a reading of a sensor whose birth was
not seen yet gets no noise fields. Nothing here can refuse a reading: a value
a standard does not define is left underived.
"""

from __future__ import annotations

from collections.abc import Mapping

from urbanpulse.lineprotocol import FieldValue
from urbanpulse.messages import Reading
from urbanpulse.standards import ZONES, aqi, exceeds, local_hour, noise_limit, water_class

_WATER_ITEMS = frozenset({"ph", "dissolved_oxygen", "codmn", "nh3_n", "tp"})


def derive(reading: Reading, zone: str | None) -> Mapping[str, FieldValue]:
    """Return the derived fields of one validated reading (empty for other kinds)."""
    values = reading.values
    try:
        if reading.kind == "air":
            result = aqi(values)
            fields: dict[str, FieldValue] = {"aqi": result.aqi, "aqi_level": result.level}
            if result.primary:
                fields["primary_pollutant"] = ",".join(result.primary)
            return fields
        if reading.kind == "water" and _WATER_ITEMS & values.keys():
            return {"water_class": water_class(values).water_class}
        if reading.kind == "noise" and zone in ZONES and "laeq" in values:
            hour = local_hour(reading.ts)
            return {"noise_limit_db": noise_limit(zone, hour),
                    "noise_exceeds_limit": exceeds(values["laeq"], zone, hour)}
    except ValueError:
        return {}
    return {}
