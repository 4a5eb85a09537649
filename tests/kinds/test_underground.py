"""Underground pipelines: manhole covers, gas detectors and utility tunnels.

The unit tests drive each model through its incidents.

The contract battery runs these kinds with every other, on the shanghai
profile: tests/kinds/test_battery.py.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from simulator.city import SensorSpec
from simulator.drivers import Drivers
from simulator.parts import simulated
from simulator.streams import random_stream
from urbanpulse.kinds.gas.model import INCIDENTS as GAS_INCIDENTS
from urbanpulse.kinds.incidents import Episode
from urbanpulse.kinds.manhole.model import INCIDENTS as MANHOLE_INCIDENTS
from urbanpulse.kinds.modelling import CST, Model
from urbanpulse.kinds.tunnel.model import INCIDENTS as TUNNEL_INCIDENTS

KINDS_HERE = ("gas", "manhole", "tunnel")
COUNTS = {"pudong": {"manhole": 20, "gas": 10, "tunnel": 6},
          "huangpu": {"manhole": 15, "gas": 8, "tunnel": 4},
          "fengxian": {"manhole": 10, "gas": 5, "tunnel": 3}}
"""Sensors per district in the battery's profile (a small city, for speed)."""
N = 30


def at(month: int, day: int, hour: float) -> int:
    return int(datetime(2026, month, day, tzinfo=CST).timestamp() + hour * 3600)


def model(kind: str, attributes: dict[str, str | int], interval_s: int, poll_s: int = 0,
          n: int = N) -> Model:
    fleet = [SensorSpec(sensor=f"{kind}-pudong-{i:04d}", kind=kind, district="pudong",
                        site="lujiazui", lat=31.23, lon=121.51, zone=str(attributes.get(
                            "network", attributes.get("space", "x"))),
                        interval_s=interval_s, attributes=dict(attributes), poll_s=poll_s)
             for i in range(1, n + 1)]
    return simulated(kind).model(fleet, random_stream(7, kind), Drivers())


def step(m: Model, t: int, n: int = N) -> dict[str, np.ndarray]:
    return m.step(t, np.arange(n, dtype=np.intp))


def start_all(m: Model, effect_type: str, start: int, end: int, n: int = N) -> None:
    knobs = MANHOLE_INCIDENTS[effect_type].knobs
    assert knobs is not None
    for local in range(n):
        knobs(Episode(local, f"s{local}", effect_type, start, end), m.knobs, True)


# -- physics -------------------------------------------------------------------------------


def manhole() -> Model:
    return model("manhole", {"network": "sewer", "depth_cm": 250, "site_use": "cbd"},
                 86_400, 60)


def test_a_cover_reports_at_startup_then_only_on_change_and_daily() -> None:
    m, t = manhole(), at(5, 6, 3)
    first = step(m, t)
    assert set(first["message_type"]) == {0.0}
    assert np.isfinite(first["battery_mv"]).all()
    assert (first["tilt_deg"] < 10).all()
    quiet = [step(m, t + 60 * k) for k in range(1, 30)]
    assert all(np.isnan(values["message_type"]).all() for values in quiet)
    day = step(m, t + 86_400)
    assert set(day["message_type"]) == {2.0}
    assert np.isfinite(day["rsrp"]).all()


def test_a_displaced_cover_reports_open_and_tilted_at_the_next_sample() -> None:
    m, t = manhole(), at(5, 6, 3)
    step(m, t)
    start_all(m, "cover-displaced", t + 30, t + 3600)
    hit = step(m, t + 60)
    assert set(hit["message_type"]) == {1.0}
    assert set(hit["cover_open"]) == {1.0}
    assert hit["tilt_deg"].min() >= 15
    assert np.isnan(hit["battery_mv"]).all()
    MANHOLE_INCIDENTS["cover-displaced"].knobs(  # type: ignore[misc]
        Episode(0, "s0", "cover-displaced", t + 30, t + 3600), m.knobs, False)
    back = step(m, t + 120)
    assert back["cover_open"][0] == 0
    assert back["tilt_deg"][0] < 5
    assert np.isnan(back["message_type"][1:]).all()


def test_a_flooding_storm_fills_the_wells_past_150_cm_within_three_hours() -> None:
    dry, wet, t = manhole(), manhole(), at(5, 6, 3)
    step(dry, t), step(wet, t)
    start_all(wet, "manhole-flooding", t, t + 6 * 3600)
    levels_dry, levels_wet = np.zeros(N), np.zeros(N)
    for k in range(1, 181):
        for m, levels in ((dry, levels_dry), (wet, levels_wet)):
            reported = step(m, t + 60 * k)["water_level_cm"]
            np.copyto(levels, reported, where=np.isfinite(reported))
    assert (levels_wet >= 150).all()
    assert (levels_wet <= 250).all()
    assert levels_dry.max() < 100


def test_healthy_cells_report_from_the_plateau_and_a_decay_fault_drains_them() -> None:
    m, t = manhole(), at(5, 6, 3)
    first = step(m, t)["battery_mv"]
    assert (first > 3450).all()
    assert (first < 3700).all()
    m.knobs["battery_drain"][:] = 4_000.0  # a fault's mV a day, far past the drawn 40-120
    alarms = np.zeros(N)
    for k in range(1, 181):  # three hours: 500 mV off every cell, each alarms once
        values = step(m, t + 60 * k)
        alarmed = np.isfinite(values["battery_mv"])
        assert (values["battery_mv"][alarmed] > 3295).all()
        alarms += alarmed
    assert (alarms == 1).all()
    m.knobs["battery_drain"][:] = 0.0
    day = step(m, t + 86_400)
    assert set(day["message_type"]) == {2.0}
    assert np.allclose(day["battery_mv"], first - 4_000.0 * 180 * 60 / 86_400, atol=2)


def test_a_flat_battery_alarms_at_once_and_a_new_cell_restarts_the_sensor() -> None:
    m, t = manhole(), at(5, 6, 3)
    step(m, t)
    start_all(m, "battery-flat", t + 30, t + 3600)
    alarm = step(m, t + 60)
    assert set(alarm["message_type"]) == {1.0}
    assert (alarm["battery_mv"] < 3300).all()
    assert (alarm["battery_mv"] > 3000).all()
    assert np.isfinite(alarm["rsrp"]).all()
    assert np.isnan(step(m, t + 120)["message_type"]).all()  # one alarm, not one a minute
    knobs = MANHOLE_INCIDENTS["battery-flat"].knobs
    assert knobs is not None
    knobs(Episode(0, "s0", "battery-flat", t + 30, t + 3600), m.knobs, False)
    fitted = step(m, t + 3600)
    assert fitted["message_type"][0] == 0.0
    assert fitted["battery_mv"][0] > 3600
    assert np.isnan(fitted["message_type"][1:]).all()


def test_a_gas_leak_ramps_past_the_alarm_and_clean_air_stays_near_zero() -> None:
    m, t = model("gas", {"space": "adjacent-well", "site_use": "cbd"}, 60), at(5, 6, 3)
    clean = np.concatenate([step(m, t + 60 * k)["ch4_lel"] for k in range(60)])
    assert clean.max() < 8
    assert clean.min() >= 0
    leak = GAS_INCIDENTS["gas-leak"].values
    assert leak is not None
    episode = Episode(0, "s0", "gas-leak", t, t + 8 * 3600)
    early, full = {"ch4_lel": 1.0}, {"ch4_lel": 1.0}
    leak(episode, t + 600, early, {})
    leak(episode, t + 4 * 3600, full, {})
    assert early["ch4_lel"] < 20  # under the warning ten minutes in
    assert full["ch4_lel"] > 25  # past the alarm at full strength


def test_tunnel_air_is_within_limits_and_the_sump_pump_cycles() -> None:
    m = model("tunnel", {"compartment": "power", "site_use": "cbd"}, 60)
    t = at(5, 6, 0)
    runs = [step(m, t + 60 * k) for k in range(6 * 60)]
    for name, low, high in (("temperature", 10, 40), ("o2_pct", 19.5, 23.5),
                            ("ch4_lel", 0, 20), ("h2s_mgm3", 0, 5), ("sump_water_cm", 15, 60)):
        values = np.concatenate([run[name] for run in runs])
        assert low <= values.min(), name
        assert values.max() <= high, name


def test_ventilation_failure_warms_the_air_and_takes_oxygen() -> None:
    vent = TUNNEL_INCIDENTS["ventilation-failure"].values
    assert vent is not None
    t = at(5, 6, 0)
    episode = Episode(0, "s0", "ventilation-failure", t, t + 8 * 3600)
    values = {"temperature": 25.0, "o2_pct": 20.9, "h2s_mgm3": 0.2}
    vent(episode, t + 4 * 3600, values, {})
    assert values["temperature"] >= 37
    assert values["o2_pct"] < 19.5
    assert 5 < values["h2s_mgm3"] < 10


# -- the contract battery ------------------------------------------------------------------
