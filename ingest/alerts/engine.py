"""Alert lifecycle per (rule, sensor): pending → firing → acknowledged → resolved.

- A condition that turns true opens an alert: `pending` while the rule's `for`
  has not elapsed (measured in device time), then `firing`; with `for: 0` it
  fires at once.
- `acknowledged` keeps an alert active but says someone is on it.
- A condition that turns false resolves the alert; the next episode is a new
  one with the same `alert_id` (the fingerprint of rule and sensor), unless it
  comes within the rule's `repeat_after` of the resolve (repeat suppression).
- Staleness is judged on arrival time (the ingester's clock), so a backfill of
  old readings does not look stale.

Every change comes back as an `Alert` for the caller to publish and store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ingest.alerts.conditions import CHECKS, Context, Memory
from ingest.alerts.rules import DistrictStaleRule, Rule, StaleRule
from urbanpulse.catalog import KINDS
from urbanpulse.lineprotocol import FieldValue
from urbanpulse.messages import Alert, AlertState, Reading, SensorBirth

ACTIVE = frozenset({"pending", "firing", "acknowledged"})
_NO_CONTEXT = Context()


def fingerprint(rule: str, sensor: str) -> str:
    """Return the alert id of (rule, sensor): stable across restarts and instances."""
    return hashlib.sha1(f"{rule}\x00{sensor}".encode(), usedforsecurity=False).hexdigest()[:16]


@dataclass(slots=True)
class _Sensor:
    kind: str
    district: str
    interval_s: float
    seen_ms: int
    context: Context = _NO_CONTEXT


class AlertEngine:
    """Evaluates rules on readings and on a timer, and keeps the active alerts."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._per_reading: dict[str, list[Rule]] = {}
        self._stale: dict[str, list[StaleRule]] = {}
        self._district_stale: list[DistrictStaleRule] = []
        for rule in rules:
            if isinstance(rule, StaleRule):
                self._stale.setdefault(rule.kind, []).append(rule)
            elif isinstance(rule, DistrictStaleRule):
                self._district_stale.append(rule)
            else:
                self._per_reading.setdefault(rule.kind, []).append(rule)
        self._rules = {rule.name: rule for rule in rules}
        self._active: dict[tuple[str, str], Alert] = {}
        self._memory: Memory = {}
        self._resolved_at: dict[tuple[str, str], int] = {}
        self.suppressed = 0
        self._sensors: dict[str, _Sensor] = {}

    @property
    def active(self) -> list[Alert]:
        """The alerts that are pending, firing or acknowledged."""
        return list(self._active.values())

    def register(self, birth: SensorBirth, now_ms: int) -> None:
        """Learn a sensor's declared interval (staleness counts from its birth)."""
        sensor = self._sensors.get(birth.sensor)
        seen = sensor.seen_ms if sensor else now_ms
        self._sensors[birth.sensor] = _Sensor(birth.kind, birth.district, birth.interval_s, seen,
                                              Context(birth.zone, dict(birth.attributes)))

    def zone(self, sensor: str) -> str | None:
        """Return the zone a sensor's birth declared, or None before its birth is seen."""
        known = self._sensors.get(sensor)
        return known.context.zone if known is not None and known.context.zone else None

    def restore(self, alert: Alert) -> None:
        """Take back an active alert published before a restart (from its retained topic)."""
        if alert.state in ACTIVE and alert.rule in self._rules:
            self._active[alert.rule, alert.sensor] = alert

    def evaluate(self, reading: Reading, now_ms: int,
                 derived: Mapping[str, FieldValue] | None = None) -> list[Alert]:
        """Apply the reading's rules; return the alert changes it causes.

        `derived` are the reading's national-standard fields (`ingest.derive`).
        """
        sensor = self._sensors.get(reading.sensor)
        if sensor is None:
            sensor = _Sensor(reading.kind, reading.district, KINDS[reading.kind].interval_s,
                             now_ms)
            self._sensors[reading.sensor] = sensor
        else:
            sensor.seen_ms = now_ms
        context = sensor.context
        if derived:
            context = Context(context.zone, context.attributes, derived)
        changes = []
        for stale_rule in self._stale.get(reading.kind, ()):
            change = self._settle(stale_rule, reading.sensor, reading.kind, reading.district,
                                  False, None, "reporting again", reading.ts)
            if change is not None:
                changes.append(change)
        for rule in self._per_reading.get(reading.kind, ()):
            key = (rule.name, reading.sensor)
            check = CHECKS[rule.type](rule, reading, key in self._active, self._memory, context)
            if check is not None:
                change = self._settle(rule, reading.sensor, reading.kind, reading.district,
                                      check[0], check[1], check[2], reading.ts)
                if change is not None:
                    changes.append(change)
        return changes

    def sweep(self, now_ms: int) -> list[Alert]:
        """Judge staleness of every sensor and district at `now_ms`."""
        changes: list[Alert] = []
        for name, sensor in self._sensors.items():
            for rule in self._stale.get(sensor.kind, ()):
                silent_s = (now_ms - sensor.seen_ms) / 1000
                if silent_s > rule.factor * sensor.interval_s:
                    change = self._settle(rule, name, sensor.kind, sensor.district, True,
                                          silent_s, f"no reading for {silent_s:.0f} s "
                                          f"(interval {sensor.interval_s:g} s)", now_ms)
                    if change is not None:
                        changes.append(change)
        for district_rule in self._district_stale:
            changes.extend(self._sweep_district(district_rule, now_ms))
        return changes

    def _sweep_district(self, rule: DistrictStaleRule, now_ms: int) -> Iterable[Alert]:
        counts: dict[str, list[int]] = {}
        for sensor in self._sensors.values():
            if sensor.kind == rule.kind:
                silent = now_ms - sensor.seen_ms > rule.factor * sensor.interval_s * 1000
                tally = counts.setdefault(sensor.district, [0, 0])
                tally[0] += 1
                tally[1] += int(silent)
        for district, (total, stale) in counts.items():
            share = stale / total
            active = total >= rule.min_sensors and share >= rule.share
            change = self._settle(rule, f"district-{district}", rule.kind, district, active,
                                  round(share, 3), f"{stale} of {total} {rule.kind} sensors "
                                  f"in {district} silent", now_ms)
            if change is not None:
                yield change

    def acknowledge(self, alert_id: str, by: str, note: str, now_ms: int) -> Alert | None:
        """Mark a pending or firing alert acknowledged; None if no such active alert."""
        for key, alert in self._active.items():
            if alert.alert_id == alert_id and alert.state in ("pending", "firing"):
                acked = _with(alert, state="acknowledged", ts=now_ms, acked_by=by, note=note)
                self._active[key] = acked
                return acked
        return None

    def _settle(self, rule: Rule, sensor: str, kind: str, district: str, active: bool,
                value: float | None, message: str, at_ms: int) -> Alert | None:
        key = (rule.name, sensor)
        current = self._active.get(key)
        if current is None:
            if not active:
                return None
            resolved_at = self._resolved_at.get(key)
            if resolved_at is not None and at_ms - resolved_at < rule.repeat_s * 1000:
                self.suppressed += 1  # repeat suppression: too soon after the last episode
                return None
            state: AlertState = "firing" if rule.for_s <= 0 else "pending"
            alert = Alert(v=1, alert_id=fingerprint(rule.name, sensor), rule=rule.name,
                          sensor=sensor, kind=kind, district=district, state=state,
                          severity=rule.severity, ts=at_ms, since=at_ms, message=message,
                          value=value)
            self._active[key] = alert
            return alert
        if not active:
            del self._active[key]
            self._resolved_at[key] = at_ms
            return _with(current, state="resolved", ts=max(at_ms, current.ts), value=value,
                         message=message)
        if current.state == "pending" and at_ms - current.since >= rule.for_s * 1000:
            fired = _with(current, state="firing", ts=at_ms, value=value, message=message)
            self._active[key] = fired
            return fired
        return None


def _with(alert: Alert, **changes: object) -> Alert:
    fields = {name: getattr(alert, name) for name in alert.__struct_fields__}
    fields.update(changes)
    return Alert(**fields)
