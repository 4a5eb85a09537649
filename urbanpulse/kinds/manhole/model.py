"""Manhole covers: a cover sensor sampled every minute, reporting on change and daily.

Each well has a dry-weather water depth (drainage wells 5-30 cm of flow, the
others 0-5 cm of seepage) and a response to rain (drainage 3-8 cm per mm/h,
others 0.5-2): the depth relaxes towards its target with a 20-minute time
constant. A closed cover rests at 0.3-2° in its seat. A sensor reports like a
parking bay (`urbanpulse.kinds.parking.model`): 0 startup (its first sample),
1 change (the cover opened or closed, the tilt moved 5° or more, or the water
moved 10 cm or more since the last report), 2 heartbeat (daily; one due with a
change waits for the next quiet sample). Every message carries the cover's
state (`tilt_deg`, `cover_open`, `water_level_cm`); startup and heartbeat
messages also carry `battery_mv` (3.6 V cell, 0.2 mV a day) and `rsrp` (a
metal cover costs about 10 dB: median -105 dBm).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from urbanpulse.kinds.incidents import Effect, Episode, magnitude
from urbanpulse.kinds.manhole import SPEC as MANHOLE
from urbanpulse.kinds.manhole.layout import HEARTBEAT_S
from urbanpulse.kinds.modelling import Bounds, Drivers, FloatArray, IndexArray, Sensor

DRAINAGE = frozenset({"sewer", "storm"})
BASE_CM = {True: (5.0, 30.0), False: (0.0, 5.0)}
RAIN_GAIN = {True: (3.0, 8.0), False: (0.5, 2.0)}
"""Water depth added per mm/h of rain, cm."""
TAU_S = 1_200.0
SEAT_TILT = (0.3, 2.0)
DISPLACED_TILT = (15.0, 60.0)
TILT_STEP, WATER_STEP = 5.0, 10.0
"""Changes that make a report: tilt in degrees, water in cm."""
FLOOD_RISE_CM_MIN = (1.0, 3.0)
FLOOD_RISE_CM = 180.0
"""A flooding storm lifts the water this far over its depth (× magnitude), up to near the cover."""
FREEBOARD_CM = 5.0
BATTERY_MV = (3400.0, 3600.0)
BATTERY_MV_PER_DAY = 0.2
STARTUP, CHANGE, HEARTBEAT = 0.0, 1.0, 2.0
BOUNDS = Bounds(MANHOLE, {"tilt_deg": 1, "cover_open": 0, "water_level_cm": 0,
                          "battery_mv": 0, "rsrp": 0, "message_type": 0})


class ManholeModel:
    """Cover sensors: state on change (tilt, open, water), daily heartbeat with health."""

    def __init__(self, specs: Sequence[Sensor], rng: np.random.Generator,
                 drivers: Drivers) -> None:
        n = len(specs)
        self._rng, self._drivers = rng, drivers
        drainage = np.array([spec.attributes.get("network") in DRAINAGE for spec in specs])
        self._depth = np.array([float(spec.attributes.get("depth_cm", 200)) for spec in specs])
        self._base = np.where(drainage, rng.uniform(*BASE_CM[True], size=n),
                              rng.uniform(*BASE_CM[False], size=n))
        self._gain = np.where(drainage, rng.uniform(*RAIN_GAIN[True], size=n),
                              rng.uniform(*RAIN_GAIN[False], size=n))
        self._rise = rng.uniform(*FLOOD_RISE_CM_MIN, size=n) / 60
        self._seat = rng.uniform(*SEAT_TILT, size=n)
        self._displaced = rng.uniform(*DISPLACED_TILT, size=n)
        self._poll_s = np.array([float(spec.step_s) for spec in specs])
        self._level = self._base.copy()
        self._last_t = np.full(n, np.nan)
        self._reported = np.full((3, n), np.nan)
        self._next_heartbeat = np.full(n, -1.0)
        self._battery = rng.uniform(*BATTERY_MV, size=n)
        self._rsrp = np.clip(rng.normal(-105.0, 10.0, size=n), -135, -70)
        self.knobs: dict[str, FloatArray] = {
            "open": np.zeros(n), "flood": np.full(n, np.nan), "battery_drain": np.zeros(n)}

    def water(self, t: int, idx: IndexArray) -> FloatArray:
        """Advance and return the water depth of wells `idx` at `t`, cm."""
        rain = self._drivers.weather.at(t).rain_mm_h
        target = self._base[idx] + self._gain[idx] * rain
        flood = self.knobs["flood"][idx]
        flooding = ~np.isnan(flood)
        elapsed = t - self._last_t[idx]
        dt = np.where(np.isnan(elapsed), self._poll_s[idx], elapsed)
        level = self._level[idx]
        level = target + (level - target) * np.exp(-dt / TAU_S)
        if flooding.any():
            top = np.minimum(self._depth[idx] - FREEBOARD_CM,
                             self._base[idx] + FLOOD_RISE_CM * np.nan_to_num(flood))
            risen = np.minimum(self._level[idx] + self._rise[idx] * dt, top)
            level = np.where(flooding, np.maximum(level, risen), level)
        level = np.clip(level, 0.0, self._depth[idx])
        self._level[idx], self._last_t[idx] = level, t
        result: FloatArray = level
        return result

    def step(self, t: int, idx: IndexArray) -> dict[str, FloatArray]:
        """Return the reports of sensors `idx` at `t` (NaN: nothing to report)."""
        n = len(idx)
        level = self.water(t, idx)
        cover = self.knobs["open"][idx]
        tilt = np.where(cover > 0, self._displaced[idx], self._seat[idx]) \
            + self._rng.normal(0.0, 0.1, size=n)
        tilt = np.clip(tilt, 0.0, 90.0)
        last = self._reported[:, idx]
        startup = self._next_heartbeat[idx] < 0
        self._next_heartbeat[idx[startup]] = t + HEARTBEAT_S
        changed = ~startup & ((cover != last[0]) | (np.abs(tilt - last[1]) >= TILT_STEP)
                              | (np.abs(level - last[2]) >= WATER_STEP))
        beat = ~startup & ~changed & (t >= self._next_heartbeat[idx])
        self._next_heartbeat[idx[beat]] += HEARTBEAT_S
        report = startup | changed | beat
        self._reported[:, idx[report]] = np.stack([cover, tilt, level])[:, report]
        self._battery[idx] -= self._poll_s[idx] / 86_400 * (
            BATTERY_MV_PER_DAY + self.knobs["battery_drain"][idx])
        health = startup | beat
        nan = np.full(n, np.nan)
        return BOUNDS({
            "tilt_deg": np.where(report, tilt, nan),
            "cover_open": np.where(report, cover, nan),
            "water_level_cm": np.where(report, level, nan),
            "battery_mv": np.where(health, self._battery[idx], nan),
            "rsrp": np.where(health, self._rsrp[idx] + self._rng.normal(0.0, 3.0, size=n), nan),
            "message_type": np.where(startup, STARTUP, np.where(
                changed, CHANGE, np.where(beat, HEARTBEAT, nan))),
        })


def _displaced(episode: Episode, knobs: dict[str, FloatArray], starting: bool) -> None:
    """Knock the cover open while the incident lasts; it is put back at the end."""
    knobs["open"][episode.local] = 1.0 if starting else 0.0


def _flooding(episode: Episode, knobs: dict[str, FloatArray], starting: bool) -> None:
    """Surcharge the well while the storm lasts; it drains back at the end."""
    knobs["flood"][episode.local] = magnitude(episode) if starting else math.nan


MODEL = ManholeModel
INCIDENTS: Mapping[str, Effect] = {"cover-displaced": Effect(knobs=_displaced),
                                   "manhole-flooding": Effect(knobs=_flooding)}
