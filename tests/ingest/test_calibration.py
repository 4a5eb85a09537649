"""Co-location calibration: the fit, hourly pairing across phases, warm-up, limits, derivation."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest

from ingest.calibration import HOUR, LATENESS_MS, Fit, KindCalibration
from ingest.derive import Derivation, derive_encoded
from urbanpulse.influxql import Series
from urbanpulse.kinds import KINDS
from urbanpulse.kinds.air.calibration import CALIBRATION, hygroscopic_term
from urbanpulse.kinds.calibration import Colocation, Response
from urbanpulse.lineprotocol import encode_fields
from urbanpulse.messages import VERSION, Reading, SensorBirth
from urbanpulse.standards.air import realtime_aqi

T0 = 1_795_000_000_000 // HOUR * HOUR
"""The start of an hour."""
TEST = dataclasses.replace(CALIBRATION, min_pairs=6.0, min_term_pairs=4.0, window_h=24.0)
"""The air calibration with a short window, so that tests need few hours."""
DRY, HUMID = 50.0, 90.0


def _pairs(gain: float, growth: float, hours: int, *, noise: float = 0.0,
           first: int = 0) -> list[tuple[int, float, float, float]]:
    """Return hourly (hour, reference, term, raw): dry and humid hours in turn."""
    rng = random.Random(7)
    found = []
    for hour in range(first, first + hours):
        reference = 20.0 + 7.0 * (hour % 11)
        term = 0.0 if hour % 2 else 1.0 + hour % 7
        raw = gain * reference * (1 + growth * term) * (1 + noise * rng.uniform(-1, 1))
        found.append((hour, reference, term, raw))
    return found


def _fit(pairs: list[tuple[int, float, float, float]], colocation: Colocation = TEST) -> Fit:
    fit = Fit()
    for hour, reference, term, raw in pairs:
        fit.add(hour, reference, term, raw, colocation.forget)
    return fit


def test_fit_recovers_the_gain_and_growth_of_exact_pairs() -> None:
    found = _fit(_pairs(1.3, 0.3, 48)).response(TEST)
    assert found is not None
    assert found.offset == 0.0
    assert found.gain == pytest.approx(1.3, rel=1e-9)
    assert found.growth == pytest.approx(0.3, rel=1e-9)


def test_fit_recovers_them_from_noisy_pairs() -> None:
    found = _fit(_pairs(1.15, 0.4, 72, noise=0.05)).response(TEST)
    assert found is not None
    assert found.gain == pytest.approx(1.15, rel=0.03)
    assert found.growth == pytest.approx(0.4, rel=0.1)


def test_fit_says_nothing_before_enough_pairs() -> None:
    fit, answers = Fit(), []
    for hour, reference, term, raw in _pairs(1.3, 0.3, 20):
        fit.add(hour, reference, term, raw, TEST.forget)
        answers.append((fit.weight >= TEST.min_pairs, fit.response(TEST) is not None))
    assert all(enough == answered for enough, answered in answers)
    assert answers[0] == (False, False)
    assert answers[-1] == (True, True)


def test_fit_keeps_the_default_growth_until_it_has_dry_and_humid_pairs() -> None:
    humid = [pair for pair in _pairs(1.4, 0.3, 40) if pair[2] > 0]
    found = _fit(humid).response(TEST)
    assert found is not None
    assert found.growth == TEST.default.growth
    assert found.gain != pytest.approx(1.4, rel=0.01)  # the growth it cannot see goes into it
    mixed = _fit(humid + [(41, 30.0, 0.0, 1.4 * 30.0)] * int(TEST.min_term_pairs)).response(TEST)
    assert mixed is not None
    assert mixed.growth != TEST.default.growth


def test_fit_forgets_pairs_older_than_its_window() -> None:
    hours = int(10 * TEST.window_h)
    fit = _fit(_pairs(2.0, 0.3, hours) + _pairs(1.2, 0.3, hours, first=hours))
    found = fit.response(TEST)
    assert found is not None
    assert found.gain == pytest.approx(1.2, rel=0.001)
    # A pair an hour: the weights sum to at most 1 / (1 - forget), however long it ran.
    assert fit.weight <= 1 / (1 - TEST.forget) + 1e-9


def test_fit_outside_the_limits_is_refused() -> None:
    assert _fit(_pairs(TEST.limits.gain[1] * 1.5, 0.3, 48)).response(TEST) is None
    assert _fit(_pairs(1.2, TEST.limits.growth[1] * 2, 48)).response(TEST) is None


# -- hourly pairing of readings -------------------------------------------------------------


def _birth(sensor: str, district: str, grade: str | None) -> SensorBirth:
    return SensorBirth(v=VERSION, sensor=sensor, kind="air", district=district, site="s",
                       lat=31.2, lon=121.5, zone="urban", interval_s=60, ts=T0,
                       attributes={} if grade is None else {"grade": grade})


def _reading(sensor: str, district: str, ts: int, pm25: float,
             humidity: float = DRY) -> Reading:
    return Reading(v=VERSION, sensor=sensor, kind="air", district=district, ts=ts, seq=1,
                   values={"pm25": pm25, "pm10": 1.5 * pm25, "relative_humidity": humidity})


def _calibration(*births: SensorBirth, colocation: Colocation = TEST) -> KindCalibration:
    calibration = KindCalibration(KINDS["air"], colocation)
    for birth in births:
        calibration.register(birth.sensor, birth.district, birth.attributes)
    return calibration


def _feed(calibration: KindCalibration, hours: range, stations: list[tuple[str, str, float]],
          humidity: float = DRY) -> dict[str, float] | None:
    """Feed readings every 10 min, each station at its own phase (seconds into the slot):
    the reference level varies by hour, a station reads `ratio` times it. Return the
    last corrected values."""
    last = None
    for hour in hours:
        level = 20.0 + 5.0 * (hour % 9)
        for slot in range(6):
            for sensor, district, ratio in stations:
                phase = 7_000 * (1 + sum(map(ord, sensor)) % 80)
                ts = T0 + hour * HOUR + slot * 600_000 + phase
                found = calibration.correct(_reading(sensor, district, ts, ratio * level,
                                                     humidity), ts)
                if ratio != 1.0:
                    last = found
    return last


def test_low_cost_station_is_corrected_with_the_default_then_its_districts_fit() -> None:
    calibration = _calibration(_birth("air-pudong-0001", "pudong", "reference"),
                               _birth("air-pudong-0002", "pudong", "low-cost"))
    stations = [("air-pudong-0001", "pudong", 1.0), ("air-pudong-0002", "pudong", 1.6)]
    first = _feed(calibration, range(1), stations)  # hour 0: the reference reads 20 µg/m³
    assert first == {"pm25": round(1.6 * 20.0 / TEST.default.gain, 1),
                     "pm10": round(1.6 * 30.0 / TEST.default.gain, 1)}
    _feed(calibration, range(1, int(TEST.min_pairs) + 2), stations)
    response = calibration.response("pudong", "pm25")
    assert response is not None
    assert response.gain == pytest.approx(1.6, rel=1e-6)
    low = calibration.correct(_reading("air-pudong-0002", "pudong", T0 + 50 * HOUR, 80.0),
                              T0 + 50 * HOUR)
    assert low == {"pm25": 50.0, "pm10": 75.0}


def test_reference_and_undeclared_stations_are_taken_as_they_read() -> None:
    calibration = _calibration(_birth("air-pudong-0001", "pudong", "reference"),
                               _birth("air-pudong-0003", "pudong", None))
    for sensor in ("air-pudong-0001", "air-pudong-0003", "air-pudong-0009"):  # 0009: no birth
        assert calibration.correct(_reading(sensor, "pudong", T0, 40.0), T0) is None


def test_a_district_without_reference_stations_pairs_with_the_citys() -> None:
    calibration = _calibration(_birth("air-pudong-0001", "pudong", "reference"),
                               _birth("air-fengxian-0001", "fengxian", "low-cost"))
    _feed(calibration, range(int(TEST.min_pairs) + 2),
          [("air-pudong-0001", "pudong", 1.0), ("air-fengxian-0001", "fengxian", 2.0)])
    response = calibration.response("fengxian", "pm25")
    assert response is not None
    assert response.gain == pytest.approx(2.0, rel=1e-6)


def test_humid_readings_are_corrected_for_growth_once_it_is_fitted() -> None:
    calibration = _calibration(_birth("air-huangpu-0001", "huangpu", "reference"),
                               _birth("air-huangpu-0002", "huangpu", "low-cost"))
    stations = [("air-huangpu-0001", "huangpu", 1.0)]
    growth = 1.0 + 0.4 * hygroscopic_term(HUMID)
    for hour in range(int(TEST.window_h)):  # a humid night, then a dry day, then again
        humid = hour % 12 < 6
        _feed(calibration, range(hour, hour + 1),
              [*stations, ("air-huangpu-0002", "huangpu", 1.3 * (growth if humid else 1.0))],
              HUMID if humid else DRY)
    response = calibration.response("huangpu", "pm25")
    assert response is not None
    assert response.gain == pytest.approx(1.3, rel=1e-3)
    assert response.growth == pytest.approx(0.4, rel=1e-3)
    ts = T0 + 30 * HOUR
    corrected = calibration.correct(_reading("air-huangpu-0002", "huangpu", ts,
                                             1.3 * growth * 40.0, HUMID), ts)
    assert corrected is not None
    assert corrected["pm25"] == pytest.approx(40.0, abs=0.1)


def test_open_hours_stay_bounded_and_a_late_reading_is_not_paired() -> None:
    calibration = _calibration(_birth("air-pudong-0001", "pudong", "reference"),
                               _birth("air-pudong-0002", "pudong", "low-cost"))
    stations = [("air-pudong-0001", "pudong", 1.0), ("air-pudong-0002", "pudong", 1.6)]
    for hour in range(100):
        _feed(calibration, range(hour, hour + 1), stations)
        assert calibration.open_hours <= 2
    late = T0 + 90 * HOUR  # paired long ago: corrected, but no longer paired
    assert calibration.correct(_reading("air-pudong-0002", "pudong", late, 5000.0), late) == {
        "pm25": round(5000.0 / 1.6, 1), "pm10": round(7500.0 / 1.6, 1)}
    _feed(calibration, range(100, 102), stations)
    response = calibration.response("pudong", "pm25")
    assert response is not None
    assert response.gain == pytest.approx(1.6, rel=1e-9)


def test_an_hour_is_paired_only_once_lateness_has_passed() -> None:
    calibration = _calibration(_birth("air-pudong-0001", "pudong", "reference"),
                               _birth("air-pudong-0002", "pudong", "low-cost"),
                               colocation=dataclasses.replace(TEST, min_pairs=1.0,
                                                              min_term_pairs=0.0))
    end, soon = T0 + HOUR, T0 + HOUR + 60_000
    assert soon - end < LATENESS_MS
    calibration.correct(_reading("air-pudong-0002", "pudong", end - 1_000, 60.0), end)
    calibration.correct(_reading("air-pudong-0002", "pudong", soon, 60.0), soon)
    # The reference's reading of the hour comes after one of the next, within the lateness:
    # still paired with the hour.
    calibration.correct(_reading("air-pudong-0001", "pudong", end - 500, 30.0), soon)
    assert calibration.response("pudong", "pm25") == TEST.default
    calibration.correct(_reading("air-pudong-0002", "pudong", end + LATENESS_MS, 60.0),
                        end + LATENESS_MS)
    response = calibration.response("pudong", "pm25")
    assert response is not None
    assert response.gain == pytest.approx(2.0)


def test_a_dead_stations_pairs_leave_its_districts_fit_alone() -> None:
    calibration = _calibration(_birth("air-pudong-0001", "pudong", "reference"),
                               _birth("air-pudong-0002", "pudong", "low-cost"),
                               _birth("air-pudong-0003", "pudong", "low-cost"))
    _feed(calibration, range(int(TEST.min_pairs) + 2),
          [("air-pudong-0001", "pudong", 1.0), ("air-pudong-0002", "pudong", 1.6),
           ("air-pudong-0003", "pudong", 0.0)])  # reads 0: outside the gain limits
    response = calibration.response("pudong", "pm25")
    assert response is not None
    assert response.gain == pytest.approx(1.6, rel=1e-6)


def test_rebuilds_from_hourly_rollups_as_it_pairs_live() -> None:
    births = (_birth("air-pudong-0001", "pudong", "reference"),
              _birth("air-pudong-0002", "pudong", "low-cost"))
    live = _calibration(*births)
    stations = [("air-pudong-0001", "pudong", 1.0), ("air-pudong-0002", "pudong", 1.45)]
    hours = int(TEST.min_pairs) + 4
    _feed(live, range(hours), stations)
    now = T0 + hours * HOUR + LATENESS_MS  # every hour fed has ended

    def rollup(sensor: str, ratio: float) -> Series:
        return Series(name="air_1h", tags={"district": "pudong", "sensor": sensor},
                      columns=["time", "pm25_mean", "pm10_mean", "relative_humidity_mean",
                               "count"],
                      values=[[T0 + hour * HOUR, ratio * (20.0 + 5.0 * (hour % 9)),
                               1.5 * ratio * (20.0 + 5.0 * (hour % 9)), DRY, 6]
                              for hour in range(hours)])

    rebuilt = _calibration(*births)
    statement = rebuilt.history_statement(now, ["pudong"])
    assert statement.startswith('SELECT "pm25_mean", "pm10_mean", "relative_humidity_mean", '
                                '"count" FROM "air_1h" WHERE ')
    for sensor, _, ratio in stations:
        rebuilt.take_history(rollup(sensor, ratio), now)
    assert rebuilt.pair_history() == hours
    _feed(live, range(hours, hours + 1), stations)  # which pairs the last hour live as well
    expected, found = live.response("pudong", "pm25"), rebuilt.response("pudong", "pm25")
    assert expected is not None
    assert found is not None
    assert found.gain == pytest.approx(expected.gain, rel=1e-9)


# -- derivation ------------------------------------------------------------------------------


def test_derivation_writes_corrected_fields_and_the_aqi_of_them() -> None:
    derivation = Derivation()
    for birth in (_birth("air-pudong-0001", "pudong", "reference"),
                  _birth("air-pudong-0002", "pudong", "low-cost")):
        derivation.register(birth)
    low = _reading("air-pudong-0002", "pudong", T0, 200.0)
    fields, text = derivation.derive_encoded(low, None, T0)
    pm25, pm10 = 200.0 / CALIBRATION.default.gain, 300.0 / CALIBRATION.default.gain
    index, level, primary = realtime_aqi({"pm25": pm25, "pm10": pm10})
    assert fields == {"aqi": index, "aqi_level": level, "primary_pollutant": ",".join(primary),
                      "pm25_cal": pm25, "pm10_cal": pm10}
    assert index < realtime_aqi(low.values)[0], "the raw reading's AQI is higher"
    assert text == encode_fields(fields)
    for sensor in ("air-pudong-0001", "air-pudong-0009"):  # a reference one; one of no birth
        reading = _reading(sensor, "pudong", T0, 200.0)
        fields, text = derivation.derive_encoded(reading, None, T0)
        assert fields == {**derive_encoded(reading, None)[0], "pm25_cal": 200.0,
                          "pm10_cal": 300.0}
        assert text == encode_fields(fields)


def test_a_calibration_that_does_not_fit_its_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="does not report"):
        KindCalibration(KINDS["air"], dataclasses.replace(CALIBRATION,
                                                          corrected={"pm1": "pm1_cal"}))
    with pytest.raises(ValueError, match=r"SPEC\.derived, as a float"):
        KindCalibration(KINDS["air"], dataclasses.replace(CALIBRATION,
                                                          corrected={"pm25": "aqi"}))
    with pytest.raises(ValueError, match="outside the limits"):
        dataclasses.replace(CALIBRATION, default=Response(0.0, 9.0, 0.0))
    assert math.isclose(CALIBRATION.forget, math.exp(-1 / CALIBRATION.window_h))
