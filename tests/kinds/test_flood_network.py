"""The flood and drainage network: ponding gauges, sewer meters and pump stations.

The models' physics on a weather of fixed rain per hour.

The contract battery runs these kinds with every other, on the shanghai
profile: tests/kinds/test_battery.py.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ingest.alerts.engine import AlertEngine
from ingest.alerts.rules import load_kind_rules
from tests.kinds.stormy import T0, Device, FakeDrivers, FixedRain
from urbanpulse.kinds import KINDS
from urbanpulse.kinds.incidents import Episode
from urbanpulse.kinds.ponding.derive import stage
from urbanpulse.kinds.ponding.model import INCIDENTS as PONDING_INCIDENTS
from urbanpulse.kinds.ponding.model import PondingModel
from urbanpulse.kinds.pump.model import INCIDENTS as PUMP_INCIDENTS
from urbanpulse.kinds.pump.model import PumpModel
from urbanpulse.kinds.sewer.model import INCIDENTS as SEWER_INCIDENTS
from urbanpulse.kinds.sewer.model import SewerModel, dry_weather
from urbanpulse.messages import Reading, SensorBirth

KINDS_HERE = ("ponding", "sewer", "pump")
COUNTS = {"pudong": {"ponding": 12, "sewer": 10, "pump": 5},
          "huangpu": {"ponding": 10, "sewer": 8, "pump": 4},
          "fengxian": {"ponding": 6, "sewer": 6, "pump": 3}}
def gauges(rates: Mapping[int, float], site: str = "underpass", n: int = 10) -> PondingModel:
    devices = [Device(f"ponding-x-{i:04d}", "ponding",
                      attributes={"site_type": site, "capacity_mm_h": 30}) for i in range(n)]
    return PondingModel(devices, np.random.default_rng(5), FakeDrivers(FixedRain(rates)))  # type: ignore[arg-type]


def depths(model: PondingModel, minutes: int, n: int = 10) -> np.ndarray:
    """Return the depths, one row a minute, for `minutes` from T0."""
    idx = np.arange(n)
    return np.array([model.step(T0 + 60 * (k + 1), idx)["depth_cm"] for k in range(minutes)])


def episode(kind: str, local: int, hours: int) -> Episode:
    return Episode(local, f"{kind}-x-{local:04d}", "", T0, T0 + hours * 3600, incident=True)


def test_stage_follows_the_shanghai_underpass_depths() -> None:
    assert [stage(d) for d in (0.0, 4.9, 5.0, 14.9, 15.0, 24.9, 25.0, 150.0)] == \
        [0, 0, 1, 1, 2, 2, 3, 3]


def test_rain_within_the_drainage_capacity_leaves_the_road_dry() -> None:
    rows = depths(gauges({0: 25.0, 1: 25.0}), 120)
    assert rows.max() < 1.0


def test_rain_above_capacity_ponds_an_underpass_that_drains_in_two_hours() -> None:
    rows = depths(gauges({0: 60.0}), 180)
    assert (rows[59] > 25).all()          # 30 mm/h over capacity: closed within the hour
    assert (rows[79] > 5).all()           # 20 minutes after the rain it still stands
    assert (rows[179] < 5).all()          # two hours after, it has drained


def test_a_low_road_ponds_less_than_an_underpass() -> None:
    low = depths(gauges({0: 60.0}, "low-road"), 60)[-1]
    under = depths(gauges({0: 60.0}), 60)[-1]
    assert low.mean() < 0.6 * under.mean()
    assert 10 < low.mean() < 30


def test_a_cloudburst_closes_every_gauge_within_the_hour() -> None:
    model = gauges({}, "low-road")
    for local in range(10):
        effect = PONDING_INCIDENTS["cloudburst-ponding"].knobs
        assert effect is not None
        effect(episode("ponding", local, 3), model.knobs, True)
    rows = depths(model, 60)
    assert rows[4].max() < 25 < rows[59].min()


def sewers(rates: Mapping[int, float], network: str = "storm", n: int = 10) -> SewerModel:
    devices = [Device(f"sewer-x-{i:04d}", "sewer", interval_s=300, attributes={
        "network": network, "diameter_m": 1.2, "lag_min": 30}) for i in range(n)]
    return SewerModel(devices, np.random.default_rng(5), FakeDrivers(FixedRain(rates)))  # type: ignore[arg-type]


def sewer_rows(model: SewerModel, hours: int, n: int = 10) -> list[dict[str, np.ndarray]]:
    idx = np.arange(n)
    model.step(T0 - 300, idx)  # a first reading before the rain: the model starts settled
    return [model.step(T0 + 300 * (k + 1), idx) for k in range(hours * 12)]


def test_a_storm_sewer_rises_with_the_catchment_lag_and_surcharges() -> None:
    rows = sewer_rows(sewers({0: 80.0, 1: 80.0}), 4)
    assert (rows[0]["fill_ratio"] < 1.0).all()          # five minutes in: still in the pipe
    assert (rows[23]["fill_ratio"] > 1.2).all()         # two hours in: surcharged, at risk
    assert np.allclose(rows[23]["level_m"], rows[23]["fill_ratio"] * 1.2, atol=0.02)
    assert (rows[47]["fill_ratio"] < 0.5).all()         # two hours after the rain


def test_dry_weather_leaves_a_storm_sewer_nearly_empty_and_a_foul_one_flowing() -> None:
    storm = sewer_rows(sewers({}), 24)
    foul = sewer_rows(sewers({}, "foul"), 24)
    assert max(row["fill_ratio"].max() for row in storm) < 0.15
    assert min(row["flow_m3s"].mean() for row in foul) > 0.05
    assert max(row["fill_ratio"].max() for row in foul) < 0.8


def test_a_sewer_surcharge_incident_fills_the_pipe_past_its_crown() -> None:
    model = sewers({})
    effect = SEWER_INCIDENTS["sewer-surcharge"].knobs
    assert effect is not None
    effect(episode("sewer", 3, 6), model.knobs, True)
    rows = sewer_rows(model, 3)
    assert rows[-1]["fill_ratio"][3] > 1.2
    assert rows[-1]["fill_ratio"][np.arange(10) != 3].max() < 0.15


def dry_weather_alerts(model: SewerModel, hours: int, network: str = "storm",
                       n: int = 10) -> set[int]:
    """Return the pipes the default dry-weather-flow rule fires on over `hours` of readings."""
    rules = [rule for rule in load_kind_rules(KINDS["sewer"])
             if rule.name == "storm-sewer-dry-weather-flow"]
    engine = AlertEngine(rules)
    for i in range(n):
        engine.register(SensorBirth(
            v=1, sensor=f"sewer-pudong-{i:04d}", kind="sewer", district="pudong", site="x",
            lat=31.2, lon=121.5, zone=network, interval_s=300, ts=(T0 - 600) * 1000,
            attributes={"network": network, "diameter_m": 1.2, "lag_min": 30}), T0 * 1000)
    fired: set[int] = set()
    for k, row in enumerate(sewer_rows(model, hours, n)):
        ts = (T0 + 300 * (k + 1)) * 1000
        for i in range(n):
            reading = Reading(v=1, sensor=f"sewer-pudong-{i:04d}", kind="sewer",
                              district="pudong", ts=ts, seq=k,
                              values={name: float(row[name][i]) for name in row})
            fired |= {i for alert in engine.evaluate(reading, ts) if alert.state == "firing"}
    return fired


def test_a_foul_connection_makes_a_storm_sewer_flow_all_day_without_rain() -> None:
    model = sewers({})
    effect = SEWER_INCIDENTS["foul-connection"].knobs
    assert effect is not None
    effect(episode("sewer", 3, 24), model.knobs, True)
    rows = sewer_rows(model, 24)
    foul = np.array([row["fill_ratio"][3] for row in rows])
    clean = np.array([row["fill_ratio"][np.arange(10) != 3] for row in rows])
    assert foul.min() > 0.1 > clean.max()             # sewage all day; the others a trickle
    flows = [row["flow_m3s"][3] for row in rows]
    assert dry_weather(8) > dry_weather(3)
    assert flows[8 * 12 - 1] > 1.5 * flows[3 * 12 - 1]  # with the day's water use


def test_the_dry_weather_flow_rule_fires_on_a_foul_connection_only() -> None:
    model = sewers({})
    effect = SEWER_INCIDENTS["foul-connection"].knobs
    assert effect is not None
    effect(episode("sewer", 3, 24), model.knobs, True)
    assert dry_weather_alerts(model, 24) == {3}


def test_a_storm_and_its_runoff_are_not_dry_weather_flow() -> None:
    assert dry_weather_alerts(sewers({2: 80.0, 3: 80.0}), 24) == set()
    assert dry_weather_alerts(sewers(dict.fromkeys(range(2, 10), 30.0)), 24) == set()


def test_the_dry_weather_flow_rule_leaves_foul_pipes_alone() -> None:
    model = sewers({}, "foul")
    assert min(row["fill_ratio"].min() for row in sewer_rows(sewers({}, "foul"), 24)) > 0.15
    assert dry_weather_alerts(model, 24, "foul") == set()


def stations(rates: Mapping[int, float], n: int = 6) -> PumpModel:
    devices = [Device(f"pump-x-{i:04d}", "pump", interval_s=300, attributes={
        "pumps": 4, "pump_m3s": 2.0}) for i in range(n)]
    return PumpModel(devices, np.random.default_rng(5), FakeDrivers(FixedRain(rates)))  # type: ignore[arg-type]


def pump_rows(model: PumpModel, hours: int, n: int = 6) -> list[dict[str, np.ndarray]]:
    idx = np.arange(n)
    model.step(T0 - 300, idx)
    return [model.step(T0 + 300 * (k + 1), idx) for k in range(hours * 12)]


def test_pumps_stay_off_in_dry_weather_and_start_as_the_forebay_rises() -> None:
    dry = pump_rows(stations({}), 6)
    assert all((row["pumps_running"] == 0).all() and (row["river_discharge"] == 0).all()
               for row in dry)
    wet = pump_rows(stations({0: 20.0, 1: 20.0}), 2)
    assert (wet[-1]["pumps_running"] >= 1).all()
    assert (wet[-1]["pumps_running"] < 4).all()
    assert (wet[-1]["river_discharge"] == 1).all()
    assert np.allclose(wet[-1]["discharge_m3s"] / wet[-1]["pumps_running"], 1.85, atol=0.16)


def test_a_pump_discharge_storm_runs_every_pump_and_floods_the_forebay() -> None:
    model = stations({})
    effect = PUMP_INCIDENTS["pump-discharge"].knobs
    assert effect is not None
    for local in range(6):
        effect(episode("pump", local, 4), model.knobs, True)
    rows = pump_rows(model, 2)
    assert (rows[-1]["pumps_running"] == 4).all()
    assert (rows[-1]["forebay_level_m"] > 4.0).all()
    assert (rows[-1]["river_discharge"] == 1).all()


# -- the contract battery -----------------------------------------------------------------------
