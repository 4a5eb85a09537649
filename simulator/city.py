"""The simulated city: sensors laid out from a city profile, deterministic for a seed.

Each district of the profile has sites (neighbourhoods) with a land use;
sensors are scattered around their site's centre and kept inside the
district's box. Static attributes (lot capacity, building type and floor area,
water class target, noise zone...) are drawn per sensor from the weights the
profile gives for the site's land use.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from simulator.profile import KINDS, CityProfile, District, load_profile
from simulator.streams import random_stream
from urbanpulse.kinds import get_kind
from urbanpulse.errors import ConfigError
from urbanpulse.topics import check_name

Attribute = str | int | float | bool
Cadence = Literal["demo", "real"]

SCATTER_DEG = 0.008
"""Spread of sensors around their site centre (about 0.9 km)."""

CAPACITY = {"office": (150, 800), "retail": (200, 1500), "residential": (100, 600),
            "hotel": (80, 400)}
FLOOR_AREA_M2 = {"office": (20_000, 120_000), "mall": (30_000, 200_000),
                 "hotel": (15_000, 80_000), "hospital": (30_000, 150_000),
                 "government": (8_000, 40_000)}
BAY_HEARTBEAT_S = 86_400
"""Bay sensors send a heartbeat every 24 h (Nwave default) and report changes between."""
BAY_POLL_S = 30
"""Bay occupancy is sampled every 30 s: shorter flips are debounced away."""
WATER_INTERVAL_S = {"demo": {"national": 600, "micro": 600},
                    "real": {"national": 4 * 3600, "micro": 2 * 3600}}
STATION_SHARE = {"national": 0.3, "micro": 0.7}
AIR_GRADE = {"reference": 0.25, "low-cost": 0.75}


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
    poll_s: int = 0
    """How often the model is asked about the sensor; 0 means every `interval_s`."""

    def __post_init__(self) -> None:
        check_name(self.sensor, what="sensor id")
        check_name(self.kind, what="kind")
        check_name(self.district, what="district")
        if self.interval_s <= 0 or self.poll_s < 0:
            raise ValueError(f"Sensor {self.sensor} needs a positive interval, "
                             f"not {self.interval_s}.")

    @property
    def step_s(self) -> int:
        """Return the seconds between two model steps of this sensor."""
        return self.poll_s or self.interval_s


def base_total(profile: CityProfile) -> int:
    """Return the number of sensors of the city at scale 1."""
    return sum(sum(district.counts.values()) for district in profile.districts)


def sensor_counts(profile: CityProfile, *, scale: float = 1.0,
                  sensors: int | None = None) -> dict[tuple[str, str], int]:
    """Return the sensor count per (district, kind): scaled, or apportioned to total `sensors`."""
    base = {(d.name, kind): d.counts[kind] for d in profile.districts for kind in KINDS
            if d.counts[kind] > 0}
    if sensors is None:
        if not scale > 0:
            raise ConfigError(f"The city scale must be positive, not {scale}.")
        return {cell: max(1, round(count * scale)) for cell, count in base.items()}
    if sensors < len(base):
        raise ConfigError(f"The city needs at least {len(base)} sensors (one per kind and "
                          f"district); {sensors} were asked for.")
    total = base_total(profile)
    quotas = {cell: count * sensors / total for cell, count in base.items()}
    counts = {cell: max(1, math.floor(quota)) for cell, quota in quotas.items()}
    by_remainder = sorted(base, key=lambda cell: (counts[cell] - quotas[cell], cell))
    step = 0
    while (missing := sensors - sum(counts.values())) != 0:
        cell = by_remainder[step % len(by_remainder)] if missing > 0 else max(
            (c for c in by_remainder if counts[c] > 1), key=lambda c: (counts[c] - quotas[c], c))
        counts[cell] += 1 if missing > 0 else -1
        step += 1
    return counts


def build_city(profile: CityProfile, *, scale: float = 1.0, sensors: int | None = None,
               seed: int, cadence: Cadence = "demo") -> list[SensorSpec]:
    """Lay out a city: every kind in every district, deterministic for `seed`.

    Args:
        profile: The city's districts, sites and land-use mixes.
        scale: Multiplies each district's count of each kind (at least one is kept).
        sensors: Total number of sensors wanted; overrides `scale`.
        seed: Seed of the layout.
        cadence: `demo` (water every 10 min) or `real` (water every 2-4 h).

    Returns:
        The sensors ordered by district, kind and number.
    """
    counts = sensor_counts(profile, scale=scale, sensors=sensors)
    rng = random_stream(seed, "city")
    specs: list[SensorSpec] = []
    for district in profile.districts:
        for kind in KINDS:
            if (district.name, kind) in counts:
                specs.extend(_place(profile, district, kind, counts[district.name, kind], rng,
                                    cadence))
    return specs


def default_city(*, scale: float = 1.0, sensors: int | None = None, seed: int,
                 city: str = "shanghai", cadence: Cadence = "demo") -> list[SensorSpec]:
    """Lay out the city profile `city` (a shipped name or a file path); see `build_city`."""
    return build_city(load_profile(city), scale=scale, sensors=sensors, seed=seed,
                      cadence=cadence)


def _pick(rng: np.random.Generator, weights: Mapping[str, float]) -> str:
    """Draw one key of `weights` with probability proportional to its weight."""
    keys = list(weights)
    cumulative = list(itertools.accumulate(weights.values()))
    return keys[min(bisect.bisect_right(cumulative, float(rng.random()) * cumulative[-1]),
                    len(keys) - 1)]


def _within(rng: np.random.Generator, bounds: tuple[int, int], step: int) -> int:
    low, high = bounds
    return round((low + float(rng.random()) * (high - low)) / step) * step


def _attributes(profile: CityProfile, kind: str, use: str, bay: bool, cadence: Cadence,
                rng: np.random.Generator) -> tuple[str, int, int, dict[str, Attribute]]:
    """Return zone, interval, poll and attributes of one new sensor of `kind` at a `use` site."""
    mixes = profile.land_uses[use]
    interval = get_kind(kind).interval_s
    if kind == "parking":
        parking_use = _pick(rng, mixes["parking_use"])
        if bay:
            return parking_use, BAY_HEARTBEAT_S, BAY_POLL_S, {
                "device": "bay", "land_use": parking_use, "site_use": use}
        return parking_use, interval, 0, {
            "device": "lot", "capacity": _within(rng, CAPACITY[parking_use], 10),
            "land_use": parking_use, "site_use": use}
    if kind == "energy":
        building = _pick(rng, mixes["building_type"])
        return building, interval, 0, {
            "building_type": building, "floor_area_m2": _within(rng, FLOOR_AREA_M2[building], 500),
            "site_use": use}
    if kind == "water":
        station = _pick(rng, STATION_SHARE)
        return "river", WATER_INTERVAL_S[cadence][station], 0, {
            "class_target": int(_pick(rng, mixes["water_class"])), "station": station,
            "site_use": use}
    if kind == "noise":
        zone = _pick(rng, mixes["noise_zone"])
        return zone, interval, 0, {"noise_zone": zone, "site_use": use}
    siting = _pick(rng, mixes["air_siting"])
    return siting, interval, 0, {"siting": siting, "grade": _pick(rng, AIR_GRADE),
                                 "site_use": use}


def _place(profile: CityProfile, district: District, kind: str, n: int,
           rng: np.random.Generator, cadence: Cadence) -> list[SensorSpec]:
    """Return `n` sensors of `kind` in `district`, numbered from 1."""
    picks = rng.integers(0, len(district.sites), size=n).tolist()
    spread = rng.normal(0.0, SCATTER_DEG, size=(n, 2)).tolist()
    bays = rng.random(n) < profile.bay_share
    margin = 0.001
    specs = []
    for number, (pick, (dlat, dlon), bay) in enumerate(zip(picks, spread, bays.tolist(),
                                                           strict=True), start=1):
        site = district.sites[pick]
        lat = min(max(site.lat + dlat, district.lat[0] + margin), district.lat[1] - margin)
        lon = min(max(site.lon + dlon, district.lon[0] + margin), district.lon[1] - margin)
        zone, interval, poll, attributes = _attributes(profile, kind, site.land_use, bay,
                                                       cadence, rng)
        specs.append(SensorSpec(sensor=f"{kind}-{district.name}-{number:04d}", kind=kind,
                                district=district.name, site=site.name, lat=round(lat, 5),
                                lon=round(lon, 5), zone=zone, interval_s=interval,
                                attributes=attributes, poll_s=poll))
    return specs
