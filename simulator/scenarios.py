"""Scenarios: YAML timelines of incidents injected into the city, each with ground truth.

A scenario file lists incidents; each has a `type`, a start `at` (an offset
from the run's start such as `90m`, `6h`, `2d`, or an ISO 8601 time), a
`duration`, and optional filters `district`, `site`, `sensors` (ids) and
`count` (the first n matching sensors by id). Every affected sensor gets one
episode, announced on `city/truth/...` when it starts. Incident types:

    pollution-episode    air: PM x magnitude (default 3), NO2 and CO up, ramped in and out
    sewage-discharge     water: NH3-N, CODMn, TP, conductivity and turbidity up, DO down
    venue-event          parking: lots and bays around the venue fill (occupancy >= 0.97)
    hvac-holiday         energy: HVAC left running at its working level
    night-construction   noise: +15 dB(A) LAeq (+20 LAmax) between 22:00 and 06:00
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulator.city import SensorSpec
from simulator.episodes import Episode, Values
from simulator.localtime import local_time
from simulator.profile import read_yaml
from urbanpulse.errors import ConfigError

INCIDENT_KIND = {"pollution-episode": "air", "sewage-discharge": "water",
                 "venue-event": "parking", "hvac-holiday": "energy",
                 "night-construction": "noise"}
_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])\Z")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


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


def seconds(text: object) -> int:
    """Return the seconds of a span like `90m`, `6h` or `2d` (a bare number is seconds)."""
    if isinstance(text, int | float):
        return int(text)
    match = _SPAN.match(str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a span like 90m, 6h or 2d")
    return int(float(match.group(1)) * _UNIT_S[match.group(2)])


def load_scenario(name_or_path: str) -> list[Incident]:
    """Load a shipped scenario by name or a scenario file by path."""
    path, data = read_yaml("scenarios", name_or_path, "scenario")
    try:
        incidents = [_incident(raw) for raw in data["incidents"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"Invalid scenario {path}: {exc}.") from exc
    return incidents


def _incident(raw: dict[str, Any]) -> Incident:
    kind = str(raw["type"])
    if kind not in INCIDENT_KIND:
        raise ValueError(f"unknown incident type {kind!r}; known are {', '.join(INCIDENT_KIND)}")
    at = raw["at"]
    return Incident(type=kind, at=at if isinstance(at, datetime) else str(at),
                    duration_s=seconds(raw["duration"]), district=raw.get("district"),
                    site=raw.get("site"), sensors=tuple(raw.get("sensors") or ()),
                    count=raw.get("count"), magnitude=float(raw.get("magnitude", 1.0)))


def episodes(incidents: Sequence[Incident], kind: str, specs: Sequence[SensorSpec],
             start: int) -> list[Episode]:
    """Match the incidents of `kind` to its sensors (`specs`, id order) from run start `start`."""
    out = []
    for incident in incidents:
        if INCIDENT_KIND[incident.type] != kind:
            continue
        begin = (int(incident.at.timestamp()) if isinstance(incident.at, datetime)
                 else start + seconds(incident.at))
        matched = [i for i, spec in enumerate(specs)
                   if (incident.district in (None, spec.district))
                   and (incident.site in (None, spec.site))
                   and (not incident.sensors or spec.sensor in incident.sensors)]
        for local in matched[:incident.count]:
            out.append(Episode(local, specs[local].sensor, incident.type, begin,
                               begin + incident.duration_s,
                               {"magnitude": incident.magnitude}, incident=True))
    return out


def _ramp(episode: Episode, t: int) -> float:
    """Return 0..1: a quarter of the incident to build up, half at full strength, then down."""
    assert episode.end is not None
    x = (t - episode.start) / max(1, episode.end - episode.start)
    return max(0.0, min(1.0, 4 * x, 4 * (1 - x)))


def _pollution(episode: Episode, t: int, values: Values, _memory: dict[int, Values]) -> None:
    boost = (3.0 * float(episode.detail["magnitude"]) - 1) * _ramp(episode, t)
    for name, share in (("pm25", 1.0), ("pm10", 0.8), ("no2", 0.4), ("co", 0.3)):
        if name in values:
            values[name] *= 1 + share * boost


def _sewage(episode: Episode, t: int, values: Values, _memory: dict[int, Values]) -> None:
    m = float(episode.detail["magnitude"]) * _ramp(episode, t)
    for name, add in (("nh3_n", 3.0), ("codmn", 6.0), ("tp", 0.4)):
        if name in values:
            values[name] += add * m
    for name, factor in (("conductivity", 0.4), ("turbidity", 2.0)):
        if name in values:
            values[name] *= 1 + factor * m
    if "dissolved_oxygen" in values:
        values["dissolved_oxygen"] *= 1 - 0.5 * m


def _construction(episode: Episode, t: int, values: Values, _memory: dict[int, Values]) -> None:
    hour = local_time(t).hour
    if 6 <= hour < 22:
        return
    for name, add in (("laeq", 15.0), ("lamax", 20.0), ("la10", 15.0), ("la90", 8.0)):
        if name in values:
            values[name] += add * float(episode.detail["magnitude"])


def _venue(episode: Episode, knobs: dict[str, NDArray[np.float64]], starting: bool) -> None:
    knobs["surge"][episode.local] = 0.99 if starting else math.nan


def _hvac(episode: Episode, knobs: dict[str, NDArray[np.float64]], starting: bool) -> None:
    knobs["hvac_on"][episode.local] = 1.0 if starting else 0.0


VALUE_EFFECTS = {"pollution-episode": _pollution, "sewage-discharge": _sewage,
                 "night-construction": _construction}
KNOB_EFFECTS = {"venue-event": _venue, "hvac-holiday": _hvac}
