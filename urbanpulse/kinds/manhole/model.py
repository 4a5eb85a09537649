"""Manhole covers: a cover sensor sampled every minute, reporting on change and daily.

Each well has a dry-weather water depth (drainage wells 5-30 cm of flow, the
others 0-5 cm of seepage) and a response to rain (drainage 3-8 cm per mm/h,
others 0.5-2): the depth relaxes towards its target with a 20-minute time
constant. A closed cover rests at 0.3-2° in its seat. A sensor reports like a
parking bay (`urbanpulse.kinds.parking.model`): 0 startup (its first sample),
1 change (the cover opened or closed, the tilt moved 5° or more, or the water
moved 10 cm or more since the last report, or the battery fell below the
device's low-battery level), 2 heartbeat (daily; one due with a change waits
for the next quiet sample). Every message carries the cover's state
(`tilt_deg`, `cover_open`, `water_level_cm`); startup, heartbeat and
low-battery messages also carry `battery_mv` and `rsrp` (a metal cover costs
about 10 dB: median -105 dBm).

The battery is a 3.6 V lithium thionyl chloride (Li-SOCl2) primary cell, as in
the bay sensors: its voltage under the sensor's load stays on a plateau near
3.6 V for most of its charge, then falls off a knee in its last few per cent.
Each cell lasts 6-10 years and the fleet was installed over the years (0-80 %
of each cell used at the start), so no healthy cell reaches the knee within a
run. The sensor raises its own low-battery alarm once the cell falls below
3.3 V (re-armed above 3.35 V). A `battery-decay` fault takes its mV a day off
the cell on top; a `battery-flat` incident puts the cell on its knee (about
3.1 V), and at its end the maintainer fits a new cell: the sensor restarts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from urbanpulse.kinds.incidents import Effect, Episode, magnitude
from urbanpulse.kinds.manhole import SPEC as MANHOLE
from urbanpulse.kinds.manhole.layout import HEARTBEAT_S
from urbanpulse.kinds.modelling import (
    Bounds,
    Drivers,
    FloatArray,
    IndexArray,
    Seconds,
    Sensor,
    window,
)

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
CELL_USED = (0.0, 0.05, 0.85, 0.92, 0.96, 1.0)
CELL_MV = (3670.0, 3620.0, 3560.0, 3450.0, 3250.0, 2800.0)
"""A Li-SOCl2 cell's voltage under load by the share of its charge used: plateau, then knee."""
CELL_LIFE_DAYS = (6 * 365.0, 10 * 365.0)
USED_AT_START = (0.0, 0.8)
FLAT_USED = 0.97
"""Where a `battery-flat` incident puts the cell: on its knee, about 3.1 V."""
LOW_BATTERY_MV, REARM_MV = 3300.0, 3350.0
"""The sensor's low-battery alarm, and the voltage that re-arms it."""
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
        self._used = rng.uniform(*USED_AT_START, size=n)
        self._rsrp = np.clip(rng.normal(-105.0, 10.0, size=n), -135, -70)
        self._life_s = rng.uniform(*CELL_LIFE_DAYS, size=n) * 86_400
        self._sag = np.zeros(n)
        self._armed = np.ones(n, dtype=bool)
        self.knobs: dict[str, FloatArray] = {
            "open": np.zeros(n), "flood": np.full(n, np.nan), "battery_drain": np.zeros(n),
            "cell": np.full(n, np.nan)}

    def water(self, t: Seconds, idx: IndexArray) -> FloatArray:
        """Advance and return the water depth of wells `idx`, each at its second of `t`, cm."""
        w = window(t, len(idx))
        rain = self._drivers.weather.at(w.first).rain_mm_h
        target = self._base[idx] + self._gain[idx] * rain
        flood = self.knobs["flood"][idx]
        flooding = ~np.isnan(flood)
        elapsed = w.t - self._last_t[idx]
        dt = np.where(np.isnan(elapsed), self._poll_s[idx], elapsed)
        level = self._level[idx]
        level = target + (level - target) * np.exp(-dt / TAU_S)
        if flooding.any():
            top = np.minimum(self._depth[idx] - FREEBOARD_CM,
                             self._base[idx] + FLOOD_RISE_CM * np.nan_to_num(flood))
            risen = np.minimum(self._level[idx] + self._rise[idx] * dt, top)
            level = np.where(flooding, np.maximum(level, risen), level)
        level = np.clip(level, 0.0, self._depth[idx])
        self._level[idx], self._last_t[idx] = level, w.t
        result: FloatArray = level
        return result

    def battery(self, idx: IndexArray) -> FloatArray:
        """Drain the cells of sensors `idx` by one sample and return their voltage, mV.

        A cell the `cell` knob names (the charge used; 0: a new one) is put in
        first, and a new cell restarts its sensor.
        """
        fitted = self.knobs["cell"][idx]
        changed = ~np.isnan(fitted)
        if changed.any():
            swapped = idx[changed]
            self._used[swapped] = fitted[changed]
            fresh = swapped[fitted[changed] == 0]
            self._sag[fresh], self._next_heartbeat[fresh] = 0.0, -1.0
            self.knobs["cell"][swapped] = np.nan
        self._used[idx] += self._poll_s[idx] / self._life_s[idx]
        self._sag[idx] += self._poll_s[idx] / 86_400 * self.knobs["battery_drain"][idx]
        volts: FloatArray = np.interp(self._used[idx], CELL_USED, CELL_MV) - self._sag[idx]
        return volts

    def step(self, t: Seconds, idx: IndexArray) -> dict[str, FloatArray]:
        """Return the reports of sensors `idx`, each at its second of `t` (NaN: not reported)."""
        n = len(idx)
        seconds = window(t, n).t
        level = self.water(t, idx)
        volts = self.battery(idx)
        cover = self.knobs["open"][idx]
        tilt = np.where(cover > 0, self._displaced[idx], self._seat[idx]) \
            + self._rng.normal(0.0, 0.1, size=n)
        tilt = np.clip(tilt, 0.0, 90.0)
        last = self._reported[:, idx]
        startup = self._next_heartbeat[idx] < 0
        self._next_heartbeat[idx[startup]] = seconds[startup] + HEARTBEAT_S
        low = volts < LOW_BATTERY_MV
        alarm = ~startup & low & self._armed[idx]
        self._armed[idx] = ~low & (self._armed[idx] | (volts > REARM_MV))
        changed = ~startup & ((cover != last[0]) | (np.abs(tilt - last[1]) >= TILT_STEP)
                              | (np.abs(level - last[2]) >= WATER_STEP) | alarm)
        beat = ~startup & ~changed & (seconds >= self._next_heartbeat[idx])
        self._next_heartbeat[idx[beat]] += HEARTBEAT_S
        report = startup | changed | beat
        self._reported[:, idx[report]] = np.stack([cover, tilt, level])[:, report]
        health = startup | beat | alarm
        nan = np.full(n, np.nan)
        return BOUNDS({
            "tilt_deg": np.where(report, tilt, nan),
            "cover_open": np.where(report, cover, nan),
            "water_level_cm": np.where(report, level, nan),
            "battery_mv": np.where(health, volts, nan),
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


def _flat(episode: Episode, knobs: dict[str, FloatArray], starting: bool) -> None:
    """Put the cell on its knee; at the end the maintainer fits a new one."""
    knobs["cell"][episode.local] = FLAT_USED if starting else 0.0


MODEL = ManholeModel
INCIDENTS: Mapping[str, Effect] = {"cover-displaced": Effect(knobs=_displaced),
                                   "manhole-flooding": Effect(knobs=_flooding),
                                   "battery-flat": Effect(knobs=_flat)}
