"""Scenarios: YAML timelines of incidents injected into the city, each with ground truth.

A scenario file lists incidents; each has a `type`, a start `at` (an offset
from the run's start such as `90m`, `6h`, `2d`, or an ISO 8601 time), a
`duration`, and optional filters `district`, `site`, `sensors` (ids),
`attributes` (values the sensors' births carry, such as `{site_type: low-road}`),
`near` (a `[lat, lon]` point: the matching sensors nearest it first) and
`count` (the first n matching sensors, by id or, with `near`, by distance).
Every affected sensor gets one episode, announced on `city/truth/...` when it
starts. The incident types are the kinds' (`SPEC.incidents`), and so are their
effects (`INCIDENTS` in each kind's `model.py`); this module only reads the
timeline and matches it to sensors.

A `type` may also be a device fault (`offline`, `stuck`, `spike`…) with a
`kind` to strike: one sensor's battery going flat on cue, say. Such an entry
strikes the matching sensors of that kind on purpose, with the typical detail
of the fault (`faults.TYPICAL_DETAIL`), and its truth is a fault's. An
incident of the network (`backhaul-outage`, `urbanpulse.kinds.network`)
takes a `kind` the same way (every kind can lose its uplink), silences the
matching sensors and is announced as an incident: a district's air stations
going dark together. An unknown type, kind, district, site or attribute, or a
fault the kind does not suffer, stops the run with a ConfigError naming the
file and the line.

Some incidents of a carrier (a smart pole's `power-cut`, listed in its model's
`SILENCES_MOUNTED`) silence every sensor mounted on it too (births carrying
`carrier: <its id>`): each of those gets a `carrier-outage` episode over the
same window, with the carrier's id and the entry's cause in its truth.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simulator import faults
from simulator.city import SensorSpec
from simulator.episodes import CARRIER_OUTAGE
from simulator.parts import incident_types, simulated
from simulator.profile import Source, read_yaml
from simulator.shapes import Fields, Items, Number, Table, Text, Timestamp, Whole, check
from urbanpulse.durations import seconds
from urbanpulse.errors import ConfigError
from urbanpulse.kinds import KINDS, SensorKind, part
from urbanpulse.kinds.incidents import Episode
from urbanpulse.kinds.network import NETWORK_INCIDENTS
from urbanpulse.messages import AttributeValue
from urbanpulse.topics import check_name

_INCIDENT = Fields({
    "type": Text, "at": (Text, Timestamp, Number), "duration": (Text, Number),
    "district": Text, "site": Text, "sensors": Items(Text), "count": Whole,
    "magnitude": Number, "kind": Text, "cause": Text,
    "attributes": Table((Text, Number), name="a mapping of attribute names to values"),
    "near": Items(Number, length=2, name="a [lat, lon] point"),
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
    """The kind a device fault or a network incident strikes; None for a kind's own type."""
    cause: str | None = None
    """The id of the cause the entry belongs to (one storm behind several systems' incidents)."""
    attributes: tuple[tuple[str, str | float], ...] = ()
    """Attribute values a matching sensor's birth must carry."""
    near: tuple[float, float] | None = None
    """A point (lat, lon): matching sensors are taken nearest first."""
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
    struck = (_struck_kind(source, index, raw, kind)
              if kind in faults.FAULTS or kind in NETWORK_INCIDENTS else None)
    if kind not in types and struck is None:
        raise ConfigError(f"{source.where('incidents', index, 'type')}: unknown incident type "
                          f"{kind!r}; known are the incidents {', '.join(sorted(types))}, and "
                          f"with a kind the network's {', '.join(NETWORK_INCIDENTS)} and the "
                          f"device faults {', '.join(faults.FAULTS)}.")
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
                    attributes=_attributes(source, index, raw, kind, struck),
                    near=_near(source, index, raw.get("near")),
                    where=source.where("incidents", index))


def _attributes(source: Source, index: int, raw: dict[str, Any], kind: str,
                struck: str | None) -> tuple[tuple[str, str | float], ...]:
    """Return the entry's attribute filter, each name one the kinds it strikes declare."""
    wanted: dict[str, str | float] = raw.get("attributes") or {}
    kinds = [KINDS[struck]] if struck is not None else [
        spec for spec in KINDS.values() if kind in spec.incidents]
    known = sorted({name for spec in kinds for name in spec.attributes})
    for name in wanted:
        if name not in known:
            raise ConfigError(f"{source.where('incidents', index, 'attributes', name)}: "
                              f"{kind} strikes no sensor with the attribute {name!r}; its "
                              f"sensors have {', '.join(known) or 'none'}.")
    return tuple(sorted(wanted.items()))


def _near(source: Source, index: int, point: list[float] | None) -> tuple[float, float] | None:
    """Return the entry's `near` point, checked to be a latitude and a longitude."""
    if point is None:
        return None
    lat, lon = (float(x) for x in point)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ConfigError(f"{source.where('incidents', index, 'near')}: {point} is not a "
                          "[lat, lon] point in degrees.")
    return lat, lon


def _cause(source: Source, index: int, cause: str | None) -> str | None:
    """Return a cause id, checked against the topic grammar's names, or None."""
    if cause is None:
        return None
    try:
        return check_name(cause, what="cause id")
    except ValueError as exc:
        raise ConfigError(f"{source.where('incidents', index, 'cause')}: {exc}") from None


def _struck_kind(source: Source, index: int, raw: dict[str, Any], fault: str) -> str:
    """Return the kind a scenario's device fault (or network incident) strikes, or raise
    ConfigError saying why not."""
    where = source.where("incidents", index, "kind" if "kind" in raw else "type")
    name = raw.get("kind")
    what = "network incident" if fault in NETWORK_INCIDENTS else "device fault"
    if name is None:
        raise ConfigError(f"{where}: the {what} {fault!r} needs a `kind` to strike; "
                          f"known kinds are {', '.join(KINDS)}.")
    if name not in KINDS:
        raise ConfigError(f"{where}: unknown kind {name!r}; known kinds are "
                          f"{', '.join(KINDS)}.")
    if fault not in NETWORK_INCIDENTS and fault not in KINDS[name].faults:
        raise ConfigError(f"{where}: kind {name!r} does not suffer the fault {fault!r}; its "
                          f"faults are {', '.join(sorted(KINDS[name].faults))}.")
    return str(name)


def anchored(incidents: Sequence[Incident], origin: datetime) -> list[Incident]:
    """Return the incidents with each offset `at` made a time counted from `origin`.

    A run with a warm-up begins before the moment its scenario is about: the
    offsets count from that moment, not from the warm-up's first second.
    """
    return [incident if isinstance(incident.at, datetime) else dataclasses.replace(
        incident, at=origin + timedelta(seconds=seconds(incident.at))) for incident in incidents]


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
        struck = incident.kind is not None
        is_fault = struck and incident.type not in NETWORK_INCIDENTS
        if (incident.kind != kind.name) if struck else (incident.type not in kind.incidents):
            continue
        begin = (int(incident.at.timestamp()) if isinstance(incident.at, datetime)
                 else start + int(seconds(incident.at)))
        matched = [i for i, spec in enumerate(specs)
                   if (incident.district in (None, spec.district))
                   and (incident.site in (None, spec.site))
                   and (not incident.sensors or spec.sensor in incident.sensors)
                   and all(spec.attributes.get(name) == value
                           for name, value in incident.attributes)]
        if is_fault and (strikes := simulated(kind.name).fault_targets.get(incident.type)):
            matched = [local for local in matched if strikes(specs[local])]
        if (point := incident.near) is not None:
            matched.sort(key=lambda local: _distance(specs[local], point))
        detail: dict[str, AttributeValue] = (
            dict(faults.TYPICAL_DETAIL.get(incident.type, {})) if is_fault
            else {} if struck else {"magnitude": incident.magnitude})
        if incident.cause is not None:
            detail["cause"] = incident.cause
        for local in sorted(matched[:incident.count]):
            out.append(Episode(local, specs[local].sensor, incident.type, begin,
                               begin + incident.duration_s, detail, incident=not is_fault))
    return out


def _distance(spec: SensorSpec, point: tuple[float, float]) -> float:
    """Return the squared distance, in degrees of latitude, from `spec` to `point`."""
    lat, lon = point
    return (spec.lat - lat) ** 2 + ((spec.lon - lon) * math.cos(math.radians(lat))) ** 2


def silences_mounted(kind: SensorKind) -> frozenset[str]:
    """Return the incident types of `kind` that silence the sensors mounted on its sensors."""
    found: frozenset[str] = getattr(part(kind, "model"), "SILENCES_MOUNTED", frozenset())
    return found


def mounted(outages: Mapping[str, Sequence[Episode]], kind: SensorKind,
            specs: Sequence[SensorSpec]) -> list[Episode]:
    """Return the `carrier-outage` episodes of `kind`'s sensors (`specs`) whose carrier is out.

    `outages` holds, by carrier id, its episodes that silence what it carries
    (`silences_mounted`); each becomes one episode of every sensor mounted on it,
    over the same window, naming the carrier (and the cause, when there is one).
    A kind mounted on a carrier that goes out must know the incident (its model
    then sends nothing while it lasts); one that does not stops the run.
    """
    out = []
    for local, spec in enumerate(specs):
        carrier = spec.attributes.get("carrier")
        if not isinstance(carrier, str) or carrier not in outages:
            continue
        if CARRIER_OUTAGE not in kind.incidents:
            raise ConfigError(f"Sensor {spec.sensor} is mounted on {carrier}, which the "
                              f"scenario cuts off ({outages[carrier][0].type}), but its kind "
                              f"{kind.name!r} lists no {CARRIER_OUTAGE!r} in SPEC.incidents "
                              "to fall silent with it.")
        for outage in outages[carrier]:
            detail: dict[str, AttributeValue] = {"carrier": carrier, "carrier_incident":
                                                 outage.type}
            if "cause" in outage.detail:
                detail["cause"] = outage.detail["cause"]
            out.append(Episode(local, spec.sensor, CARRIER_OUTAGE, outage.start, outage.end,
                               detail, incident=True))
    return out
