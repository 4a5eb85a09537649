"""What the notification tests share: a clock they move, rules, alerts made by hand."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.alerts.engine import fingerprint
from ingest.alerts.inhibit import InhibitRule, load_inhibit_rules
from ingest.alerts.notify import Notifier, NotifyPolicy
from ingest.alerts.rules import Rule, parse_rule
from urbanpulse.messages import VERSION, Alert, AlertState, Notification

T0 = 1_795_000_000_000
SECOND = 1000
MINUTE = 60 * SECOND

RULES: list[Rule] = [parse_rule(spec) for spec in (
    {"name": "pm25-high", "type": "threshold", "kind": "air", "metric": "pm25", "above": 115,
     "severity": "medium"},
    {"name": "air-stale", "type": "stale", "kind": "air", "factor": 3, "severity": "low"},
    {"name": "air-district-stale", "type": "district_stale", "kind": "air", "factor": 3,
     "share": 0.3, "severity": "high"},
    {"name": "parking-stale", "type": "stale", "kind": "parking", "factor": 1.5,
     "severity": "info"},
    {"name": "streetlight-silent", "type": "stale", "kind": "streetlight", "factor": 3,
     "severity": "info"},
)]
SEVERITY = {rule.name: rule.severity for rule in RULES}
KIND = {rule.name: rule.kind for rule in RULES}


class FakeClock:
    """Epoch ms that only the test moves."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def alert(rule: str, sensor: str, state: AlertState, ts: int, *,
          district: str = "pudong") -> Alert:
    """Return the state of the alert of (rule, sensor), as the engine would make it."""
    return Alert(v=VERSION, alert_id=fingerprint(rule, sensor), rule=rule, sensor=sensor,
                 kind=KIND[rule], district=district, state=state, severity=SEVERITY[rule],
                 ts=ts, since=ts, message=f"{rule} {state}")


class Desk:
    """A notifier on a fake clock, and every notification it gave, in order."""

    def __init__(self, *, inhibit_rules: list[InhibitRule] | None = None,
                 attributes: Mapping[str, Mapping[str, object]] | None = None,
                 **policy: Any) -> None:
        self.clock = FakeClock()
        births = attributes or {}
        self.notifier = Notifier(
            RULES, load_inhibit_rules(None, RULES) if inhibit_rules is None else inhibit_rules,
            NotifyPolicy(**policy), clock=self.clock,
            attributes=lambda sensor: births.get(sensor, {}))
        self.sent: list[Notification] = []

    def change(self, rule: str, sensor: str, state: AlertState, **fields: Any) -> Alert:
        """Let the notifier observe one state change at the clock's time."""
        made = alert(rule, sensor, state, self.clock.now, **fields)
        self.notifier.observe([made])
        return made

    def run(self, until_ms: int, step_ms: int = SECOND) -> list[Notification]:
        """Move the clock to `until_ms` in steps, asking for due notifications at each."""
        new: list[Notification] = []
        while self.clock.now < until_ms:
            self.clock.now = min(self.clock.now + step_ms, until_ms)
            new += self.notifier.due()
        self.sent += new
        return new


def sensors_of(notification: Notification) -> dict[str, str]:
    """Return each listed alert's sensor and state."""
    return {listed.sensor: listed.state for listed in notification.alerts}
