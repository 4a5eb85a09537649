"""Air-quality stations: season, traffic-shaped diurnal cycles and autocorrelated noise.

Concentration = seasonal base x diurnal shape x site factor x exp(AR(1) noise).
PM, CO and NO2 follow the traffic curve (peaks 07-09 and 19-22, the evening one
larger, a mid-afternoon minimum; weekend morning peaks a quarter smaller); O3 is
unimodal with its minimum after sunrise and its peak at 14-16 h, higher from
late spring to autumn; PM and NO2 are higher in winter (U-shaped year).
Roadside stations see more NO2 and CO and less O3 (titration). Temperature
follows Shanghai's year (about 5 °C in January, 29 °C in late July) with a
14:30 daily peak; relative humidity moves against it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simulator.city import SensorSpec
from simulator.localtime import annual, daily, hourly_value, local_time
from simulator.models.registry import Bounds, FloatArray, IndexArray, ar1, attribute, register
from urbanpulse.catalog import AIR

TRAFFIC = (1.05, 1.00, .95, .90, .88, .90, 1.00, 1.15, 1.20, 1.10, 1.00, .92,
           .86, .82, .80, .80, .85, .92, 1.02, 1.12, 1.18, 1.20, 1.15, 1.10)
NO2 = (.95, .90, .85, .80, .80, .85, 1.00, 1.25, 1.35, 1.20, 1.00, .85,
       .75, .70, .70, .72, .80, .95, 1.15, 1.30, 1.30, 1.25, 1.15, 1.05)
O3 = (.55, .50, .45, .40, .38, .35, .35, .45, .60, .80, 1.00, 1.25,
      1.45, 1.60, 1.70, 1.70, 1.60, 1.40, 1.15, .95, .80, .70, .65, .60)
WEEKEND_MORNING = (1.0,) * 6 + (.75,) * 4 + (1.0,) * 14
"""Weekend multiplier of the traffic-driven pollutants: smaller morning rush."""

# (annual mean, seasonal amplitude, day of the seasonal peak)
PM25 = (32.0, 0.40, 15)
NO2_BASE = (38.0, 0.20, 15)
SO2_BASE = (7.0, 0.30, 15)
CO_BASE = (0.65, 0.25, 15)
O3_BASE = (75.0, 0.30, 165)
SITING = {  # site multipliers: (traffic pollutants, ozone)
    "urban": (1.0, 1.0), "roadside": (1.35, 0.85), "suburban": (0.75, 1.1),
}
NOISE_RHO = 0.98
NOISE_SIGMA = np.array([[0.25], [0.20], [0.20], [0.15], [0.15], [0.6], [5.0]])
"""Stationary std of the AR(1) streams: log-noise of pm25, no2, so2, co and o3 (pm10 rides
on pm25), then temperature (°C) and relative humidity (%)."""

BOUNDS = Bounds(AIR, {"pm25": 1, "pm10": 1, "no2": 1, "so2": 1, "co": 2, "o3": 1,
                      "temperature": 1, "relative_humidity": 1})


def _seasonal(base: tuple[float, float, float], day_of_year: int) -> float:
    mean, amplitude, peak_day = base
    return mean * (1 + amplitude * annual(day_of_year, peak_day))


@register("air")
class AirModel:
    """Air-quality stations reporting the HJ 633 pollutants, temperature and humidity."""

    def __init__(self, specs: Sequence[SensorSpec], rng: np.random.Generator) -> None:
        sitings = [str(attribute(spec, "siting")) for spec in specs]
        unknown = sorted(set(sitings) - set(SITING))
        if unknown:
            raise ValueError(f"Unknown air station siting {unknown[0]!r}; "
                             f"known are {', '.join(SITING)}.")
        n = len(specs)
        self._rng = rng
        self._traffic = np.array([SITING[s][0] for s in sitings])
        self._ozone = np.array([SITING[s][1] for s in sitings])
        self._site = rng.lognormal(0.0, 0.12, size=n)
        self._pm10_ratio = rng.uniform(1.45, 1.85, size=n)
        self._warmth = rng.normal(0.0, 0.5, size=n) - 0.6 * (self._traffic < 1)
        self._noise = rng.normal(0.0, 1.0, size=(len(NOISE_SIGMA), n)) * NOISE_SIGMA

    def step(self, t: int, idx: IndexArray) -> dict[str, FloatArray]:
        """Return pollutant concentrations, temperature and humidity of stations `idx` at `t`."""
        now = local_time(t)
        day, hour = now.day_of_year, now.hour
        rush = hourly_value(WEEKEND_MORNING, hour) if now.is_weekend else 1.0
        noise = ar1(self._noise, idx, NOISE_RHO, NOISE_SIGMA, self._rng)
        factor = np.exp(noise[:5])
        traffic, site = self._traffic[idx], self._site[idx]
        traffic_hour = hourly_value(TRAFFIC, hour) * rush
        pm25 = (_seasonal(PM25, day) * traffic_hour * site * (0.8 + 0.2 * traffic) * factor[0])
        swing = daily(hour, 14.5)
        return BOUNDS({
            "pm25": pm25,
            "pm10": pm25 * self._pm10_ratio[idx],
            "no2": _seasonal(NO2_BASE, day) * hourly_value(NO2, hour) * rush * traffic * factor[1],
            "so2": _seasonal(SO2_BASE, day) * site * factor[2],
            "co": _seasonal(CO_BASE, day) * traffic_hour * np.sqrt(traffic) * factor[3],
            "o3": _seasonal(O3_BASE, day) * hourly_value(O3, hour) * self._ozone[idx] * factor[4],
            "temperature": (17.0 + 12.0 * annual(day, 205) + 3.5 * swing + self._warmth[idx]
                            + noise[5]),
            "relative_humidity": np.clip(74.0 - 12.0 * swing + noise[6], 15.0, 100.0),
        })
