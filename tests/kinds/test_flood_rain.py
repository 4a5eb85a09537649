"""Rain gauges: the model's physics.

The contract battery runs these kinds with every other, on the shanghai
profile: tests/kinds/test_battery.py.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from tests.kinds.stormy import T0, Device, FakeDrivers, FixedRain
from urbanpulse.kinds.incidents import Episode
from urbanpulse.kinds.rain.model import INCIDENTS, RainModel

KIND = "rain"
COUNTS = {"pudong": 8, "huangpu": 4, "fengxian": 6}
def model(rates: Mapping[int, float], n: int = 20) -> RainModel:
    gauges = [Device(f"rain-x-{i:04d}", KIND, interval_s=300) for i in range(n)]
    return RainModel(gauges, np.random.default_rng(7), FakeDrivers(FixedRain(rates)))  # type: ignore[arg-type]


def run_hours(rain: RainModel, hours: int, n: int) -> list[dict[str, np.ndarray]]:
    idx = np.arange(n)
    return [rain.step(T0 + 300 * (k + 1) - 1, idx) for k in range(hours * 12)]


def test_rolling_sums_are_the_sums_of_the_five_minute_series() -> None:
    rates = dict.fromkeys(range(2, 9), 8.0) | {5: 40.0}
    rain = model(rates)
    steps = run_hours(rain, 14, 20)
    series = np.array([s["rain_5min"] for s in steps])
    for name, k in {"rain_1h": 12, "rain_3h": 36, "rain_6h": 72, "rain_12h": 144}.items():
        expected = series[-k:].sum(axis=0)
        assert np.allclose(steps[-1][name], expected, atol=0.051), name
    assert np.allclose(steps[-1]["rain_24h"], series.sum(axis=0), atol=0.051)
    assert np.allclose(series * 12, np.array([s["intensity_mm_h"] for s in steps]), atol=0.05)


def test_a_40_mm_hour_bursts_above_36_mm_h_and_gauges_differ() -> None:
    rain = model({0: 40.0}, n=50)
    steps = run_hours(rain, 1, 50)
    intensity = np.array([s["intensity_mm_h"] for s in steps])
    hour = steps[-1]["rain_1h"]
    assert (intensity.max(axis=0) > 36).mean() > 0.75  # short bursts beat the sewers' 36 mm/h
    assert intensity.max() > 100
    assert 30 < hour.mean() < 50  # the weather's hourly total, on average
    assert hour.std() > 5  # convective cells are local: gauges a few km apart differ


def test_a_gauge_first_heard_mid_storm_reports_the_rain_before_it() -> None:
    rain = model(dict.fromkeys(range(6), 10.0))
    first = rain.step(T0 + 6 * 3600 - 1, np.arange(20))
    assert 40 < first["rain_6h"].mean() < 80
    assert (first["rain_24h"] >= first["rain_6h"]).all()


def episode(kind: str, local: int, start: int, hours: int) -> Episode:
    return Episode(local, f"rain-x-{local:04d}", kind, start, start + hours * 3600,
                   {"magnitude": 2.0}, incident=True)


@pytest.mark.parametrize(("kind", "rule", "level"), [
    ("cloudburst", "rain_3h", 50), ("typhoon-rain", "rain_3h", 100)])
def test_incidents_push_gauges_to_rainstorm_levels(kind: str, rule: str, level: float) -> None:
    rain = model({}, n=4)
    effect = INCIDENTS[kind].knobs
    assert effect is not None
    for local in range(4):
        effect(episode(kind, local, T0, 24), rain.knobs, True)
    steps = run_hours(rain, 4, 4)
    peak = np.array([s[rule] for s in steps]).max(axis=0)
    assert (peak >= level).all(), peak
    rate = np.array([s["intensity_mm_h"] for s in steps]).max(axis=0)
    assert ((rate >= 60) & (rate <= 121)).all() if kind == "cloudburst" else \
        ((rate >= 25) & (rate <= 61)).all()
    for local in range(4):
        effect(episode(kind, local, T0, 24), rain.knobs, False)
    after = rain.step(T0 + 30 * 3600 - 1, np.arange(4))
    assert (after["rain_5min"] == 0).all()


def test_a_cloudburst_lasts_45_minutes() -> None:
    rain = model({}, n=3)
    effect = INCIDENTS["cloudburst"].knobs
    assert effect is not None
    for local in range(3):
        effect(episode("cloudburst", local, T0, 24), rain.knobs, True)
    steps = run_hours(rain, 2, 3)
    wet = np.array([s["rain_5min"] > 0 for s in steps]).sum(axis=0)
    assert (wet == 9).all(), wet


# -- the contract battery -----------------------------------------------------------------------
