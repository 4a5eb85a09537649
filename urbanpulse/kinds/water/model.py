"""Surface-water stations on plain rivers: GB 3838 items around each site's target class.

Water temperature follows the year (about 6 °C in winter, 30 °C in early August)
with a small 16 h daily peak. Dissolved oxygen is a class-dependent fraction of
saturation at that temperature plus a photosynthesis swing
`A sin(2π(h - 10)/24)`: lowest near 04-05 h, highest near 16 h, with a larger
amplitude in worse (more eutrophic) water; pH swings with it. Conductivity,
turbidity, NH3-N, CODMn and TP wander around site levels set by the class target
(most urban sections are class III-IV) with multiplicative AR(1) noise.
Rain of the last 24 hours (the shared weather) raises turbidity (x3 after
50 mm), dilutes conductivity and depresses pH and DO a little. Stations report
at their own cadence: national stations every 4 h, micro stations every 2 h
(`--cadence real`), or every 10 min in the demo cadence.

Once a day, in the first reading after local midnight, each of the three
laboratory analysers (NH3-N, CODMn, TP) also reports what it read on a
standard sample at GB 3838's class III limit (HJ 915's daily standard-sample
check; docs/simulator.md): `nh3_n_check`, `codmn_check`, `tp_check`, within the
analyser's 2 % repeatability of the standard. Its clean value is the standard
itself, so a biased or drifting analyser reads its standard as wrong as the
river.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from urbanpulse.kinds.incidents import Effect, Episode, Values, magnitude
from urbanpulse.kinds.modelling import (
    Bounds,
    Drivers,
    FloatArray,
    IndexArray,
    Measurement,
    Seconds,
    Sensor,
    Window,
    annual,
    ar1,
    attribute,
    daily,
    window,
)
from urbanpulse.kinds.water import SPEC as WATER

# Per GB 3838 target class 2..5: (DO fraction of saturation, DO swing mg/L,
# NH3-N mg/L, CODMn mg/L, TP mg/L), each comfortably inside its class limit.
CLASS_LEVELS = {
    2: (0.92, 0.5, 0.30, 3.0, 0.07),
    3: (0.78, 0.8, 0.70, 4.8, 0.15),
    4: (0.62, 1.2, 1.15, 7.5, 0.24),
    5: (0.50, 1.6, 1.60, 11.0, 0.33),
}
WANDER = ("conductivity", "turbidity", "nh3_n", "codmn", "tp")
NOISE_SIGMA = np.array([[0.05], [0.25], [0.20], [0.12], [0.15], [0.15]])
"""Stationary std of the AR(1) streams: log-noise of the WANDER items, then DO (mg/L)."""
NOISE_RHO = 0.9
STANDARDS = {"nh3_n_check": 1.0, "codmn_check": 6.0, "tp_check": 0.2}
"""The standard sample each laboratory analyser checks itself on daily, mg/L: GB 3838's class
III limits of NH3-N, CODMn and TP."""
REPEATABILITY = 0.02
"""Relative standard deviation of an analyser's reading of its standard."""
BOUNDS = Bounds(WATER, {"temperature": 2, "ph": 2, "dissolved_oxygen": 2, "conductivity": 0,
                        "turbidity": 1, "nh3_n": 3, "codmn": 2, "tp": 3})
"""The river's items, measured as they are: one rounding serves the reading and the clean."""
CHECK_BOUNDS = Bounds(WATER, {"nh3_n_check": 3, "codmn_check": 2, "tp_check": 3})


def oxygen_saturation(temperature: FloatArray) -> FloatArray:
    """Return the DO saturation of fresh water (mg/L) at `temperature` (°C), sea-level pressure."""
    t = temperature
    result: FloatArray = 14.62 - 0.3898 * t + 0.006969 * t**2 - 0.00005897 * t**3
    return result


class WaterModel:
    """River stations reporting the five basic parameters plus NH3-N, CODMn and TP."""

    def __init__(self, specs: Sequence[Sensor], rng: np.random.Generator,
                 drivers: Drivers) -> None:
        classes = [int(attribute(spec, "class_target")) for spec in specs]
        unknown = sorted(set(classes) - set(CLASS_LEVELS))
        if unknown:
            raise ValueError(f"Water class target {unknown[0]} is outside 2..5.")
        n = len(specs)
        levels = np.array([CLASS_LEVELS[c] for c in classes]).reshape(n, 5).T
        self._rng, self._drivers = rng, drivers
        self.knobs: dict[str, FloatArray] = {}
        self._do_fraction, self._do_swing = levels[0], levels[1]
        self._level = np.stack([
            rng.uniform(300.0, 1000.0, size=n), rng.lognormal(np.log(30.0), 0.4, size=n),
            *(levels[2:] * rng.lognormal(0.0, 0.1, size=(3, n))),
        ])
        self._ph = rng.uniform(7.3, 7.8, size=n)
        self._offset = rng.normal(0.0, 0.4, size=n)
        self._noise = rng.normal(0.0, 1.0, size=(len(NOISE_SIGMA), n)) * NOISE_SIGMA
        self._step = np.array([spec.step_s for spec in specs])
        # The checks draw from a stream of their own: the river's values stay those drawn
        # before the stations checked their analysers.
        self._checks = rng.spawn(1)[0]

    def step(self, t: Seconds, idx: IndexArray) -> dict[str, FloatArray]:
        """Return what stations `idx` report, each at its second of `t`."""
        return self.measure(t, idx).measured

    def measure(self, t: Seconds, idx: IndexArray) -> Measurement:
        """Return what stations `idx` report, each at its second of `t`: the river's items, and
        a day's first reading its analysers' checks (clean: the standards themselves)."""
        w = window(t, len(idx))
        river = BOUNDS(self._river(w, idx))
        checking = w.first_of_day(self._step[idx])
        nan = np.full(len(idx), np.nan)
        clean = {name: np.where(checking, standard, nan) for name, standard in STANDARDS.items()}
        read = {name: value * (1 + self._checks.normal(0.0, REPEATABILITY, size=len(idx)))
                for name, value in clean.items()}
        return Measurement({**river, **CHECK_BOUNDS(read)}, {**river, **CHECK_BOUNDS(clean)})

    def _river(self, w: Window, idx: IndexArray) -> dict[str, FloatArray]:
        climate = self._drivers.climate
        rain = self._drivers.weather.at(w.first).rain_24h_mm
        temperature = (climate.mean_c + 1.0
                       + climate.amplitude_c * annual(w.local.day_of_year, 215)
                       + 0.6 * daily(w.hour, 16.0) + self._offset[idx])
        photosynthesis = np.sin(2 * np.pi * (w.hour - 10.0) / 24)
        swing = self._do_swing[idx]
        noise = ar1(self._noise, idx, NOISE_RHO, NOISE_SIGMA, self._rng)
        oxygen = (self._do_fraction[idx] * oxygen_saturation(temperature) + swing * photosynthesis
                  + noise[-1] - 0.01 * rain)
        ph = (self._ph[idx] + 0.25 * swing * photosynthesis - 0.003 * rain
              + self._rng.normal(0.0, 0.03, size=len(idx)))
        levels = self._level[:, idx] * np.exp(noise[:-1])
        levels[0] /= 1 + 0.006 * rain
        levels[1] *= 1 + 0.04 * rain
        return {"temperature": temperature, "ph": ph, "dissolved_oxygen": np.maximum(oxygen, 0.2),
                **dict(zip(WANDER, levels, strict=True))}


DISCHARGE_ADDS = (("nh3_n", 3.0), ("codmn", 6.0), ("tp", 0.4), ("turbidity", 100.0))
"""What a discharge at full strength adds to the reach, mg/L (turbidity NTU): raw sewage
runs at tens of mg/L of NH3-N and CODMn and a few hundred NTU (domain facts §2.4, A)."""
DISCHARGE_OXYGEN = 0.8
"""The share of DO a discharge at full strength consumes. Its oxygen demand, the added
CODMn plus 4.57 mg O2 per mg of NH3-N nitrified (about 20 mg/L), is several times what
the river holds (6-9 mg/L), so the reach goes hypoxic (DO down, domain facts §2.4)."""


def discharge(episode: Episode, t: int) -> float:
    """Return 0..1: full strength from the outfall's opening, fading over the last quarter.

    A discharge starts when its outfall opens, so the reach changes within one
    reading, unlike a storm's runoff or a drifting instrument; it is flushed out
    gradually once the outfall closes.
    """
    assert episode.end is not None
    left = (episode.end - t) / max(1, episode.end - episode.start)
    return max(0.0, min(1.0, 4 * left)) if t >= episode.start else 0.0


def _sewage(episode: Episode, t: int, values: Values, _memory: dict[int, Values]) -> None:
    m = magnitude(episode) * discharge(episode, t)
    for name, add in DISCHARGE_ADDS:
        if name in values:
            values[name] += add * m
    if "conductivity" in values:
        values["conductivity"] *= 1 + 0.4 * m
    if "dissolved_oxygen" in values:  # never all of it: the reach keeps a trace, and its swing
        values["dissolved_oxygen"] *= 1 - min(0.9, DISCHARGE_OXYGEN * m)


MODEL = WaterModel
INCIDENTS: Mapping[str, Effect] = {"sewage-discharge": Effect(values=_sewage)}
