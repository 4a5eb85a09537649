"""What a kind declares to have its low-grade sensors calibrated against its reference ones.

A kind whose fleet mixes reference instruments with cheaper ones that err in
a known way (air: optical PM counters read high, more so in humid air) gives
a `Colocation` as `CALIBRATION` in its `calibration.py`. The ingester
(`ingest.calibration`) then pairs each calibrated sensor's hourly mean of a
metric with the hourly mean of the reference sensors of its district and
fits the response of the district's calibrated sensors,

    raw = gain · reference · (1 + growth · term(covariate)),

over a rolling window, where `term` is the kind's function of a covariate
metric (air: the hygroscopic growth term of relative humidity). Each reading's
corrected value, the response inverted (with the offset a declared default
may have; a fit has none),

    corrected = (raw − offset) / (gain · (1 + growth · term(covariate))),

is written as the derived field `corrected[metric]`, and the kind's other
derived fields are computed from the corrected values. docs/calibration.md
describes the method and its measured error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Response:
    """How a calibrated sensor reads a true value: `offset + gain · true · (1 + growth · term)`."""

    offset: float
    gain: float
    growth: float

    def correct(self, raw: float, term: float) -> float:
        """Return the true value that reads as `raw` when the covariate's term is `term` (≥ 0)."""
        return max(0.0, (raw - self.offset) / (self.gain * (1.0 + self.growth * term)))


@dataclass(frozen=True, slots=True)
class Limits:
    """The responses a fit may give before it is believed: anything else is a broken pairing
    (a sensor stuck or dead, a reference far away), not a sensor's response."""

    gain: tuple[float, float]
    growth: tuple[float, float]
    offset: float
    """The largest offset either way, in the metric's unit."""

    def allow(self, response: Response) -> bool:
        """Return whether `response` lies inside the limits."""
        return (self.gain[0] <= response.gain <= self.gain[1]
                and self.growth[0] <= response.growth <= self.growth[1]
                and abs(response.offset) <= self.offset)


@dataclass(frozen=True, slots=True)
class Colocation:
    """A kind's co-location calibration of its low-grade sensors against its reference ones.

    Attributes:
        attribute: The birth attribute that says a sensor's grade.
        reference: Its value on reference sensors (whose readings are taken as they are).
        calibrated: Its value on sensors to calibrate.
        corrected: Metric → the derived field of its corrected value (a float in
            `SPEC.derived`, in the metric's unit).
        covariate: The metric the response's term depends on.
        term: The term as a function of the covariate; 0 where it does not act.
        default: The response assumed until a sensor's own fit is ready (or when its
            fit leaves `limits`): a fleet-wide correction, as a network without
            co-location applies to every unit.
        limits: The responses a fit may give.
        window_h: The e-folding time of the window in hours: an hourly pair this old
            weighs 1/e of the newest.
        min_pairs: The weight of hourly pairs (1 each, less as they age) before a
            sensor's own fit replaces `default`.
        min_term_pairs: The weight of those with a term above 0 before `growth` is fitted;
            until then it is `default.growth`, and `offset` and `gain` are fitted.
        decimals: The decimals corrected values are rounded to (as the metric's readings).
    """

    attribute: str
    reference: str
    calibrated: str
    corrected: Mapping[str, str]
    covariate: str
    term: Callable[[float], float]
    default: Response
    limits: Limits
    window_h: float
    min_pairs: float
    min_term_pairs: float
    decimals: int = 1
    forget: float = field(init=False)
    """The weight an hourly pair keeps per hour it ages: exp(−1 / window_h)."""

    def __post_init__(self) -> None:
        if not self.corrected or self.covariate in self.corrected:
            raise ValueError("A co-location calibration corrects at least one metric, and "
                             "not its covariate.")
        if not (self.window_h > 0 and 0 < self.min_pairs < self.window_h
                and 0 <= self.min_term_pairs < self.window_h):
            raise ValueError(f"A co-location window of {self.window_h} h cannot hold "
                             f"{self.min_pairs} pairs ({self.min_term_pairs} with a term).")
        if not self.limits.allow(self.default):
            raise ValueError(f"The default response {self.default} lies outside the limits "
                             f"{self.limits}.")
        object.__setattr__(self, "corrected", MappingProxyType(dict(self.corrected)))
        object.__setattr__(self, "forget", math.exp(-1.0 / self.window_h))
