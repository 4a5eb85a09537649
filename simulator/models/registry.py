"""The model registry: one vectorised value generator per sensor kind.

A model is built once per run from the specs of its kind, its own random
generator and the city's shared drivers (calendar and weather), then asked at
each simulated tick for the values of the sensors that are due. It is pure: it
never reads the clock or the network, only the time it is given, so tests
drive it through any day or season. It may keep state between ticks (random
walks, cumulative registers). A NaN value means "not in this reading"; a
sensor whose values are all NaN sends nothing this tick (report-on-change).
`knobs` are per-sensor arrays that scenario incidents set (NaN: no incident).

Built-in kinds register here exactly as an extension would::

    @register("air")
    class AirModel:
        def __init__(self, specs: Sequence[SensorSpec], rng: np.random.Generator,
                     drivers: Drivers) -> None: ...
        def step(self, t: int, idx: IndexArray) -> dict[str, FloatArray]: ...
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from simulator.city import Attribute, SensorSpec
from simulator.profile import Climate
from simulator.weather import Weather
from simulator.workdays import Calendar, Day, load_calendar
from urbanpulse.kinds import SensorKind, get_kind

FloatArray = NDArray[np.float64]
IndexArray = NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class Drivers:
    """What every model feels alike: the calendar, the weather and the city's pollution level."""

    calendar: Calendar = field(default_factory=lambda: load_calendar("china"))
    weather: Weather = field(default_factory=lambda: Weather(0, Climate()))
    pollution: float = 1.0
    climate: Climate = field(default_factory=Climate)


def day_type(day: Day) -> int:
    """Return 0 on a workday, 1 on a Saturday-like rest day, 2 on Sundays and holidays."""
    if day.is_workday:
        return 0
    return 2 if day.is_holiday or day.date.weekday() == 6 else 1


class Model(Protocol):
    """A kind's value generator."""

    knobs: dict[str, FloatArray]

    def step(self, t: int, idx: IndexArray) -> dict[str, FloatArray]:
        """Return each metric's values for the sensors `idx` due at epoch second `t`.

        Args:
            t: Simulated time in epoch seconds.
            idx: Ascending positions, in the specs the model was built with, of the due sensors.

        Returns:
            Catalog metric name to an array of `len(idx)` values inside the physical range.
        """
        ...


ModelFactory = Callable[[Sequence[SensorSpec], np.random.Generator, Drivers], Model]
F = TypeVar("F", bound=ModelFactory)

_MODELS: dict[str, ModelFactory] = {}
MODELS: Mapping[str, ModelFactory] = MappingProxyType(_MODELS)
"""Every registered model factory by kind name (read-only view)."""


def register(kind: str) -> Callable[[F], F]:
    """Register the decorated factory as the model of catalog kind `kind`.

    Raises:
        KeyError: The catalog has no such kind.
        ValueError: The kind already has a model.
    """
    get_kind(kind)

    def decorate(factory: F) -> F:
        if kind in _MODELS:
            raise ValueError(f"Sensor kind {kind!r} already has a model.")
        _MODELS[kind] = factory
        return factory

    return decorate


def build_model(kind: str, specs: Sequence[SensorSpec], rng: np.random.Generator,
                drivers: Drivers | None = None) -> Model:
    """Build the registered model of `kind` for `specs`, or raise KeyError naming the known ones."""
    try:
        factory = _MODELS[kind]
    except KeyError:
        known = ", ".join(sorted(_MODELS))
        raise KeyError(f"No model for sensor kind {kind!r}; models exist for {known}.") from None
    return factory(specs, rng, drivers if drivers is not None else Drivers())


def known_attributes(specs: Sequence[SensorSpec], name: str, known: Collection[str],
                     what: str) -> list[str]:
    """Return attribute `name` of every spec, or raise ValueError naming an unknown value."""
    values = [str(attribute(spec, name)) for spec in specs]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"Unknown {what} {unknown[0]!r}; known are {', '.join(known)}.")
    return values


def attribute(spec: SensorSpec, name: str) -> Attribute:
    """Return a static attribute of `spec`, or raise ValueError saying which one is missing."""
    try:
        return spec.attributes[name]
    except KeyError:
        raise ValueError(f"Sensor {spec.sensor} ({spec.kind}) needs the attribute "
                         f"{name!r} for its model.") from None


class Bounds:
    """Rounds a kind's metrics to fixed decimals and clips them into the catalog's ranges.

    The metrics come out in the order of `decimals`, which is the order of the payload.
    """

    def __init__(self, kind: SensorKind, decimals: Mapping[str, int]) -> None:
        self.names = tuple(decimals)
        metrics = [kind.metrics[name] for name in self.names]
        self._scale = np.array([[10.0 ** decimals[name]] for name in self.names])
        self._low = np.array([[metric.low] for metric in metrics])
        self._high = np.array([[metric.high] for metric in metrics])

    def __call__(self, values: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
        """Return the metrics rounded and clipped, one array each (views of one block)."""
        block = np.stack([values[name] for name in self.names])
        block = np.rint(block * self._scale) / self._scale  # what np.round does, with less overhead
        np.maximum(block, self._low, out=block)
        np.minimum(block, self._high, out=block)
        return dict(zip(self.names, block, strict=True))


def ar1(state: FloatArray, idx: IndexArray, rho: float, sigma: float | FloatArray,
        rng: np.random.Generator) -> FloatArray:
    """Advance stationary AR(1) processes at columns `idx` and return their new values there.

    Args:
        state: One process per sensor (shape n), or k processes per sensor (shape k x n).
        idx: The sensors to advance.
        rho: Correlation from one step to the next.
        sigma: Stationary standard deviation; a k x 1 column gives each process its own.
        rng: Source of the innovations.
    """
    current = state[..., idx]
    updated: FloatArray = rho * current + rng.normal(size=current.shape) * (
        sigma * math.sqrt(1 - rho * rho))
    state[..., idx] = updated
    return updated
