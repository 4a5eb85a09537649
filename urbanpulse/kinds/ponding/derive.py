"""The response stage of a ponding reading (Shanghai underpass practice, domain facts §10).

0 dry or under 5 cm; 1 from 5 cm (notify the maintainer); 2 from 15 cm (report
to the city flood HQ); 3 from 25 cm (red sign, close the underpass). Compiled
with mypyc: this runs for every ponding reading.
"""

from __future__ import annotations

from typing import Final

from urbanpulse.lineprotocol import FieldValue
from urbanpulse.messages import Reading

NOTIFY_CM: Final = 5.0
REPORT_CM: Final = 15.0
CLOSE_CM: Final = 25.0
_NOTHING: Final[tuple[dict[str, FieldValue], str]] = ({}, "")


def stage(depth_cm: float) -> int:
    """Return the response stage, 0-3, of a water depth in cm."""
    if depth_cm >= CLOSE_CM:
        return 3
    if depth_cm >= REPORT_CM:
        return 2
    return 1 if depth_cm >= NOTIFY_CM else 0


def derive_encoded(reading: Reading, zone: str | None) -> tuple[dict[str, FieldValue], str]:
    """Return `stage` of one ponding reading, and as line protocol."""
    depth = reading.values.get("depth_cm")
    if depth is None:
        return _NOTHING
    level = stage(depth)
    return {"stage": level}, f"stage={level}i"
