"""The water kind's QC: a station's temperature against the city's other stations, and its
analysers' daily checks on their standards."""

from __future__ import annotations

import pytest

from ingest.alerts.engine import AlertEngine
from ingest.alerts.rules import RangeRule, load_rules, parse_rule
from ingest.derive import derive
from urbanpulse.kinds.water.model import STANDARDS
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


def test_an_analyser_off_its_standard_holds_the_class_until_it_passes_again() -> None:
    shipped = {rule.name: rule for rule in load_rules()}
    engine = AlertEngine([shipped["tp-check-failed"],
                          parse_rule({**CLASS, "for": 0})])
    engine.register(SensorBirth(v=1, sensor="water-pudong-0001", kind="water",
                                district="pudong", site="s", lat=31.2, lon=121.5, zone="",
                                interval_s=600, ts=0, attributes={"class_target": 3}), 0)
    # A TP analyser reading 37 % high reads its 0.2 mg/L standard as 0.274 at midnight ...
    (failed,) = _feed(engine, 1, 0, 7.0, tp=0.15, tp_check=0.274)
    assert (failed.rule, failed.state) == ("tp-check-failed", "firing")
    assert failed.message == "tp_check 0.274 mg/L outside 0.18..0.22"
    # ... so its class V reading of a class IV river is not judged, all day.
    assert _feed(engine, 1, 600, 7.0, tp=0.35) == []
    assert _feed(engine, 1, 86_000, 7.0, tp=0.35) == []
    # The next midnight's check passes: the station's readings are judged again.
    (passed,) = _feed(engine, 1, 86_400, 7.0, tp=0.15, tp_check=0.203)
    assert (passed.rule, passed.state) == ("tp-check-failed", "resolved")
    assert [a.rule for a in _feed(engine, 1, 87_000, 7.0, tp=0.35)] == ["class"]


def test_each_laboratory_analyser_has_a_check_rule_around_its_standard() -> None:
    checks = {rule.metric: rule for rule in load_rules()
              if isinstance(rule, RangeRule) and rule.name.endswith("-check-failed")}
    assert set(checks) == set(STANDARDS)
    for metric, standard in STANDARDS.items():
        rule = checks[metric]
        assert rule.qc
        assert (rule.min, rule.max) == pytest.approx((0.9 * standard, 1.1 * standard))
