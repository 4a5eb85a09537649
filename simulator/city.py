"""The simulated city: three Shanghai districts with sensors of every kind.

Each district has a handful of neighbourhoods (the `site` of a sensor); sensors
are scattered around their neighbourhood's centre and kept inside the district's
bounding box. Static attributes (lot capacity, floor area, noise zone...) are
drawn per sensor from the seed, so the same seed always lays out the same city.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from simulator.streams import random_stream
from urbanpulse.catalog import get_kind
from urbanpulse.errors import ConfigError
from urbanpulse.topics import check_name

Attribute = str | int | float | bool


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """One simulated sensor: identity, place and the static facts its model needs."""

    sensor: str
    kind: str
    district: str
    site: str
    lat: float
    lon: float
    zone: str
    interval_s: int
    attributes: dict[str, Attribute] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.sensor, what="sensor id")
        check_name(self.kind, what="kind")
        check_name(self.district, what="district")
        if self.interval_s <= 0:
            raise ValueError(f"Sensor {self.sensor} needs a positive interval, "
                             f"not {self.interval_s}.")


@dataclass(frozen=True, slots=True)
class District:
    """A district's bounding box, its neighbourhoods and its sensor counts at scale 1."""

    name: str
    lat: tuple[float, float]
    lon: tuple[float, float]
    sites: Mapping[str, tuple[float, float]]
    counts: Mapping[str, int]


KINDS = ("air", "energy", "noise", "parking", "water")
"""The kinds the default city places, in layout order."""

DISTRICTS = (
    District("pudong", (31.15, 31.35), (121.50, 121.80), {
        "lujiazui": (31.236, 121.512), "zhangjiang": (31.205, 121.590),
        "jinqiao": (31.265, 121.600), "huamu": (31.215, 121.550),
        "tangqiao": (31.210, 121.525), "sanlin": (31.162, 121.515),
        "chuansha": (31.190, 121.700), "waigaoqiao": (31.320, 121.590),
    }, {"parking": 26, "air": 8, "water": 6, "energy": 18, "noise": 12}),
    District("huangpu", (31.19, 31.25), (121.46, 121.51), {
        "the-bund": (31.240, 121.490), "nanjing-road": (31.236, 121.478),
        "peoples-square": (31.231, 121.472), "xintiandi": (31.220, 121.475),
        "dapuqiao": (31.205, 121.468), "laoximen": (31.217, 121.490),
        "yuyuan": (31.227, 121.493),
    }, {"parking": 20, "air": 5, "water": 3, "energy": 16, "noise": 9}),
    District("fengxian", (30.85, 31.00), (121.40, 121.75), {
        "nanqiao": (30.918, 121.470), "jinhui": (30.975, 121.480),
        "zhelin": (30.875, 121.530), "haiwan": (30.868, 121.650),
        "qingcun": (30.920, 121.570), "fengcheng": (30.915, 121.650),
        "zhuanghang": (30.890, 121.425), "jinhai-lake": (30.905, 121.510),
    }, {"parking": 12, "air": 6, "water": 8, "energy": 8, "noise": 6}),
)
"""The districts of the default city (pudong, huangpu, fengxian)."""

SCATTER_DEG = 0.008
"""Spread of sensors around their neighbourhood centre (about 0.9 km)."""

LAND_USES = {"office": 0.35, "retail": 0.30, "residential": 0.25, "hotel": 0.10}
CAPACITY = {"office": (150, 800), "retail": (200, 1500), "residential": (100, 600),
            "hotel": (80, 400)}
BUILDING_TYPES = {"office": 0.40, "mall": 0.20, "hotel": 0.15, "hospital": 0.10,
                  "government": 0.15}
FLOOR_AREA_M2 = {"office": (20_000, 120_000), "mall": (30_000, 200_000),
                 "hotel": (15_000, 80_000), "hospital": (30_000, 150_000),
                 "government": (8_000, 40_000)}
NOISE_ZONES = {"0": 0.03, "1": 0.25, "2": 0.35, "3": 0.10, "4a": 0.22, "4b": 0.05}
WATER_CLASSES = {2: 0.15, 3: 0.40, 4: 0.35, 5: 0.10}
AIR_SITINGS = {"urban": 0.60, "roadside": 0.30, "suburban": 0.10}


def base_total() -> int:
    """Return the number of sensors of the city at scale 1."""
    return sum(sum(district.counts.values()) for district in DISTRICTS)


def sensor_counts(*, scale: float = 1.0, sensors: int | None = None) -> dict[tuple[str, str], int]:
    """Return the sensor count per (district, kind): scaled, or apportioned to total `sensors`."""
    base = {(d.name, kind): d.counts[kind] for d in DISTRICTS for kind in KINDS}
    if sensors is None:
        if not scale > 0:
            raise ConfigError(f"The city scale must be positive, not {scale}.")
        return {cell: max(1, round(count * scale)) for cell, count in base.items()}
    if sensors < len(base):
        raise ConfigError(f"The city needs at least {len(base)} sensors (one per kind and "
                          f"district); {sensors} were asked for.")
    quotas = {cell: count * sensors / base_total() for cell, count in base.items()}
    counts = {cell: max(1, math.floor(quota)) for cell, quota in quotas.items()}
    by_remainder = sorted(base, key=lambda cell: (counts[cell] - quotas[cell], cell))
    step = 0
    while (missing := sensors - sum(counts.values())) != 0:
        cell = by_remainder[step % len(by_remainder)] if missing > 0 else max(
            (c for c in by_remainder if counts[c] > 1), key=lambda c: (counts[c] - quotas[c], c))
        counts[cell] += 1 if missing > 0 else -1
        step += 1
    return counts


def default_city(*, scale: float = 1.0, sensors: int | None = None, seed: int) -> list[SensorSpec]:
    """Lay out the default city: every kind in every district, deterministic for `seed`.

    Args:
        scale: Multiplies each district's count of each kind (at least one is kept).
        sensors: Total number of sensors wanted; overrides `scale`.
        seed: Seed of the layout.

    Returns:
        The sensors ordered by district, kind and number.
    """
    counts = sensor_counts(scale=scale, sensors=sensors)
    rng = random_stream(seed, "city")
    specs: list[SensorSpec] = []
    for district in DISTRICTS:
        for kind in KINDS:
            specs.extend(_place(district, kind, counts[district.name, kind], rng))
    return specs


T = TypeVar("T")


def _choice(rng: np.random.Generator, weights: Mapping[T, float], n: int) -> list[T]:
    """Draw `n` keys of `weights` with probabilities proportional to the weights."""
    keys = list(weights)
    probabilities = np.array([weights[key] for key in keys])
    picks = rng.choice(len(keys), size=n, p=probabilities / probabilities.sum())
    return [keys[i] for i in picks.tolist()]


def _sizes(rng: np.random.Generator, bounds: Mapping[str, tuple[int, int]], keys: list[str],
           step: int) -> list[int]:
    """Draw one size per key, uniform within the key's bounds and rounded to `step`."""
    sizes = []
    for key, fraction in zip(keys, rng.random(len(keys)).tolist(), strict=True):
        low, high = bounds[key]
        sizes.append(round((low + fraction * (high - low)) / step) * step)
    return sizes


def _attributes(kind: str, n: int,
                rng: np.random.Generator) -> tuple[list[str], list[dict[str, Attribute]]]:
    """Return the zone and the static attributes of `n` new sensors of `kind`."""
    if kind == "parking":
        uses = _choice(rng, LAND_USES, n)
        capacities = _sizes(rng, CAPACITY, uses, 10)
        return uses, [{"capacity": c, "land_use": u} for u, c in zip(uses, capacities, strict=True)]
    if kind == "energy":
        types = _choice(rng, BUILDING_TYPES, n)
        areas = _sizes(rng, FLOOR_AREA_M2, types, 500)
        return types, [{"building_type": t, "floor_area_m2": a}
                       for t, a in zip(types, areas, strict=True)]
    if kind == "water":
        return ["river"] * n, [{"class_target": c} for c in _choice(rng, WATER_CLASSES, n)]
    if kind == "noise":
        return _choice(rng, NOISE_ZONES, n), [{} for _ in range(n)]
    sitings = _choice(rng, AIR_SITINGS, n)
    return sitings, [{"siting": s} for s in sitings]


def _place(district: District, kind: str, n: int, rng: np.random.Generator) -> list[SensorSpec]:
    """Return `n` sensors of `kind` in `district`, numbered from 1."""
    names = list(district.sites)
    sites = [names[i] for i in rng.integers(0, len(names), size=n).tolist()]
    centres = np.array([district.sites[site] for site in sites]).reshape(n, 2)
    spread = rng.normal(0.0, SCATTER_DEG, size=(n, 2))
    margin = 0.001
    lats = np.clip(centres[:, 0] + spread[:, 0], district.lat[0] + margin, district.lat[1] - margin)
    lons = np.clip(centres[:, 1] + spread[:, 1], district.lon[0] + margin, district.lon[1] - margin)
    zones, attributes = _attributes(kind, n, rng)
    interval_s = get_kind(kind).interval_s
    return [
        SensorSpec(sensor=f"{kind}-{district.name}-{number:04d}", kind=kind,
                   district=district.name, site=site, lat=round(lat, 5), lon=round(lon, 5),
                   zone=zone, interval_s=interval_s, attributes=attrs)
        for number, site, lat, lon, zone, attrs in zip(
            range(1, n + 1), sites, lats.tolist(), lons.tolist(), zones, attributes, strict=True)
    ]
