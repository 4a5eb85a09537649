"""The alert lifecycle, driven by hand-made readings and a clock the test moves."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from ingest.alerts.engine import AlertEngine, fingerprint
from ingest.alerts.rules import Rule, parse_rule
from urbanpulse.messages import Alert, Reading, SensorBirth

T0 = 1_795_000_000_000
MINUTE = 60_000


def _rules(*specs: dict[str, Any]) -> list[Rule]:
    return [parse_rule(spec) for spec in specs]


def _air(pm25: float, ts: int, sensor: str = "air-pudong-0001") -> Reading:
    return Reading(v=1, sensor=sensor, kind="air", district="pudong", ts=ts, seq=ts // 1000,
                   values={"pm25": pm25})


def _states(changes: list[Alert]) -> list[str]:
    return [change.state for change in changes]


PM25 = {"name": "pm25-high", "type": "threshold", "kind": "air", "metric": "pm25",
        "above": 115, "clear": 100, "for": "5m", "severity": "medium"}


def test_value_oscillating_around_the_threshold_fires_once_and_resolves_once() -> None:
    engine = AlertEngine(_rules(PM25))
    changes: list[Alert] = []
    for minute in range(30):  # 110..120 around 115, never below the clear level 100
        changes += engine.evaluate(_air(110 + 10 * (minute % 2), T0 + minute * MINUTE), T0)
    changes += engine.evaluate(_air(90, T0 + 30 * MINUTE), T0)
    assert _states(changes) == ["pending", "firing", "resolved"]
    assert len({change.alert_id for change in changes}) == 1
    assert changes[0].alert_id == fingerprint("pm25-high", "air-pudong-0001")


def test_sustained_breach_fires_after_for_and_not_before() -> None:
    engine = AlertEngine(_rules(PM25))
    assert _states(engine.evaluate(_air(130, T0), T0)) == ["pending"]
    for seconds in (60, 120, 240, 299):
        assert engine.evaluate(_air(130, T0 + seconds * 1000), T0) == []
    fired = engine.evaluate(_air(131, T0 + 300_000), T0)
    assert _states(fired) == ["firing"]
    assert (fired[0].since, fired[0].ts, fired[0].value) == (T0, T0 + 300_000, 131)
    assert engine.evaluate(_air(140, T0 + 400_000), T0) == []


def test_a_short_breach_resolves_without_firing() -> None:
    engine = AlertEngine(_rules(PM25))
    changes = engine.evaluate(_air(130, T0), T0) + engine.evaluate(_air(95, T0 + MINUTE), T0)
    assert _states(changes) == ["pending", "resolved"]
    assert engine.active == []


def test_acknowledge_then_resolve() -> None:
    engine = AlertEngine(_rules({**PM25, "for": 0}))
    (fired,) = engine.evaluate(_air(130, T0), T0)
    acked = engine.acknowledge(fired.alert_id, "operator", "crew sent", T0 + 1000)
    assert acked is not None
    assert (acked.state, acked.acked_by, acked.note) == ("acknowledged", "operator", "crew sent")
    assert engine.acknowledge(fired.alert_id, "operator", "", T0 + 2000) is None
    (resolved,) = engine.evaluate(_air(80, T0 + MINUTE), T0)
    assert (resolved.state, resolved.acked_by) == ("resolved", "operator")
    assert engine.acknowledge("no-such-alert", "x", "", T0) is None


def test_stale_sensor_fires_on_the_sweep_and_resolves_on_its_next_reading() -> None:
    engine = AlertEngine(_rules({"name": "air-stale", "type": "stale", "kind": "air",
                                 "factor": 3, "severity": "low"}))
    engine.register(SensorBirth(v=1, sensor="air-pudong-0001", kind="air", district="pudong",
                                site="s", lat=31.2, lon=121.5, zone="2", interval_s=60, ts=T0),
                    T0)
    assert engine.sweep(T0 + 180_000) == []
    (stale,) = engine.sweep(T0 + 181_000)
    assert (stale.state, stale.sensor, stale.value) == ("firing", "air-pudong-0001", 181)
    assert engine.sweep(T0 + 240_000) == []
    (back,) = engine.evaluate(_air(30, T0 + 250_000), T0 + 250_000)
    assert back.state == "resolved"


def test_district_stale_needs_its_share_of_silent_sensors() -> None:
    engine = AlertEngine(_rules({"name": "air-district-stale", "type": "district_stale",
                                 "kind": "air", "factor": 3, "share": 0.5, "min_sensors": 3,
                                 "severity": "high"}))
    for n in range(4):
        engine.evaluate(_air(20, T0, sensor=f"air-pudong-{n:04d}"), T0)
    later = T0 + 200_000
    for n in range(3):  # one of four silent: 25 %
        engine.evaluate(_air(20, later, sensor=f"air-pudong-{n:04d}"), later)
    assert engine.sweep(later + 1000) == []
    even_later = T0 + 400_000
    engine.evaluate(_air(20, even_later, sensor="air-pudong-0000"), even_later)
    (fired,) = engine.sweep(even_later + 1000)  # 0003 and two more silent: 3 of 4
    assert (fired.sensor, fired.district, fired.state) == ("district-pudong", "pudong", "firing")
    for n in range(4):
        engine.evaluate(_air(20, even_later + 2000, sensor=f"air-pudong-{n:04d}"),
                        even_later + 2000)
    (resolved,) = engine.sweep(even_later + 3000)
    assert resolved.state == "resolved"


def test_stuck_rate_and_range_rules() -> None:
    engine = AlertEngine(_rules(
        {"name": "pm25-stuck", "type": "stuck", "kind": "air", "metric": "pm25",
         "readings": 3, "severity": "low"},
        {"name": "pm25-jump", "type": "rate_of_change", "kind": "air", "metric": "pm25",
         "max_per_minute": 50, "severity": "low"},
        {"name": "pm25-implausible", "type": "range", "kind": "air", "metric": "pm25",
         "min": 0, "max": 900, "severity": "low"},
    ))
    changes = [change for minute, value in enumerate([40, 40, 40, 41, 200, 950])
               for change in engine.evaluate(_air(value, T0 + minute * MINUTE), T0)]
    assert [(change.rule, change.state) for change in changes] == [
        ("pm25-stuck", "firing"), ("pm25-stuck", "resolved"), ("pm25-jump", "firing"),
        ("pm25-implausible", "firing")]


def test_restored_alert_is_not_fired_twice_and_resolves_when_the_condition_cleared() -> None:
    engine = AlertEngine(_rules({**PM25, "for": 0}))
    (fired,) = engine.evaluate(_air(130, T0), T0)
    restarted = AlertEngine(_rules({**PM25, "for": 0}))
    restarted.restore(fired)
    assert restarted.evaluate(_air(135, T0 + MINUTE), T0) == []
    (resolved,) = restarted.evaluate(_air(50, T0 + 2 * MINUTE), T0)
    assert (resolved.state, resolved.since) == ("resolved", T0)


def test_restore_skips_an_alert_whose_id_is_not_its_fingerprint_and_drops_signatures(
        ) -> None:
    engine = AlertEngine(_rules({**PM25, "for": 0}))
    (fired,) = engine.evaluate(_air(130, T0), T0)
    restarted = AlertEngine(_rules({**PM25, "for": 0}))
    restarted.restore(msgspec.structs.replace(fired, alert_id="0123456789abcdef"))
    restarted.restore(msgspec.structs.replace(fired, state="resolved"))
    assert restarted.active == []
    restarted.restore(msgspec.structs.replace(fired, sig="ab" * 32))
    assert [(alert.alert_id, alert.sig) for alert in restarted.active] == [
        (fired.alert_id, None)]
    acked = restarted.acknowledge(fired.alert_id, "ops", "", T0 + 1)
    assert acked is not None
    assert acked.sig is None  # the ingester signs what it publishes, not what it keeps


def test_repeat_after_suppresses_a_new_episode_too_soon_after_a_resolve() -> None:
    engine = AlertEngine(_rules({**PM25, "for": 0, "repeat_after": "30m"}))
    changes = []
    for minute, value in [(0, 130), (1, 90), (5, 130), (10, 90), (40, 130)]:
        changes += engine.evaluate(_air(value, T0 + minute * MINUTE), T0)
    assert [(change.state, (change.ts - T0) // MINUTE) for change in changes] == [
        ("firing", 0), ("resolved", 1), ("firing", 40)]
    assert engine.suppressed == 1


def test_a_pending_alert_that_never_fired_holds_no_repeat_back() -> None:
    """A condition shorter than its `for` paged nobody: the next one is judged at once."""
    engine = AlertEngine(_rules({**PM25, "for": "10m", "repeat_after": "30m"}))
    changes = []
    for minute, value in [(0, 130), (5, 90), (8, 130), (18, 130), (19, 90), (25, 130)]:
        changes += engine.evaluate(_air(value, T0 + minute * MINUTE), T0)
    assert [(change.state, (change.ts - T0) // MINUTE) for change in changes] == [
        ("pending", 0), ("resolved", 5), ("pending", 8), ("firing", 18), ("resolved", 19)]
    assert engine.suppressed == 1  # at 25: within 30 min of the fired alert's resolve


def test_a_threshold_on_a_derived_field_judges_the_derived_value_not_the_metric() -> None:
    """pm25-high judges the calibrated `pm25_cal`: a low-cost station's raw 300 µg/m³
    on a humid night is not an alert when its corrected value is 60."""
    engine = AlertEngine(_rules({**PM25, "metric": "pm25_cal", "for": "0s"}))
    humid = engine.evaluate(_air(300, T0), T0, {"pm25_cal": 60.0})
    polluted = engine.evaluate(_air(150, T0 + MINUTE), T0, {"pm25_cal": 140.0})
    underived = engine.evaluate(_air(90, T0 + 2 * MINUTE), T0, {})
    assert (humid, _states(polluted), underived) == ([], ["firing"], [])
    assert polluted[0].message == "pm25_cal 140.0 µg/m³ above 115.0"


def test_a_threshold_names_a_numeric_derived_field_or_a_metric_and_nothing_else() -> None:
    with pytest.raises(ValueError, match="numeric derived fields aqi, aqi_level, pm25_cal"):
        parse_rule({**PM25, "metric": "primary_pollutant"})
