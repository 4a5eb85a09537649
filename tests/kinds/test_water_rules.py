"""The water kind's neighbour test: a station's temperature against the city's other stations."""

from __future__ import annotations

from ingest.alerts.engine import AlertEngine
from ingest.alerts.rules import load_rules, parse_rule
from ingest.derive import derive
from urbanpulse.messages import Alert, Reading, SensorBirth

NEIGHBOURS = {"name": "off-neighbours", "type": "temperature_neighbours", "severity": "low",
              "off_c": 3, "min_stations": 3, "within": "1h"}
CLASS = {"name": "class", "type": "water_class", "severity": "medium", "by": 1}


def _engine(*specs: dict[str, object]) -> AlertEngine:
    engine = AlertEngine([parse_rule(spec) for spec in specs])
    for n in range(1, 6):
        engine.register(SensorBirth(v=1, sensor=f"water-pudong-000{n}", kind="water",
                                    district="pudong", site="s", lat=31.2, lon=121.5, zone="",
                                    interval_s=600, ts=0, attributes={"class_target": 3}), 0)
    return engine


def _feed(engine: AlertEngine, station: int, ts_s: int, temperature: float,
          **items: float) -> list[Alert]:
    reading = Reading(v=1, sensor=f"water-pudong-000{station}", kind="water",
                      district="pudong", ts=ts_s * 1000, seq=ts_s,
                      values={"temperature": temperature, **items})
    return engine.evaluate(reading, ts_s * 1000, derive(reading, ""))


def test_a_station_far_from_the_others_temperature_fires_and_clears() -> None:
    engine = _engine(NEIGHBOURS)
    for station, temperature in ((1, 7.0), (2, 7.4)):
        assert _feed(engine, station, 0, temperature) == []
    assert _feed(engine, 4, 60, 27.0) == []  # two others are too few to go by
    _feed(engine, 3, 120, 6.8)
    _feed(engine, 5, 180, 7.8)
    # A spike of 3x on a 7 °C river: plausible for a river, not next to these.
    (fired,) = _feed(engine, 4, 600, 21.0)
    assert fired.message == ("water temperature 21.0 °C is +13.8 °C from the other stations' "
                             "median 7.2 °C (more than 3 °C)")
    (resolved,) = _feed(engine, 4, 1200, 9.9)  # 2.7 °C off: within a river's spread
    assert resolved.message.endswith("median 7.2 °C (back within 3 °C)")
    # An hour later the others' readings are too old to compare with.
    assert _feed(engine, 4, 180 + 3601, 21.0) == []


def test_while_it_fires_with_qc_the_class_rule_skips_the_stations_readings() -> None:
    engine = _engine({**NEIGHBOURS, "qc": True}, {**CLASS, "for": 0})
    for station in (1, 2, 3):
        _feed(engine, station, 0, 7.0, nh3_n=0.5)
    # Everything the analysers read is off with the temperature: NH3-N reads class V.
    assert [a.rule for a in _feed(engine, 4, 60, 12.0, nh3_n=1.9)] == ["off-neighbours"]
    assert [a.rule for a in _feed(engine, 4, 660, 7.2, nh3_n=1.9)] == ["off-neighbours",
                                                                       "class"]


def test_the_shipped_rule_holds_the_class_rules() -> None:
    (rule,) = [rule for rule in load_rules() if rule.type == "temperature_neighbours"]
    assert getattr(rule, "qc", False)
