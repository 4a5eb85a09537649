"""The air kind's AQI rules judge the 1-h means of the calibrated concentrations (HJ 633)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ingest.alerts.engine import AlertEngine
from ingest.alerts.rules import load_rules, parse_rule
from ingest.derive import Derivation
from urbanpulse.kinds import KINDS
from urbanpulse.messages import Alert, Reading

T0 = 1_772_380_800_000  # 2026-03-02 00:00 in Shanghai
MINUTE = 60_000
SENSOR = "air-pudong-0001"
PM25_HIGH = {"name": "pm25-high", "type": "aqi", "pollutant": "pm25", "min_level": 4,
             "mean_over": "1h", "severity": "medium"}


def _reading(minute: int, pm25: float, sensor: str = SENSOR, **more: float) -> Reading:
    return Reading(v=1, sensor=sensor, kind="air", district="pudong", ts=T0 + minute * MINUTE,
                   seq=minute, values={"pm25": float(pm25), "relative_humidity": 50.0,
                                       **more})


def _run(rules: list[Any], readings: list[Reading], derived: dict[str, Any] | None = None
         ) -> list[Alert]:
    engine = AlertEngine(rules)
    derivation = Derivation()
    changes = []
    for reading in readings:
        fields = dict(derivation.derive_encoded(reading, None, reading.ts)[0])
        fields.update(derived or {})
        changes += engine.evaluate(reading, reading.ts, fields)
    return changes


def test_one_reading_over_the_level_is_not_an_hour_over_it() -> None:
    # A minute at 400 µg/m³ in an hour at 60: the hour's mean is 65.7, IAQI 87.
    readings = [_reading(minute, 400.0 if minute == 50 else 60.0) for minute in range(70)]
    assert _run([parse_rule(PM25_HIGH)], readings) == []
    per_reading = {**PM25_HIGH, "name": "pm25-minute"}
    del per_reading["mean_over"]
    fired = _run([parse_rule(per_reading)], readings)
    assert [change.state for change in fired] == ["firing", "resolved"]


def test_an_hour_over_115_fires_and_clears_a_whole_category_lower() -> None:
    readings = [_reading(minute, 60.0) for minute in range(60)]
    readings += [_reading(60 + minute, 180.0) for minute in range(90)]
    readings += [_reading(150 + minute, 20.0) for minute in range(90)]
    changes = _run([parse_rule(PM25_HIGH)], readings)
    assert [(change.state, change.ts) for change in changes] == [
        # (k·180 + (60 − k)·60) / 60 > 115 first at k = 28 readings of 180: minute 87
        ("firing", T0 + 87 * MINUTE),
        # back at or below 75 (level 2) once (k·20 + (60 − k)·180) / 60 ≤ 75,
        # k = 40 readings of 20: minute 189
        ("resolved", T0 + 189 * MINUTE),
    ]
    assert changes[0].message == "pm25 60-min mean 116.0 µg/m³: IAQI 152 (level 4)"
    assert changes[1].message.endswith("back at or below level 2")


def test_a_mean_is_judged_once_the_readings_span_45_minutes() -> None:
    late_start = [_reading(minute, 200.0) for minute in range(50)]
    (fired,) = _run([parse_rule(PM25_HIGH)], late_start)
    assert fired.ts == T0 + 45 * MINUTE


def test_the_calibrated_concentration_is_judged_not_the_raw_one() -> None:
    # A low-cost station reading 250 whose calibrated PM2.5 is 100: no alert.
    readings = [_reading(minute, 250.0) for minute in range(70)]
    assert _run([parse_rule(PM25_HIGH)], readings, {"pm25_cal": 100.0}) == []
    assert _run([parse_rule(PM25_HIGH)], readings, {"pm25_cal": 130.0}) != []


def test_a_reading_older_than_the_hour_is_left_out_of_its_mean() -> None:
    readings = [_reading(minute, 100.0) for minute in range(120)]
    late = _reading(10, 2000.0)  # delivered after minute 119: an hour and more late
    assert _run([parse_rule(PM25_HIGH)], [*readings, late, _reading(120, 100.0)]) == []


def test_the_aqi_of_the_means_names_its_primary_pollutant() -> None:
    rule = parse_rule({"name": "aqi-unhealthy", "type": "aqi", "min_level": 4,
                       "mean_over": "1h", "severity": "medium"})
    readings = [_reading(minute, 30.0, no2=800.0 if minute % 2 else 700.0)
                for minute in range(60)]  # NO2 1-h mean 750: IAQI 155
    (fired,) = _run([rule], readings)
    assert fired.message == ("AQI of the 60-min mean concentrations 155 (level 4), primary "
                             "pollutant no2")


def test_a_frozen_stations_readings_stay_out_of_the_hour() -> None:
    """pm25-stuck is a QC rule: while it fires, pm25-high does not take the readings in."""
    rules = [rule for rule in load_rules(None) if rule.name in ("pm25-stuck", "pm25-high")]
    moving = [_reading(minute, 60.0 + minute % 3) for minute in range(60)]
    frozen = [_reading(60 + minute, 300.0) for minute in range(120)]
    changes = _run(rules, moving + frozen)
    assert [(change.rule, change.state) for change in changes] == [("pm25-stuck", "firing")]


def test_a_mean_needs_a_positive_span() -> None:
    with pytest.raises(ValidationError, match="mean_over"):
        parse_rule({**PM25_HIGH, "mean_over": 0})


def test_default_air_stale_names_the_silences_of_a_station_but_no_air_incident() -> None:
    """Its alerts in a district's backhaul outage or under a clock far ahead are real
    silences: scored as true ones (docs/alerts.md). A pole's power cut is an incident of
    the air kind: naming it would make every silent station an incident of its own."""
    (stale,) = [rule for rule in load_rules(None) if rule.name == "air-stale"]
    assert stale.detects is not None
    assert {"offline", "dropout", "clock-skew", "backhaul-outage"} <= set(stale.detects)
    assert not set(stale.detects) & set(KINDS["air"].incidents)

