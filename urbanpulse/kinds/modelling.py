"""The toolkit of the kinds' simulator modules: what a value model and a layout are given.

A kind's `model.py` exposes `MODEL`, a `ModelFactory`: built once per run from
the kind's sensors, its own random generator and the city's shared drivers
(calendar and weather), the model is asked at each simulated tick for the
values of the sensors that are due. It is pure: it never reads the clock or the
network, only the time it is given, so tests drive it through any day or
season. It may keep state between ticks (random walks, cumulative registers).
A NaN value means "not in this reading"; a sensor whose values are all NaN
sends nothing this tick (report-on-change). `knobs` are per-sensor arrays that
faults and incidents set (NaN: no incident). The drivers and sensors are
protocols here; the simulator supplies them.

A model whose instruments err (a low-cost optical PM sensor over-reads in humid
air, a gauge adds noise) is a `MeasuringModel`: its `measure` gives the values
the sensors report beside the clean ones, the world's real values before the
instrument's error, so that alerts can be scored against what really happened.
Most kinds model only the world's own variability: what they report is clean.

A kind's `layout.py` exposes `place(request: PlaceRequest) -> Placement`: the
zone, reporting interval, polling period and static attributes of one new
sensor at a site of a given land use, drawn from the land-use mixes the kind's
SPEC names (the city profile gives their weights) and from the kind's options
(declared in `OPTIONS`, set per kind in the profile).

The local-time helpers turn simulated epoch seconds into the city's clock
(China Standard Time, UTC+8 all year, no DST) and interpolate daily shapes.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Literal, Protocol, overload, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from urbanpulse.kinds.spec import SensorKind
from urbanpulse.messages import AttributeValue

FloatArray = NDArray[np.float64]
IndexArray = NDArray[np.intp]
TimeArray = NDArray[np.int64]
Seconds = int | TimeArray
"""When sensors are due: one epoch second for all, or one per sensor (`Model.step`)."""
Attribute = AttributeValue
Cadence = Literal["demo", "real"]

UTC_OFFSET_S = 8 * 3600
CST = timezone(timedelta(seconds=UTC_OFFSET_S), "CST")
"""China Standard Time."""
YEAR_DAYS = 365.25


class Sensor(Protocol):
    """What a model may read of one simulated sensor."""

    @property
    def sensor(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def zone(self) -> str: ...
    @property
    def interval_s(self) -> int: ...
    @property
    def step_s(self) -> int: ...
    @property
    def attributes(self) -> Mapping[str, Attribute]: ...


class Day(Protocol):
    """What kind of day a local date is."""

    @property
    def date(self) -> date: ...
    @property
    def is_workday(self) -> bool: ...
    @property
    def is_holiday(self) -> bool: ...


class Calendar(Protocol):
    """Workdays, rest days and holidays by epoch second."""

    def at(self, t: int) -> Day: ...


class WeatherHour(Protocol):
    """The weather of one hour."""

    @property
    def temperature(self) -> float: ...
    @property
    def humidity(self) -> float: ...
    @property
    def rain_mm_h(self) -> float: ...
    @property
    def rain_24h_mm(self) -> float: ...
    @property
    def wind_ms(self) -> float: ...
    @property
    def haze(self) -> float: ...
    @property
    def sun(self) -> float: ...


class Weather(Protocol):
    """The city's weather by epoch second."""

    def at(self, t: int) -> WeatherHour: ...


class Climate(Protocol):
    """The city's climate: annual mean and half the July-January difference, °C."""

    @property
    def mean_c(self) -> float: ...
    @property
    def amplitude_c(self) -> float: ...


class Drivers(Protocol):
    """What every model feels alike: the calendar, the weather and the city's pollution level."""

    @property
    def calendar(self) -> Calendar: ...
    @property
    def weather(self) -> Weather: ...
    @property
    def pollution(self) -> float: ...
    @property
    def climate(self) -> Climate: ...


class Model(Protocol):
    """A kind's value generator."""

    knobs: dict[str, FloatArray]

    def step(self, t: Seconds, idx: IndexArray) -> dict[str, FloatArray]:
        """Return each metric's values for the sensors `idx`, each due at its second of `t`.

        The fleet steps a kind a window of simulated time at a time (`Window`): every
        sensor due in it once, each at its own second, all within one local hour and
        between two changes of the knobs. A model takes the weather, the calendar and
        the date once per call and the time of day per sensor.

        Args:
            t: Simulated time in epoch seconds: one per sensor of `idx`, or one for all.
            idx: Distinct positions, in the sensors the model was built with, of the due ones.

        Returns:
            Metric name to an array of `len(idx)` values inside the physical range.
        """
        ...


@dataclass(frozen=True, slots=True)
class Measurement:
    """One step of a model whose instruments err: what the sensors report, and the real values."""

    measured: dict[str, FloatArray]
    """What the sensors report, as `Model.step` returns it."""
    clean: dict[str, FloatArray]
    """The real values: before measurement noise, bias, drift or humidity error.

    Rounded and clipped like `measured`, NaN where `measured` is NaN (a sensor that
    sends nothing, such as one without power, measures nothing real either).
    """


@runtime_checkable
class MeasuringModel(Model, Protocol):
    """A model whose sensors add measurement error to the real values they sense."""

    def measure(self, t: Seconds, idx: IndexArray) -> Measurement:
        """Return what sensors `idx` report at their seconds `t`, and the real values.

        It advances the model as `step` does (`step` returns `measure(t, idx).measured`).
        """
        ...


ModelFactory = Callable[[Sequence[Sensor], np.random.Generator, Drivers], Model]


@dataclass(frozen=True, slots=True)
class Option:
    """A setting a kind's layout takes from the city profile, with its default and range."""

    default: float
    low: float
    high: float
    description: str


@dataclass(frozen=True, slots=True)
class PlaceRequest:
    """What a layout is told about one new sensor."""

    use: str
    """Land use of the site the sensor stands at."""
    mixes: Mapping[str, Mapping[str, float]]
    """The weights of this land use, for every mix the kind's SPEC names."""
    interval_s: int
    """The kind's default reporting interval."""
    cadence: Cadence
    """`demo` (everything every few minutes) or `real` (the field cadence)."""
    options: Mapping[str, float]
    """The kind's layout options, defaults filled in."""
    roll: float
    """A uniform draw in [0, 1) made for this sensor before its attributes."""
    rng: np.random.Generator
    """The layout's random stream: draw in a fixed order, the stream is shared."""


@dataclass(frozen=True, slots=True)
class Placement:
    """What a layout decides about one new sensor."""

    zone: str
    interval_s: int
    poll_s: int
    """How often the model is asked about the sensor; 0 means every `interval_s`."""
    attributes: dict[str, Attribute]


POLE_SHARE = Option(0.0, 0.0, 1.0, "share of these sensors mounted on a street-light pole")
"""A layout option: how many of a kind's sensors a smart pole carries (`carried_by`)."""


def carried_by(request: PlaceRequest, kind: str, share: str = "pole_share") -> dict[str, Attribute]:
    """Return the `carrier` marker of a sensor mounted on a sensor of `kind`, or nothing.

    A layout sees neither the district nor the other kinds' sensors: it marks the
    sensor with the carrier's kind, and the simulator replaces that with the id of
    the nearest such sensor of the district (`simulator.city.mount_on_carriers`).
    Decided on `request.roll`, so the layout's random stream is unchanged.
    """
    return {"carrier": kind} if request.roll < request.options[share] else {}


def pick(rng: np.random.Generator, weights: Mapping[str, float]) -> str:
    """Draw one key of `weights` with probability proportional to its weight."""
    keys = list(weights)
    cumulative = list(itertools.accumulate(weights.values()))
    return keys[min(bisect.bisect_right(cumulative, float(rng.random()) * cumulative[-1]),
                    len(keys) - 1)]


def within(rng: np.random.Generator, bounds: tuple[int, int], step: int) -> int:
    """Draw a whole multiple of `step` uniformly between `bounds`."""
    low, high = bounds
    return round((low + float(rng.random()) * (high - low)) / step) * step


def day_type(day: Day) -> int:
    """Return 0 on a workday, 1 on a Saturday-like rest day, 2 on Sundays and holidays."""
    if day.is_workday:
        return 0
    return 2 if day.is_holiday or day.date.weekday() == 6 else 1


def attribute(sensor: Sensor, name: str) -> Attribute:
    """Return a static attribute of `sensor`, or raise ValueError saying which one is missing."""
    try:
        return sensor.attributes[name]
    except KeyError:
        raise ValueError(f"Sensor {sensor.sensor} ({sensor.kind}) needs the attribute "
                         f"{name!r} for its model.") from None


def known_attributes(sensors: Sequence[Sensor], name: str, known: Collection[str],
                     what: str) -> list[str]:
    """Return attribute `name` of every sensor, or raise ValueError naming an unknown value."""
    values = [str(attribute(sensor, name)) for sensor in sensors]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"Unknown {what} {unknown[0]!r}; known are {', '.join(known)}.")
    return values


class Bounds:
    """Rounds a kind's metrics to fixed decimals and clips them into the kind's ranges.

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
        block = np.array([values[name] for name in self.names])  # np.stack, fewer checks
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


@dataclass(frozen=True, slots=True)
class LocalTime:
    """Simulated time as the city's clocks show it."""

    hour: float
    """Hour of the day with fraction, 0 <= hour < 24."""
    weekday: int
    """0 is Monday, 6 is Sunday."""
    day_of_year: int
    """1 is the 1st of January."""

    @property
    def is_weekend(self) -> bool:
        """Return whether the day is a Saturday or a Sunday."""
        return self.weekday >= 5


@dataclass(frozen=True, slots=True)
class Window:
    """When the due sensors of one step report: each its own second, all in one local hour."""

    t: TimeArray
    """Each due sensor's epoch second."""
    first: int
    """One of them: its weather, calendar day and date are those of them all."""
    hour: FloatArray
    """Each due sensor's local hour of the day with fraction, as `LocalTime.hour`."""

    @property
    def local(self) -> LocalTime:
        """Return the local time of `first`: the weekday and day of the year of them all."""
        return local_time(self.first)

    def first_of_day(self, step_s: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Return whether each reading is its sensor's first of the local day, for sensors
        stepped every `step_s` seconds (one per sensor): the day's first after midnight."""
        result: NDArray[np.bool_] = (self.t + UTC_OFFSET_S) % 86_400 < step_s
        return result


def window(t: Seconds, n: int) -> Window:
    """Return the window of a step of `n` sensors due at `t` (`Model.step`)."""
    seconds = np.broadcast_to(np.asarray(t, dtype=np.int64), (n,))
    first = int(t) if isinstance(t, int) else int(seconds[0]) if n else 0
    of_day = (seconds + UTC_OFFSET_S) % 86_400
    # The same operations as `local_time`, so a second's hour is the same float either way.
    hour: FloatArray = of_day // 3600 + (of_day % 3600 // 60) / 60 + (of_day % 60) / 3600
    return Window(t=seconds, first=first, hour=hour)


@functools.lru_cache(maxsize=16)
def local_time(t: int) -> LocalTime:
    """Return the Shanghai local time of epoch second `t`."""
    moment = datetime.fromtimestamp(t, CST)
    hour = moment.hour + moment.minute / 60 + moment.second / 3600
    return LocalTime(hour=hour, weekday=moment.weekday(), day_of_year=moment.timetuple().tm_yday)


def hourly(profile: FloatArray, hour: float | FloatArray) -> FloatArray:
    """Interpolate 24 hourly values (last axis, value of hour h taken at h:30) at `hour`.

    The profile is cyclic, so 23:45 lies between the 23:00 and the 00:00 values.
    With one hour per row of `profile` (n x 24 and n hours), each row is read at its own.
    """
    if isinstance(hour, float | int):
        position = (hour - 0.5) % 24
        low = int(position)
        weight = position - low
        result: FloatArray = (profile[..., low] * (1 - weight)
                              + profile[..., (low + 1) % 24] * weight)
        return result
    positions = (hour - 0.5) % 24
    lows = positions.astype(np.intp)
    weights = positions - lows
    rows = np.arange(len(lows))
    interpolated: FloatArray = (profile[rows, lows] * (1 - weights)
                                + profile[rows, (lows + 1) % 24] * weights)
    return interpolated


@overload
def hourly_value(profile: Sequence[float], hour: float) -> float: ...
@overload
def hourly_value(profile: Sequence[float], hour: FloatArray) -> FloatArray: ...
def hourly_value(profile: Sequence[float], hour: float | FloatArray) -> float | FloatArray:
    """Interpolate one 24-value profile at `hour`, like `hourly`: a float, or one per hour."""
    if isinstance(hour, float | int):
        position = (hour - 0.5) % 24
        low = int(position)
        weight = position - low
        return profile[low] * (1 - weight) + profile[(low + 1) % 24] * weight
    positions = (hour - 0.5) % 24
    lows = positions.astype(np.intp)
    weights = positions - lows
    values = _profile_array(tuple(profile))
    result: FloatArray = values[lows] * (1 - weights) + values[(lows + 1) % 24] * weights
    return result


@functools.lru_cache(maxsize=64)
def _profile_array(profile: tuple[float, ...]) -> FloatArray:
    return np.array(profile, dtype=np.float64)


def annual(day_of_year: int, peak_day: float) -> float:
    """Return a yearly cosine: 1 on `peak_day`, -1 half a year away."""
    return math.cos(2 * math.pi * (day_of_year - peak_day) / YEAR_DAYS)


@overload
def daily(hour: float, peak_hour: float) -> float: ...
@overload
def daily(hour: FloatArray, peak_hour: float) -> FloatArray: ...
def daily(hour: float | FloatArray, peak_hour: float) -> float | FloatArray:
    """Return a daily cosine: 1 at `peak_hour`, -1 twelve hours away; a float, or one per hour."""
    if isinstance(hour, float | int):
        return math.cos(2 * math.pi * (hour - peak_hour) / 24)
    result: FloatArray = np.cos(2 * np.pi * (hour - peak_hour) / 24)
    return result
