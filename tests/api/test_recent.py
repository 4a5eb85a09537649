"""`api.recent.Recent`: the newest state of what changed lately, as a scan would find it."""

from __future__ import annotations

import random

from api.live import RECENT_ALERTS_MS, LiveState
from api.models import Alert
from api.recent import Recent

DISTRICTS = ("alpha", "beta", "gamma")
STATES = ("pending", "firing", "acknowledged", "resolved")


def alert(rng: random.Random, ts: int) -> Alert:
    alert_id = f"{rng.randrange(400):016x}"
    return Alert(alert_id=alert_id, rule="lot-nearly-full", sensor=f"s-{alert_id}",
                 kind="parking", district=DISTRICTS[int(alert_id, 16) % 3],
                 state=rng.choice(STATES), severity="medium", ts=ts, since=0, message="full")


def test_what_changed_lately_answers_as_a_scan_of_every_state_would() -> None:
    """Random states, out of order, the clock moving on: every slice is the newest state of
    each alert whose newest change is in the range, newest first."""
    rng = random.Random(11)
    recent: Recent[Alert] = Recent(lambda one: one.alert_id, keep_ms=2_000)
    seen: list[Alert] = []
    for step in range(1, 4001):
        now = step * 10
        one = alert(rng, now + rng.randrange(-60, 20))
        seen.append(one)
        recent.add(one)
        if step == 500:
            recent.seeded(now - 2_000)  # from here on, the horizon moves with the clock
        if step % 97 or step < 500:
            continue
        start = rng.randrange(now - 2_500, now)
        assert recent.covers(start, now_ms=now) == (start >= now - 2_000)
        start = max(start, now - 2_000)
        newest: dict[str, Alert] = {}
        for state in seen:  # newer wins; an equal time, the later one
            if state.alert_id not in newest or state.ts >= newest[state.alert_id].ts:
                newest[state.alert_id] = state
        for district in (None, *DISTRICTS):
            scan = sorted((state for state in newest.values()
                           if district in (None, state.district) and start <= state.ts < now),
                          key=lambda state: (-state.ts, state.alert_id))
            assert list(recent.between(start, now, district=district)) == scan
    assert 0 < len(recent) < 400  # what changed last before the horizon was forgotten


def test_nothing_is_held_as_complete_before_the_seed() -> None:
    recent: Recent[Alert] = Recent(lambda one: one.alert_id, keep_ms=1_000)
    recent.add(alert(random.Random(1), 5_000))
    assert not recent.covers(5_000, now_ms=5_001)
    recent.seeded(4_500)
    recent.add(alert(random.Random(2), 4_000))  # older than the horizon: not held
    assert recent.covers(4_600, now_ms=5_001)
    assert not recent.covers(4_499, now_ms=5_001)
    assert len(recent) == 1


def test_the_latest_state_forgets_what_resolved_long_ago_but_not_lately() -> None:
    """A late message of an alert resolved lately does not bring it back; what resolved
    more than `RECENT_ALERTS_MS` before the newest resolution is no longer remembered."""
    live = LiveState(root="city", alert_key=None)
    day = 86_400_000

    def state(alert_id: str, state: str, ts: int) -> Alert:
        return Alert(alert_id=alert_id, rule="lot-nearly-full", sensor=f"s-{alert_id}",
                     kind="parking", district="alpha", state=state, severity="medium", ts=ts,
                     since=0, message="full")

    for number in range(1_000):
        live.add_alert(state(f"{number:016x}", "resolved", number * day // 100))
    live.add_alert(state(f"{999:016x}", "firing", 999 * day // 100 - 1))  # late: ignored
    assert f"{999:016x}" not in live.alerts
    assert len(live._resolved) <= (RECENT_ALERTS_MS * 100) // day + 1
