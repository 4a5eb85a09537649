"""The street-light field the ingester derives: whether the lamp's state fits the hour.

`lamp_fault` is 0 (ok), 1 (out at night) or 2 (on by day), from `lamp_on` and
the reading's local time against Shanghai's sunrise and sunset of its date
(`daylight.py`). Compiled with mypyc: this runs for every street-light reading.
"""

from __future__ import annotations

from typing import Final

from urbanpulse.kinds.streetlight.daylight import lamp_fault, local_sun_hours
from urbanpulse.lineprotocol import FieldValue
from urbanpulse.messages import Reading

_NOTHING: Final[tuple[dict[str, FieldValue], str]] = ({}, "")


def derive_encoded(reading: Reading, zone: str | None) -> tuple[dict[str, FieldValue], str]:
    """Return `lamp_fault` of one reading, and as line protocol."""
    lamp = reading.values.get("lamp_on")
    if lamp is None:
        return _NOTHING
    hour, sunrise, sunset = local_sun_hours(reading.ts // 1000)
    fault = lamp_fault(lamp >= 0.5, hour, sunrise, sunset)
    return {"lamp_fault": fault}, f"lamp_fault={fault}i"
