"""The simulator's view of the kinds: each kind's layout and model, loaded from its folder.

Every kind the registry knows may bring `layout.py` (how a new sensor is
placed) and `model.py` (its value model, its incident effects and the faults
that strike only some of its sensors); a kind the city places without either
stops the simulator at start-up with a ConfigError.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from urbanpulse.errors import ConfigError
from urbanpulse.kinds import KINDS, SensorKind, get_kind, part
from urbanpulse.kinds.incidents import Effect
from urbanpulse.kinds.modelling import ModelFactory, Option, Placement, PlaceRequest, Sensor


@dataclass(frozen=True, slots=True)
class Layout:
    """How a kind's new sensors are placed, and the options the city profile may set."""

    place: Callable[[PlaceRequest], Placement]
    options: Mapping[str, Option]


@dataclass(frozen=True, slots=True)
class Simulated:
    """A kind's value model, its incident effects and the sensors each of its faults strikes."""

    model: ModelFactory
    incidents: Mapping[str, Effect]
    fault_targets: Mapping[str, Callable[[Sensor], bool]]


def _kind(kind: str | SensorKind) -> SensorKind:
    try:
        return get_kind(kind) if isinstance(kind, str) else kind
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None


@functools.cache
def layout(name: str) -> Layout:
    """Return the layout of kind `name`, or raise ConfigError when it has none."""
    spec = _kind(name)
    module = part(spec, "layout")
    place = getattr(module, "place", None)
    if module is None or not callable(place):
        raise ConfigError(f"Sensor kind {name!r} has no layout: the simulator needs "
                          f"{spec.package or 'its package'}.layout with a place(request) "
                          "function to lay its sensors out.")
    return Layout(place, MappingProxyType(dict(getattr(module, "OPTIONS", {}))))


@functools.cache
def simulated(name: str) -> Simulated:
    """Return the model parts of kind `name`, or raise ConfigError when they are missing."""
    spec = _kind(name)
    module = part(spec, "model")
    factory = getattr(module, "MODEL", None)
    if module is None or not callable(factory):
        raise ConfigError(f"Sensor kind {name!r} has no value model: the simulator needs "
                          f"{spec.package or 'its package'}.model with MODEL, a model factory.")
    incidents: Mapping[str, Effect] = getattr(module, "INCIDENTS", {})
    if set(incidents) != set(spec.incidents):
        raise ConfigError(f"Sensor kind {name!r} declares the incident types "
                          f"{', '.join(sorted(spec.incidents)) or 'none'} but its model's "
                          f"INCIDENTS gives effects for {', '.join(sorted(incidents)) or 'none'}.")
    targets: Mapping[str, Callable[[Sensor], bool]] = getattr(module, "FAULT_TARGETS", {})
    if unknown := sorted(set(targets) - spec.faults):
        raise ConfigError(f"Sensor kind {name!r} restricts fault {unknown[0]!r}, which its "
                          f"SPEC.faults does not list ({', '.join(sorted(spec.faults))}).")
    return Simulated(factory, MappingProxyType(dict(incidents)), MappingProxyType(dict(targets)))


def incident_types() -> dict[str, str]:
    """Return every incident type of the registered kinds, with the kind it acts on."""
    return {incident: kind.name for kind in KINDS.values() for incident in kind.incidents}

