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

from typing import Final

from urbanpulse.lineprotocol import FieldValue
from urbanpulse.messages import Reading
from urbanpulse.standards import ZONES, local_hour, noise_limit
from urbanpulse.standards.air import realtime_aqi
from urbanpulse.standards.water import worst_class

ZONED: Final = frozenset({"noise"})
"""Kinds whose derived fields depend on the sensor's zone: only their readings need it."""
_WATER_ITEMS: Final = frozenset({"ph", "dissolved_oxygen", "codmn", "nh3_n", "tp"})
_ZONES: Final = frozenset(ZONES)
_BOOL: Final = {True: "true", False: "false"}
_NOTHING: Final[tuple[dict[str, FieldValue], str]] = ({}, "")


def derive(reading: Reading, zone: str | None) -> dict[str, FieldValue]:
    """Return the derived fields of one validated reading (empty for other kinds)."""
    return dict(derive_encoded(reading, zone)[0])


def derive_encoded(reading: Reading, zone: str | None) -> tuple[dict[str, FieldValue], str]:
    """Return the derived fields of one reading and the same fields as line protocol.

    The keys are fixed identifiers and the values integers, booleans, floats and
    comma-joined pollutant names: nothing to escape, so the text is written
    directly instead of through the generic, escaping field encoder. The text
    is empty when nothing is derived. The caller must not change the mapping.
    """
    kind = reading.kind
    values = reading.values
    try:
        if kind == "air":
            index, level, primary = realtime_aqi(values)
            if primary:
                names = ",".join(primary)
                return ({"aqi": index, "aqi_level": level, "primary_pollutant": names},
                        f'aqi={index}i,aqi_level={level}i,primary_pollutant="{names}"')
            return {"aqi": index, "aqi_level": level}, f"aqi={index}i,aqi_level={level}i"
        if kind == "water" and not _WATER_ITEMS.isdisjoint(values):
            found = worst_class(values)
            return {"water_class": found}, f"water_class={found}i"
        if kind == "noise" and zone is not None and zone in _ZONES and "laeq" in values:
            limit = noise_limit(zone, local_hour(reading.ts))
            exceeds = values["laeq"] > limit  # decode let no NaN through
            return ({"noise_limit_db": limit, "noise_exceeds_limit": exceeds},
                    f"noise_limit_db={limit!r},noise_exceeds_limit={_BOOL[exceeds]}")
    except ValueError:
        return _NOTHING
    return _NOTHING
