"""Combustible gas detectors: methane in % LEL, near zero until a main leaks.

Clean air reads 0; a well next to a main sees traces (sewer gas, old
leaks): each detector has a background of 0-2 % LEL (adjacent wells up to 3)
with AR(1) noise (σ 0.3) and the sensor's ±0.5 % LEL zero noise; readings are
clipped at 0 (the clean methane of `measure` is without the zero noise). Warm
weather raises the background a little (biogas in wells: +0.05 % LEL per °C
over 20). Battery detectors send `battery_mv` and `rsrp` once an hour. A
`gas-leak` ramps methane up to 35 % LEL × magnitude over a quarter of the
incident, holds, and ramps back as the leak is repaired.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from urbanpulse.kinds.gas import SPEC as GAS
from urbanpulse.kinds.incidents import Effect, Episode, Values, magnitude, ramp
from urbanpulse.kinds.modelling import (
    Bounds,
    Drivers,
    FloatArray,
    IndexArray,
    Measurement,
    Seconds,
    Sensor,
    ar1,
    window,
)

BACKGROUND = {"valve-well": (0.0, 2.0), "adjacent-well": (0.0, 3.0), "vault": (0.0, 1.0)}
WALK_RHO, WALK_SIGMA = 0.95, 0.3
ZERO_NOISE = 0.5
WARM_PER_C, WARM_FROM_C = 0.05, 20.0
LEAK_LEL = 35.0
"""Peak % LEL of a leak at magnitude 1: past both the 20 % warning and the 25 % alarm."""
HEALTH_EVERY_S = 3_600
BOUNDS = Bounds(GAS, {"ch4_lel": 1, "battery_mv": 0, "rsrp": 0})


class GasModel:
    """Methane detectors reporting % LEL every interval, device health hourly."""

    def __init__(self, specs: Sequence[Sensor], rng: np.random.Generator,
                 drivers: Drivers) -> None:
        n = len(specs)
        self._rng, self._drivers = rng, drivers
        self._background = np.array([rng.uniform(*BACKGROUND.get(
            str(spec.attributes.get("space")), BACKGROUND["vault"])) for spec in specs])
        self._walk = rng.normal(0.0, WALK_SIGMA, size=n)
        self._battery = rng.uniform(3400.0, 3600.0, size=n)
        self._rsrp = np.clip(rng.normal(-100.0, 10.0, size=n), -130, -65)
        self._interval = np.array([float(spec.interval_s) for spec in specs])
        self.knobs: dict[str, FloatArray] = {}

    def step(self, t: Seconds, idx: IndexArray) -> dict[str, FloatArray]:
        """Return % LEL of detectors `idx` at `t`, with health on the hour."""
        return self.measure(t, idx).measured

    def measure(self, t: Seconds, idx: IndexArray) -> Measurement:
        """Return what detectors `idx` report at their seconds `t`, and the methane really there."""
        n = len(idx)
        w = window(t, n)
        warm = WARM_PER_C * max(0.0, self._drivers.weather.at(w.first).temperature - WARM_FROM_C)
        lel = self._background[idx] + warm + ar1(self._walk, idx, WALK_RHO, WALK_SIGMA,
                                                  self._rng)
        read = lel + self._rng.normal(0.0, ZERO_NOISE, size=n)
        hourly = (w.t % HEALTH_EVERY_S) < self._interval[idx]
        nan = np.full(n, np.nan)
        rsrp = self._rsrp[idx] + self._rng.normal(0.0, 3.0, size=n)
        health = {"battery_mv": np.where(hourly, self._battery[idx], nan),
                  "rsrp": np.where(hourly, rsrp, nan)}
        return Measurement(BOUNDS({"ch4_lel": np.maximum(read, 0.0), **health}),
                           BOUNDS({"ch4_lel": np.maximum(lel, 0.0), **health}))


def _leak(episode: Episode, t: int, values: Values, _memory: dict[int, Values]) -> None:
    if "ch4_lel" in values and episode.end is not None:
        values["ch4_lel"] = min(100.0, round(
            values["ch4_lel"] + LEAK_LEL * magnitude(episode) * ramp(episode, t), 1))


MODEL = GasModel
INCIDENTS: Mapping[str, Effect] = {"gas-leak": Effect(values=_leak)}
