"""Test doubles for the storm-driven kinds: a device and a weather of fixed rain per hour."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from urbanpulse.kinds.modelling import CST, Attribute

T0 = int(datetime(2026, 7, 20, 0, tzinfo=CST).timestamp())
"""Where the fixed rain's hour 0 starts: a summer midnight in Shanghai."""


@dataclass(frozen=True)
class Device:
    """A sensor as a model sees it."""

    sensor: str
    kind: str
    zone: str = "residential"
    interval_s: int = 60
    step_s: int = 0
    attributes: Mapping[str, Attribute] = field(default_factory=dict)


@dataclass(frozen=True)
class Hour:
    """One hour of the fake weather."""

    rain_mm_h: float
    temperature: float = 28.0
    humidity: float = 80.0
    rain_24h_mm: float = 0.0
    wind_ms: float = 3.0
    haze: float = 0.0
    sun: float = 0.5


class FixedRain:
    """Weather of a fixed rain rate per hour from `T0` on (0 before)."""

    def __init__(self, rates: Mapping[int, float]) -> None:
        self.rates = rates

    def at(self, t: int) -> Hour:
        return Hour(self.rates.get((t - T0) // 3600, 0.0))


@dataclass
class FakeDrivers:
    """Drivers with only the fixed-rain weather a storm model reads."""

    weather: FixedRain
    calendar: object = None
    pollution: float = 1.0
    climate: object = None
