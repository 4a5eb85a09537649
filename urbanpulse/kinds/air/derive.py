"""The air fields the ingester derives: HJ 633 real-time AQI, its level and primary pollutants.

`primary_pollutant` lists the pollutants whose IAQI equals the AQI,
comma-separated, and is absent when AQI ≤ 50. Compiled with mypyc: this runs
for every air reading.
"""

from __future__ import annotations

from typing import Final

from urbanpulse.lineprotocol import FieldValue
from urbanpulse.messages import Reading
from urbanpulse.standards.air import realtime_aqi

_NOTHING: Final[tuple[dict[str, FieldValue], str]] = ({}, "")


def derive_encoded(reading: Reading, zone: str | None) -> tuple[dict[str, FieldValue], str]:
    """Return the derived fields of one air reading and the same fields as line protocol.

    The keys are fixed identifiers and the values integers and comma-joined
    pollutant names: nothing to escape, so the text is written directly. The
    caller must not change the mapping.
    """
    try:
        index, level, primary = realtime_aqi(reading.values)
    except ValueError:  # nothing HJ 633 defines: left underived
        return _NOTHING
    if primary:
        names = ",".join(primary)
        return ({"aqi": index, "aqi_level": level, "primary_pollutant": names},
                f'aqi={index}i,aqi_level={level}i,primary_pollutant="{names}"')
    return {"aqi": index, "aqi_level": level}, f"aqi={index}i,aqi_level={level}i"
