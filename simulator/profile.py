"""City profiles: YAML files naming a city's districts, sites, land uses and sensor counts.

`load_profile("shanghai")` reads a profile shipped in `simulator/cities/`;
`load_profile("my-city.yaml")` reads any file. The kinds a profile may count
are the registry's; the weight tables each land use gives are the mixes the
kinds' SPECs name, and `options` sets each kind's layout options. A profile
that does not parse, misses a field or names something unknown is a
`ConfigError` naming the file, the line and the known names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from simulator.parts import layout
from simulator.shapes import Fields, Items, Nothing, Number, Pair, Table, Text, Whole, check
from urbanpulse.errors import ConfigError
from urbanpulse.kinds import KINDS
from urbanpulse.topics import check_name

TOP_LEVEL = ("name", "calendar", "climate", "pollution", "options", "land_uses", "districts")
"""The fields a profile may give."""

_SITE = Fields({"name": Text, "lat": Number, "lon": Number, "land_use": Text},
               frozenset({"name", "lat", "lon", "land_use"}), name="a site's fields")
_DISTRICT = Fields({"name": Text, "lat": Pair, "lon": Pair, "sites": Items(_SITE),
                    "counts": Table(Whole, name="a mapping of kind to sensor count")},
                   frozenset({"name", "lat", "lon", "sites", "counts"}),
                   name="a district's fields")
SHAPE = Fields({
    "name": Text, "calendar": Text, "pollution": Number,
    "climate": (Fields({"mean_c": Number, "amplitude_c": Number, "rain_days": Number},
                       name="a mapping of climate parameter to number"), Nothing),
    "options": (Table((Table(Number, name="a mapping of option to number"), Nothing),
                      name="a mapping of kind to options"), Nothing),
    "land_uses": Table(Table(Table(Number, name="a mapping of value to weight"),
                             name="a mapping of mix to weights"),
                       name="a mapping of land use to mixes"),
    "districts": Items(_DISTRICT),
}, frozenset({"name", "land_uses", "districts"}), name="a mapping of the fields "
   + ", ".join(TOP_LEVEL))
"""What a profile's YAML looks like, checked before anything is read from it."""


@dataclass(frozen=True, slots=True)
class Site:
    """A neighbourhood: its centre and its land use."""

    name: str
    lat: float
    lon: float
    land_use: str


@dataclass(frozen=True, slots=True)
class District:
    """A district's bounding box, its sites and its sensor counts at scale 1."""

    name: str
    lat: tuple[float, float]
    lon: tuple[float, float]
    sites: tuple[Site, ...]
    counts: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Climate:
    """What the weather driver needs of the city's climate."""

    mean_c: float = 17.0
    amplitude_c: float = 12.0
    rain_days: float = 120.0


@dataclass(frozen=True, slots=True)
class CityProfile:
    """A whole city: districts, land-use attribute mixes and its drivers' parameters."""

    name: str
    calendar: str
    climate: Climate
    pollution: float
    land_uses: Mapping[str, Mapping[str, Mapping[str, float]]]
    """Land use to mix name to weights."""
    districts: tuple[District, ...]
    options: Mapping[str, Mapping[str, float]]
    """Kind to its layout options, defaults filled in, for every kind the profile places."""

    @property
    def kinds(self) -> tuple[str, ...]:
        """Return the kinds some district counts, in name order."""
        return tuple(kind for kind in KINDS if any(d.counts.get(kind, 0) > 0
                                                  for d in self.districts))


def shipped_path(folder: str, name: str) -> Path | None:
    """Return the shipped `simulator/{folder}/{name}.yaml`, or None when there is none."""
    candidate = resources.files("simulator").joinpath(folder, f"{name}.yaml")
    return Path(str(candidate)) if candidate.is_file() else None


@dataclass(frozen=True, slots=True)
class Source:
    """A parsed YAML file with its node tree, to say on which line something stands."""

    path: Path
    data: Any
    root: yaml.Node | None

    def node(self, *keys: str | int) -> yaml.Node | None:
        """Return the node at `keys` (mapping keys, list indexes), or None."""
        node = self.root
        for key in keys:
            node = _child(node, key)
        return node

    def where(self, *keys: str | int) -> str:
        """Return `PATH, line N` of the key at `keys`, or of its nearest parent that exists."""
        for depth in range(len(keys), 0, -1):
            parent = self.node(*keys[:depth - 1])
            if isinstance(parent, yaml.MappingNode):
                for name, _value in parent.value:
                    if name.value == str(keys[depth - 1]):
                        return f"{self.path}, line {name.start_mark.line + 1}"
            found = self.node(*keys[:depth])
            if found is not None:
                return f"{self.path}, line {found.start_mark.line + 1}"
        line = self.root.start_mark.line + 1 if self.root is not None else 1
        return f"{self.path}, line {line}"


def _child(node: yaml.Node | None, key: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((value for name, value in node.value if name.value == str(key)), None)
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        child: yaml.Node = node.value[key]
        return child
    return None


def read_yaml(folder: str, name_or_path: str, what: str) -> Source:
    """Find a shipped name or a file path and parse it, or raise ConfigError saying why not."""
    path = shipped_path(folder, name_or_path) or Path(name_or_path)
    if not path.is_file():
        names = sorted(p.stem for p in Path(str(resources.files("simulator") / folder)).glob(
            "*.yaml"))
        raise ConfigError(f"No {what} {name_or_path!r}: give a file path or one of "
                          f"{', '.join(names)}.")
    try:
        text = path.read_text(encoding="utf-8")
        return Source(path, yaml.safe_load(text), yaml.compose(text))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"Cannot read the {what} {path}: {exc}") from exc


def load_profile(name_or_path: str) -> CityProfile:
    """Load a shipped city profile by name, or a profile file by path."""
    source = read_yaml("cities", name_or_path, "city profile")
    check(source.data, SHAPE, source.where, "the city profile")
    try:
        return _profile(source)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ConfigError(f"Invalid city profile {source.path}: {detail}.") from exc


def _pair(value: Any, what: str) -> tuple[float, float]:
    low, high = (float(v) for v in value)
    if not low < high:
        raise ValueError(f"{what} must be [low, high] with low < high, not {value}")
    return low, high


def _district(source: Source, index: int, land_uses: Mapping[str, Any]) -> District:
    raw = source.data["districts"][index]
    name = check_name(str(raw["name"]), what="district")
    lat, lon = _pair(raw["lat"], f"{name}.lat"), _pair(raw["lon"], f"{name}.lon")
    sites = tuple(Site(check_name(str(s["name"]), what="site"), float(s["lat"]),
                       float(s["lon"]), str(s["land_use"])) for s in raw["sites"])
    if not sites:
        raise ValueError(f"district {name} has no sites")
    for site in sites:
        if not (lat[0] <= site.lat <= lat[1] and lon[0] <= site.lon <= lon[1]):
            raise ValueError(f"site {site.name} lies outside district {name}")
        if site.land_use not in land_uses:
            raise ValueError(f"site {site.name} has unknown land use {site.land_use!r}")
    for kind in raw["counts"]:
        if str(kind) not in KINDS:
            raise ConfigError(f"{source.where('districts', index, 'counts', kind)}: district "
                              f"{name} counts the unknown sensor kind {kind!r}; known kinds "
                              f"are {', '.join(KINDS)}.")
    counts = {kind: int(raw["counts"].get(kind, 0)) for kind in KINDS}
    if any(count < 0 for count in counts.values()):
        raise ValueError(f"district {name} has a negative sensor count")
    return District(name, lat, lon, sites, counts)


def _located(source: Source, index: int, land_uses: Mapping[str, Any]) -> District:
    """Return district `index`, a bad value in it refused with the district's line."""
    try:
        return _district(source, index, land_uses)
    except ValueError as exc:
        raise ConfigError(f"{source.where('districts', index)}: {exc}.") from exc


def _land_uses(source: Source) -> dict[str, dict[str, dict[str, float]]]:
    """Return the land-use weight tables, refusing a mix no kind names."""
    known = {mix for kind in KINDS.values() for mix in kind.mixes}
    land_uses: dict[str, dict[str, dict[str, float]]] = {}
    for use, table in source.data["land_uses"].items():
        for mix in table:
            if mix not in known:
                raise ConfigError(f"{source.where('land_uses', use, mix)}: land use {use} gives "
                                  f"the unknown mix {mix!r}; the kinds' mixes are "
                                  f"{', '.join(sorted(known))}.")
        land_uses[str(use)] = {str(mix): {str(k): float(w) for k, w in weights.items()}
                               for mix, weights in table.items()}
        for mix, weights in land_uses[str(use)].items():
            if not weights or min(weights.values()) < 0 or sum(weights.values()) <= 0:
                raise ValueError(f"land use {use}: {mix} needs positive weights")
    return land_uses


def _options(source: Source, kinds: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Return each placed kind's layout options, the profile's over the layout's defaults."""
    given = source.data.get("options") or {}
    for kind, values in given.items():
        if kind not in KINDS:
            raise ConfigError(f"{source.where('options', kind)}: options for the unknown "
                              f"sensor kind {kind!r}; known kinds are {', '.join(KINDS)}.")
        known = layout(kind).options
        for name, value in (values or {}).items():
            option = known.get(name)
            if option is None:
                raise ConfigError(f"{source.where('options', kind, name)}: kind {kind} has no "
                                  f"layout option {name!r}; it has "
                                  f"{', '.join(known) or 'none'}.")
            if not option.low <= float(value) <= option.high:
                raise ConfigError(f"{source.where('options', kind, name)}: {kind}.{name} must "
                                  f"lie in {option.low:g}..{option.high:g}, not {value}.")
    return {kind: {name: float((given.get(kind) or {}).get(name, option.default))
                   for name, option in layout(kind).options.items()} for kind in kinds}


def _profile(source: Source) -> CityProfile:
    data = source.data
    for key in data:
        if key not in TOP_LEVEL:
            raise ConfigError(f"{source.where(key)}: unknown field {key!r}; a city profile "
                              f"gives {', '.join(TOP_LEVEL)}.")
    land_uses = _land_uses(source)
    districts = tuple(_located(source, i, land_uses) for i in range(len(data["districts"])))
    if len({d.name for d in districts}) != len(districts) or not districts:
        raise ValueError("district names must be unique and at least one given")
    kinds = tuple(kind for kind in KINDS if any(d.counts[kind] > 0 for d in districts))
    for kind in kinds:
        layout(kind)  # a kind placed without a layout stops here
        for use, mixes in land_uses.items():
            if missing := [mix for mix in KINDS[kind].mixes if mix not in mixes]:
                raise ConfigError(f"{source.where('land_uses', use)}: land use {use} misses "
                                  f"the mix {missing[0]!r} that {kind} sensors are drawn from; "
                                  f"it gives {', '.join(mixes) or 'none'}.")
    climate = Climate(**{k: float(v) for k, v in (data.get("climate") or {}).items()})
    return CityProfile(name=check_name(str(data["name"]), what="city name"),
                       calendar=str(data.get("calendar", "china")), climate=climate,
                       pollution=float(data.get("pollution", 1.0)), land_uses=land_uses,
                       districts=districts, options=_options(source, kinds))
