"""The kinds registry: every sensor kind, built in or installed, as one unit.

A kind is a package whose `__init__` defines `SPEC`, a `SensorKind`, and whose
optional modules each serve one layer (docs/adding-a-kind.md):

    layout.py     simulator: how a new sensor's attributes are drawn per land use
    model.py      simulator: the vectorised value model and the kind's incident effects
    derive.py     ingest: the fields derived from a reading (compiled with mypyc)
    checks.py     ingest: alert rule types of the kind, with their checks (compiled)
    rules.yaml    ingest: the kind's default alert rules
    summary.py    api: the kind's section of the district summary, and its views
    dashboard.py  grafana: the kind's dashboard and its panels on the city overview
    calibration.py ingest: its low-cost sensors corrected against its reference ones

The built-in kinds register exactly as another distribution's kind does: by
module path, the built-ins from `BUILTIN` and the others from the entry-point
group `urbanpulse.kinds` (name = kind name, value = the package). Nothing
outside the kinds' folders names a kind: every layer iterates over `KINDS`.
Loading is lazy, on first use, so a kind package may import this one.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator, Mapping
from dataclasses import replace
from importlib.metadata import entry_points
from types import ModuleType

from urbanpulse.kinds.spec import DerivedField, Metric, SensorKind

__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "KINDS", "DerivedField", "Metric", "SensorKind",
           "get_kind", "part", "register", "register_module"]

BUILTIN = tuple(f"urbanpulse.kinds.{name}" for name in (
    "air", "dma_flow", "energy", "gas", "manhole", "noise", "parking", "ponding", "pressure",
    "pump", "rain", "sewer", "streetlight", "tap_water", "tunnel", "water"))
"""The packages of the built-in kinds."""
ENTRY_POINT_GROUP = "urbanpulse.kinds"


class _Registry(Mapping[str, SensorKind]):
    """Every registered kind by name, in name order; loads the built-ins and entry points
    on first use."""

    def __init__(self) -> None:
        self._kinds: dict[str, SensorKind] = {}
        self._loaded = False
        self._loading = False

    def _load(self) -> None:
        if self._loaded or self._loading:
            return
        self._loading = True
        try:
            for module in BUILTIN:
                register_module(module)
            for point in entry_points(group=ENTRY_POINT_GROUP):
                spec = register_module(point.value)
                if spec.name != point.name:
                    raise ValueError(f"The entry point {point.name!r} of group "
                                     f"{ENTRY_POINT_GROUP!r} loads kind {spec.name!r}: "
                                     "name the entry point after its kind.")
            self._loaded = True
        finally:
            self._loading = False

    def add(self, spec: SensorKind, *, load: bool = True) -> None:
        """Add `spec`; `load=False` while the registry loads (a built-in registering)."""
        if load:
            self._load()
        if spec.name in self._kinds:
            source = f" from {spec.package}" if spec.package else ""
            raise ValueError(f"Sensor kind {spec.name!r}{source} is already registered "
                             f"(from {self._kinds[spec.name].package or 'code'}).")
        self._kinds[spec.name] = spec
        self._kinds = dict(sorted(self._kinds.items()))

    def remove(self, name: str) -> None:
        self._kinds.pop(name, None)

    def __getitem__(self, name: str) -> SensorKind:
        self._load()
        return self._kinds[name]

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(list(self._kinds))

    def __len__(self) -> int:
        self._load()
        return len(self._kinds)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._kinds


_REGISTRY = _Registry()
KINDS: Mapping[str, SensorKind] = _REGISTRY
"""Every registered kind by name, in name order (read-only view)."""


def register(spec: SensorKind) -> SensorKind:
    """Add a kind to the registry; a second kind of the same name is refused."""
    _REGISTRY.add(spec)
    return spec


def register_module(module: str) -> SensorKind:
    """Import the kind package `module`, register its `SPEC` and return it.

    Raises:
        ValueError: The package defines no `SPEC` of type SensorKind, or its name is taken.
    """
    found = importlib.import_module(module)
    spec = getattr(found, "SPEC", None)
    if not isinstance(spec, SensorKind):
        raise ValueError(f"The kind package {module} must define SPEC, a SensorKind.")
    spec = replace(spec, package=module)
    _REGISTRY.add(spec, load=False)
    return spec


def unregister(name: str) -> None:
    """Remove a kind (for tests that register a kind of their own)."""
    _REGISTRY.remove(name)


def get_kind(name: str) -> SensorKind:
    """Return the kind called `name`, or raise KeyError naming the known kinds."""
    try:
        return KINDS[name]
    except KeyError:
        known = ", ".join(KINDS)
        raise KeyError(f"Unknown sensor kind {name!r}; known kinds are {known}.") from None


def part(kind: SensorKind | str, name: str) -> ModuleType | None:
    """Return the layer module `name` of a kind's package (`model`, `summary`…), or None."""
    spec = get_kind(kind) if isinstance(kind, str) else kind
    if not spec.package:
        return None
    module = f"{spec.package}.{name}"
    if importlib.util.find_spec(module) is None:
        return None
    return importlib.import_module(module)
