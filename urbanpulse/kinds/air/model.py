"""Air-quality stations: traffic-shaped cycles, shared weather, haze episodes, sensor grades.

Concentration = seasonal base x diurnal shape x site factor x weather x exp(AR(1)).
PM, CO and NO2 follow the traffic curve (peaks 07-09 and 19-22, the evening one
larger, a mid-afternoon minimum; morning peaks a quarter smaller on rest days
and traffic a fifth lower on holidays); O3 is unimodal with its minimum after
sunrise and its peak at 14-16 h, driven by sunshine and temperature; PM and NO2
are higher in winter (U-shaped year). The weather driver's haze load multiplies
PM (and part of NO2 and CO) over multi-day episodes that rain or wind clear;
rain washes PM out and wind dilutes everything. Roadside stations see more NO2
and CO and less O3 (titration). Temperature and humidity are the city's weather
at the station.

Low-cost stations (`grade: low-cost`, optical PM and electrochemical gas cells)
over-read PM by 10-40 % and more above 80 % RH (hygroscopic growth), carry
noise of max(2 µg/m³, 10 %), read SO2 several times too high and drift NO2 by
2-6 µg/m³ a month; reference stations add 3 % noise. The clean values
(`measure`) are the air's own, before any of that instrument error.

A sensor mounted on a smart pole shares the pole's supply: while the pole is
cut off (`carrier-outage`, from the pole's `power-cut`) it sends nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from urbanpulse.kinds.air import SPEC as AIR
from urbanpulse.kinds.incidents import (
    CARRIER_OUTAGE,
    Effect,
    Episode,
    Values,
    cut_supply,
    magnitude,
    ramp,
    without_supply,
)
from urbanpulse.kinds.modelling import (
    Bounds,
    Drivers,
    FloatArray,
    IndexArray,
    Measurement,
    Seconds,
    Sensor,
    annual,
    ar1,
    hourly_value,
    known_attributes,
    window,
)

TRAFFIC = (1.05, 1.00, .95, .90, .88, .90, 1.00, 1.15, 1.20, 1.10, 1.00, .92,
           .86, .82, .80, .80, .85, .92, 1.02, 1.12, 1.18, 1.20, 1.15, 1.10)
NO2 = (.95, .90, .85, .80, .80, .85, 1.00, 1.25, 1.35, 1.20, 1.00, .85,
       .75, .70, .70, .72, .80, .95, 1.15, 1.30, 1.30, 1.25, 1.15, 1.05)
O3 = (.55, .50, .45, .40, .38, .35, .35, .45, .60, .80, 1.00, 1.25,
      1.45, 1.60, 1.70, 1.70, 1.60, 1.40, 1.15, .95, .80, .70, .65, .60)
REST_MORNING = (1.0,) * 6 + (.75,) * 4 + (1.0,) * 14
"""Rest-day multiplier of the traffic-driven pollutants: smaller morning rush."""

# (annual mean before weather, seasonal amplitude, day of the seasonal peak)
PM25 = (20.0, 0.40, 15)
NO2_BASE = (34.0, 0.20, 15)
SO2_BASE = (7.0, 0.30, 15)
CO_BASE = (0.60, 0.25, 15)
O3_BASE = (62.0, 0.20, 165)
SITING = {  # site multipliers: (traffic pollutants, ozone)
    "urban": (1.0, 1.0), "roadside": (1.35, 0.85), "suburban": (0.75, 1.1),
}
NOISE_RHO = 0.98
NOISE_SIGMA = np.array([[0.20], [0.18], [0.20], [0.15], [0.12], [0.4], [3.0]])
"""Stationary std of the AR(1) streams: log-noise of pm25, no2, so2, co and o3 (pm10 rides
on pm25), then temperature (°C) and relative humidity (%)."""
NO2_DRIFT_PER_S = (2.0 / 30 / 86_400, 6.0 / 30 / 86_400)

BOUNDS = Bounds(AIR, {"pm25": 1, "pm10": 1, "no2": 1, "so2": 1, "co": 2, "o3": 1,
                      "temperature": 1, "relative_humidity": 1})


def _seasonal(base: tuple[float, float, float], day_of_year: int) -> float:
    mean, amplitude, peak_day = base
    return mean * (1 + amplitude * annual(day_of_year, peak_day))


def hygroscopic(humidity: FloatArray) -> FloatArray:
    """Return the optical PM over-reading factor at relative humidity `humidity` (%)."""
    rh = np.clip(humidity, 0, 98) / 100
    result: FloatArray = np.where(rh > 0.7, 1 + 0.25 * rh**2 / (1 - rh), 1.0)
    return result


class AirModel:
    """Air-quality stations reporting the HJ 633 pollutants, temperature and humidity."""

    def __init__(self, specs: Sequence[Sensor], rng: np.random.Generator,
                 drivers: Drivers) -> None:
        sitings = known_attributes(specs, "siting", SITING, "air station siting")
        n = len(specs)
        self._rng, self._drivers = rng, drivers
        self._traffic = np.array([SITING[s][0] for s in sitings])
        self._ozone = np.array([SITING[s][1] for s in sitings])
        self._site = rng.lognormal(0.0, 0.12, size=n) * drivers.pollution
        self._pm10_ratio = rng.uniform(1.45, 1.85, size=n)
        self._warmth = rng.normal(0.0, 0.5, size=n) - 0.6 * (self._traffic < 1)
        self._noise = rng.normal(0.0, 1.0, size=(len(NOISE_SIGMA), n)) * NOISE_SIGMA
        low_cost = np.array([spec.attributes.get("grade") == "low-cost" for spec in specs])
        self._low_cost = low_cost
        self._pm_bias = np.where(low_cost, rng.uniform(1.1, 1.4, size=n), 1.0)
        self._so2_bias = np.where(low_cost, rng.uniform(2.0, 5.0, size=n), 1.0)
        self._no2_drift = np.where(low_cost, rng.uniform(*NO2_DRIFT_PER_S, size=n), 0.0)
        self._t0: int | None = None
        self.knobs: dict[str, FloatArray] = {"unpowered": np.zeros(n)}

    def step(self, t: Seconds, idx: IndexArray) -> dict[str, FloatArray]:
        """Return pollutant concentrations, temperature and humidity of stations `idx` at `t`."""
        return self.measure(t, idx).measured

    def measure(self, t: Seconds, idx: IndexArray) -> Measurement:
        """Return what stations `idx` report at their seconds `t`, and the air's real values there.

        Low-cost NO2 drifts from the earliest second of the first step with a station.
        """
        w = window(t, len(idx))
        if self._t0 is None and len(idx):
            self._t0 = int(w.t.min())
        elapsed = w.t - (w.first if self._t0 is None else self._t0)
        day, weather = self._drivers.calendar.at(w.first), self._drivers.weather.at(w.first)
        doy, hour = w.local.day_of_year, w.hour
        rush = 1.0 if day.is_workday else hourly_value(REST_MORNING, hour)
        rush = rush * 0.8 if day.is_holiday else rush
        noise = ar1(self._noise, idx, NOISE_RHO, NOISE_SIGMA, self._rng)
        factor = np.exp(noise[:5])
        traffic, site = self._traffic[idx], self._site[idx]
        dilution = (3.0 / max(weather.wind_ms, 1.0)) ** 0.3
        washout = np.exp(-0.08 * weather.rain_mm_h)
        stagnation = 1.0 + weather.haze
        traffic_hour = hourly_value(TRAFFIC, hour) * rush
        pm25 = (_seasonal(PM25, doy) * traffic_hour * site * (0.8 + 0.2 * traffic) * factor[0]
                * stagnation * dilution * washout)
        no2 = (_seasonal(NO2_BASE, doy) * hourly_value(NO2, hour) * rush * traffic * factor[1]
               * (1 + 0.3 * weather.haze) * dilution)
        photochemistry = (0.5 + 0.9 * weather.sun) * max(0.3, 1 + 0.03 * (weather.temperature
                                                                          - 20))
        o3 = (_seasonal(O3_BASE, doy) * hourly_value(O3, hour) * self._ozone[idx] * factor[4]
              * photochemistry / (1 + 0.15 * weather.haze))
        temperature = weather.temperature + self._warmth[idx] + noise[5]
        humidity = np.clip(weather.humidity + noise[6], 10.0, 100.0)
        low = self._low_cost[idx]
        pm_read = pm25 * self._pm_bias[idx] * np.where(low, hygroscopic(humidity), 1.0)
        sigma = np.where(low, np.maximum(2.0, 0.1 * pm_read), 0.03 * pm_read)
        pm_read = np.maximum(pm_read + self._rng.normal(size=len(idx)) * sigma, 0.0)
        so2 = _seasonal(SO2_BASE, doy) * site * factor[2]
        shared = {"co": (_seasonal(CO_BASE, doy) * traffic_hour * np.sqrt(traffic) * factor[3]
                         * (1 + 0.4 * weather.haze) * dilution),
                  "o3": o3, "temperature": temperature, "relative_humidity": humidity}
        unpowered = self.knobs["unpowered"][idx]
        measured = BOUNDS({"pm25": pm_read, "pm10": pm_read * self._pm10_ratio[idx],
                           "no2": no2 + self._no2_drift[idx] * elapsed,
                           "so2": so2 * self._so2_bias[idx], **shared})
        clean = BOUNDS({"pm25": pm25, "pm10": pm25 * self._pm10_ratio[idx], "no2": no2,
                        "so2": so2, **shared})
        return Measurement(without_supply(measured, unpowered), without_supply(clean, unpowered))


def _pollution(episode: Episode, t: int, values: Values, _memory: dict[int, Values]) -> None:
    boost = (3.0 * magnitude(episode) - 1) * ramp(episode, t)
    for name, share in (("pm25", 1.0), ("pm10", 0.8), ("no2", 0.4), ("co", 0.3)):
        if name in values:
            values[name] *= 1 + share * boost


MODEL = AirModel
INCIDENTS: Mapping[str, Effect] = {
    "pollution-episode": Effect(values=_pollution),
    CARRIER_OUTAGE: Effect(knobs=cut_supply),
}
