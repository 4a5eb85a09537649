"""Device faults: what goes wrong with field sensors, drawn at a configurable rate.

`--fault-rate R` gives each sensor R faults a day on average (0 turns them off,
the default). Each simulated day's faults are drawn from the seed, the kind and
the day alone, so they do not depend on the run's start. Which types strike a
kind is the kind's own word (`SPEC.faults`; its model's `FAULT_TARGETS` may
narrow a type to some of its sensors), and faults that scale values spare its
cumulative registers (`Metric.cumulative`). A fault that changes values strikes
one instrument of the sensor (`Metric.instrument`: a station's PM monitor, not
its thermo-hygrometer too), drawn with the fault and named in its detail. The
types, after QARTOD and the meter-data practice in docs/simulator.md:

    stuck           values frozen at the last good reading (flat line)
    drift           values creep by 1-3 % an hour (fouling, cell ageing)
    bias            values off by a factor 1.2-1.6 (mis-calibration)
    spike           one reading 3-8 times too high

The three that scale values scale the quantity a metric measures: a level on
a logarithmic scale moves by the logarithm of the factor instead (a sound
level in dB by 10·log10(factor), 1.5 dB for a bias of 1.4; a pH by
-log10(factor), the hydrogen-ion activity scaled), not by the factor itself:
a sound level meter off by 40 % in energy reads 1.5 dB high, not 28 dB.
    dropout         5-60 minutes without readings
    offline         6-48 hours without readings
    battery-decay   a bay sensor's battery drains 40-120 mV a day
    clock-skew      device time 2-30 minutes off
    duplicate       every reading published twice
    out-of-order    each reading published after the next one
    malformed       one payload the ingester dead-letters (truncated JSON,
                    NaN, empty values)
    meter-reset     an energy meter replaced: registers restart from zero
    meter-rollover  an energy register wraps at its display capacity
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from simulator.city import SensorSpec
from simulator.episodes import Delivery
from simulator.streams import random_stream
from urbanpulse.errors import ConfigError
from urbanpulse.kinds import KINDS, SensorKind
from urbanpulse.kinds.incidents import Episode, KnobEffect, ValueEffect, Values
from urbanpulse.kinds.modelling import FloatArray, Sensor
from urbanpulse.kinds.network import BACKHAUL_OUTAGE

# type: (relative weight, shortest and longest duration in s; 0 = one reading)
FAULTS: dict[str, tuple[float, int, int]] = {
    "stuck": (2, 2 * 3600, 24 * 3600),
    "drift": (1, 24 * 3600, 72 * 3600),
    "bias": (1, 6 * 3600, 48 * 3600),
    "spike": (2, 0, 0),
    "dropout": (3, 300, 3600),
    "offline": (1, 6 * 3600, 48 * 3600),
    "battery-decay": (1, 3 * 86_400, 10 * 86_400),
    "clock-skew": (1, 3600, 12 * 3600),
    "duplicate": (1, 600, 3600),
    "out-of-order": (1, 600, 3600),
    "malformed": (1, 0, 0),
    "meter-reset": (0.5, -1, -1),
    "meter-rollover": (0.5, -1, -1),
}
"""A duration of -1 means for good (the truth has no end)."""
MALFORMED = ("truncated", "nan", "empty-values")
VALUE_FAULTS = frozenset({"stuck", "drift", "bias", "spike"})
"""The faults that change a reading's values: each strikes one instrument."""


def instruments(kind: SensorKind) -> dict[str, frozenset[str]]:
    """Return the metrics each of `kind`'s instruments measures, in declaration order."""
    found: dict[str, set[str]] = {}
    for name, metric in kind.metrics.items():
        found.setdefault(metric.instrument, set()).add(name)
    return {instrument: frozenset(names) for instrument, names in found.items()}


def struck_metrics(kind: SensorKind) -> dict[str | None, frozenset[str]]:
    """Return the metrics a value fault changes, by the instrument its detail names; under
    None, those of a fault that names none (as a scenario's may): every metric."""
    struck: dict[str | None, frozenset[str]] = dict(instruments(kind).items())
    struck[None] = frozenset(kind.metrics)
    return struck


def draw_faults(seed: int, kind: SensorKind, day: int, specs: Sequence[SensorSpec], rate: float,
                targets: Mapping[str, Callable[[Sensor], bool]] | None = None) -> list[Episode]:
    """Draw the faults of `kind`'s sensors that start on simulated day `day` (epoch days).

    `targets` narrows a fault type to the sensors it can strike (by default: any of them).
    """
    types = [name for name in FAULTS if name in kind.faults]
    if rate <= 0 or not specs or not types:
        return []
    rng = random_stream(seed, f"faults/{kind.name}/{day}")
    # Instruments come from a stream of their own: the faults drawn stay those of a kind
    # with one instrument, whatever the number of a kind's instruments.
    which = random_stream(seed, f"faults/{kind.name}/{day}/instruments")
    names = list(instruments(kind))
    eligible = {fault: [i for i, s in enumerate(specs) if strikes(s)]
                for fault, strikes in (targets or {}).items()}
    weights = np.array([FAULTS[name][0] for name in types])
    count = int(rng.poisson(rate * len(specs)))
    episodes = []
    for _ in range(count):
        fault = types[int(rng.choice(len(types), p=weights / weights.sum()))]
        among = eligible.get(fault)
        local = int(rng.choice(among)) if among else int(rng.integers(len(specs)))
        if among is not None and not among:
            continue
        _, shortest, longest = FAULTS[fault]
        start = day * 86_400 + int(rng.integers(86_400))
        duration = int(rng.integers(shortest, longest + 1)) if longest > 0 else longest
        end = None if duration < 0 else start + max(duration, specs[local].step_s)
        detail = _detail(fault, rng)
        if fault in VALUE_FAULTS and len(names) > 1:
            detail["instrument"] = names[int(which.integers(len(names)))]
        episodes.append(Episode(local, specs[local].sensor, fault, start, end, detail))
    return sorted(episodes, key=lambda e: (e.start, e.sensor))


TYPICAL_DETAIL: dict[str, dict[str, str | int | float | bool]] = {
    "drift": {"rate_per_h": 0.02}, "bias": {"factor": 1.4}, "spike": {"factor": 5.0},
    "battery-decay": {"mv_per_day": 80.0}, "clock-skew": {"skew_s": 600},
    "malformed": {"variant": "truncated"},
}
"""The middle of each drawn range: the detail of a fault a scenario injects on purpose."""


def _detail(fault: str, rng: np.random.Generator) -> dict[str, str | int | float | bool]:
    if fault == "drift":
        return {"rate_per_h": round(float(rng.uniform(0.01, 0.03)), 4)}
    if fault == "bias":
        return {"factor": round(float(rng.uniform(1.2, 1.6)), 3)}
    if fault == "spike":
        return {"factor": round(float(rng.uniform(3.0, 8.0)), 2)}
    if fault == "battery-decay":
        return {"mv_per_day": round(float(rng.uniform(40, 120)), 1)}
    if fault == "clock-skew":
        return {"skew_s": int(rng.choice([-1, 1])) * int(rng.integers(120, 1801))}
    if fault == "malformed":
        return {"variant": MALFORMED[int(rng.integers(len(MALFORMED)))]}
    return {}


def _struck(struck: Mapping[str | None, frozenset[str]], episode: Episode) -> frozenset[str]:
    """Return the metrics of `struck` (`struck_metrics`, or a part of them) for the
    instrument `episode` names."""
    instrument = episode.detail.get("instrument")
    return struck[None if instrument is None else str(instrument)]


def _stuck(struck: Mapping[str | None, frozenset[str]], episode: Episode, t: int,
           values: Values, memory: dict[int, Values]) -> None:
    frozen = _struck(struck, episode)
    held = memory.setdefault(id(episode), {k: v for k, v in values.items() if k in frozen})
    values.update({k: v for k, v in held.items() if k in values})


def _scale(scaled: Mapping[str | None, frozenset[str]], logarithmic: Mapping[str, float],
           episode: Episode, t: int, values: Values, memory: dict[int, Values]) -> None:
    if episode.type == "drift":
        factor = 1 + float(episode.detail["rate_per_h"]) * (t - episode.start) / 3600
    else:
        factor = float(episode.detail["factor"])
    for name in _struck(scaled, episode) & values.keys():
        if name in logarithmic:
            values[name] += logarithmic[name] * math.log10(factor)
        else:
            values[name] *= factor


LOG_UNITS: dict[str, float] = {"dB": 10.0, "pH": -1.0}
"""Units of logarithmic levels (by prefix), and what log10 of a scaling factor moves them by."""


def logarithmic(kind: SensorKind) -> dict[str, float]:
    """Return `kind`'s metrics on a logarithmic scale, each with its LOG_UNITS multiplier."""
    return {name: multiplier for name, metric in kind.metrics.items()
            for unit, multiplier in LOG_UNITS.items() if metric.unit.startswith(unit)}


def _meter(cumulative: frozenset[str], episode: Episode, t: int, values: Values,
           memory: dict[int, Values]) -> None:
    at_start = memory.setdefault(id(episode), {k: v for k, v in values.items()
                                               if k in cumulative})
    for name in at_start:
        if name not in values:
            continue
        if episode.type == "meter-reset":
            values[name] = round(values[name] - at_start[name], 2)
        else:
            capacity = 10.0 ** math.floor(math.log10(max(at_start[name], 10.0)))
            values[name] = round(values[name] % capacity, 2)


def _battery(episode: Episode, knobs: dict[str, FloatArray], starting: bool) -> None:
    knobs["battery_drain"][episode.local] = (float(episode.detail["mv_per_day"]) if starting
                                            else 0.0)


def _deliver(episode: Episode, delivery: Delivery) -> None:
    fault = episode.type
    if fault in ("dropout", "offline", BACKHAUL_OUTAGE):
        delivery.drop = True
    elif fault == "duplicate":
        delivery.copies = 2
    elif fault == "out-of-order":
        delivery.hold = True
    elif fault == "clock-skew":
        delivery.skew_ms = int(episode.detail["skew_s"]) * 1000
    elif fault == "malformed":
        delivery.malformed = str(episode.detail["variant"])


def check_faults() -> None:
    """Raise ConfigError when a kind's SPEC.faults names a fault type this module lacks."""
    for kind in KINDS.values():
        if unknown := sorted(kind.faults - set(FAULTS)):
            raise ConfigError(f"Sensor kind {kind.name!r} lists the unknown fault type "
                              f"{unknown[0]!r} in SPEC.faults; known fault types are "
                              f"{', '.join(FAULTS)}.")


def value_effects(kind: SensorKind) -> dict[str, ValueEffect]:
    """Return the value effects of the faults: each on its instrument's metrics, sparing
    `kind`'s cumulative registers and moving its logarithmic levels by the logarithm of a
    factor."""
    struck = struck_metrics(kind)
    cumulative = frozenset(name for name, metric in kind.metrics.items() if metric.cumulative)
    scaled = {instrument: metrics - cumulative for instrument, metrics in struck.items()}
    scale = functools.partial(_scale, scaled, logarithmic(kind))
    meter = functools.partial(_meter, cumulative)
    return {"stuck": functools.partial(_stuck, struck), "drift": scale, "bias": scale,
            "spike": scale, "meter-reset": meter, "meter-rollover": meter}


KNOB_EFFECTS: dict[str, KnobEffect] = {"battery-decay": _battery}
DELIVERY_EFFECTS = dict.fromkeys(("dropout", "offline", "duplicate", "out-of-order",
                                  "clock-skew", "malformed", BACKHAUL_OUTAGE), _deliver)
"""How each fault, and the network's incident, changes the delivery of a reading."""


def mangle(payload: bytes, variant: str) -> bytes:
    """Return `payload` broken the way `variant` says, so the ingester dead-letters it."""
    if variant == "truncated":
        return payload[: len(payload) // 2]  # malformed-json
    if variant == "nan":
        head, sep, tail = payload.partition(b'"values":{')
        colon = tail.index(b":")
        end = min(i for i in (tail.find(b",", colon), tail.find(b"}", colon)) if i >= 0)
        return head + sep + tail[:colon + 1] + b"NaN" + tail[end:]  # non-finite
    head, _, _ = payload.partition(b'"values":')
    return head + b'"values":{}}'  # schema: values needs one metric


def clip(kind: SensorKind, values: Values) -> None:
    """Clip faulty values back into the kind's physical ranges (a fault is not out-of-range)."""
    metrics = kind.metrics
    for name, value in values.items():
        metric = metrics[name]
        values[name] = round(min(max(value, metric.low), metric.high), 3)
