"""The energy kind's rules: a baseline per weekday or weekend hour, and an office's night."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ingest.alerts.engine import AlertEngine
from ingest.alerts.rules import parse_rule
from urbanpulse.messages import Alert, Reading, SensorBirth


def _ms(day: int, hour: int, minute: int = 0) -> int:
    """Epoch ms of Shanghai local time `hour:minute` on March `day`, 2026 (the 2nd a Monday)."""
    return int(datetime(2026, 3, day, tzinfo=UTC).timestamp() * 1000) + (
        (hour - 8) * 60 + minute) * 60_000


def _engine(spec: dict[str, Any], building: str = "office") -> AlertEngine:
    engine = AlertEngine([parse_rule({"severity": "low", "kind": "energy", **spec})])
    engine.register(SensorBirth(v=1, sensor="energy-pudong-0001", kind="energy",
                                district="pudong", site="s", lat=31.2, lon=121.5,
                                zone=building, interval_s=900, ts=0,
                                attributes={"building_type": building}), 0)
    return engine


def _feed(engine: AlertEngine, ts: int, kw: float) -> list[Alert]:
    return engine.evaluate(Reading(v=1, sensor="energy-pudong-0001", kind="energy",
                                   district="pudong", ts=ts, seq=ts // 1000,
                                   values={"total_active_power": kw}), ts)


BASELINE = {"name": "baseline", "type": "energy_baseline", "factor": 1.3, "history_days": 5,
            "min_days": 3}


def test_the_baseline_is_the_median_of_the_same_hour_on_days_of_the_same_kind() -> None:
    engine = _engine(BASELINE)
    changes: list[Alert] = []
    # A week at 10:00: 100 kW on weekdays but 40 on Monday 2 (a holiday), 30 at weekends.
    for day, kw in ((2, 40.0), (3, 100.0), (4, 100.0), (5, 100.0), (6, 100.0),
                    (7, 30.0), (8, 30.0)):
        changes += _feed(engine, _ms(day, 10), kw) + _feed(engine, _ms(day, 11), kw)
    assert changes == []  # (two weekend days are too few to judge the weekend)
    # Monday 9: the median of 40, 100, 100, 100, 100 is 100, so 125 kW is usual and
    # 140 is not; the weekends' 30 kW do not count.
    assert _feed(engine, _ms(9, 10), 125.0) == []
    (fired,) = _feed(engine, _ms(9, 10, 15), 140.0)
    assert fired.message == "140.0 kW against a baseline of 100.0 kW at 10:00 (alert above 1.3×)"


def test_a_day_is_judged_only_against_days_of_its_kind_once_it_has_enough() -> None:
    engine = _engine(BASELINE)
    for day in range(2, 7):  # five weekdays at 100 kW
        _feed(engine, _ms(day, 10), 100.0)
        _feed(engine, _ms(day, 11), 100.0)
    # The weekend has no weekend day to go by: its 140 kW are not judged against the
    # weekdays (an office's Sunday draws a quarter of its Monday).
    assert _feed(engine, _ms(7, 10), 140.0) == []
    _feed(engine, _ms(7, 11), 30.0)
    # Saturday 7 (140 kW at 10:00) and Sunday 8 (30): the median of two is their mean,
    # so it waits for a third day; then the median outvotes the odd one.
    assert _feed(engine, _ms(8, 10), 30.0) + _feed(engine, _ms(8, 11), 30.0) == []
    assert _feed(engine, _ms(14, 10), 30.0) + _feed(engine, _ms(14, 11), 30.0) == []
    (fired,) = _feed(engine, _ms(15, 10), 60.0)  # Sunday 15 against 140, 30 and 30 kW
    assert "baseline of 30.0 kW" in fired.message


def test_a_holiday_and_one_workday_do_not_make_a_baseline() -> None:
    engine = _engine(BASELINE)
    # Monday 2 a holiday (40 kW), then the meter is out until Friday 6 (100 kW): the
    # mean of the two, 70 kW, would make a usual Monday's 100 kW an alarm.
    for day, kw in ((2, 40.0), (6, 100.0)):
        _feed(engine, _ms(day, 10), kw)
        _feed(engine, _ms(day, 11), kw)
    assert _feed(engine, _ms(9, 10), 100.0) == []


NIGHT = {"name": "night", "type": "night_baseload", "share": 0.5,
         "building_types": ["office", "government"]}


def test_an_offices_night_is_judged_against_its_last_weekdays_day_load() -> None:
    engine = _engine(NIGHT)
    for hour in range(9, 17):  # Friday March 6: 400 kW from 09:00 to 17:00
        _feed(engine, _ms(6, hour), 400.0)
    _feed(engine, _ms(7, 12), 150.0)  # Saturday: a rest day's load is not the reference
    (fired,) = _feed(engine, _ms(9, 2), 250.0)  # Monday 02:00: 62 % of Friday's 400 kW
    assert fired.message == ("night load 250.0 kW is 62% of the last weekday's load 400.0 kW "
                             "(09-17 h)")
    assert _feed(engine, _ms(9, 8), 380.0)[0].state == "resolved"  # the night is over


def test_a_hospital_working_through_the_night_is_not_judged() -> None:
    engine = _engine(NIGHT, building="hospital")
    for hour in range(9, 17):
        _feed(engine, _ms(6, hour), 400.0)
    assert _feed(engine, _ms(7, 2), 300.0) == []
    assert parse_rule({"severity": "low", **NIGHT}).watches({"building_type": "office"})
    assert not parse_rule({"severity": "low", **NIGHT}).watches({"building_type": "hotel"})


def test_the_night_is_judged_against_the_median_of_whole_weekdays() -> None:
    rule = {**NIGHT, "share": 0.6, "history_days": 5, "min_days": 3, "min_hours": 6}
    engine = _engine(rule)
    # Monday 2, a holiday: 100 kW; Tuesday 3 and Wednesday 4: 400 kW from 09:00 to 17:00.
    for day, kw in ((2, 100.0), (3, 400.0), (4, 400.0)):
        for hour in range(9, 17):
            _feed(engine, _ms(day, hour), kw)
    # Thursday 5: back from an outage at 15:00 with its night's 100 kW, then frozen: two
    # hours are not that day's load.
    _feed(engine, _ms(5, 15), 100.0)
    _feed(engine, _ms(5, 16), 100.0)
    assert _feed(engine, _ms(6, 2), 200.0) == []  # two whole weekdays are too few yet
    for hour in range(9, 17):  # Friday 6: 400 kW
        _feed(engine, _ms(6, hour), 400.0)
    # Monday 9 at 02:00: the median of 100, 400, 400 is 400; 200 kW is half of it, 260 not.
    assert _feed(engine, _ms(9, 2), 200.0) == []
    (fired,) = _feed(engine, _ms(9, 2, 15), 260.0)
    assert fired.message == "night load 260.0 kW is 65% of the weekday load 400.0 kW (09-17 h)"


def test_a_night_at_the_share_holds_and_a_late_evening_reading_does_not_end_it() -> None:
    rule = {**NIGHT, "share": 0.6, "clear": 0.55, "for": "1h"}
    engine = _engine(rule)
    for hour in range(9, 17):  # Friday March 6: 100 kW from 09:00 to 17:00
        _feed(engine, _ms(6, hour), 100.0)
    (pending,) = _feed(engine, _ms(9, 0), 61.0)  # Monday 00:00: 61 % of Friday's
    assert pending.state == "pending"
    assert _feed(engine, _ms(9, 0, 15), 59.0) == []  # a dip above 55 % holds it
    assert _feed(engine, _ms(8, 23, 45), 40.0) == []  # Sunday 23:45, come late
    (fired,) = _feed(engine, _ms(9, 1), 61.0)
    assert fired.state == "firing"
    (resolved,) = _feed(engine, _ms(9, 1, 15), 54.0)
    assert resolved.message == ("night load 54.0 kW is 54% of the last weekday's load 100.0 kW "
                                "(09-17 h), back within 55%")
