"""City profiles: YAML files naming a city's districts, sites, land uses and sensor counts.

`load_profile("shanghai")` reads a profile shipped in `simulator/cities/`;
`load_profile("my-city.yaml")` reads any file. A profile that does not parse or
misses a field is a `ConfigError` naming the file and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from urbanpulse.errors import ConfigError
from urbanpulse.topics import check_name

KINDS = ("air", "energy", "noise", "parking", "water")
"""The kinds a profile places, in layout order."""

ATTRIBUTE_MIXES = ("parking_use", "building_type", "noise_zone", "air_siting", "water_class")
"""The per-land-use weight tables every land use must give."""


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
    bay_share: float
    land_uses: Mapping[str, Mapping[str, Mapping[str, float]]]
    districts: tuple[District, ...]


def shipped_path(folder: str, name: str) -> Path | None:
    """Return the shipped `simulator/{folder}/{name}.yaml`, or None when there is none."""
    candidate = resources.files("simulator").joinpath(folder, f"{name}.yaml")
    return Path(str(candidate)) if candidate.is_file() else None


def read_yaml(folder: str, name_or_path: str, what: str) -> tuple[Path, Any]:
    """Find a shipped name or a file path and parse it, or raise ConfigError saying why not."""
    path = shipped_path(folder, name_or_path) or Path(name_or_path)
    if not path.is_file():
        names = sorted(p.stem for p in Path(str(resources.files("simulator") / folder)).glob(
            "*.yaml"))
        raise ConfigError(f"No {what} {name_or_path!r}: give a file path or one of "
                          f"{', '.join(names)}.")
    try:
        return path, yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"Cannot read the {what} {path}: {exc}") from exc


def load_profile(name_or_path: str) -> CityProfile:
    """Load a shipped city profile by name, or a profile file by path."""
    path, data = read_yaml("cities", name_or_path, "city profile")
    try:
        return _profile(data)
    except (KeyError, TypeError, ValueError) as exc:
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ConfigError(f"Invalid city profile {path}: {detail}.") from exc


def _pair(value: Any, what: str) -> tuple[float, float]:
    low, high = (float(v) for v in value)
    if not low < high:
        raise ValueError(f"{what} must be [low, high] with low < high, not {value}")
    return low, high


def _district(raw: Mapping[str, Any], land_uses: Mapping[str, Any]) -> District:
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
    counts = {kind: int(raw["counts"].get(kind, 0)) for kind in KINDS}
    if any(count < 0 for count in counts.values()):
        raise ValueError(f"district {name} has a negative sensor count")
    return District(name, lat, lon, sites, counts)


def _profile(data: Any) -> CityProfile:
    land_uses = {str(use): {mix: {str(k): float(w) for k, w in table[mix].items()}
                            for mix in ATTRIBUTE_MIXES}
                 for use, table in data["land_uses"].items()}
    for use, mixes in land_uses.items():
        for mix, weights in mixes.items():
            if not weights or min(weights.values()) < 0 or sum(weights.values()) <= 0:
                raise ValueError(f"land use {use}: {mix} needs positive weights")
    districts = tuple(_district(raw, land_uses) for raw in data["districts"])
    if len({d.name for d in districts}) != len(districts) or not districts:
        raise ValueError("district names must be unique and at least one given")
    climate = Climate(**{k: float(v) for k, v in (data.get("climate") or {}).items()})
    bay_share = float(data.get("bay_share", 0.5))
    if not 0 <= bay_share <= 1:
        raise ValueError(f"bay_share must lie in 0..1, not {bay_share}")
    return CityProfile(name=check_name(str(data["name"]), what="city name"),
                       calendar=str(data.get("calendar", "china")), climate=climate,
                       pollution=float(data.get("pollution", 1.0)), bay_share=bay_share,
                       land_uses=land_uses, districts=districts)
