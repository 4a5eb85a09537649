"""Pump stations: the forebay fills with the catchment's runoff and the pumps follow it.

A station's pumps together lift the runoff of a design storm of 30-40 mm/h
over its catchment. Inflow is that share of the rain, lagged 15-30 minutes
through the sewers, plus a dry-weather trickle that the interception pumps send
to the treatment works. The forebay level tends to 1 m plus 2.5 m times the
inflow's share of the station's capacity, and 1.5 m per unit beyond it (the
forebay floods towards the ground at 6.5 m), with a 10-minute time constant.
Main pumps start one by one as the level rises (pump k at 1 m + 2.5 m × (k - ½)
/ N) and lift 85-100 % of their rating each; while any runs, the station
discharges to the river (放江, domain facts §10, A). The river at the outfall
follows the Huangpu's semi-diurnal tide (12.42 h, ±1 m about 2.2 m Wusong
datum) and rises 2 cm per mm/h of rain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from urbanpulse.kinds.incidents import Effect, Episode, magnitude
from urbanpulse.kinds.modelling import (
    Bounds,
    Drivers,
    FloatArray,
    IndexArray,
    Seconds,
    Sensor,
    TimeArray,
    window,
)
from urbanpulse.kinds.pump import SPEC

DESIGN_MM_H = (30.0, 40.0)
LAG_S = (900.0, 1800.0)
DRY_SHARE = 0.03
FLOOR_M, SPAN_M, OVER_M, GROUND_M = 1.0, 2.5, 1.5, 6.5
LEVEL_TAU_S = 600.0
TIDE_PERIOD_S = 12.42 * 3600
TIDE_MEAN_M, TIDE_AMPLITUDE_M = 2.2, 1.0
RIVER_M_PER_MM_H = 0.02
BURST_MM_H = 80.0
"""Rain intensity a storm cell adds at magnitude 1."""
BOUNDS = Bounds(SPEC, {"forebay_level_m": 2, "pumps_running": 0, "discharge_m3s": 2,
                       "river_discharge": 0, "river_level_m": 2})


def forebay_target(load: FloatArray) -> FloatArray:
    """Return the level, m, an inflow of `load` × station capacity holds the forebay at."""
    result: FloatArray = np.minimum(FLOOR_M + SPAN_M * np.minimum(load, 1.0)
                                    + OVER_M * np.maximum(load - 1.0, 0.0), GROUND_M)
    return result


def pumps_for(level: FloatArray, pumps: FloatArray) -> FloatArray:
    """Return how many of `pumps` run at forebay `level` (staged starts)."""
    result: FloatArray = np.clip(np.floor((level - FLOOR_M) / SPAN_M * pumps + 0.5), 0, pumps)
    return result


def tide(t: TimeArray) -> FloatArray:
    """Return the Huangpu's tide at the outfall at seconds `t`, m about its mean."""
    result: FloatArray = TIDE_AMPLITUDE_M * np.cos(2 * np.pi * t / TIDE_PERIOD_S)
    return result


class PumpModel:
    """Lagged inflow and forebay level per station; pumps staged on the level."""

    def __init__(self, sensors: Sequence[Sensor], rng: np.random.Generator,
                 drivers: Drivers) -> None:
        n = len(sensors)
        self._rng, self._drivers = rng, drivers
        self._pumps = np.array([float(s.attributes.get("pumps", 4)) for s in sensors])
        self._rating = np.array([float(s.attributes.get("pump_m3s", 2.0)) for s in sensors])
        self._design = rng.uniform(*DESIGN_MM_H, size=n)
        self._lag = rng.uniform(*LAG_S, size=n)
        self._phase = rng.uniform(0, 0.1 * TIDE_PERIOD_S, size=n)
        self._river = rng.normal(0.0, 0.2, size=n)
        self._runoff = np.zeros(n)
        self._level = np.full(n, FLOOR_M)
        self._last = np.full(n, np.nan)
        self.knobs: dict[str, FloatArray] = {"burst_mm_h": np.zeros(n)}

    def step(self, t: Seconds, idx: IndexArray) -> dict[str, FloatArray]:
        """Return the forebay, pumps, discharge and river of stations `idx` at their seconds `t`."""
        w = window(t, len(idx))
        weather = self._drivers.weather.at(w.first).rain_mm_h
        rain = weather + self.knobs["burst_mm_h"][idx]
        dt = np.nan_to_num(w.t - self._last[idx], nan=1e9)
        runoff = rain + (self._runoff[idx] - rain) * np.exp(-dt / self._lag[idx])
        target = forebay_target(DRY_SHARE + runoff / self._design[idx])
        level = target + (self._level[idx] - target) * np.exp(-dt / LEVEL_TAU_S)
        self._runoff[idx], self._level[idx], self._last[idx] = runoff, level, w.t
        noise = self._rng.normal(size=(2, len(idx)))
        pumps = self._pumps[idx]
        running = pumps_for(level, pumps)
        lift = running * self._rating[idx] * self._rng.uniform(0.85, 1.0, size=len(idx))
        river = (TIDE_MEAN_M + self._river[idx] + tide(w.t) * np.cos(self._phase[idx])
                 + RIVER_M_PER_MM_H * rain + 0.01 * noise[1])
        return BOUNDS({"forebay_level_m": level + 0.01 * noise[0], "pumps_running": running,
                       "discharge_m3s": lift, "river_discharge": (running > 0).astype(float),
                       "river_level_m": river})


def _storm(episode: Episode, knobs: dict[str, FloatArray], starting: bool) -> None:
    """Pour a storm cell over the station's catchment while the episode lasts."""
    knobs["burst_mm_h"][episode.local] = BURST_MM_H * magnitude(episode) if starting else 0.0


MODEL = PumpModel
INCIDENTS: Mapping[str, Effect] = {"pump-discharge": Effect(knobs=_storm)}
