"""Alert lifecycle per (rule, sensor): pending → firing → acknowledged → resolved.

- A condition that turns true opens an alert: `pending` while the rule's `for`
  has not elapsed (measured in device time), then `firing`; with `for: 0` it
  fires at once.
- `acknowledged` keeps an alert active but says someone is on it.
- A condition that turns false resolves the alert; the next episode is a new
  one with the same `alert_id` (the fingerprint of rule and sensor), unless it
  comes within the rule's `repeat_after` of the resolve of an alert that fired
  (repeat suppression; a pending alert that resolves before its `for` paged
  nobody, so it holds nothing back).
- Staleness is judged on arrival time (the ingester's clock), so a backfill of
  old readings does not look stale.
- A reading of a sensor with an active alert of a QC rule (`stuck` or `range`
  with `qc: true`) failed quality control: the kind's other per-reading rules
  do not judge it (QARTOD keeps failed readings out of exceedance checks), so a
  frozen lamp controller is not a dark street. Alerts already active stay so.

Every change comes back as an `Alert` for the caller to publish and store.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Final

import msgspec

from ingest.alerts.conditions import checks
from ingest.alerts.rules import DistrictStaleRule, Rule, StaleRule
from ingest.alerts.silence import SilenceWatch
from urbanpulse.kinds import KINDS
from urbanpulse.kinds.alerting import Check, Context, Derived
from urbanpulse.lineprotocol import FieldValue
from urbanpulse.messages import VERSION, Alert, AlertState, Reading, SensorBirth

ACTIVE: Final = frozenset({"pending", "firing", "acknowledged"})
_NO_CONTEXT: Final = Context()
_NO_FIELDS: Final[Derived] = {}
_NO_ATTRIBUTES: Final[Mapping[str, object]] = {}


_SILENT: Final = "no reading for {:.0f} s (interval {:g} s)"
_DISTRICT_SILENT: Final = "{} of {} {} sensors in {} silent"


def _reporting_again() -> str:
    return "reporting again"


def fingerprint(rule: str, sensor: str) -> str:
    """Return the alert id of (rule, sensor): stable across restarts and instances."""
    return hashlib.sha1(f"{rule}\x00{sensor}".encode(), usedforsecurity=False).hexdigest()[:16]


class _Sensor:
    """What the engine knows of one sensor.

    A plain class, not a dataclass: the methods `dataclass` generates stay
    Python even in a compiled module, and a new sensor's `__init__` was then a
    Python frame of its own.
    """

    def __init__(self, kind: str, district: str, interval_s: float, seen_ms: int,
                 context: Context = _NO_CONTEXT) -> None:
        self.kind = kind
        self.district = district
        self.interval_s = interval_s
        self.seen_ms = seen_ms
        self.context = context
        self.order = 0  # when the engine first heard of it: sweeps report in this order


class AlertEngine:
    """Evaluates rules on readings and on a timer, and keeps the active alerts."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._per_reading: dict[str, list[Check]] = {}
        self._stale: dict[str, list[StaleRule]] = {}
        self._district_stale: list[DistrictStaleRule] = []
        factories = checks()
        for rule in rules:
            if isinstance(rule, StaleRule):
                self._stale.setdefault(rule.kind, []).append(rule)
            elif isinstance(rule, DistrictStaleRule):
                self._district_stale.append(rule)
            else:
                self._per_reading.setdefault(rule.kind, []).append(factories[rule.type](rule))
        # A kind's QC rules (`qc: true`) are judged first; while one of them is active on a
        # sensor its readings fail QC and the kind's other rules, from the first one on
        # (kept here beside the QC rules' names), do not judge them.
        self._qc: dict[str, tuple[tuple[str, ...], Check]] = {}
        for kind, judged in self._per_reading.items():
            qc = [check for check in judged if getattr(check.rule, "qc", False)]
            others = [check for check in judged if check not in qc]
            if qc and others:
                self._per_reading[kind] = qc + others
                self._qc[kind] = (tuple(check.name for check in qc), others[0])
        self._rules = {rule.name: rule for rule in rules}
        self._active: dict[tuple[str, str], Alert] = {}
        self._alerting: Counter[str] = Counter()  # active alerts by sensor; most have none
        self._resolved_at: dict[tuple[str, str], int] = {}
        self.suppressed = 0
        self._sensors: dict[str, _Sensor] = {}
        self._watches: dict[tuple[str, float], SilenceWatch] = {}
        for rule in rules:
            if isinstance(rule, StaleRule | DistrictStaleRule):
                self._watches.setdefault((rule.kind, rule.factor),
                                         SilenceWatch(rule.kind, rule.factor))
        self._kind_watches: dict[str, list[SilenceWatch]] = {}
        for watch in self._watches.values():
            self._kind_watches.setdefault(watch.kind, []).append(watch)
        self._district_sizes: dict[str, dict[str, int]] = {}  # kind → district → sensors

    @property
    def active(self) -> list[Alert]:
        """The alerts that are pending, firing or acknowledged."""
        return list(self._active.values())

    def register(self, birth: SensorBirth, now_ms: int) -> None:
        """Learn a sensor's declared interval (staleness counts from its birth)."""
        known = self._sensors.get(birth.sensor)
        sensor = _Sensor(birth.kind, birth.district, birth.interval_s,
                         known.seen_ms if known else now_ms,
                         Context(birth.zone, dict(birth.attributes)))
        self._add_sensor(birth.sensor, sensor, known)

    def _add_sensor(self, name: str, sensor: _Sensor, known: _Sensor | None) -> None:
        """Store a new or re-registered sensor and start watching it for silence."""
        if known is None:
            sensor.order = len(self._sensors)
        else:
            sensor.order = known.order
            self._resize(known.kind, known.district, -1)
        self._resize(sensor.kind, sensor.district, +1)
        self._sensors[name] = sensor
        for watch in self._kind_watches.get(sensor.kind, ()):
            watch.watch(name, sensor)

    def _resize(self, kind: str, district: str, change: int) -> None:
        sizes = self._district_sizes.get(kind)
        if sizes is None:
            sizes = self._district_sizes[kind] = {}
        size = sizes.get(district, 0) + change
        if size:
            sizes[district] = size
        else:
            del sizes[district]

    def zone(self, sensor: str) -> str | None:
        """Return the zone a sensor's birth declared, or None before its birth is seen."""
        known = self._sensors.get(sensor)
        return known.context.zone if known is not None and known.context.zone else None

    def attributes(self, sensor: str) -> Mapping[str, object]:
        """Return the attributes a sensor's birth declared (none before its birth is seen)."""
        known = self._sensors.get(sensor)
        return known.context.attributes if known is not None else _NO_ATTRIBUTES

    def restore(self, alert: Alert) -> None:
        """Take back an active alert from the ingester's own record (`ingest.alerts.record`).

        Only states the ingester wrote itself come here, never the broker's
        retained alert topics, which anyone with publish rights could forge. A
        state of a rule no longer loaded, or not active, is left out; so is one
        whose id is not the fingerprint of its rule and sensor.
        """
        if alert.state in ACTIVE and alert.rule in self._rules and \
                alert.alert_id == fingerprint(alert.rule, alert.sensor):
            if (alert.rule, alert.sensor) not in self._active:
                self._alerting[alert.sensor] += 1
            self._active[alert.rule, alert.sensor] = msgspec.structs.replace(alert, sig=None)

    def evaluate(self, reading: Reading, now_ms: int,
                 derived: Mapping[str, FieldValue] | None = None) -> list[Alert]:
        """Apply the reading's rules; return the alert changes it causes.

        `derived` are the reading's national-standard fields (`ingest.derive`).
        """
        name = reading.sensor
        sensor = self._sensors.get(name)
        if sensor is None:
            sensor = _Sensor(reading.kind, reading.district, KINDS[reading.kind].interval_s,
                             now_ms)
            self._add_sensor(name, sensor, None)
        else:
            sensor.seen_ms = now_ms
        # Most sensors have no active alert: then no rule of theirs needs to look one up.
        active = self._active if name in self._alerting else None
        changes: list[Alert] = []
        if active:  # a reading ends the staleness of its sensor, if any
            for stale_rule in self._stale.get(reading.kind, ()):
                if (stale_rule.name, name) in active:
                    change = self._settle(stale_rule, name, reading.kind, reading.district,
                                          False, None, _reporting_again, reading.ts)
                    if change is not None:
                        changes.append(change)
        checks = self._per_reading.get(reading.kind)
        if checks is None:
            return changes
        context, fields = sensor.context, derived or _NO_FIELDS
        qc = self._qc.get(reading.kind)
        for check in checks:
            if qc is not None and check is qc[1] and self._failing(name, qc[0]):
                break  # the reading failed quality control: the other rules do not judge it
            current = active.get((check.name, name)) if active else None
            verdict = check.check(reading, current is not None, context, fields)
            if verdict is None:
                continue
            # Most readings change nothing: decide that here, before building a message.
            on, value, detail = verdict
            if current is None:
                if not on:
                    continue
            elif on and current.state != "pending":
                continue
            change = self._settle(check.rule, name, reading.kind, reading.district, on, value,
                                  partial(check.describe, reading, value, detail, context,
                                          fields), reading.ts)
            if change is not None:
                changes.append(change)
        return changes

    def _failing(self, sensor: str, qc_rules: Iterable[str]) -> bool:
        """Whether an alert of one of the QC rules is active on the sensor."""
        return sensor in self._alerting and any((rule, sensor) in self._active
                                                for rule in qc_rules)

    def sweep(self, now_ms: int) -> list[Alert]:
        """Judge staleness of every sensor and district at `now_ms`."""
        silent = {key: watch.update(now_ms, self._sensors)
                  for key, watch in self._watches.items()}
        sensors = self._sensors
        names = {name for kind, rules in self._stale.items() for rule in rules
                 for name in silent[kind, rule.factor]}
        changes: list[Alert] = []
        for name in sorted(names, key=lambda name: sensors[name].order):
            sensor = sensors[name]
            for rule in self._stale[sensor.kind]:
                if name in silent[sensor.kind, rule.factor] and (
                        rule.match is None or rule.watches(sensor.context.attributes)):
                    silent_s = (now_ms - sensor.seen_ms) / 1000
                    change = self._settle(rule, name, sensor.kind, sensor.district, True,
                                          silent_s, partial(_SILENT.format, silent_s,
                                                            sensor.interval_s), now_ms)
                    if change is not None:
                        changes.append(change)
        for district_rule in self._district_stale:
            changes.extend(self._sweep_district(
                district_rule, silent[district_rule.kind, district_rule.factor], now_ms))
        return changes

    def _sweep_district(self, rule: DistrictStaleRule, silent: Iterable[str],
                        now_ms: int) -> Iterable[Alert]:
        stale_in = Counter(self._sensors[name].district for name in silent)
        for district, total in self._district_sizes.get(rule.kind, {}).items():
            stale = stale_in[district]
            share = stale / total
            active = total >= rule.min_sensors and share >= rule.share
            change = self._settle(rule, f"district-{district}", rule.kind, district, active,
                                  round(share, 3), partial(_DISTRICT_SILENT.format, stale, total,
                                                           rule.kind, district), now_ms)
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
                value: float | None, describe: Callable[[], str], at_ms: int
                ) -> Alert | None:
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
            alert = Alert(v=VERSION, alert_id=fingerprint(rule.name, sensor), rule=rule.name,
                          sensor=sensor, kind=kind, district=district, state=state,
                          severity=rule.severity, ts=at_ms, since=at_ms,
                          value=value, message=describe())
            self._active[key] = alert
            self._alerting[sensor] += 1
            return alert
        if not active:
            del self._active[key]
            self._alerting[sensor] -= 1
            if not self._alerting[sensor]:
                del self._alerting[sensor]
            if current.state != "pending":  # a pending alert paged nobody: nothing to repeat
                self._resolved_at[key] = at_ms
            return _with(current, state="resolved", ts=max(at_ms, current.ts), value=value,
                         message=describe())
        if current.state == "pending" and at_ms - current.since >= rule.for_s * 1000:
            fired = _with(current, state="firing", ts=at_ms, value=value, message=describe())
            self._active[key] = fired
            return fired
        return None


def _with(alert: Alert, **changes: object) -> Alert:
    fields = {name: getattr(alert, name) for name in alert.__struct_fields__}
    fields.update(changes)
    return Alert(**fields)
