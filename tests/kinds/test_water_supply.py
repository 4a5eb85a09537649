"""Water supply: the physics of supply pressure, DMA inflow and tap-water quality.

The physics tests drive each model directly: a burst drops pressure 0.05-0.15 MPa
at once, a leak raises the logger's minimum night flow, a chlorine loss takes
the residual below GB 5749's 0.05 mg/L.

The contract battery runs these kinds with every other, on the shanghai
profile: tests/kinds/test_battery.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from urbanpulse.kinds.dma_flow import model as dma
from urbanpulse.kinds.incidents import Episode
from urbanpulse.kinds.pressure import model as pressure
from urbanpulse.kinds.tap_water import model as tap

WATER_SUPPLY = ("dma-flow", "pressure", "tap-water")
COUNTS = {"pudong": {"pressure": 12, "dma-flow": 8, "tap-water": 8},
          "huangpu": {"pressure": 8, "dma-flow": 6, "tap-water": 6},
          "fengxian": {"pressure": 6, "dma-flow": 4, "tap-water": 4}}
"""The counts proposed for the shipped shanghai profile (scale 1)."""
MIDNIGHT = int(datetime.fromisoformat("2026-05-04T00:00:00+08:00").timestamp())


@dataclass
class _Sensor:
    sensor: str
    kind: str
    zone: str
    interval_s: int
    step_s: int
    attributes: Mapping[str, str | int | float | bool] = field(default_factory=dict)


class _Drivers:
    calendar = weather = climate = None  # the water-supply models read none of them
    pollution = 1.0


def _sensors(kind: str, n: int, interval_s: int, **attributes: str | int) -> list[_Sensor]:
    return [_Sensor(f"{kind}-{i}", kind, "x", interval_s, interval_s, dict(attributes))
            for i in range(n)]


def _episode(local: int, kind: str, start: int, magnitude: float = 1.0) -> Episode:
    return Episode(local, f"s{local}", kind, start, start + 86_400,
                   {"magnitude": magnitude}, incident=True)


# -- physics ------------------------------------------------------------------------------------


def test_a_burst_drops_pressure_by_005_to_015_mpa_within_a_minute() -> None:
    sensors = _sensors("pressure", 20, 60, position="network-end")
    model = pressure.MODEL(sensors, np.random.default_rng(1), _Drivers())  # type: ignore[arg-type]
    idx = np.arange(20)
    start = MIDNIGHT + 3 * 3600
    before = model.step(start, idx)["pressure_mpa"]
    after = model.step(start + 60, idx)["pressure_mpa"]
    drops = []
    for local in range(20):
        values = {"pressure_mpa": float(after[local])}
        pressure.INCIDENTS["main-burst"].values(  # type: ignore[misc]
            _episode(local, "main-burst", start), start + 60, values, {})
        drops.append(before[local] - values["pressure_mpa"])
    assert all(0.04 <= drop <= 0.165 for drop in drops), drops
    assert max(drops) - min(drops) > 0.05


def test_network_end_pressure_dips_at_the_morning_peak_and_stays_above_014() -> None:
    sensors = _sensors("pressure", 200, 60, position="network-end")
    model = pressure.MODEL(sensors, np.random.default_rng(2), _Drivers())  # type: ignore[arg-type]
    idx = np.arange(200)
    night = model.step(MIDNIGHT + 3 * 3600, idx)["pressure_mpa"]
    peak = model.step(MIDNIGHT + 8 * 3600, idx)["pressure_mpa"]
    assert np.mean(night) - np.mean(peak) > 0.04
    assert peak.min() >= 0.14


def _night_ratio(leak: bool) -> float:
    sensors = _sensors("dma-flow", 10, 300, mean_flow_m3h=100)
    model = dma.MODEL(sensors, np.random.default_rng(3), _Drivers())  # type: ignore[arg-type]
    idx = np.arange(10)
    if leak:
        for local in range(10):
            dma.INCIDENTS["leak"].knobs(  # type: ignore[misc]
                _episode(local, "leak", MIDNIGHT + 86_400), model.knobs, True)
    first = model.step(MIDNIGHT, idx)["night_flow_ratio"]
    values = {"night_flow_ratio": first}
    for t in range(MIDNIGHT, MIDNIGHT + 86_400 + 5 * 3600, 300):
        values = model.step(t, idx)
        assert not np.isnan(values["night_flow_m3h"]).any()  # carried with every reading
    assert 0.2 < float(np.mean(first)) < 0.45  # the night before the run, as measured
    return float(np.mean(values["night_flow_ratio"]))  # the second morning, 4 h into the leak


def test_a_leak_raises_the_minimum_night_flow_over_the_rules_share() -> None:
    sound, leaking = _night_ratio(False), _night_ratio(True)
    assert 0.2 < sound < 0.45
    assert leaking > 0.5


def test_a_chlorine_loss_goes_below_005_mgl_within_hours() -> None:
    sensors = _sensors("tap-water", 20, 300)
    model = tap.MODEL(sensors, np.random.default_rng(4), _Drivers())  # type: ignore[arg-type]
    idx = np.arange(20)
    start = MIDNIGHT + 10 * 3600
    assert model.step(start, idx)["chlorine_mgl"].min() > 0.1
    late = model.step(start + 4 * 3600, idx)["chlorine_mgl"]
    after = []
    for local in range(20):
        values = {"chlorine_mgl": float(late[local])}
        tap.INCIDENTS["chlorine-loss"].values(  # type: ignore[misc]
            _episode(local, "chlorine-loss", start), start + 4 * 3600, values, {})
        after.append(values["chlorine_mgl"])
    assert max(after) < 0.05


# -- the contract battery -----------------------------------------------------------------------
