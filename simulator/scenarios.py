"""Scenarios: YAML timelines of incidents injected into the city, each with ground truth.

A scenario file lists incidents; each has a `type`, a start `at` (an offset
from the run's start such as `90m`, `6h`, `2d`, or an ISO 8601 time), a
`duration`, and optional filters `district`, `site`, `sensors` (ids) and
`count` (the first n matching sensors by id). Every affected sensor gets one
episode, announced on `city/truth/...` when it starts. The incident types are
the kinds' (`SPEC.incidents`), and so are their effects (`INCIDENTS` in each
kind's `model.py`); this module only reads the timeline and matches it to
sensors.

A `type` may also be a device fault (`offline`, `stuck`, `spike`…) with a
`kind` to strike: a district's air stations going offline together, say. Such
an entry strikes the matching sensors of that kind on purpose, with the
typical detail of the fault (`faults.TYPICAL_DETAIL`), and its truth is a
fault's. An unknown type, kind, district or site, or a fault the kind does not
suffer, stops the run with a ConfigError naming the file and the line.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulator import faults
from simulator.city import SensorSpec
from simulator.parts import incident_types, simulated
from simulator.profile import Source, read_yaml
from simulator.shapes import Fields, Items, Number, Text, Timestamp, Whole, check
from urbanpulse.durations import seconds
from urbanpulse.errors import ConfigError
from urbanpulse.kinds import KINDS, SensorKind
from urbanpulse.kinds.incidents import Episode
from urbanpulse.messages import AttributeValue
from urbanpulse.topics import check_name

_INCIDENT = Fields({
    "type": Text, "at": (Text, Timestamp, Number), "duration": (Text, Number),
    "district": Text, "site": Text, "sensors": Items(Text), "count": Whole,
    "magnitude": Number, "kind": Text, "cause": Text,
}, frozenset({"type", "at", "duration"}), name="an incident's fields")
SHAPE = Fields({"name": Text, "incidents": Items(_INCIDENT)}, frozenset({"incidents"}),
               name="a mapping of the fields name, incidents")
"""What a scenario's YAML looks like, checked before anything is read from it."""


@dataclass(frozen=True, slots=True)
class Incident:
    """One timeline entry, before it is matched to sensors."""

    type: str
    at: str | datetime
    duration_s: int
    district: str | None = None
    site: str | None = None
    sensors: tuple[str, ...] = ()
    count: int | None = None
    magnitude: float = 1.0
    kind: str | None = None
    """The kind a device fault strikes; None for a kind's own incident type."""
    cause: str | None = None
    """The id of the cause the entry belongs to (one storm behind several systems' incidents)."""
    where: str = ""
    """`FILE, line N` of the entry, for errors found after loading."""


def load_scenario(name_or_path: str) -> list[Incident]:
    """Load a shipped scenario by name or a scenario file by path."""
    source = read_yaml("scenarios", name_or_path, "scenario")
    check(source.data, SHAPE, source.where, "the scenario")
    try:
        entries = source.data["incidents"]
        return [_located(source, index, raw) for index, raw in enumerate(entries)]
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"Invalid scenario {source.path}: {exc}.") from exc


def _located(source: Source, index: int, raw: dict[str, Any]) -> Incident:
    """Return incident `index`, a bad value in it refused with the entry's line."""
    try:
        return _incident(source, index, raw)
    except ValueError as exc:
        raise ConfigError(f"{source.where('incidents', index)}: {exc}.") from exc


def _incident(source: Source, index: int, raw: dict[str, Any]) -> Incident:
    kind = str(raw["type"])
    types = incident_types()
    struck = _struck_kind(source, index, raw, kind) if kind in faults.FAULTS else None
    if kind not in types and struck is None:
        raise ConfigError(f"{source.where('incidents', index, 'type')}: unknown incident type "
                          f"{kind!r}; known are the incidents {', '.join(sorted(types))} and "
                          f"the device faults {', '.join(faults.FAULTS)} (with a kind).")
    at = raw["at"]
    if not isinstance(at, datetime):
        try:
            seconds(at)
        except ValueError as exc:
            raise ConfigError(f"{source.where('incidents', index, 'at')}: {exc}.") from None
    return Incident(type=kind, at=at if isinstance(at, datetime) else str(at), kind=struck,
                    duration_s=int(seconds(raw["duration"])), district=raw.get("district"),
                    site=raw.get("site"), sensors=tuple(raw.get("sensors") or ()),
                    count=raw.get("count"), magnitude=float(raw.get("magnitude", 1.0)),
                    cause=_cause(source, index, raw.get("cause")),
                    where=source.where("incidents", index))


def _cause(source: Source, index: int, cause: str | None) -> str | None:
    """Return a cause id, checked against the topic grammar's names, or None."""
    if cause is None:
        return None
    try:
        return check_name(cause, what="cause id")
    except ValueError as exc:
        raise ConfigError(f"{source.where('incidents', index, 'cause')}: {exc}") from None


def _struck_kind(source: Source, index: int, raw: dict[str, Any], fault: str) -> str:
    """Return the kind a scenario's device fault strikes, or raise ConfigError saying why not."""
    where = source.where("incidents", index, "kind" if "kind" in raw else "type")
    name = raw.get("kind")
    if name is None:
        raise ConfigError(f"{where}: the device fault {fault!r} needs a `kind` to strike; "
                          f"known kinds are {', '.join(KINDS)}.")
    if name not in KINDS:
        raise ConfigError(f"{where}: unknown kind {name!r}; known kinds are "
                          f"{', '.join(KINDS)}.")
    if fault not in KINDS[name].faults:
        raise ConfigError(f"{where}: kind {name!r} does not suffer the fault {fault!r}; its "
                          f"faults are {', '.join(sorted(KINDS[name].faults))}.")
    return str(name)


def check_filters(incidents: Sequence[Incident], districts: Collection[str],
                  sites: Collection[str]) -> None:
    """Raise ConfigError when an incident filters on a district or site the city lacks."""
    for incident in incidents:
        for what, value, known in (("district", incident.district, districts),
                                   ("site", incident.site, sites)):
            if value is not None and value not in known:
                raise ConfigError(f"{incident.where or 'scenario'}: the incident "
                                  f"{incident.type} names the unknown {what} {value!r}; the "
                                  f"city has {', '.join(sorted(known))}.")


def episodes(incidents: Sequence[Incident], kind: SensorKind, specs: Sequence[SensorSpec],
             start: int) -> list[Episode]:
    """Match the incidents of `kind` to its sensors (`specs`, id order) from run start `start`."""
    out = []
    for incident in incidents:
        is_fault = incident.kind is not None
        if (incident.kind != kind.name) if is_fault else (incident.type not in kind.incidents):
            continue
        begin = (int(incident.at.timestamp()) if isinstance(incident.at, datetime)
                 else start + int(seconds(incident.at)))
        matched = [i for i, spec in enumerate(specs)
                   if (incident.district in (None, spec.district))
                   and (incident.site in (None, spec.site))
                   and (not incident.sensors or spec.sensor in incident.sensors)]
        if is_fault and (strikes := simulated(kind.name).fault_targets.get(incident.type)):
            matched = [local for local in matched if strikes(specs[local])]
        detail: dict[str, AttributeValue] = (
            dict(faults.TYPICAL_DETAIL.get(incident.type, {})) if is_fault
            else {"magnitude": incident.magnitude})
        if incident.cause is not None:
            detail["cause"] = incident.cause
        for local in matched[:incident.count]:
            out.append(Episode(local, specs[local].sensor, incident.type, begin,
                               begin + incident.duration_s, detail, incident=not is_fault))
    return out
