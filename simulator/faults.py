"""Device faults: what goes wrong with field sensors, drawn at a configurable rate.

`--fault-rate R` gives each sensor R faults a day on average (0 turns them off,
the default). Each simulated day's faults are drawn from the seed, the kind and
the day alone, so they do not depend on the run's start. The types, after
QARTOD and the meter-data practice in docs/simulator.md:

    stuck           values frozen at the last good reading (flat line)
    drift           values creep by 1-3 % an hour (fouling, cell ageing)
    bias            values off by a factor 1.2-1.6 (mis-calibration)
    spike           one reading 3-8 times too high
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

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from simulator.city import SensorSpec
from simulator.episodes import Delivery, Episode, Values
from simulator.streams import random_stream
from urbanpulse.kinds import get_kind

# type: (kinds it strikes, relative weight, shortest and longest duration in s; 0 = one reading)
FAULTS: dict[str, tuple[frozenset[str], float, int, int]] = {
    "stuck": (frozenset({"air", "water", "noise", "energy"}), 2, 2 * 3600, 24 * 3600),
    "drift": (frozenset({"air", "water"}), 1, 24 * 3600, 72 * 3600),
    "bias": (frozenset({"air", "water", "noise"}), 1, 6 * 3600, 48 * 3600),
    "spike": (frozenset({"air", "water", "noise"}), 2, 0, 0),
    "dropout": (frozenset({"air", "water", "noise", "energy", "parking"}), 3, 300, 3600),
    "offline": (frozenset({"air", "water", "noise", "energy", "parking"}), 1, 6 * 3600,
                48 * 3600),
    "battery-decay": (frozenset({"parking"}), 1, 3 * 86_400, 10 * 86_400),
    "clock-skew": (frozenset({"air", "water", "noise", "energy", "parking"}), 1, 3600,
                   12 * 3600),
    "duplicate": (frozenset({"air", "water", "noise", "energy", "parking"}), 1, 600, 3600),
    "out-of-order": (frozenset({"air", "noise", "energy", "parking"}), 1, 600, 3600),
    "malformed": (frozenset({"air", "water", "noise", "energy", "parking"}), 1, 0, 0),
    "meter-reset": (frozenset({"energy"}), 0.5, -1, -1),
    "meter-rollover": (frozenset({"energy"}), 0.5, -1, -1),
}
"""A duration of -1 means for good (the truth has no end)."""
MALFORMED = ("truncated", "nan", "empty-values")
CUMULATIVE = frozenset({"total_active_energy_import", "lighting_socket_kwh", "hvac_kwh",
                        "power_kwh", "special_kwh"})


def draw_faults(seed: int, kind: str, day: int, specs: Sequence[SensorSpec],
                rate: float) -> list[Episode]:
    """Draw the faults of `kind`'s sensors that start on simulated day `day` (epoch days)."""
    types = [name for name, (kinds, *_rest) in FAULTS.items() if kind in kinds]
    if rate <= 0 or not specs or not types:
        return []
    rng = random_stream(seed, f"faults/{kind}/{day}")
    bays = [i for i, s in enumerate(specs) if s.attributes.get("device") == "bay"]
    weights = np.array([FAULTS[name][1] for name in types])
    count = int(rng.poisson(rate * len(specs)))
    episodes = []
    for _ in range(count):
        fault = types[int(rng.choice(len(types), p=weights / weights.sum()))]
        local = int(rng.choice(bays)) if fault == "battery-decay" and bays else int(
            rng.integers(len(specs)))
        if fault == "battery-decay" and not bays:
            continue
        _, _, shortest, longest = FAULTS[fault]
        start = day * 86_400 + int(rng.integers(86_400))
        duration = int(rng.integers(shortest, longest + 1)) if longest > 0 else longest
        end = None if duration < 0 else start + max(duration, specs[local].step_s)
        episodes.append(Episode(local, specs[local].sensor, fault, start, end,
                                _detail(fault, rng)))
    return sorted(episodes, key=lambda e: (e.start, e.sensor))


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


def _stuck(episode: Episode, t: int, values: Values, memory: dict[int, Values]) -> None:
    held = memory.setdefault(id(episode), dict(values))
    values.update({k: v for k, v in held.items() if k in values})


def _scale(episode: Episode, t: int, values: Values, memory: dict[int, Values]) -> None:
    if episode.type == "drift":
        factor = 1 + float(episode.detail["rate_per_h"]) * (t - episode.start) / 3600
    else:
        factor = float(episode.detail["factor"])
    for name in [k for k in values if k not in CUMULATIVE]:
        values[name] *= factor


def _meter(episode: Episode, t: int, values: Values, memory: dict[int, Values]) -> None:
    at_start = memory.setdefault(id(episode), {k: v for k, v in values.items()
                                               if k in CUMULATIVE})
    for name in at_start:
        if name not in values:
            continue
        if episode.type == "meter-reset":
            values[name] = round(values[name] - at_start[name], 2)
        else:
            capacity = 10.0 ** math.floor(math.log10(max(at_start[name], 10.0)))
            values[name] = round(values[name] % capacity, 2)


def _battery(episode: Episode, knobs: dict[str, NDArray[np.float64]], starting: bool) -> None:
    knobs["battery_drain"][episode.local] = (float(episode.detail["mv_per_day"]) if starting
                                            else 0.0)


def _deliver(episode: Episode, delivery: Delivery) -> None:
    fault = episode.type
    if fault in ("dropout", "offline"):
        delivery.drop = True
    elif fault == "duplicate":
        delivery.copies = 2
    elif fault == "out-of-order":
        delivery.hold = True
    elif fault == "clock-skew":
        delivery.skew_ms = int(episode.detail["skew_s"]) * 1000
    elif fault == "malformed":
        delivery.malformed = str(episode.detail["variant"])


VALUE_EFFECTS = {"stuck": _stuck, "drift": _scale, "bias": _scale, "spike": _scale,
                 "meter-reset": _meter, "meter-rollover": _meter}
KNOB_EFFECTS = {"battery-decay": _battery}
DELIVERY_EFFECTS = dict.fromkeys(("dropout", "offline", "duplicate", "out-of-order",
                                  "clock-skew", "malformed"), _deliver)


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


def clip(kind: str, values: Values) -> None:
    """Clip faulty values back into the kind's physical ranges (a fault is not out-of-range)."""
    metrics = get_kind(kind).metrics
    for name, value in values.items():
        metric = metrics[name]
        values[name] = round(min(max(value, metric.low), metric.high), 3)
