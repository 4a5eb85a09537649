"""GB 3096-2008 environmental noise limits by acoustic zone, day and night.

Limits are GB 3096-2008 Table 1 as recorded in
`/work/shared/reference/domain-facts.md` §5.1 (see `docs/standards.md`): LAeq
in dB(A), day (昼间) 06:00-22:00 and night (夜间) 22:00-06:00 local time. The
standard lets local governments move those hours; the platform uses the
national default.

GB 3096 limits apply to the LAeq over the day or night period. `exceeds`
compares whatever LAeq it is given (our monitors report one-minute values), so
on raw readings it is an indicator; a level equal to the limit meets it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

DAY_START_HOUR: Final = 6
NIGHT_START_HOUR: Final = 22

LIMITS: Final[Mapping[str, tuple[float, float]]] = MappingProxyType({
    "0": (50.0, 40.0),
    "1": (55.0, 45.0),
    "2": (60.0, 50.0),
    "3": (65.0, 55.0),
    "4a": (70.0, 55.0),
    "4b": (70.0, 60.0),
})
"""(day, night) LAeq limits in dB(A) per zone (声环境功能区)."""

ZONES: Final = tuple(LIMITS)

SHANGHAI_UTC_OFFSET_H: Final = 8
"""Asia/Shanghai is UTC+8 with no daylight saving time since 1992 (China last used
DST in 1986-1991), which covers every timestamp the platform handles."""

_MS_PER_HOUR: Final = 3_600_000


def _check_hour(hour_local: int) -> None:
    if not 0 <= hour_local <= 23:
        raise ValueError(f"A local hour is 0 to 23, not {hour_local!r}.")


def is_night(hour_local: int) -> bool:
    """Return whether an hour of the local day falls in the GB 3096 night (22:00-06:00)."""
    _check_hour(hour_local)
    return hour_local >= NIGHT_START_HOUR or hour_local < DAY_START_HOUR


def noise_limit(zone: str, hour_local: int) -> float:
    """Return the GB 3096 LAeq limit, dB(A), of `zone` at a local hour.

    Raises:
        ValueError: an unknown zone (named in the message) or an hour outside 0-23.
    """
    try:
        day, night = LIMITS[zone]
    except KeyError:
        raise ValueError(f"Unknown GB 3096 noise zone {zone!r}; "
                         f"known are {', '.join(ZONES)}.") from None
    return night if is_night(hour_local) else day


def exceeds(laeq: float, zone: str, hour_local: int) -> bool:
    """Return whether an LAeq is above the zone's limit at that local hour."""
    if math.isnan(laeq):
        raise ValueError("An LAeq of NaN cannot be compared with a limit.")
    return laeq > noise_limit(zone, hour_local)


def local_hour(epoch_ms: int) -> int:
    """Return the Asia/Shanghai (UTC+8) hour of day, 0-23, of an epoch-milliseconds time."""
    return (epoch_ms // _MS_PER_HOUR + SHANGHAI_UTC_OFFSET_H) % 24
