"""Parking: lots reporting their counts every minute, and bay sensors reporting on change.

Demand is a fraction of peak from ULI *Shared Parking* (3rd ed.) hourly
profiles by land use (office, retail, business hotel); residential parking
follows residents (full at night, about half empty in office hours). Office
demand on a Saturday-like rest day is a fifth of the weekday's and a tenth on
Sundays and public holidays, malls get 10 % more on rest days and 25 % more on
holidays; swapped working weekends are workdays. Rain adds 5 %.

Lots (`device: lot`) report `total_spot_number`, `available_spot_number` and
`occupancy` with their own peak occupancy (0.80-0.98) and an AR(1) deviation.
Bays (`device: bay`) are two-state Markov chains sampled every 30 s: a car
leaves at rate 1/dwell (office 4 h, retail 1.5 h, residential 9 h, hotel 6 h)
and arrives at the rate that makes the demand the stationary occupancy. A bay
reports when a sample differs from what it last reported (changes shorter than
one sample are debounced away). Every bay message has `occupied` and
`message_type`: 0 startup (the first sample), 1 status change (with
`prev_state_duration_min`, how long the previous state lasted), 2 heartbeat
(24 h after startup, then daily; one due with a change waits for the next quiet
sample). Startup and heartbeat messages carry the device's health:
`battery_mv` (a 3.6 V primary cell losing about 0.16 mV a day: five years to
3.3 V), NB-IoT `rsrp` and `snr` (both a few dB lower under a car) and
`temperature` (the air's, plus sun on the road surface, less under a car).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from urbanpulse.kinds.incidents import Effect, Episode
from urbanpulse.kinds.modelling import (
    Bounds,
    Drivers,
    FloatArray,
    IndexArray,
    Seconds,
    Sensor,
    TimeArray,
    Window,
    ar1,
    day_type,
    hourly,
    known_attributes,
    window,
)
from urbanpulse.kinds.parking import SPEC as PARKING
from urbanpulse.kinds.parking.layout import BAY_HEARTBEAT_S

WEEKDAY = {
    "office": [0, 0, 0, 0, 0, 0, .03, .15, .50, .90, 1, 1,
               .85, .85, .95, .95, .85, .60, .25, .15, .05, .03, .01, 0],
    "retail": [0, 0, 0, 0, 0, 0, .01, .05, .15, .35, .60, .75,
               1, 1, .95, .85, .85, .85, .90, .90, .85, .60, .15, .05],
    "residential": [.97, .97, .97, .97, .97, .97, .95, .85, .70, .60, .55, .55,
                    .55, .55, .55, .55, .55, .60, .70, .80, .88, .93, .96, .96],
    "hotel": [1, 1, 1, 1, 1, .98, .95, .90, .80, .70, .60, .60,
              .55, .55, .60, .60, .65, .70, .75, .75, .80, .85, .95, 1],
}
WEEKEND = {
    "office": [0, 0, 0, 0, 0, 0, 0, .20, .60, .80, .90, 1,
               .90, .80, .60, .40, .20, .10, .05, 0, 0, 0, 0, 0],
    "retail": [0, 0, 0, 0, 0, 0, .01, .05, .30, .50, .70, .90,
               .95, 1, 1, .95, .90, .80, .75, .80, .80, .60, .30, .10],
    "residential": [.97, .97, .97, .97, .97, .97, .97, .95, .90, .85, .78, .78,
                    .78, .78, .78, .78, .78, .80, .85, .90, .93, .95, .97, .97],
    "hotel": WEEKDAY["hotel"],
}
REST_SCALE = {"office": (0.2, 0.1), "retail": (1.1, 1.25), "residential": (1.0, 1.0),
              "hotel": (0.95, 1.05)}
"""Demand multiplier on (Saturday-like rest days, Sundays and holidays)."""
DWELL_H = {"office": 4.0, "retail": 1.5, "residential": 9.0, "hotel": 6.0}
FLOOR = 0.03
PEAK = (0.80, 0.98)
WALK_RHO, WALK_SIGMA = 0.97, 0.04
BATTERY_MV = (3350.0, 3600.0)
BATTERY_MV_PER_DAY = 0.16
STARTUP, STATUS_CHANGE, HEARTBEAT = 0.0, 1.0, 2.0
"""Bay `message_type` codes."""
SNR_PER_RSRP_DB, RSRP_AT_SNR_0 = 0.5, -125.0
"""Bay SNR: 0.5 dB per dB of RSRP above -125 dBm (about 15 dB at the median -95 dBm)."""
CAR_RSRP_DB, CAR_SNR_DB = 4.0, 3.0
"""A car over the sensor shadows its antenna."""
SUN_GAIN_C, SHADED_GAIN_C = 12.0, 3.0
"""Road-surface warming over air temperature in full sun, free bay and under a car."""
BOUNDS = Bounds(PARKING, {"total_spot_number": 0, "available_spot_number": 0, "occupancy": 3,
                          "occupied": 0, "message_type": 0, "prev_state_duration_min": 1,
                          "battery_mv": 0, "rsrp": 0, "snr": 1, "temperature": 1})


class ParkingModel:
    """Lots (counts every interval) and bay sensors (status on change, 24-h heartbeat)."""

    def __init__(self, specs: Sequence[Sensor], rng: np.random.Generator,
                 drivers: Drivers) -> None:
        uses = known_attributes(specs, "land_use", WEEKDAY, "parking land use")
        n = len(specs)
        self._rng, self._drivers = rng, drivers
        self._bay = np.array([spec.attributes.get("device") == "bay" for spec in specs])
        self._capacity = np.array([float(spec.attributes.get("capacity", 1)) for spec in specs]
                                  ).clip(1, None)
        self._profiles = np.stack([
            np.array([WEEKDAY[u] for u in uses], dtype=np.float64).reshape(n, 24),
            np.array([np.multiply(WEEKEND[u], REST_SCALE[u][0]) for u in uses]).reshape(n, 24),
            np.array([np.multiply(WEEKEND[u], REST_SCALE[u][1]) for u in uses]).reshape(n, 24),
        ])
        self._peak = rng.uniform(*PEAK, size=n)
        self._walk = rng.normal(0.0, WALK_SIGMA, size=n)
        self._dwell_s = np.array([DWELL_H[u] * 3600 for u in uses])
        self._poll_s = np.array([float(spec.step_s) for spec in specs])
        self._state = rng.random(n) < 0.5
        self._reported = np.full(n, -1.0)
        self._next_heartbeat = np.full(n, -1.0)
        self._battery = rng.uniform(*BATTERY_MV, size=n)
        self._rsrp = np.clip(rng.normal(-95.0, 10.0, size=n), -125, -65)
        self._snr = np.clip(SNR_PER_RSRP_DB * (self._rsrp - RSRP_AT_SNR_0)
                            + rng.normal(0.0, 3.0, size=n), -15, 35)
        self._offset_c = rng.normal(0.0, 1.0, size=n)
        self._since = np.full(n, -1.0)
        self.knobs: dict[str, FloatArray] = {"surge": np.full(n, np.nan),
                                             "battery_drain": np.zeros(n)}

    def demand(self, t: Seconds, idx: IndexArray) -> FloatArray:
        """Return the share of spaces wanted at `t` (before noise) for sensors `idx`."""
        return self._demand(window(t, len(idx)), idx)

    def _demand(self, w: Window, idx: IndexArray) -> FloatArray:
        day = self._drivers.calendar.at(w.first)
        profile = hourly(self._profiles[day_type(day)][idx], w.hour)
        rain = 1.05 if self._drivers.weather.at(w.first).rain_mm_h > 0.5 else 1.0
        demand = FLOOR + (self._peak[idx] - FLOOR) * np.minimum(profile * rain, 1.0)
        surge = self.knobs["surge"][idx]
        result: FloatArray = np.where(np.isnan(surge), demand, np.fmax(demand, surge))
        return result

    def step(self, t: Seconds, idx: IndexArray) -> dict[str, FloatArray]:
        """Return lot counts and bay reports of sensors `idx` at `t` (NaN: not reported)."""
        w = window(t, len(idx))
        demand = self._demand(w, idx)
        nan = np.full(len(idx), np.nan)
        bay = self._bay[idx]
        values = {name: nan.copy() for name in BOUNDS.names}
        if (~bay).any():
            lots = idx[~bay]
            occupancy = np.clip(demand[~bay] + ar1(self._walk, lots, WALK_RHO, WALK_SIGMA,
                                                   self._rng), 0, 1)
            capacity = self._capacity[lots]
            occupied = np.round(occupancy * capacity)
            values["total_spot_number"][~bay] = capacity
            values["available_spot_number"][~bay] = capacity - occupied
            values["occupancy"][~bay] = occupied / capacity
        if bay.any():
            self._bays(w.t[bay], w.first, idx[bay], demand[bay], bay, values)
        return BOUNDS(values)

    def _bays(self, t: TimeArray, first: int, bays: IndexArray, demand: FloatArray,
              mask: IndexArray, values: dict[str, FloatArray]) -> None:
        """Sample bays `bays`, each at its second of `t`, and fill their reports at `mask`.

        `first` is a second of the same local hour: the weather's.
        """
        p = np.clip(demand, 0.01, 0.97)
        dt, dwell = self._poll_s[bays], self._dwell_s[bays]
        leave = 1 - np.exp(-dt / dwell)
        arrive = 1 - np.exp(-dt * p / (1 - p) / dwell)
        draws = self._rng.random(len(bays))
        state = self._state[bays]
        state = np.where(state, draws >= leave, draws < arrive)
        self._state[bays] = state
        occupied = state.astype(np.float64)
        startup = self._next_heartbeat[bays] < 0
        self._next_heartbeat[bays[startup]] = t[startup] + BAY_HEARTBEAT_S
        self._since[bays[startup]] = t[startup]
        changed = (occupied != self._reported[bays]) & ~startup
        # A heartbeat due with a change waits for the next quiet sample: one message, one type.
        beat = (t >= self._next_heartbeat[bays]) & ~startup & ~changed
        self._next_heartbeat[bays[beat]] += BAY_HEARTBEAT_S
        report = startup | changed | beat
        self._reported[bays[report]] = occupied[report]
        prev_min = (t - self._since[bays]) / 60
        self._since[bays[changed]] = t[changed]
        days = dt / 86_400
        self._battery[bays] -= days * (BATTERY_MV_PER_DAY + self.knobs["battery_drain"][bays])
        values["occupied"][mask] = np.where(report, occupied, np.nan)
        values["message_type"][mask] = np.where(
            startup, STARTUP, np.where(changed, STATUS_CHANGE, np.where(beat, HEARTBEAT, np.nan)))
        values["prev_state_duration_min"][mask] = np.where(changed, prev_min, np.nan)
        health = startup | beat
        if health.any():
            self._health(first, bays[health], occupied[health], np.flatnonzero(mask)[health],
                         values)

    def _health(self, first: int, bays: IndexArray, occupied: FloatArray, columns: IndexArray,
                values: dict[str, FloatArray]) -> None:
        """Fill the device fields of startup and heartbeat messages at `columns`.

        `first` is a second of the messages' local hour: the weather's.
        """
        noise = self._rng.normal(size=(3, len(bays)))
        weather = self._drivers.weather.at(first)
        gain = weather.sun * np.where(occupied > 0, SHADED_GAIN_C, SUN_GAIN_C)
        values["battery_mv"][columns] = self._battery[bays]
        values["rsrp"][columns] = self._rsrp[bays] - CAR_RSRP_DB * occupied + 3.0 * noise[0]
        values["snr"][columns] = self._snr[bays] - CAR_SNR_DB * occupied + 2.0 * noise[1]
        values["temperature"][columns] = (weather.temperature + gain + self._offset_c[bays]
                                          + 0.3 * noise[2])


def _venue(episode: Episode, knobs: dict[str, FloatArray], starting: bool) -> None:
    knobs["surge"][episode.local] = 0.99 if starting else math.nan


def _is_bay(sensor: Sensor) -> bool:
    return sensor.attributes.get("device") == "bay"


MODEL = ParkingModel
INCIDENTS: Mapping[str, Effect] = {"venue-event": Effect(knobs=_venue)}
FAULT_TARGETS: Mapping[str, Callable[[Sensor], bool]] = {"battery-decay": _is_bay}
"""Faults that strike only some of the kind's sensors: battery decay only battery bays."""
