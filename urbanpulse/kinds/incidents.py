"""Episodes and their effects: what a kind's incident types do to its sensors.

An episode is one type of trouble on one sensor from `start` to `end` (None:
for good): a device fault the simulator draws, or an incident of a scenario. A
kind's `model.py` exposes `INCIDENTS`, one `Effect` per incident type its SPEC
lists. An effect changes the values of an affected reading in place, or sets
the model's knobs when the episode starts and ends (or both).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from urbanpulse.kinds.modelling import FloatArray
from urbanpulse.messages import AttributeValue

Values = dict[str, float]
"""One reading's metric values."""


CARRIER_OUTAGE = "carrier-outage"
"""The incident of a sensor mounted on a carrier (a smart pole) that lost power: no readings.

The kinds that can be mounted list it in `SPEC.incidents` (their models send
nothing while it lasts); the simulator derives it from the carrier's incident
(`simulator.scenarios.mounted`).
"""


@dataclass(frozen=True, slots=True)
class Episode:
    """One fault or incident on one sensor."""

    local: int
    """Position of the sensor within its kind, in sensor-id order."""
    sensor: str
    type: str
    start: int
    """Epoch seconds."""
    end: int | None
    detail: dict[str, AttributeValue] = field(default_factory=dict, compare=False)
    incident: bool = False
    """Whether it is a scenario incident (a real event) rather than a device fault."""


ValueEffect = Callable[[Episode, int, Values, dict[int, Values]], None]
"""Change one affected reading's values at epoch second t; the dict is memory per episode."""
KnobEffect = Callable[[Episode, dict[str, FloatArray], bool], None]
"""Set the model's knobs as the episode starts (True) or ends (False)."""


@dataclass(frozen=True, slots=True)
class Effect:
    """What one incident type does: to the readings, to the model's knobs, or both."""

    values: ValueEffect | None = None
    knobs: KnobEffect | None = None


def ramp(episode: Episode, t: int) -> float:
    """Return 0..1: a quarter of the incident to build up, half at full strength, then down."""
    assert episode.end is not None
    x = (t - episode.start) / max(1, episode.end - episode.start)
    return max(0.0, min(1.0, 4 * x, 4 * (1 - x)))


def magnitude(episode: Episode) -> float:
    """Return the incident's magnitude (1 unless the scenario says otherwise)."""
    return float(episode.detail.get("magnitude", 1.0))


def without_supply(values: dict[str, FloatArray], unpowered: FloatArray
                   ) -> dict[str, FloatArray]:
    """Return `values` with every metric NaN (no reading at all) where `unpowered` > 0.

    A model of a sensor that can lose its supply keeps an `unpowered` knob (the
    count of the power cuts it is under, set by `cut_supply`) and passes its
    readings through here: a smart pole, and the air and noise sensors mounted on one.
    """
    dark = unpowered > 0
    if not dark.any():
        return values
    return {name: np.where(dark, np.nan, column) for name, column in values.items()}


def cut_supply(episode: Episode, knobs: dict[str, FloatArray], starting: bool) -> None:
    """Cut the supply of the episode's sensor, or restore it (overlapping cuts nest)."""
    knobs["unpowered"][episode.local] += 1.0 if starting else -1.0
