"""Supply pressure follows demand: highest at night, lowest at the morning and evening peaks.

Each point has a static head (trunk 0.32-0.40 MPa, network end 0.24-0.30 MPa)
less a head loss that grows with the square of the city's demand (the hourly
curve `DEMAND`, mean 1): up to 0.06 MPa on a trunk main and 0.07 MPa at the
network end at the 1.5x peaks, so a sound network end stays above the CJJ 58
0.14 MPa. An AR(1) wander (0.006 MPa) and gauge noise (0.002 MPa) ride on it;
the clean pressure (`measure`) is without the gauge noise.
A main burst drops a point's pressure by 0.05-0.15 MPa (times the magnitude)
from its first reading and holds it there until the episode (the repair) ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from urbanpulse.kinds.incidents import Effect, Episode, Values, magnitude
from urbanpulse.kinds.modelling import (
    Bounds,
    Drivers,
    FloatArray,
    IndexArray,
    Measurement,
    Seconds,
    Sensor,
    ar1,
    hourly_value,
    known_attributes,
    window,
)
from urbanpulse.kinds.pressure import SPEC as PRESSURE

_HOURS = [0.35, 0.30, 0.28, 0.28, 0.32, 0.50, 0.95, 1.45, 1.50, 1.25, 1.10, 1.10,
          1.15, 1.05, 0.95, 0.95, 1.00, 1.20, 1.45, 1.50, 1.30, 1.00, 0.70, 0.50]
DEMAND = np.array(_HOURS) / np.mean(_HOURS)
"""Hourly urban water demand relative to the daily mean: minimum 02-04 h, peaks 07-09 and
18-20 h (a typical residential-commercial diurnal curve; assumption)."""
PEAK = float(DEMAND.max())
_DEMAND_PROFILE = tuple(DEMAND.tolist())
HEAD = {"network-end": (0.24, 0.30), "trunk": (0.32, 0.40)}
"""Static pressure at zero demand, MPa."""
HEAD_LOSS = {"network-end": 0.07, "trunk": 0.06}
"""Head loss at peak demand, MPa."""
WANDER_RHO, WANDER_SIGMA, NOISE_SIGMA = 0.95, 0.006, 0.002
BURST_DROP = (0.05, 0.15)
"""A burst's pressure drop at magnitude 1, MPa (domain facts §10, A)."""
BOUNDS = Bounds(PRESSURE, {"pressure_mpa": 3})


def demand_at(hour: FloatArray) -> FloatArray:
    """Return the city's water demand relative to its daily mean at each local `hour`."""
    return hourly_value(_DEMAND_PROFILE, hour)


class PressureModel:
    """Pressure points on one network: static head less a demand-driven head loss."""

    def __init__(self, sensors: Sequence[Sensor], rng: np.random.Generator,
                 drivers: Drivers) -> None:
        positions = known_attributes(sensors, "position", HEAD, "pressure position")
        self._rng = rng
        self._head = np.array([rng.uniform(*HEAD[p]) for p in positions])
        self._loss = np.array([HEAD_LOSS[p] for p in positions])
        self._wander = rng.normal(0.0, WANDER_SIGMA, size=len(sensors))
        self.knobs: dict[str, FloatArray] = {}

    def step(self, t: Seconds, idx: IndexArray) -> dict[str, FloatArray]:
        """Return the pressure of points `idx`, each at its second of `t`."""
        return self.measure(t, idx).measured

    def measure(self, t: Seconds, idx: IndexArray) -> Measurement:
        """Return what gauges `idx` read, each at its second of `t`, and the pressure there."""
        demand = demand_at(window(t, len(idx)).hour)
        pressure = (self._head[idx] - self._loss[idx] * (demand / PEAK) ** 2
                    + ar1(self._wander, idx, WANDER_RHO, WANDER_SIGMA, self._rng))
        read = pressure + self._rng.normal(0.0, NOISE_SIGMA, size=len(idx))
        return Measurement(BOUNDS({"pressure_mpa": read}), BOUNDS({"pressure_mpa": pressure}))


def burst_drop(episode: Episode) -> float:
    """Return the pressure drop a burst causes at the episode's point, MPa."""
    low, high = BURST_DROP
    share = (episode.local * 0.618034) % 1.0  # spread over the points, without a random stream
    return magnitude(episode) * (low + (high - low) * share)


def _burst(episode: Episode, _t: int, values: Values, _memory: dict[int, Values]) -> None:
    if "pressure_mpa" in values:
        values["pressure_mpa"] = max(0.0, values["pressure_mpa"] - burst_drop(episode))


MODEL = PressureModel
INCIDENTS: Mapping[str, Effect] = {"main-burst": Effect(values=_burst)}
