"""The water field the ingester derives: the GB 3838 class of the reading.

Derived when the reading has at least one of the items we classify; 1–5 for
classes I–V, 6 for worse than V. Compiled with mypyc: this runs for every
water reading.
"""

from __future__ import annotations

from typing import Final

from urbanpulse.lineprotocol import FieldValue
from urbanpulse.messages import Reading
from urbanpulse.standards.water import worst_class

_ITEMS: Final = frozenset({"ph", "dissolved_oxygen", "codmn", "nh3_n", "tp"})
_NOTHING: Final[tuple[dict[str, FieldValue], str]] = ({}, "")


def derive_encoded(reading: Reading, zone: str | None) -> tuple[dict[str, FieldValue], str]:
    """Return the derived field of one water reading and the same field as line protocol."""
    values = reading.values
    if _ITEMS.isdisjoint(values):
        return _NOTHING
    try:
        found = worst_class(values)
    except ValueError:  # nothing GB 3838 defines: left underived
        return _NOTHING
    return {"water_class": found}, f"water_class={found}i"
