"""Notifications, grouped and held while flapping, on a clock the test moves."""

from __future__ import annotations

import msgspec
import pytest

from tests.ingest.alerts.notifying import MINUTE, SECOND, T0, Desk, alert, sensors_of
from urbanpulse.errors import ConfigError
from urbanpulse.messages import AlertState, encoder, notification_decoder
from urbanpulse.settings import IngestSettings, load
from urbanpulse.signing import is_signed_notification, sign_notification
from urbanpulse.topics import (
    Channel,
    Topic,
    notification_subscription,
    notification_topic,
    parse,
)

HOUR = 60 * MINUTE


def test_siblings_within_group_wait_page_once_together() -> None:
    desk = Desk()
    desk.change("pm25-high", "air-pudong-0001", "firing")
    desk.run(T0 + 10 * SECOND)
    desk.change("pm25-high", "air-pudong-0002", "firing")
    desk.change("pm25-high", "air-huangpu-0001", "firing", district="huangpu")
    assert desk.run(T0 + 29 * SECOND) == [], "nothing pages before group_wait"
    (pudong,) = desk.run(T0 + 30 * SECOND)
    assert (pudong.district, pudong.rule, pudong.reason, pudong.seq) == \
        ("pudong", "pm25-high", "firing", 1)
    assert sensors_of(pudong) == {"air-pudong-0001": "firing", "air-pudong-0002": "firing"}
    assert (pudong.counts.firing, pudong.counts.resolved, pudong.opened) == (2, 0, T0)
    (huangpu,) = desk.run(T0 + 40 * SECOND)  # its own group, opened 10 s later
    assert sensors_of(huangpu) == {"air-huangpu-0001": "firing"}
    assert huangpu.group_id != pudong.group_id


def test_later_firings_batch_into_one_update_per_group_interval() -> None:
    desk = Desk()
    desk.change("pm25-high", "air-pudong-0001", "firing")
    desk.run(T0 + MINUTE)
    for n in (2, 3, 4):
        desk.change("pm25-high", f"air-pudong-000{n}", "firing")
        desk.run(desk.clock.now + MINUTE)
    assert [n.reason for n in desk.sent] == ["firing"], "updates wait for group_interval"
    (update,) = desk.run(T0 + 30 * SECOND + 5 * MINUTE)
    assert (update.reason, update.seq, update.counts.firing) == ("update", 2, 4)
    assert update.group_id == desk.sent[0].group_id


def test_a_group_resolves_in_one_notification_and_partial_resolves_do_not_page() -> None:
    desk = Desk()
    for n in (1, 2, 3):
        desk.change("pm25-high", f"air-pudong-000{n}", "firing")
    desk.run(T0 + MINUTE)
    desk.change("pm25-high", "air-pudong-0001", "resolved")
    desk.change("pm25-high", "air-pudong-0002", "resolved")
    assert desk.run(T0 + HOUR) == []
    desk.change("pm25-high", "air-pudong-0003", "resolved")
    (resolved,) = desk.run(T0 + 2 * HOUR)
    assert resolved.reason == "resolved"
    assert sensors_of(resolved) == {f"air-pudong-000{n}": "resolved" for n in (1, 2, 3)}
    assert (resolved.counts.firing, resolved.counts.resolved) == (0, 3)
    desk.change("pm25-high", "air-pudong-0001", "firing")
    (again,) = desk.run(desk.clock.now + MINUTE)
    assert (again.reason, again.seq) == ("firing", 1)
    assert again.group_id != resolved.group_id, "a new window after the group resolved"


def test_an_alert_resolved_within_group_wait_pages_nobody() -> None:
    desk = Desk()
    desk.change("pm25-high", "air-pudong-0001", "pending")
    desk.change("pm25-high", "air-pudong-0001", "firing")
    desk.run(T0 + 20 * SECOND)
    desk.change("pm25-high", "air-pudong-0001", "resolved")
    assert desk.run(T0 + HOUR) == []
    assert desk.notifier.stats.sent == 0


def test_a_resolved_alert_that_fires_again_before_the_next_page_changes_nothing() -> None:
    desk = Desk()
    desk.change("pm25-high", "air-pudong-0001", "firing")
    desk.run(T0 + MINUTE)
    desk.change("pm25-high", "air-pudong-0001", "resolved")
    desk.run(T0 + 2 * MINUTE)
    desk.change("pm25-high", "air-pudong-0001", "firing")
    assert desk.run(T0 + HOUR) == []


def test_a_group_still_firing_repeats_unless_acknowledged() -> None:
    desk = Desk(repeat_interval_ms=HOUR)
    desk.change("pm25-high", "air-pudong-0001", "firing")
    desk.run(T0 + 30 * SECOND)
    (repeat,) = desk.run(T0 + 30 * SECOND + HOUR)
    assert (repeat.reason, repeat.seq) == ("repeat", 2)
    desk.change("pm25-high", "air-pudong-0001", "acknowledged")
    assert desk.run(T0 + 5 * HOUR) == [], "an acknowledged alert is in hand: no reminder"
    desk.change("pm25-high", "air-pudong-0001", "resolved")
    (resolved,) = desk.run(T0 + 6 * HOUR)
    assert resolved.reason == "resolved"


def test_repeat_zero_never_repeats() -> None:
    desk = Desk(repeat_interval_ms=0)
    desk.change("pm25-high", "air-pudong-0001", "firing")
    assert [n.reason for n in desk.run(T0 + 24 * HOUR, step_ms=MINUTE)] == ["firing"]


def test_a_flapping_alert_pages_once_then_once_more_when_it_settles() -> None:
    desk = Desk(flap_changes=4, flap_window_ms=HOUR, flap_settle_ms=30 * MINUTE)
    desk.change("pm25-high", "air-pudong-0001", "firing")
    toggles: list[AlertState] = ["resolved", "firing", "resolved", "firing"]  # 5 changes
    for state in toggles:
        desk.run(desk.clock.now + 2 * MINUTE)
        desk.change("pm25-high", "air-pudong-0001", state)
    desk.run(desk.clock.now + MINUTE)
    # Until it counts as flapping its changes page as any would (batched by the timers).
    assert [n.reason for n in desk.sent] == ["firing", "resolved", "flapping"]
    flapping = desk.sent[-1]
    assert flapping.alerts[0].flapping
    assert flapping.counts.flapping == 1
    toggle: list[AlertState] = ["resolved", "firing"]
    held = [*toggle * 4, "resolved"]  # 9 changes, no page
    for state in held:
        desk.run(desk.clock.now + 2 * MINUTE)
        desk.change("pm25-high", "air-pudong-0001", state)
    assert [n.reason for n in desk.sent] == ["firing", "resolved", "flapping"]
    assert desk.notifier.stats.flapping_held == 9
    quiet_from = desk.clock.now
    assert desk.run(quiet_from + 29 * MINUTE) == [], "not stable long enough yet"
    (settled,) = desk.run(quiet_from + 40 * MINUTE)
    assert (settled.reason, sensors_of(settled)) == ("settled", {"air-pudong-0001": "resolved"})
    assert not settled.alerts[0].flapping
    assert desk.run(quiet_from + 10 * HOUR, step_ms=MINUTE) == [], "the group closed"


def test_an_alert_settling_as_firing_pages_its_firing_state() -> None:
    desk = Desk(flap_changes=2, flap_window_ms=HOUR, flap_settle_ms=10 * MINUTE)
    for state in ("firing", "resolved", "firing"):
        desk.change("pm25-high", "air-pudong-0001", state)
        desk.run(desk.clock.now + 10 * SECOND)
    desk.run(desk.clock.now + MINUTE)
    assert [n.reason for n in desk.sent] == ["flapping"]
    desk.run(desk.clock.now + 15 * MINUTE)
    assert [n.reason for n in desk.sent] == ["flapping", "settled"]
    assert sensors_of(desk.sent[-1]) == {"air-pudong-0001": "firing"}
    assert desk.sent[-1].counts.firing == 1
    desk.change("pm25-high", "air-pudong-0001", "resolved")
    (resolved,) = desk.run(desk.clock.now + 10 * MINUTE)
    assert resolved.reason == "resolved"


def test_a_repeat_interval_shorter_than_the_group_interval_stops_start_up(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URBANPULSE_INGEST_NOTIFY_REPEAT_INTERVAL_S", "60")
    with pytest.raises(ConfigError, match=r"URBANPULSE_INGEST_NOTIFY_REPEAT_INTERVAL_S .*"
                                          r"URBANPULSE_INGEST_NOTIFY_GROUP_INTERVAL_S"):
        load(IngestSettings)
    monkeypatch.setenv("URBANPULSE_INGEST_NOTIFY_REPEAT_INTERVAL_S", "0")
    monkeypatch.setenv("URBANPULSE_INGEST_NOTIFY_FLAP_CHANGES", "1")
    with pytest.raises(ConfigError, match="URBANPULSE_INGEST_NOTIFY_FLAP_CHANGES"):
        load(IngestSettings)


def test_a_flapping_alert_that_grouping_absorbs_pages_nothing() -> None:
    """Episodes shorter than the wait never page, flapping or not: nothing to name."""
    desk = Desk(flap_changes=4, flap_window_ms=HOUR, flap_settle_ms=30 * MINUTE)
    for _ in range(10):  # a 20 s silence every 2 minutes (out-of-order delivery)
        desk.change("parking-stale", "parking-pudong-0001", "firing")
        desk.run(desk.clock.now + 20 * SECOND)
        desk.change("parking-stale", "parking-pudong-0001", "resolved")
        desk.run(desk.clock.now + 100 * SECOND)
    desk.run(desk.clock.now + 2 * HOUR, step_ms=MINUTE)
    assert desk.sent == []
    assert desk.notifier.stats.flapping_held == 20 - 5


def test_an_acknowledgement_alone_pages_nobody() -> None:
    desk = Desk()
    desk.change("pm25-high", "air-pudong-0001", "firing")
    desk.run(T0 + MINUTE)
    desk.change("pm25-high", "air-pudong-0001", "acknowledged")
    assert desk.run(T0 + 10 * HOUR, step_ms=MINUTE) == [], "neither a page nor a reminder"
    assert [n.reason for n in desk.sent] == ["firing"]


def test_alerts_restored_after_a_restart_count_as_paged() -> None:
    desk = Desk()
    restored = alert("pm25-high", "air-pudong-0001", "firing", T0 - HOUR)
    desk.notifier.restore([restored])
    assert desk.run(T0 + MINUTE) == [], "it paged before the restart"
    desk.change("pm25-high", "air-pudong-0001", "resolved")
    (resolved,) = desk.run(T0 + 10 * MINUTE)
    assert (resolved.reason, sensors_of(resolved)) == ("resolved", {"air-pudong-0001": "resolved"})


def test_notifications_are_signed_and_have_a_topic_of_their_own() -> None:
    desk = Desk()
    desk.change("pm25-high", "air-pudong-0001", "firing")
    (page,) = desk.run(T0 + MINUTE)
    key = b"k" * 32
    signed = sign_notification(page, key)
    decoded = notification_decoder.decode(encoder.encode(signed))
    assert is_signed_notification(decoded, key)
    assert not is_signed_notification(msgspec.structs.replace(decoded, seq=2), key)
    assert not is_signed_notification(decoded, b"x" * 32)
    topic = notification_topic(page.district, page.rule, root="city")
    assert topic == "city/notifications/pudong/pm25-high"
    assert parse(topic) == Topic("city", Channel.NOTIFICATIONS, district="pudong",
                                 rule="pm25-high")
    assert notification_subscription(root="city", district="pudong") == \
        "city/notifications/pudong/+"
