"""Rules built on the national standards, fed with the fields the ingester derives."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from ingest.alerts.engine import AlertEngine
from ingest.alerts.rules import parse_rule
from ingest.derive import derive
from ingest.points import PointEncoder
from ops import stack
from tests.conftest import influx_rows
from urbanpulse.messages import Alert, Reading, SensorBirth


def _ms(hour_local: int, minute: int = 0, day: int = 2) -> int:
    """Epoch ms of 2026-03-{day} {hour_local}:{minute} in Shanghai (UTC+8)."""
    return int(datetime(2026, 3, day, 0, 0, tzinfo=UTC).timestamp() * 1000) + (
        (hour_local - 8) * 60 + minute) * 60_000


def _engine(spec: dict[str, Any], birth: SensorBirth | None = None) -> AlertEngine:
    engine = AlertEngine([parse_rule({"severity": "medium", **spec})])
    if birth is not None:
        engine.register(birth, 0)
    return engine


def _feed(engine: AlertEngine, reading: Reading) -> list[Alert]:
    return engine.evaluate(reading, 0, derive(reading, engine.zone(reading.sensor)))


def _reading(kind: str, ts: int, values: dict[str, float], sensor: str = "") -> Reading:
    # float(): decode gives floats, and the standards' exact arithmetic relies on it
    return Reading(v=1, sensor=sensor or f"{kind}-pudong-0001", kind=kind, district="pudong",
                   ts=ts, seq=ts // 1000, values={k: float(v) for k, v in values.items()})


def _birth(kind: str, zone: str = "", **attributes: str | int | float | bool) -> SensorBirth:
    return SensorBirth(v=1, sensor=f"{kind}-pudong-0001", kind=kind, district="pudong",
                       site="site", lat=31.2, lon=121.5, zone=zone, interval_s=60, ts=0,
                       attributes=attributes)


def test_derive_matches_the_worked_hj633_example() -> None:
    reading = _reading("air", _ms(12), {"pm25": 38.2, "pm10": 61.0, "no2": 44.1, "o3": 92.0})
    assert derive(reading, None) == {"aqi": 56, "aqi_level": 2, "primary_pollutant": "pm10"}


def test_aqi_rule_fires_at_its_level_and_clears_a_whole_category_lower() -> None:
    engine = _engine({"name": "aqi-unhealthy", "type": "aqi", "min_level": 4})
    states = []
    for minute, pm25 in enumerate([60, 160, 120, 100, 70, 30]):
        states += [(a.state, a.value) for a in _feed(
            engine, _reading("air", _ms(12, minute), {"pm25": pm25}))]
    # 160 µg/m³ → IAQI 210 (level 5) fires; 120 → 157 and 100 → 133 (level 3) hold;
    # 70 → 94 (level 2) is two categories below level 4 and clears.
    assert states == [("firing", 210.0), ("resolved", 94.0)]


def test_water_class_rule_compares_with_the_station_target() -> None:
    engine = _engine({"name": "water-below-target", "type": "water_class", "by": 1},
                     _birth("water", class_target=3))
    good = {"ph": 7.5, "dissolved_oxygen": 6.0, "codmn": 4.0, "nh3_n": 0.5, "tp": 0.1}
    assert _feed(engine, _reading("water", _ms(9), good)) == []
    (fired,) = _feed(engine, _reading("water", _ms(10), {**good, "nh3_n": 1.8}))
    assert (fired.state, fired.value) == ("firing", 5.0)
    assert "class 5 against target class 3" in fired.message
    (resolved,) = _feed(engine, _reading("water", _ms(11), good))
    assert resolved.state == "resolved"


def test_noise_limit_follows_the_zone_and_the_night() -> None:
    engine = _engine({"name": "noise-over-limit", "type": "noise_limit", "margin_db": 3},
                     _birth("noise", zone="1"))
    assert _feed(engine, _reading("noise", _ms(21), {"laeq": 52.0})) == []  # day limit 55
    (fired,) = _feed(engine, _reading("noise", _ms(23), {"laeq": 52.0}))    # night limit 45
    assert "zone 1 limit of 45" in fired.message
    (resolved,) = _feed(engine, _reading("noise", _ms(23, 30), {"laeq": 46.0}))
    assert resolved.state == "resolved"


def test_energy_baseline_learns_the_hour_then_flags_a_surge() -> None:
    engine = _engine({"name": "energy-surge", "type": "energy_baseline", "factor": 1.5,
                      "history_days": 5, "min_days": 2})
    changes = []
    for day in range(2, 7):
        for quarter in range(2):
            changes += _feed(engine, _reading("energy", _ms(10, 15 * quarter, day),
                                              {"total_active_power": 100.0}))
    assert changes == []
    (fired,) = _feed(engine, _reading("energy", _ms(10, 45, 6), {"total_active_power": 160.0}))
    assert (fired.state, fired.value) == ("firing", 160.0)


def test_night_baseload_compares_night_load_with_the_day_peak() -> None:
    engine = _engine({"name": "night-baseload", "type": "night_baseload", "share": 0.6})
    assert _feed(engine, _reading("energy", _ms(12), {"total_active_power": 500.0})) == []
    (fired,) = _feed(engine, _reading("energy", _ms(26), {"total_active_power": 400.0}))
    assert fired.state == "firing"  # 02:00 the next day, 80 % of the peak
    (resolved,) = _feed(engine, _reading("energy", _ms(26, 15), {"total_active_power": 100.0}))
    assert resolved.state == "resolved"


def test_derived_fields_reach_influxdb(influxd: stack.Server, influx_db: str) -> None:
    encoder = PointEncoder()
    air = _reading("air", _ms(12), {"pm25": 160.0, "pm10": 61.0})
    noise = _reading("noise", _ms(23), {"laeq": 52.0})
    lines = [encoder.reading(air, derive(air, None)), encoder.reading(noise, derive(noise, "1"))]
    response = httpx.post(f"{influxd.url}/write", params={"db": influx_db, "precision": "ms"},
                          content="\n".join(lines).encode())
    assert response.status_code == 204, response.text
    (row,) = influx_rows(influxd.url, influx_db, 'SELECT * FROM "air"')
    assert (row["aqi"], row["aqi_level"], row["primary_pollutant"]) == (210, 5, "pm25")
    (row,) = influx_rows(influxd.url, influx_db, 'SELECT * FROM "noise"')
    assert (row["noise_limit_db"], row["noise_exceeds_limit"]) == (45, True)


AIR = {"pm25": 30.0, "pm10": 40.0, "no2": 20.0, "o3": 50.0}


def _messages(spec: dict[str, Any], kind: str, series: list[tuple[int, dict[str, float]]],
              birth: SensorBirth | None = None) -> list[tuple[str, str]]:
    """Feed `series` of (local hour·60 + minute, values) and return each change's state and
    message."""
    engine = _engine(spec, birth)
    changes = []
    for minutes, values in series:
        changes += _feed(engine, _reading(kind, _ms(minutes // 60, minutes % 60), values))
    return [(change.state, change.message) for change in changes]


def test_threshold_messages_say_what_happened_at_each_state() -> None:
    rule = {"name": "pm25-high", "type": "threshold", "kind": "air", "metric": "pm25",
            "above": 115, "clear": 100, "for": "2m"}
    series = [(720, {**AIR, "pm25": 120.0}), (721, {**AIR, "pm25": 110.0}),
              (722, {**AIR, "pm25": 108.0}), (723, {**AIR, "pm25": 5.0})]
    assert _messages(rule, "air", series) == [
        ("pending", "pm25 120.0 µg/m³ above 115.0"),
        ("firing", "pm25 108.0 µg/m³ still above the clear level 100.0 (alert above 115.0)"),
        ("resolved", "pm25 5.0 µg/m³ back at or below 100.0 (alert above 115.0)"),
    ]


def test_a_below_threshold_resolves_back_above() -> None:
    rule = {"name": "do-low", "type": "threshold", "kind": "water", "metric": "dissolved_oxygen",
            "below": 3}
    good = {"ph": 7.5, "dissolved_oxygen": 6.0, "codmn": 4.0, "nh3_n": 0.5, "tp": 0.1}
    series = [(600, {**good, "dissolved_oxygen": 2.0}), (610, good)]
    assert _messages(rule, "water", series) == [
        ("firing", "dissolved_oxygen 2.0 mg/L below 3.0"),
        ("resolved", "dissolved_oxygen 6.0 mg/L back at or above 3.0 (alert below 3.0)"),
    ]


def test_rate_stuck_and_range_resolutions_say_so() -> None:
    rate = {"name": "pm25-jump", "type": "rate_of_change", "kind": "air", "metric": "pm25",
            "max_per_minute": 10}
    assert _messages(rate, "air", [(720, AIR), (721, {**AIR, "pm25": 90.0}),
                                   (722, {**AIR, "pm25": 92.0})]) == [
        ("firing", "pm25 changing 60 µg/m³/min, limit 10.0"),
        ("resolved", "pm25 changing 2 µg/m³/min, back within the limit 10.0"),
    ]
    stuck = {"name": "pm25-stuck", "type": "stuck", "kind": "air", "metric": "pm25",
             "readings": 3}
    assert _messages(stuck, "air", [(720, AIR), (721, AIR), (722, AIR),
                                    (723, {**AIR, "pm25": 31.0})]) == [
        ("firing", "pm25 has read 30.0 for 3 readings in a row"),
        ("resolved", "pm25 moving again: 31.0 µg/m³"),
    ]
    plausible = {"name": "pm25-range", "type": "range", "kind": "air", "metric": "pm25",
                 "min": 0, "max": 500}
    assert _messages(plausible, "air", [(720, {**AIR, "pm25": 900.0}), (721, AIR)]) == [
        ("firing", "pm25 900.0 µg/m³ outside 0.0..500.0"),
        ("resolved", "pm25 30.0 µg/m³ back inside 0.0..500.0"),
    ]


def test_standard_rule_resolutions_say_so() -> None:
    aqi = {"name": "aqi-unhealthy", "type": "aqi", "min_level": 4}
    assert _messages(aqi, "air", [(720, {"pm25": 160.0}), (721, {"pm25": 30.0})]) == [
        ("firing", "AQI 210 (level 5), primary pollutant pm25"),
        ("resolved", "AQI 43 (level 1) back at or below level 2, primary pollutant none"),
    ]
    water = {"name": "water-below-target", "type": "water_class", "by": 1}
    good = {"ph": 7.5, "dissolved_oxygen": 6.0, "codmn": 4.0, "nh3_n": 0.5, "tp": 0.1}
    assert _messages(water, "water", [(600, {**good, "nh3_n": 1.8}), (610, good)],
                     _birth("water", class_target=3)) == [
        ("firing", "class 5 against target class 3"),
        ("resolved", "class 2 back within target class 3"),
    ]
    noise = {"name": "noise-over-limit", "type": "noise_limit", "margin_db": 3}
    assert _messages(noise, "noise", [(23 * 60, {"laeq": 52.0}), (23 * 60 + 30, {"laeq": 46.0})],
                     _birth("noise", zone="1")) == [
        ("firing", "LAeq 52.0 dB(A) over the zone 1 limit of 45 (margin 3 dB)"),
        ("resolved", "LAeq 46.0 dB(A) back within the zone 1 limit of 45 (margin 3 dB)"),
    ]
    night = {"name": "night-baseload", "type": "night_baseload", "share": 0.6}
    assert _messages(night, "energy", [(720, {"total_active_power": 500.0}),
                                       (26 * 60, {"total_active_power": 400.0}),
                                       (26 * 60 + 15, {"total_active_power": 100.0})]) == [
        ("firing", "night load 400.0 kW is 80% of the last weekday's load 500.0 kW (09-17 h)"),
        ("resolved", "night load 100.0 kW is 20% of the last weekday's load 500.0 kW (09-17 h),"
                     " back within 60%"),
    ]
    # A night alert still open in the morning ends with the night.
    assert _messages(night, "energy", [(720, {"total_active_power": 500.0}),
                                       (26 * 60, {"total_active_power": 400.0}),
                                       (32 * 60, {"total_active_power": 450.0})])[-1] == (
        "resolved", "daytime: the night baseload check ends at 450.0 kW")


def test_energy_baseline_resolution_says_so() -> None:
    rule = {"name": "energy-surge", "type": "energy_baseline", "factor": 1.5,
            "history_days": 5, "min_days": 2}
    engine = _engine(rule)
    for day in range(2, 7):
        for quarter in range(2):
            _feed(engine, _reading("energy", _ms(10, 15 * quarter, day),
                                   {"total_active_power": 100.0}))
    (fired,) = _feed(engine, _reading("energy", _ms(10, 45, 6), {"total_active_power": 160.0}))
    (resolved,) = _feed(engine, _reading("energy", _ms(10, 50, 6),
                                         {"total_active_power": 100.0}))
    assert fired.message == "160.0 kW against a baseline of 100.0 kW at 10:00 (alert above 1.5×)"
    assert resolved.message == ("100.0 kW back within 1.5× the baseline of 100.0 kW at 10:00")
