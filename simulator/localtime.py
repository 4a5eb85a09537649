"""Local civil time in Shanghai and the periodic shapes the models are driven by.

Models receive simulated time as epoch seconds and turn it into local hour,
weekday and day of year here. China Standard Time is UTC+8 all year (no DST).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
from numpy.typing import NDArray

CST = timezone(timedelta(hours=8), "CST")
"""China Standard Time."""

DAY_S = 86_400
YEAR_DAYS = 365.25


@dataclass(frozen=True, slots=True)
class LocalTime:
    """Simulated time as the city's clocks show it."""

    hour: float
    """Hour of the day with fraction, 0 <= hour < 24."""
    weekday: int
    """0 is Monday, 6 is Sunday."""
    day_of_year: int
    """1 is the 1st of January."""

    @property
    def is_weekend(self) -> bool:
        """Return whether the day is a Saturday or a Sunday."""
        return self.weekday >= 5


@functools.lru_cache(maxsize=16)
def local_time(t: int) -> LocalTime:
    """Return the Shanghai local time of epoch second `t`."""
    moment = datetime.fromtimestamp(t, CST)
    hour = moment.hour + moment.minute / 60 + moment.second / 3600
    return LocalTime(hour=hour, weekday=moment.weekday(), day_of_year=moment.timetuple().tm_yday)


def hourly(profile: NDArray[np.float64], hour: float) -> NDArray[np.float64]:
    """Interpolate 24 hourly values (last axis, value of hour h taken at h:30) at `hour`.

    The profile is cyclic, so 23:45 lies between the 23:00 and the 00:00 values.
    """
    position = (hour - 0.5) % 24
    low = int(position)
    weight = position - low
    result: NDArray[np.float64] = (profile[..., low] * (1 - weight)
                                   + profile[..., (low + 1) % 24] * weight)
    return result


def hourly_value(profile: Sequence[float], hour: float) -> float:
    """Interpolate one 24-value profile at `hour`, like `hourly`, in plain floats."""
    position = (hour - 0.5) % 24
    low = int(position)
    weight = position - low
    return profile[low] * (1 - weight) + profile[(low + 1) % 24] * weight


def annual(day_of_year: int, peak_day: float) -> float:
    """Return a yearly cosine: 1 on `peak_day`, -1 half a year away."""
    return math.cos(2 * math.pi * (day_of_year - peak_day) / YEAR_DAYS)


def daily(hour: float, peak_hour: float) -> float:
    """Return a daily cosine: 1 at `peak_hour`, -1 twelve hours away."""
    return math.cos(2 * math.pi * (hour - peak_hour) / 24)
