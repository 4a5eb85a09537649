"""Smart poles: the street-light kind through the contract battery, and its physics.

The unit tests drive the model and the derived `lamp_fault` through chosen
hours, and the air and noise layouts' pole mounting.

The contract battery runs these kinds with every other, on the shanghai
profile: tests/kinds/test_battery.py.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from simulator.city import SensorSpec
from simulator.drivers import Drivers
from simulator.parts import simulated
from simulator.streams import random_stream
from urbanpulse.kinds import part
from urbanpulse.kinds.incidents import Episode
from urbanpulse.kinds.modelling import CST, Model, PlaceRequest
from urbanpulse.kinds.streetlight.daylight import sun_hours
from urbanpulse.kinds.streetlight.derive import derive_encoded
from urbanpulse.kinds.streetlight.model import INCIDENTS
from urbanpulse.messages import Reading

KIND = "streetlight"
COUNTS = {"pudong": 12, "huangpu": 8, "fengxian": 6}
"""Controllers per district in the battery's profile (a small city, for speed)."""
N = 40


def at(month: int, day: int, hour: float) -> int:
    return int(datetime(2026, month, day, tzinfo=CST).timestamp() + hour * 3600)


def fleet(n: int = N) -> list[SensorSpec]:
    roads = ("arterial", "secondary", "branch")
    return [SensorSpec(sensor=f"{KIND}-pudong-{i:04d}", kind=KIND, district="pudong",
                       site="lujiazui", lat=31.23, lon=121.51, zone=roads[i % 3],
                       interval_s=600, attributes={"road_class": roads[i % 3],
                                                   "rated_w": (200, 120, 70)[i % 3]})
            for i in range(1, n + 1)]


def model(n: int = N) -> Model:
    return simulated(KIND).model(fleet(n), random_stream(7, KIND), Drivers())


def step(m: Model, t: int, n: int = N) -> dict[str, np.ndarray]:
    return m.step(t, np.arange(n, dtype=np.intp))


def fault_of(lamp_on: float, t: int) -> object:
    reading = Reading(v=1, sensor=f"{KIND}-pudong-0001", kind=KIND, district="pudong",
                      ts=t * 1000, seq=1, values={"lamp_on": lamp_on})
    return derive_encoded(reading, None)[0].get("lamp_fault")


# -- physics -------------------------------------------------------------------------------


def test_lamps_burn_full_in_the_evening_dimmed_after_midnight_and_not_by_day() -> None:
    m = model()
    evening, night, noon = step(m, at(5, 6, 21)), step(m, at(5, 6, 2)), step(m, at(5, 6, 13))
    assert evening["lamp_on"].min() == 1
    assert set(evening["dimming_pct"]) == {100.0}
    assert night["lamp_on"].min() == 1
    assert set(night["dimming_pct"]) == {50.0}
    assert noon["lamp_on"].max() == 0
    assert noon["power_w"].max() <= 2.0
    assert 0.45 < night["power_w"].mean() / evening["power_w"].mean() < 0.65


def test_power_is_voltage_times_current_times_power_factor() -> None:
    m = model()
    for t in (at(1, 10, 20), at(7, 10, 3), at(7, 10, 12)):
        values = step(m, t)
        product = values["voltage_v"] * values["current_a"] * values["power_factor"]
        assert np.allclose(values["power_w"], product, atol=0.2), (values, product)
        assert ((values["voltage_v"] > 200) & (values["voltage_v"] < 240)).all()


def test_sunset_follows_the_season() -> None:
    june, december = sun_hours(172), sun_hours(355)
    assert 18.8 < june[1] < 19.2
    assert 16.8 < december[1] < 17.1
    assert june[0] < december[0]
    m = model()
    # 18:30 is before dusk in June, after it in December.
    assert step(m, at(6, 21, 18.5))["lamp_on"].max() == 0
    assert step(m, at(12, 21, 18.5))["lamp_on"].min() == 1


def test_a_failed_lamp_is_dark_at_night_and_the_reading_says_lamp_out() -> None:
    m = model()
    start = at(5, 6, 0)
    effect = INCIDENTS["lamp-failure"].knobs
    assert effect is not None
    for local in range(N):
        effect(Episode(local, f"s{local}", "lamp-failure", start, start + 86_400), m.knobs, True)
    night = step(m, at(5, 6, 22))
    assert night["lamp_on"].max() == 0
    assert night["power_w"].max() < 2.0
    assert fault_of(0.0, at(5, 6, 22)) == 1


def test_lamp_fault_is_judged_against_dusk_and_dawn() -> None:
    assert fault_of(1.0, at(5, 6, 13)) == 2
    assert fault_of(0.0, at(5, 6, 13)) == 0
    assert fault_of(1.0, at(5, 6, 23)) == 0
    assert fault_of(0.0, at(5, 6, 3)) == 1
    assert fault_of(0.0, at(5, 6, 18.9)) == 0  # twilight: either is fine
    assert fault_of(1.0, at(5, 6, 18.9)) == 0


def test_cable_leakage_rises_past_the_30_ma_alarm() -> None:
    effect = INCIDENTS["cable-leakage"].values
    assert effect is not None
    start = at(5, 6, 0)
    episode = Episode(0, "s0", "cable-leakage", start, start + 8 * 3600)
    values = {"leakage_ma": 3.0}
    effect(episode, start + 4 * 3600, values, {})
    assert values["leakage_ma"] > 30
    quiet = model()
    assert step(quiet, at(5, 6, 4))["leakage_ma"].max() < 30


@pytest.mark.parametrize(("kind", "mix"), [("air", {"air_siting": {"urban": 1.0}}),
                                           ("noise", {"noise_zone": {"2": 1.0}})])
def test_a_pole_mounted_sensor_asks_for_a_carrier_without_drawing_more(
        kind: str, mix: dict[str, dict[str, float]]) -> None:
    place = part(kind, "layout").place  # type: ignore[union-attr]
    placed = {}
    for share in (0.0, 1.0):
        rng = np.random.default_rng(11)
        request = PlaceRequest(use="residential", mixes=mix, interval_s=60, cadence="demo",
                               options={"pole_share": share}, roll=0.3, rng=rng)
        placed[share] = (place(request).attributes, float(rng.random()))
    assert "carrier" not in placed[0.0][0]
    assert placed[1.0][0]["carrier"] == KIND
    assert placed[0.0][1] == placed[1.0][1]  # the layout stream moves on alike
