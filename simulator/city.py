"""The simulated city: sensors laid out from a city profile, deterministic for a seed.

Each district of the profile has sites (neighbourhoods) with a land use;
sensors are scattered around their site's centre and kept inside the
district's box. Each kind's layout (`urbanpulse/kinds/<kind>/layout.py`) draws
a new sensor's zone, cadence and static attributes (lot capacity, building type
and floor area, water class target, noise zone...) from the weights the profile
gives for the site's land use.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from simulator.parts import layout
from simulator.profile import CityProfile, District, load_profile
from simulator.streams import random_stream
from urbanpulse.errors import ConfigError
from urbanpulse.kinds import KINDS, get_kind
from urbanpulse.kinds.modelling import Attribute, Cadence, PlaceRequest
from urbanpulse.topics import check_name

__all__ = ["Attribute", "Cadence", "SensorSpec", "base_total", "build_city", "default_city",
           "sensor_counts"]

SCATTER_DEG = 0.008
"""Spread of sensors around their site centre (about 0.9 km)."""


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
    base = {(d.name, kind): d.counts[kind] for d in profile.districts for kind in profile.kinds
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
        cadence: `demo` (every few minutes) or `real` (each kind's field cadence).

    Returns:
        The sensors ordered by district, kind and number.
    """
    counts = sensor_counts(profile, scale=scale, sensors=sensors)
    rng = random_stream(seed, "city")
    specs: list[SensorSpec] = []
    for district in profile.districts:
        for kind in profile.kinds:
            if (district.name, kind) in counts:
                specs.extend(_place(profile, district, kind, counts[district.name, kind], rng,
                                    cadence))
    return mount_on_carriers(specs)


def mount_on_carriers(specs: list[SensorSpec]) -> list[SensorSpec]:
    """Return `specs` with each `carrier: <kind>` marker replaced by a carrier's id.

    A layout marks a sensor `carrier: <kind>` to mount it on a sensor of that kind
    (a smart pole) in its own district: it gets the nearest one (ties by id),
    takes that carrier's site and position, and loses the attribute when the
    district has none. No random draw, so no other stream changes.
    """
    by_cell: dict[tuple[str, str], list[SensorSpec]] = {}
    for spec in specs:
        by_cell.setdefault((spec.district, spec.kind), []).append(spec)
    mounted = []
    for spec in specs:
        wanted = spec.attributes.get("carrier")
        if not isinstance(wanted, str) or wanted not in KINDS:
            mounted.append(spec)
            continue
        attributes = {k: v for k, v in spec.attributes.items() if k != "carrier"}
        carriers = by_cell.get((spec.district, wanted), [])
        if not carriers:
            mounted.append(dataclasses.replace(spec, attributes=attributes))
            continue
        carrier = min(carriers, key=lambda c: ((c.lat - spec.lat) ** 2 + (c.lon - spec.lon) ** 2,
                                               c.sensor))
        mounted.append(dataclasses.replace(spec, site=carrier.site, lat=carrier.lat,
                                           lon=carrier.lon,
                                           attributes={**attributes, "carrier": carrier.sensor}))
    return mounted


def default_city(*, scale: float = 1.0, sensors: int | None = None, seed: int,
                 city: str = "shanghai", cadence: Cadence = "demo") -> list[SensorSpec]:
    """Lay out the city profile `city` (a shipped name or a file path); see `build_city`."""
    return build_city(load_profile(city), scale=scale, sensors=sensors, seed=seed,
                      cadence=cadence)


def _place(profile: CityProfile, district: District, kind: str, n: int,
           rng: np.random.Generator, cadence: Cadence) -> list[SensorSpec]:
    """Return `n` sensors of `kind` in `district`, numbered from 1."""
    picks = rng.integers(0, len(district.sites), size=n).tolist()
    spread = rng.normal(0.0, SCATTER_DEG, size=(n, 2)).tolist()
    rolls = rng.random(n).tolist()
    place, mixes = layout(kind).place, get_kind(kind).mixes
    interval, options = get_kind(kind).interval_s, profile.options[kind]
    margin = 0.001
    specs = []
    for number, (pick, (dlat, dlon), roll) in enumerate(zip(picks, spread, rolls, strict=True),
                                                        start=1):
        site = district.sites[pick]
        lat = min(max(site.lat + dlat, district.lat[0] + margin), district.lat[1] - margin)
        lon = min(max(site.lon + dlon, district.lon[0] + margin), district.lon[1] - margin)
        tables = profile.land_uses[site.land_use]
        placed = place(PlaceRequest(use=site.land_use, mixes={mix: tables[mix] for mix in mixes},
                                    interval_s=interval, cadence=cadence, options=options,
                                    roll=roll, rng=rng))
        specs.append(SensorSpec(sensor=f"{kind}-{district.name}-{number:04d}", kind=kind,
                                district=district.name, site=site.name, lat=round(lat, 5),
                                lon=round(lon, 5), zone=placed.zone, interval_s=placed.interval_s,
                                attributes=placed.attributes, poll_s=placed.poll_s))
    return specs
