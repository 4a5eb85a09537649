"""The noise fields the ingester derives: the GB 3096 limit at the reading's hour, LAeq against
it, and LAeq as sound energy.

The limit depends on the monitor's acoustic zone, from its birth (the kind is
`zoned`): a reading of a monitor whose birth was not seen yet, or whose zone
GB 3096 does not know, gets no fields. Compiled with mypyc: this runs for
every noise reading.

The two numbers beside the limit are what district rollups need, since a limit
differs monitor by monitor and decibels do not average: `noise_over_limit_db`
(LAeq minus the limit), whose district maximum is the worst excess, and
`laeq_energy` (10^(LAeq/10)), whose district mean, back as 10·log10, is the
energy-average level of the district's readings.
"""

from __future__ import annotations

from typing import Final

from urbanpulse.lineprotocol import FieldValue
from urbanpulse.messages import Reading
from urbanpulse.standards import ZONES, local_hour, noise_limit

_ZONES: Final = frozenset(ZONES)
_BOOL: Final = {True: "true", False: "false"}
_NOTHING: Final[tuple[dict[str, FieldValue], str]] = ({}, "")


def derive_encoded(reading: Reading, zone: str | None) -> tuple[dict[str, FieldValue], str]:
    """Return the derived fields of one noise reading and the same fields as line protocol."""
    values = reading.values
    if zone is None or zone not in _ZONES or "laeq" not in values:
        return _NOTHING
    try:
        limit = noise_limit(zone, local_hour(reading.ts))
    except ValueError:
        return _NOTHING
    laeq = values["laeq"]
    exceeds = laeq > limit  # decode let no NaN through
    over = laeq - limit
    energy = 10.0 ** (laeq / 10.0)
    return ({"noise_limit_db": limit, "noise_exceeds_limit": exceeds,
             "noise_over_limit_db": over, "laeq_energy": energy},
            f"noise_limit_db={limit!r},noise_exceeds_limit={_BOOL[exceeds]},"
            f"noise_over_limit_db={over!r},laeq_energy={energy!r}")
