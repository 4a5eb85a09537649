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
                      "min_samples": 4, "alpha": 0.5})
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
