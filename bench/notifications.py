"""How much less pages people: alert state changes against notifications, on a simulated run.

Replays a run file (`urbanpulse sim --output jsonl:PATH`) through the alert
engine as `urbanpulse score --replay` does (the same decoder, derived fields and
clock: simulated time, readings moving it to the second-latest ts of the last
five, a staleness sweep every 10 simulated seconds) and hands every change to
notifiers on the same clock, due notifications taken every sweep. Three
notifiers see the same changes, to tell the mechanisms apart: grouping only,
grouping and inhibition, and all three. Their timers, rules and inhibit rules
are the ingester's (`URBANPULSE_INGEST_NOTIFY_*`, `URBANPULSE_INGEST_RULES`;
unset: the defaults), so a setting's effect is measured by setting it. Prints one JSON
document: the changes (every state a subscriber to `city/alerts/#` receives,
and the ones past `pending`) and the notifications of each notifier, in all
and by the class of the rule (`ops.score_basis`), with the reasons of the
notifications, what inhibition muted and the changes held as flapping.

    .venv/bin/python bench/notifications.py [RUN.jsonl]

The run is the file named (or BENCH_NOTIFY_RUN); without one, the documented
day is simulated first (`urbanpulse sim --seed 7 --start 2026-03-02T00:00:00+08:00
--duration 86400 --speed 0 --fault-rate 1 --scenario incidents`, about a minute).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import msgspec

from ingest.alerts.engine import AlertEngine
from ingest.alerts.inhibit import InhibitRule, load_inhibit_rules
from ingest.alerts.notify import Notifier, NotifyPolicy
from ingest.alerts.rules import load_rules
from ingest.decode import Decoder, Rejected
from ingest.derive import derive
from ops.score_basis import basis_of
from ops.score_run import SWEEP_EVERY_MS, envelopes
from urbanpulse import topics
from urbanpulse.errors import TopicError
from urbanpulse.messages import Alert, Notification, reading_decoder
from urbanpulse.settings import IngestSettings, load
from urbanpulse.topics import Channel

DOCUMENTED_DAY = ("--seed", "7", "--start", "2026-03-02T00:00:00+08:00", "--duration", "86400",
                  "--speed", "0", "--fault-rate", "1", "--scenario", "incidents")
_CLOCK_WINDOW = 5  # as the score replay: the second-latest ts of the last five readings
_MAX_FUTURE_MS = 300_000
_AFTER_MS = 35 * 60_000  # past the run: the longest hold (30 min) and a group interval


class _Clock:
    """The replay's simulated time, epoch ms."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def _channel(topic: str) -> Channel | None:
    try:
        return topics.parse(topic).channel
    except TopicError:
        return None


def replay(path: Path, engine: AlertEngine, notifiers: dict[str, Notifier],
           clock: _Clock) -> tuple[list[Alert], dict[str, list[Notification]]]:
    """Replay the run through the engine and every notifier; return changes and notifications."""
    decoder = Decoder(root="city", max_payload_bytes=1 << 20, max_future_s=300,
                      max_age_s=31 * 86_400)
    changes: list[Alert] = []
    sent: dict[str, list[Notification]] = {name: [] for name in notifiers}
    recent: list[int] = []
    next_sweep: int | None = None

    def emit(alerts: list[Alert]) -> None:
        changes.extend(alerts)
        for notifier in notifiers.values():
            notifier.observe(alerts)

    def advance(ts: int) -> None:
        nonlocal next_sweep
        if next_sweep is None:
            clock.now, next_sweep = ts, ts + SWEEP_EVERY_MS
        clock.now = max(clock.now, ts)
        while next_sweep <= clock.now:
            now, clock.now = clock.now, next_sweep
            emit(engine.sweep(next_sweep))
            for name, notifier in notifiers.items():
                sent[name] += notifier.due()
            clock.now = now
            next_sweep += SWEEP_EVERY_MS

    for topic, payload in envelopes(path):
        channel = _channel(topic)
        if channel is Channel.SENSORS:
            birth = decoder.birth(topic, b"" if payload == b"null" else payload)
            if birth is not None and not isinstance(birth, Rejected):
                advance(birth.ts)
                engine.register(birth, clock.now)
        elif channel is Channel.READINGS:
            if next_sweep is None:
                try:
                    advance(reading_decoder.decode(payload).ts)
                except msgspec.DecodeError:
                    continue
            reading = decoder.reading(topic, payload, clock.now)
            if isinstance(reading, Rejected):
                continue
            recent.append(reading.ts)
            del recent[:-_CLOCK_WINDOW]
            advance(sorted(recent)[-2] if len(recent) > 1 else reading.ts)
            arrival = reading.ts if clock.now < reading.ts <= clock.now + _MAX_FUTURE_MS \
                else clock.now
            emit(engine.evaluate(reading, arrival, derive(reading, engine.zone(reading.sensor))))
    emit(engine.sweep(clock.now))
    end = clock.now + _AFTER_MS
    while clock.now < end:  # the notifications still due: no more readings, no more sweeps
        clock.now += SWEEP_EVERY_MS
        for name, notifier in notifiers.items():
            sent[name] += notifier.due()
    return changes, sent


def _summary(notifier: Notifier, notifications: list[Notification],
             classes: dict[str, str]) -> dict[str, object]:
    stats = notifier.stats
    return {"notifications": len(notifications),
            "by_class": dict(sorted(Counter(classes[n.rule] for n in notifications).items())),
            "by_reason": dict(sorted(Counter(n.reason for n in notifications).items())),
            "by_rule": dict(Counter(n.rule for n in notifications).most_common()),
            "inhibited_alerts": stats.inhibited,
            "inhibited_by": dict(sorted(stats.inhibited_by.items())),
            "flapping_held_changes": stats.flapping_held}


def main() -> int:
    """Replay the run named, or the documented day simulated now; print the comparison."""
    named = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BENCH_NOTIFY_RUN")
    if named:
        return measure(Path(named))
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "day.jsonl"
        subprocess.run([sys.executable, "-m", "ops", "sim", *DOCUMENTED_DAY, "--output",
                        f"jsonl:{run}"], check=True, stdout=subprocess.DEVNULL)
        return measure(run)


def measure(run: Path) -> int:
    """Replay `run` and print the comparison as JSON."""
    settings = load(IngestSettings)
    path = Path(settings.ingest_rules) if settings.ingest_rules else None
    rules = load_rules(path)
    classes = {rule.name: basis_of(rule).value for rule in rules}
    shipped = load_inhibit_rules(path, rules)
    defaults = NotifyPolicy.from_settings(settings)
    never_flaps = dataclasses.replace(defaults, flap_changes=1_000_000)
    clock = _Clock()
    engine = AlertEngine(rules)

    def notifier(inhibit_rules: Sequence[InhibitRule], policy: NotifyPolicy) -> Notifier:
        return Notifier(rules, inhibit_rules, policy, clock=clock, attributes=engine.attributes)

    notifiers = {"grouping": notifier([], never_flaps),
                 "grouping+inhibition": notifier(shipped, never_flaps),
                 "grouping+inhibition+flapping": notifier(shipped, defaults)}
    started = time.monotonic()
    changes, sent = replay(run, engine, notifiers, clock)
    paging = [change for change in changes if change.state != "pending"]
    print(json.dumps({
        "run": str(run),
        "policy_ms": dataclasses.asdict(defaults),
        "alert_changes": len(changes),
        "alert_changes_past_pending": len(paging),
        "alert_changes_by_class": dict(sorted(Counter(classes[c.rule] for c in changes).items())),
        "alert_changes_past_pending_by_class": dict(sorted(
            Counter(classes[c.rule] for c in paging).items())),
        "notifiers": {name: _summary(notifier, sent[name], classes)
                      for name, notifier in notifiers.items()},
        "replay_s": round(time.monotonic() - started, 1),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
