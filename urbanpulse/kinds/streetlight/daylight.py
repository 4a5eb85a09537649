"""Sunrise and sunset in Shanghai by date: when street lights should burn.

Mid-month sunrise and sunset at 31.2° N, 121.5° E in China Standard Time
(almanac values rounded to the minute; Yancheng, 33.4° N, differs by under
20 minutes), linearly interpolated between months by day of the year.
"""

from __future__ import annotations

from datetime import date

MID_MONTH = (15, 46, 74, 105, 135, 166, 196, 227, 258, 288, 319, 349)
"""Day of the year of each month's 15th."""
SUNRISE_H = (6.87, 6.57, 6.05, 5.45, 5.00, 4.83, 4.98, 5.32, 5.62, 5.90, 6.30, 6.70)
SUNSET_H = (17.28, 17.73, 18.08, 18.43, 18.77, 19.00, 18.98, 18.67, 18.08, 17.50, 17.05,
            16.95)
TWILIGHT_H = 0.75
"""Around sunrise and sunset a lamp may be either on or off without fault."""
UTC_OFFSET_S = 8 * 3600


def _interpolate(table: tuple[float, ...], day_of_year: int) -> float:
    for month in range(12):
        if day_of_year < MID_MONTH[month]:
            low = (month - 1) % 12
            span = (MID_MONTH[month] - MID_MONTH[low]) % 365
            weight = (day_of_year - MID_MONTH[low]) % 365 / span
            return table[low] + (table[month] - table[low]) * weight
    span = MID_MONTH[0] + 365 - MID_MONTH[11]
    return table[11] + (table[0] - table[11]) * (day_of_year - MID_MONTH[11]) / span


def sun_hours(day_of_year: int) -> tuple[float, float]:
    """Return the local sunrise and sunset hours (with fraction) of a day of the year."""
    return _interpolate(SUNRISE_H, day_of_year), _interpolate(SUNSET_H, day_of_year)


_BY_DAY: dict[int, tuple[float, float]] = {}


def local_sun_hours(epoch_s: int) -> tuple[float, float, float]:
    """Return the local hour, sunrise and sunset of epoch second `epoch_s`."""
    local = epoch_s + UTC_OFFSET_S
    day = local // 86_400
    sun = _BY_DAY.get(day)
    if sun is None:
        sun = sun_hours(date.fromordinal(day + 719_163).timetuple().tm_yday)
        _BY_DAY[day] = sun
    return (local % 86_400) / 3600, sun[0], sun[1]


def lamp_fault(lamp_on: bool, hour: float, sunrise: float, sunset: float) -> int:
    """Return 1 if the lamp is out at night, 2 if it burns by day, else 0 (twilight too)."""
    if hour >= sunset + TWILIGHT_H or hour < sunrise - TWILIGHT_H:
        return 0 if lamp_on else 1
    if sunrise + TWILIGHT_H <= hour < sunset - TWILIGHT_H:
        return 2 if lamp_on else 0
    return 0
