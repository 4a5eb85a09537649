"""Tap water in the network: chlorine decays with water age, turbidity stays low.

Each point has its own residual free chlorine (0.15-0.50 mg/L, the farther from
the plant the lower), down by up to a quarter at night when low demand ages the
water in the mains (demand curve of the pressure kind), with 5 % multiplicative
noise. Turbidity wanders log-normally around 0.08-0.35 NTU, well under the
1 NTU of GB 5749-2022. A chlorine loss decays the residual exponentially; a
turbidity event (sediment after a burst) jumps turbidity and consumes chlorine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from urbanpulse.kinds.incidents import Effect, Episode, Values, magnitude
from urbanpulse.kinds.modelling import (
    Bounds,
    Drivers,
    FloatArray,
    IndexArray,
    Seconds,
    Sensor,
    ar1,
    window,
)
from urbanpulse.kinds.pressure.model import PEAK, demand_at
from urbanpulse.kinds.tap_water import SPEC as TAP

CHLORINE = (0.15, 0.50)
TURBIDITY = (0.08, 0.35)
NIGHT_AGEING = 0.25
"""Share of the residual lost when demand is at its least (oldest water)."""
CHLORINE_TAU_S = 5_400
"""Time constant of a chlorine loss at magnitude 1."""
TURBIDITY_JUMP, TURBIDITY_RISE_S, TURBIDITY_SETTLE_S = 2.5, 600, 6 * 3600
WANDER_RHO = 0.9
WANDER_SIGMA = np.array([[0.05], [0.20]])
BOUNDS = Bounds(TAP, {"chlorine_mgl": 3, "turbidity_ntu": 2})


class TapWaterModel:
    """Residual chlorine and turbidity analysers at network points."""

    def __init__(self, sensors: Sequence[Sensor], rng: np.random.Generator,
                 drivers: Drivers) -> None:
        n = len(sensors)
        self._rng = rng
        self._chlorine = rng.uniform(*CHLORINE, size=n)
        self._turbidity = rng.uniform(*TURBIDITY, size=n)
        self._wander = rng.normal(0.0, 1.0, size=(2, n)) * WANDER_SIGMA
        self.knobs: dict[str, FloatArray] = {}

    def step(self, t: Seconds, idx: IndexArray) -> dict[str, FloatArray]:
        """Return the chlorine and turbidity of points `idx`, each at its second of `t`."""
        demand = demand_at(window(t, len(idx)).hour) / PEAK
        noise = np.exp(ar1(self._wander, idx, WANDER_RHO, WANDER_SIGMA, self._rng))
        chlorine = self._chlorine[idx] * (1 - NIGHT_AGEING * (1 - demand)) * noise[0]
        return BOUNDS({"chlorine_mgl": chlorine,
                       "turbidity_ntu": self._turbidity[idx] * noise[1]})


def chlorine_factor(episode: Episode, t: int) -> float:
    """Return the share of the residual chlorine left `t - start` into a chlorine loss."""
    return math.exp(-magnitude(episode) * max(0, t - episode.start) / CHLORINE_TAU_S)


def turbidity_added(episode: Episode, t: int) -> float:
    """Return the turbidity a turbidity event adds at `t`, NTU."""
    age = max(0, t - episode.start)
    return (magnitude(episode) * TURBIDITY_JUMP * min(1.0, age / TURBIDITY_RISE_S)
            * math.exp(-age / TURBIDITY_SETTLE_S))


def _loss(episode: Episode, t: int, values: Values, _memory: dict[int, Values]) -> None:
    if "chlorine_mgl" in values:
        values["chlorine_mgl"] *= chlorine_factor(episode, t)


def _turbid(episode: Episode, t: int, values: Values, _memory: dict[int, Values]) -> None:
    added = turbidity_added(episode, t)
    if "turbidity_ntu" in values:
        values["turbidity_ntu"] += added
    if "chlorine_mgl" in values:  # the sediment's chlorine demand
        values["chlorine_mgl"] *= 1 - 0.1 * min(added, 3.0)


MODEL = TapWaterModel
INCIDENTS: Mapping[str, Effect] = {"chlorine-loss": Effect(values=_loss),
                                   "turbidity-event": Effect(values=_turbid)}
