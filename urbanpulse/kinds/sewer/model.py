"""Sewers: flow from the catchment's lagged rain, level from the pipe's part-full hydraulics.

Each pipe's capacity is Manning's full-bore flow (n 0.013, slope 0.1-0.3 %, as
flat Shanghai lays them), and a storm pipe is sized for a design storm of
30-40 mm/h over its catchment (a 3-5-year return period, domain facts §10).
The catchment's runoff follows the rain through a first-order lag of the
sewer's `lag_min` (15-60 minutes). Storm pipes carry the runoff plus a trickle
of infiltration; foul pipes a dry-weather flow with the day's water use
(peak at 08:00 and 20:00) and a fifth of the rain (inflow); combined pipes
both. The level comes from the part-full relation of a circular pipe up to
0.8 of the diameter, then rises to the crown as the flow reaches capacity;
beyond capacity the pipe surcharges: the head rises half a diameter per 10 %
of excess flow, and the pipe carries at most 1.3 times its full-bore flow.
Velocity is flow over the wetted area.

A `foul-connection` incident (雨污混接: a building's or a street's foul drain
wrongly connected into the pipe, a common finding of Shanghai's drainage
inspections) adds sewage to it: 5-15 % of the pipe's capacity at the daily
mean (× magnitude), with the day's water use. In a storm pipe that is flow in
dry weather, where the pipe should carry only its trickle of infiltration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import overload

import numpy as np

from urbanpulse.kinds.incidents import Effect, Episode, magnitude
from urbanpulse.kinds.modelling import (
    Bounds,
    Drivers,
    FloatArray,
    IndexArray,
    Seconds,
    Sensor,
    hourly_value,
    known_attributes,
    window,
)
from urbanpulse.kinds.sewer import SPEC

MANNING_N = 0.013
SLOPE = (0.001, 0.003)
DESIGN_MM_H = (30.0, 40.0)
BURST_MM_H = 80.0
"""Rain intensity a storm cell adds at magnitude 1."""
DRY_SHARE = {"storm": 0.01, "foul": 0.35, "combined": 0.15}
"""Dry-weather flow as a share of capacity at its daily mean."""
RAIN_SHARE = {"storm": 1.0, "foul": 0.2, "combined": 0.8}
"""Share of the design storm's runoff the pipe takes."""
DRY_WEATHER = (0.6, 0.5, 0.45, 0.4, 0.4, 0.5, 0.8, 1.2, 1.4, 1.35, 1.25, 1.2,
               1.2, 1.15, 1.1, 1.05, 1.05, 1.1, 1.25, 1.35, 1.3, 1.15, 0.95, 0.75)
"""Hourly sewage flow over the daily mean: low at 03:00-04:00, peaks at 08:00 and 19:00 (A)."""
FOUL_SHARE = (0.05, 0.15)
"""Sewage a foul connection adds, as a share of capacity at its daily mean (A)."""
SURCHARGE_HEAD = 5.0
"""Diameters of head per unit of flow over capacity."""
SURCHARGED_FLOW = 1.3
"""Most a surcharged pipe carries, over its full-bore flow: the rest backs up."""
SILT_FILL = 0.03
"""Standing water and silt at the invert: the level never reads zero."""
_Y = np.linspace(0.0, 0.8, 81)
_THETA = 2 * np.arccos(1 - 2 * _Y)
_AREA = (_THETA - np.sin(_THETA)) / (2 * np.pi)
"""Wetted area over full area at fill `_Y`."""
_Q = _AREA * ((_THETA - np.sin(_THETA)) / np.maximum(_THETA, 1e-9) / 1.0) ** (2 / 3)
"""Flow over full-bore flow at fill `_Y` (Manning, R/R_full = A/A_full · P_full/P)."""
BOUNDS = Bounds(SPEC, {"level_m": 3, "fill_ratio": 3, "flow_m3s": 3, "velocity_ms": 2})


def fill_of(q: FloatArray) -> FloatArray:
    """Return the fill ratio of flows `q` (share of full-bore capacity)."""
    part = np.interp(q, _Q, _Y)
    full = _Q[-1]
    crown = 0.8 + 0.2 * np.clip((q - full) / (1.0 - full), 0.0, 1.0)
    result: FloatArray = np.where(q <= full, part, np.where(
        q <= 1.0, crown, 1.0 + SURCHARGE_HEAD * (q - 1.0)))
    return result


def area_of(fill: FloatArray) -> FloatArray:
    """Return the wetted area over the full area at `fill` (1 when surcharged)."""
    result: FloatArray = np.interp(np.minimum(fill, 0.8), _Y, _AREA)
    theta = 2 * np.arccos(1 - 2 * np.clip(fill, 0.0, 1.0))
    return np.where(fill <= 0.8, result, (theta - np.sin(theta)) / (2 * np.pi))


@overload
def dry_weather(hour: float) -> float: ...
@overload
def dry_weather(hour: FloatArray) -> FloatArray: ...
def dry_weather(hour: float | FloatArray) -> float | FloatArray:
    """Return the dry-weather flow at local `hour` (or each of the hours) over its daily mean."""
    return hourly_value(DRY_WEATHER, hour)


class SewerModel:
    """Lagged runoff per pipe, turned into flow, level and velocity."""

    def __init__(self, sensors: Sequence[Sensor], rng: np.random.Generator,
                 drivers: Drivers) -> None:
        networks = known_attributes(sensors, "network", DRY_SHARE, "sewer network")
        n = len(sensors)
        self._rng, self._drivers = rng, drivers
        self._diameter = np.array([float(s.attributes.get("diameter_m", 1.0)) for s in sensors])
        self._tau = np.array([60.0 * float(s.attributes.get("lag_min", 30)) for s in sensors])
        slope = rng.uniform(*SLOPE, size=n)
        area = np.pi * self._diameter ** 2 / 4
        self._area = area
        self._capacity = area * (self._diameter / 4) ** (2 / 3) * np.sqrt(slope) / MANNING_N
        self._design = rng.uniform(*DESIGN_MM_H, size=n)
        self._dry = np.array([DRY_SHARE[name] for name in networks])
        self._wet = np.array([RAIN_SHARE[name] for name in networks])
        self._runoff = np.zeros(n)
        self._last = np.full(n, np.nan)
        self._foul = rng.uniform(*FOUL_SHARE, size=n)
        self.knobs: dict[str, FloatArray] = {"burst_mm_h": np.zeros(n), "foul": np.zeros(n)}

    def step(self, t: Seconds, idx: IndexArray) -> dict[str, FloatArray]:
        """Return level, fill, flow and velocity of the meters `idx`, each at its second of `t`."""
        w = window(t, len(idx))
        rain = self._drivers.weather.at(w.first).rain_mm_h + self.knobs["burst_mm_h"][idx]
        dt = np.nan_to_num(w.t - self._last[idx], nan=1e9)
        runoff = rain + (self._runoff[idx] - rain) * np.exp(-dt / self._tau[idx])
        self._runoff[idx], self._last[idx] = runoff, w.t
        noise = self._rng.normal(size=(2, len(idx)))
        sewage = self._dry[idx] + self._foul[idx] * self.knobs["foul"][idx]
        q = (sewage * dry_weather(w.hour) * (1 + 0.05 * noise[0])
             + self._wet[idx] * runoff / self._design[idx])
        q = np.maximum(q, 0.0)
        fill = np.clip(fill_of(q), SILT_FILL, SPEC.metrics["fill_ratio"].high
                       ) + 0.002 / self._diameter[idx] * noise[1]
        flow = np.minimum(q, SURCHARGED_FLOW) * self._capacity[idx]
        velocity = flow / np.maximum(area_of(fill) * self._area[idx], 1e-3)
        return BOUNDS({"level_m": fill * self._diameter[idx], "fill_ratio": fill,
                       "flow_m3s": flow, "velocity_ms": velocity})


def _storm(episode: Episode, knobs: dict[str, FloatArray], starting: bool) -> None:
    """Pour a storm cell over the pipe's catchment while the episode lasts."""
    knobs["burst_mm_h"][episode.local] = BURST_MM_H * magnitude(episode) if starting else 0.0


def _foul(episode: Episode, knobs: dict[str, FloatArray], starting: bool) -> None:
    """Let a foul drain discharge into the pipe while the episode lasts."""
    knobs["foul"][episode.local] = magnitude(episode) if starting else 0.0


MODEL = SewerModel
INCIDENTS: Mapping[str, Effect] = {"sewer-surcharge": Effect(knobs=_storm),
                                   "foul-connection": Effect(knobs=_foul)}
