"""What a sensor kind declares about itself: metrics, derived fields, attributes, faults.

A `SensorKind` is the catalog entry of one kind, written once in the kind's
folder (`urbanpulse/kinds/<kind>/__init__.py`, as `SPEC`) and read by every
layer: decode checks readings against its metrics, the InfluxDB schema and
the dashboards read its metric and derived-field declarations, the simulator
draws its attributes from the land-use mixes it names, and faults strike it
when it lists them. The ingester's rollups summarise its numeric fields and
count what its `tallies` name (docs/ingest.md, "Rollups").

Ranges are *physical* bounds (what a working instrument can report at all),
not normal operating ranges: a reading outside them is rejected as
`out-of-range`, anything inside is data for the alert engine to judge.
Metric names follow the FIWARE Smart Data Models in snake_case where one exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from urbanpulse.kinds.departments import CITY_OPERATIONS, Department
from urbanpulse.topics import check_name

_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
FieldType = Literal["integer", "float", "boolean", "string"]


def _check_field(name: str, what: str) -> None:
    if not _FIELD_NAME.match(name):
        raise ValueError(f"Invalid {what} name {name!r}: use [a-z][a-z0-9_]*.")


@dataclass(frozen=True, slots=True)
class Metric:
    """One quantity a kind reports, with its unit and physical range."""

    name: str
    unit: str
    low: float
    high: float
    description: str
    cumulative: bool = False
    """A register that only grows (an energy meter's kWh): faults that scale values spare it."""
    instrument: str = ""
    """The instrument that measures it: metrics of one instrument fail together, those of
    another do not (a station's PM monitor and its thermo-hygrometer). "" is the kind's
    one instrument, for a sensor that is a single device."""

    def __post_init__(self) -> None:
        _check_field(self.name, "metric")
        if not self.low < self.high:
            raise ValueError(f"Metric {self.name!r} has an empty range {self.low}..{self.high}.")
        if self.instrument:
            check_name(self.instrument, what="instrument name")

    def contains(self, value: float) -> bool:
        """Return whether `value` is a finite number inside the physical range."""
        return self.low <= value <= self.high  # False for NaN as well


@dataclass(frozen=True, slots=True)
class DerivedField:
    """A field the ingester derives from a reading and stores beside its metrics."""

    name: str
    type: FieldType
    unit: str
    description: str

    def __post_init__(self) -> None:
        _check_field(self.name, "derived field")


@dataclass(frozen=True, slots=True)
class Tally:
    """A count the rollups keep per bucket: readings that carry `field`, or (given
    `at_least`) whose `field` is at or above it. Written as the integer field `name`."""

    name: str
    field: str
    description: str
    at_least: float | None = None

    def __post_init__(self) -> None:
        _check_field(self.name, "tally")


NOW_S = 6 * 3_600
"""How recent a sensor's newest reading must be for it to count "now" (`SensorKind.now_s`):
the dashboards' default range."""
NOW_INTERVALS = 3
"""Or how many of its reporting intervals, for a kind or a sensor that reports more rarely."""


@dataclass(frozen=True, slots=True)
class Ranking:
    """A "now" table of a kind: its sensors ranked by their last value of `field`, the
    highest first (the lowest with `lowest`). Only sensors that report `field` are ranked.

    The ingester keeps each district's first `urbanpulse.now.TOP_N` of every ranking
    (`{kind}_top`, docs/contract.md) and the dashboards' tables read them.
    """

    field: str
    lowest: bool = False


@dataclass(frozen=True, slots=True)
class SensorKind:
    """A kind of sensor: its metrics, derived fields, static attributes and cadence.

    Attributes:
        name: The kind's one spelling: topic segment, measurement, folder and rules key.
        title: A short human name ("Air quality") for dashboards and docs.
        description: One sentence for docs and the API.
        interval_s: Default reporting interval in seconds.
        fiware_type: The FIWARE Smart Data Models entity type the payload maps onto.
        metrics: What a reading may carry, by name.
        derived: What the ingester derives from a reading, by name.
        attributes: Static attributes of a birth, by name, with what each means.
        mixes: Per-land-use weight tables a city profile gives for this kind.
        faults: Device fault types of the simulator that strike this kind.
        incidents: Incident types of scenarios that act on this kind, with what each does.
        tallies: Counts the rollups keep beside `count`, by name (few: each costs a field
            per rollup point).
        zoned: Whether deriving fields needs the sensor's zone from its birth.
        department: The desk its incidents are dispatched to (docs/incidents.md).
        incident_departments: The desk of an incident type that belongs to another one
            (a flooded manhole is flood control's), by incident type.
        ranked: Its "now" tables: the fields its sensors are ranked by, one ranking each.
        package: The module the kind was registered from (set by the registry).
    """

    name: str
    title: str
    description: str
    interval_s: int
    fiware_type: str
    metrics: Mapping[str, Metric]
    derived: Mapping[str, DerivedField] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)
    mixes: tuple[str, ...] = ()
    faults: frozenset[str] = frozenset()
    incidents: Mapping[str, str] = field(default_factory=dict)
    tallies: Mapping[str, Tally] = field(default_factory=dict)
    zoned: bool = False
    department: Department = CITY_OPERATIONS
    incident_departments: Mapping[str, Department] = field(default_factory=dict)
    ranked: tuple[Ranking, ...] = ()
    package: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, what="kind name")
        if self.interval_s <= 0:
            raise ValueError(f"Kind {self.name!r} needs a positive interval, "
                             f"not {self.interval_s}.")
        if not self.metrics:
            raise ValueError(f"Kind {self.name!r} declares no metrics.")
        for key, metric in self.metrics.items():
            if key != metric.name:
                raise ValueError(f"Kind {self.name!r} lists metric {metric.name!r} "
                                 f"under {key!r}.")
        for key, derived in self.derived.items():
            if key != derived.name:
                raise ValueError(f"Kind {self.name!r} lists derived field {derived.name!r} "
                                 f"under {key!r}.")
        if clash := set(self.metrics) & set(self.derived):
            raise ValueError(f"Kind {self.name!r} derives a field named like its metric "
                             f"{sorted(clash)[0]!r}.")
        self._check_tallies()
        self._check_rankings()
        for name in self.attributes:
            _check_field(name, "attribute")
        for incident in self.incidents:
            check_name(incident, what="incident type")
        if stray := set(self.incident_departments) - set(self.incidents):
            raise ValueError(f"Kind {self.name!r} names a department for incident type "
                             f"{sorted(stray)[0]!r}, which is not one of its incidents.")
        object.__setattr__(self, "metrics", MappingProxyType(dict(self.metrics)))
        object.__setattr__(self, "derived", MappingProxyType(dict(self.derived)))
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))
        object.__setattr__(self, "incidents", MappingProxyType(dict(self.incidents)))
        object.__setattr__(self, "tallies", MappingProxyType(dict(self.tallies)))
        object.__setattr__(self, "incident_departments",
                           MappingProxyType(dict(self.incident_departments)))

    @property
    def now_s(self) -> int:
        """Return how recent a reading must be for its sensor to count "now": `NOW_S`, or
        three reporting intervals of a kind that reports more rarely (a daily heartbeat)."""
        return max(NOW_S, NOW_INTERVALS * self.interval_s)

    @property
    def cumulative(self) -> tuple[str, ...]:
        """Return the names of the kind's cumulative metrics (registers), in order."""
        return tuple(name for name, metric in self.metrics.items() if metric.cumulative)

    def department_of(self, incident: str) -> Department:
        """Return the desk an incident of type `incident` on this kind is dispatched to."""
        return self.incident_departments.get(incident, self.department)

    def _check_rankings(self) -> None:
        """Refuse a ranking by a field the kind lacks or by a string, or a field ranked twice."""
        numeric = {*self.metrics, *(name for name, spec in self.derived.items()
                                    if spec.type != "string")}
        seen: set[str] = set()
        for ranking in self.ranked:
            if ranking.field not in numeric or ranking.field in seen:
                raise ValueError(f"Kind {self.name!r} ranks its sensors by {ranking.field!r}, "
                                 "which is not one of its numeric fields or is ranked twice.")
            seen.add(ranking.field)

    def _check_tallies(self) -> None:
        """Refuse a tally of an unknown or string field, or one named like another field."""
        taken = {"count", "sensors", *self.metrics, *self.derived,
                 *(f"{name}_{stat}" for name in (*self.metrics, *self.derived)
                   for stat in ("mean", "min", "max", "true", "sum", "sensors", "nonzero"))}
        for key, tally in self.tallies.items():
            kind = self.derived[tally.field].type if tally.field in self.derived else (
                "float" if tally.field in self.metrics else None)
            if key != tally.name or tally.name in taken or kind in (None, "string") or (
                    tally.at_least is not None and kind == "boolean"):
                raise ValueError(f"Kind {self.name!r} declares tally {key!r} badly: it needs "
                                 "its own name and a numeric metric or derived field "
                                 "(at_least only for a number).")
            taken.add(tally.name)


def metrics(*items: Metric) -> dict[str, Metric]:
    """Return `items` keyed by name, in order."""
    return {item.name: item for item in items}


def derived(*items: DerivedField) -> dict[str, DerivedField]:
    """Return `items` keyed by name, in order."""
    return {item.name: item for item in items}


def tallies(*items: Tally) -> dict[str, Tally]:
    """Return `items` keyed by name, in order."""
    return {item.name: item for item in items}
