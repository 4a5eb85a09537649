"""One weather driver for the whole city: temperature, humidity, rain, wind and haze.

Weather is drawn a year at a time on an hourly grid from the seed and the year
alone, so a date has the same weather whatever the run's start. Rain comes in
wet days (a two-state Markov chain whose wet share follows the season, with the
June-July plum rains) holding showers; temperature is the climate's annual
cosine plus a 14:30 daily peak plus a day-to-day AR(1) anomaly, damped and
cooled by rain; wind is a daily lognormal AR(1) with an afternoon lift. Storms come
on top from their own stream: typhoon rain bands in July-September (one to three
a season, each 1-2 days of banded rain with gale-force wind) and summer-afternoon
cloudbursts (an hour well above the 36 mm/h the central sewers were built for).
Haze is
the stagnation load the air model multiplies PM by: it builds over calm dry
days (faster in winter) and is washed out by rain and blown away by wind, so
episodes last a few days and end with a front.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from simulator.profile import Climate
from simulator.streams import random_stream
from urbanpulse.kinds.modelling import CST

Hourly = NDArray[np.float64]
PLUM_RAIN_DAYS = (166, 192)
"""Day-of-year window of the plum rains (mid-June to mid-July)."""
WET_PERSISTENCE = 0.4
HAZE_BUILD = 0.015
"""Haze gained per calm dry hour (x1.5 in winter): three calm days give about PM x2.5."""
CALM_MS, WINDY_MS = 3.0, 5.5
SHOWER_MM_H = (0.6, 1.2)
"""Mean intensity of an ordinary rain hour, mm/h (rest of the year, summer)."""
TYPHOON_DAYS = (182, 270)
"""Day-of-year window in which typhoons start (July to September)."""
TYPHOON_COUNTS = (1, 1, 2, 2, 3)
"""Typhoons a season, drawn evenly from these."""
CLOUDBURST_DAYS = (152, 273)
"""Day-of-year window of convective cloudbursts (June to September)."""


@dataclass(frozen=True, slots=True)
class Storms:
    """A year's storms on the hourly grid: rain added, wind floor, and which hours."""

    rain: Hourly
    """Storm rain, mm/h, added to the ordinary showers."""
    wind: Hourly
    """Wind floor, m/s (0 outside typhoons)."""
    typhoon: NDArray[np.bool_]
    """Hours under a typhoon's rain bands."""
    cloudburst: NDArray[np.bool_]
    """Peak hours of the cloudbursts."""


@dataclass(frozen=True, slots=True)
class WeatherNow:
    """The weather of one hour."""

    temperature: float
    """Air temperature, °C."""
    humidity: float
    """Relative humidity, %."""
    rain_mm_h: float
    rain_24h_mm: float
    """Rain of the last 24 hours, mm."""
    wind_ms: float
    haze: float
    """Stagnation load, 0 (clean) to about 3 (severe haze): PM is multiplied by 1 + haze."""
    sun: float
    """Solar forcing, 0 at night to 1 at a clear noon."""


class Weather:
    """The city's weather, computed a year at a time from the seed."""

    def __init__(self, seed: int, climate: Climate) -> None:
        """Keep the seed and climate; years are drawn when first asked for."""
        self._seed = seed
        self._climate = climate

    def at(self, t: int) -> WeatherNow:
        """Return the weather of the local hour holding epoch second `t`."""
        return self._hour(t // 3600)

    @functools.lru_cache(maxsize=256)  # noqa: B019  (one Weather per run)
    def _hour(self, hour: int) -> WeatherNow:
        moment = datetime.fromtimestamp(hour * 3600, CST)
        table = self._year(moment.year)
        i = (moment.timetuple().tm_yday - 1) * 24 + moment.hour
        return WeatherNow(*(float(column[min(i, len(column) - 1)]) for column in table))

    @functools.lru_cache(maxsize=3)  # noqa: B019
    def _year(self, year: int) -> tuple[Hourly, ...]:
        return draw_year(self._seed, year, self._climate)


def draw_year(seed: int, year: int, climate: Climate) -> tuple[Hourly, ...]:
    """Draw a year of hourly weather; columns in `WeatherNow` field order."""
    rng = random_stream(seed, f"weather/{year}")
    days = 366 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 365
    doy = np.arange(1, days + 1, dtype=np.float64)
    season = np.cos(2 * math.pi * (doy - 200) / 365.25)
    p_wet = np.clip(climate.rain_days / 365 * (1 + 0.45 * season), 0.02, 0.9)
    p_wet[PLUM_RAIN_DAYS[0]:PLUM_RAIN_DAYS[1]] = np.clip(p_wet[PLUM_RAIN_DAYS[0]] * 1.7, 0, 0.85)
    draws, wet = rng.random(days), np.zeros(days, dtype=bool)
    for d in range(days):
        p = p_wet[d] + WET_PERSISTENCE * (1 - p_wet[d]) if d and wet[d - 1] else (
            p_wet[d] * (1 - WET_PERSISTENCE) if d else p_wet[d])
        wet[d] = draws[d] < p
    anomaly = _ar1(rng, days, 0.7, 2.5)
    wind_day = np.exp(np.log(3.2) - 0.15 * np.cos(2 * math.pi * (doy - 15) / 365.25)
                      + _ar1(rng, days, 0.6, 0.45))
    hours = np.arange(days * 24)
    hod = (hours % 24).astype(np.float64)
    day = hours // 24
    wet_h = wet[day]
    raining = wet_h & (rng.random(hours.size) < 0.25)
    shower = np.where(season[day] > 0.5, SHOWER_MM_H[1], SHOWER_MM_H[0])
    rain = np.where(raining, rng.exponential(shower, hours.size), 0.0)
    storm = draw_storms(seed, year, days)
    rain = rain + storm.rain
    raining = raining | (storm.rain > 0)
    diurnal = np.cos(2 * math.pi * (hod - 14.5) / 24)
    temperature = (climate.mean_c + climate.amplitude_c * np.cos(2 * math.pi * (doy[day] - 205)
                                                                 / 365.25)
                   + 3.5 * diurnal * np.where(wet_h, 0.5, 1.0) + anomaly[day] - 1.5 * raining)
    humidity = np.clip(72 - 12 * diurnal + 12 * wet_h + 8 * raining
                       + rng.normal(0, 4, hours.size), 20, 100)
    wind = np.fmax(wind_day[day] * (1 + 0.3 * np.cos(2 * math.pi * (hod - 14) / 24)),
                   storm.wind)
    daylight = np.clip(np.sin(math.pi * (hod - 6) / 12.5), 0, None)
    sun = (daylight * np.where(wet_h, 0.35, 1.0) * (0.8 + 0.2 * season[day])
           * np.where(storm.rain > 0, 0.2, 1.0))
    rain_24h = np.convolve(rain, np.ones(24))[:hours.size]
    haze = _haze(wind, rain, np.cos(2 * math.pi * (doy[day] - 15) / 365.25))
    return temperature, humidity, rain, rain_24h, wind, haze, sun


def draw_storms(seed: int, year: int, days: int) -> Storms:
    """Draw a year's typhoons and cloudbursts from their own stream (`weather/{year}/storms`).

    A typhoon lasts 24-48 h: a sine envelope times rain bands passing every 3-5 h
    (1 mm/h between bands, 10-24 mm/h at a band's core, so about 130 mm an event)
    and a wind floor of 8-16 m/s. A cloudburst is one afternoon hour (13-17 h) of
    40-75 mm/h with a 3-10 mm/h hour before and a 5-15 mm/h hour after.
    """
    rng = random_stream(seed, f"weather/{year}/storms")
    n = days * 24
    rain, wind = np.zeros(n), np.zeros(n)
    typhoon, burst = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    last_start = TYPHOON_DAYS[1] * 24 - 48
    for _ in range(int(rng.choice(TYPHOON_COUNTS))):
        start = int(rng.integers(TYPHOON_DAYS[0] * 24, last_start))
        length = int(rng.integers(24, 49))
        h = np.arange(length, dtype=np.float64)
        envelope = np.sin(math.pi * (h + 0.5) / length)
        bands = ((1 + np.cos(2 * math.pi * h / rng.uniform(3, 5) + rng.uniform(0, 6.3))) / 2) ** 4
        span = slice(start, start + length)
        rain[span] += envelope * (1.0 + rng.uniform(10, 24) * bands)
        wind[span] = np.fmax(wind[span], 8 + 8 * envelope)
        typhoon[span] = True
    count = 2 + int(rng.poisson(1.5))
    for d in rng.integers(CLOUDBURST_DAYS[0], CLOUDBURST_DAYS[1], size=count):
        peak = int(d) * 24 + int(rng.integers(13, 18))
        rain[peak - 1] += rng.uniform(3, 10)
        rain[peak] += rng.uniform(40, 75)
        rain[peak + 1] += rng.uniform(5, 15)
        burst[peak] = True
    return Storms(rain, wind, typhoon, burst)


def _ar1(rng: np.random.Generator, n: int, rho: float, sigma: float) -> Hourly:
    shocks = rng.normal(0.0, sigma * math.sqrt(1 - rho * rho), n)
    out = np.empty(n)
    level = float(rng.normal(0.0, sigma))
    for i in range(n):
        level = rho * level + shocks[i]
        out[i] = level
    return out


def _haze(wind: Hourly, rain: Hourly, winter: Hourly) -> Hourly:
    """Integrate the stagnation load hourly: build when calm and dry, clear with rain or wind."""
    out = np.empty(wind.size)
    level = 0.3
    build = HAZE_BUILD * (1 + 0.5 * np.clip(winter, 0, None))
    for i in range(wind.size):
        if rain[i] > 0.5:
            level *= 0.8
        elif wind[i] > WINDY_MS:
            level *= 0.9
        elif wind[i] < CALM_MS:
            level = min(3.0, level * 0.998 + build[i])
        else:
            level *= 0.995
        out[i] = level
    return out
