"""Notifications: which alert changes page people, grouped, inhibited and held while flapping.

The engine's alert states stay what they are: every change is on
`city/alerts/…`, in InfluxDB and in the api. This layer, downstream of them as
Alertmanager is downstream of Prometheus, decides what pages someone:

- **Grouping** (`ingest.alerts.groups`). The alerts of one rule in one
  district form a group, from the first one firing until none is left. A new
  group gathers its siblings for `group_wait`, then pages once; later changes
  wait `group_wait` too, and at least `group_interval` after the group's last
  page, and go out together: a new firing as an update, the last resolve as
  one page. A group still firing unacknowledged pages again after
  `repeat_interval`. An alert that resolves before its group pages, or one
  that resolves and fires again between two pages, changes no page.
- **Inhibition** (`ingest.alerts.inhibit`): judged when a group is due, so an
  outage that fires within the wait (or an inhibit rule's `hold`) mutes the
  alerts it explains. A muted alert is listed with what mutes it, and the
  outage's page lists the alerts it mutes.
- **Flapping** (`ingest.alerts.flapping`): the changes of an alert flagged
  flapping page nobody. When one of them would have paged (it fires anew, or
  its resolve is the last of a group that paged it), one page names it
  flapping instead, and once it has settled one page gives its settled state.
  A flapping alert whose changes grouping absorbs anyway (episodes within the
  wait, re-firings in a group that paged it) pages nothing more.

`pending` states page nobody: an alert pages once it fires. Pure: the time
comes from the injected clock; the ingester publishes what `due` returns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ingest.alerts.flapping import FlapDetector
from ingest.alerts.groups import PAGING, Group, Member
from ingest.alerts.inhibit import Inhibitor, InhibitRule, alert_labels
from ingest.alerts.rules import Rule
from urbanpulse.messages import Alert, MutedAlert, Notification, NotificationReason
from urbanpulse.settings import IngestSettings


@dataclass(frozen=True, slots=True)
class NotifyPolicy:
    """The timers of the notifications in milliseconds; defaults as the settings'."""

    group_wait_ms: int = 30_000
    group_interval_ms: int = 300_000
    repeat_interval_ms: int = 14_400_000  # 0: never
    flap_window_ms: int = 3_600_000
    flap_changes: int = 4
    flap_settle_ms: int = 1_800_000

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> NotifyPolicy:
        """Return the policy the `URBANPULSE_INGEST_NOTIFY_*` settings describe."""
        return cls(group_wait_ms=round(settings.ingest_notify_group_wait_s * 1000),
                   group_interval_ms=round(settings.ingest_notify_group_interval_s * 1000),
                   repeat_interval_ms=round(settings.ingest_notify_repeat_interval_s * 1000),
                   flap_window_ms=round(settings.ingest_notify_flap_window_s * 1000),
                   flap_changes=settings.ingest_notify_flap_changes,
                   flap_settle_ms=round(settings.ingest_notify_flap_settle_s * 1000))


@dataclass(slots=True)
class NotifyStats:
    """Counters since start: pages sent, alerts muted by inhibition, changes held as flapping."""

    sent: int = 0
    inhibited: int = 0
    flapping_held: int = 0
    inhibited_by: Counter[str] = field(default_factory=Counter)  # by inhibit rule

    def counters(self) -> dict[str, int]:
        """Return the counters as fields of the ingester's `pipeline` measurement."""
        return {"notifications_sent": self.sent, "notifications_inhibited": self.inhibited,
                "notifications_flapping_held": self.flapping_held}


class Notifier:
    """Turns alert changes into notifications, one group of alerts per page."""

    def __init__(self, rules: Sequence[Rule], inhibit_rules: Sequence[InhibitRule],
                 policy: NotifyPolicy, *, clock: Callable[[], int],
                 attributes: Callable[[str], Mapping[str, object]]) -> None:
        """Build a notifier.

        Args:
            rules: The alert rules (their types are labels).
            inhibit_rules: What mutes what (`ingest.alerts.inhibit`).
            policy: The timers.
            clock: The time now, epoch ms.
            attributes: The attributes of a sensor's birth (empty when unknown).
        """
        self._types = {rule.name: rule.type for rule in rules}
        self._inhibitor = Inhibitor(inhibit_rules, rules)
        self._flaps = FlapDetector(window_ms=policy.flap_window_ms,
                                   max_changes=policy.flap_changes,
                                   settle_ms=policy.flap_settle_ms)
        self._policy = policy
        self._clock = clock
        self._attributes = attributes
        self._groups: dict[tuple[str, str], Group] = {}
        self._where: dict[str, tuple[str, str]] = {}  # alert id -> its group, while a member
        self.stats = NotifyStats()

    def restore(self, alerts: Iterable[Alert]) -> None:
        """Take the active alerts a restarted ingester took back, as paged before it stopped."""
        now = self._clock()
        for alert in alerts:
            if alert.state in PAGING:
                member = self._member(alert, now)
                group = self._groups[alert.district, alert.rule]
                group.paged.add(alert.alert_id)
                group.sent, group.last_sent_ms = max(group.sent, 1), now
                group.flush_ms = self._repeat_at(group, now)
                self._inhibitor.update(alert, member.labels, True)

    def observe(self, alerts: Iterable[Alert]) -> None:
        """Take alert changes as the engine returned them."""
        now = self._clock()
        for alert in alerts:
            if alert.state != "pending":
                self._observe(alert, now)

    def _observe(self, alert: Alert, now: int) -> None:
        group = self._groups.get((alert.district, alert.rule))
        member = group.members.get(alert.alert_id) if group is not None else None
        paging = alert.state in PAGING
        if member is None and not paging:
            return  # never paged: it resolved while pending, or before the ingester restarted
        was_paging = member is not None and member.paging
        member = self._member(alert, now)
        if self._inhibitor.update(alert, member.labels, paging):
            self._explanation_ended(alert.alert_id, now)
        if paging == was_paging:
            return  # an acknowledgement, or the same state again: nothing new to page
        if paging:
            member.ready_ms = now + self._inhibitor.hold_ms(member.labels)
            member.counted = False
        if member.flapping:
            self._flaps.changed(alert.alert_id, now)
            self.stats.flapping_held += 1
            return
        member.flapping = self._flaps.changed(alert.alert_id, now)
        self._soon(self._groups[alert.district, alert.rule], now)

    def _member(self, alert: Alert, now: int) -> Member:
        """Return the alert's member record with its new state, opening its group if need be."""
        key = (alert.district, alert.rule)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(alert, now, now + self._policy.group_wait_ms)
        labels = alert_labels(alert, self._types.get(alert.rule, ""),
                              self._attributes(alert.sensor))
        member = group.members.get(alert.alert_id)
        if member is None:
            member = group.members[alert.alert_id] = Member(alert, labels)
            self._where[alert.alert_id] = key
        member.alert, member.labels = alert, labels
        return member

    def _explanation_ended(self, source_id: str, now: int) -> None:
        """Give the alerts a resolved source muted the inhibit rule's hold to resolve too."""
        for group in self._groups.values():
            for member in group.members.values():
                if member.inhibited_by is not None and member.inhibited_by.alert_id == source_id:
                    hold = self._inhibitor.rule_hold_ms(member.inhibited_by.inhibit_rule)
                    member.ready_ms = max(member.ready_ms, now + hold)
                    self._soon(group, now)

    def _soon(self, group: Group, now: int) -> None:
        """Schedule a group's judgement after a change: gathered, and batched per interval."""
        policy = self._policy
        if not group.sent and now < group.opened_ms + policy.group_wait_ms:
            at = group.opened_ms + policy.group_wait_ms  # the opening wait gathers it
        else:
            at = max(now + policy.group_wait_ms, group.last_sent_ms + policy.group_interval_ms)
        group.flush_ms = at if group.flush_ms is None else min(group.flush_ms, at)

    def _repeat_at(self, group: Group, now: int) -> int | None:
        repeat = self._policy.repeat_interval_ms
        at = group.last_sent_ms + repeat
        return at if repeat and group.paged and at > now else None

    def due(self) -> list[Notification]:
        """Return the notifications due now (settling flapping alerts first)."""
        now = self._clock()
        for alert_id in self._flaps.settled(now):
            group = self._groups[self._where[alert_id]]  # a flapping alert stays a member
            member = group.members[alert_id]
            member.flapping = False
            member.settled, member.told = member.told, False  # never told: pages as any would
            self._soon(group, now)
        notifications = []
        for key, group in list(self._groups.items()):
            if group.flush_ms is not None and group.flush_ms <= now:
                notification = self._flush(group, now)
                if notification is not None:
                    notifications.append(notification)
                if group.finished:
                    del self._groups[key]
                    for alert_id in group.members:
                        del self._where[alert_id]
        return notifications

    def _flush(self, group: Group, now: int) -> Notification | None:
        """Judge a due group: page what changed, or nothing; schedule its next judgement."""
        paging: set[str] = set()
        flapping: list[tuple[Member, bool, bool]] = []  # member, would page new, was paged
        held: dict[str, int] = {}  # alert id -> when it stops waiting for an explanation
        for alert_id, member in group.members.items():
            if member.paging:
                member.inhibited_by = self._inhibitor.inhibited_by(alert_id, member.labels)
                if member.inhibited_by is not None and not member.counted:
                    member.counted = True
                    self.stats.inhibited += 1
                    self.stats.inhibited_by[member.inhibited_by.inhibit_rule] += 1
            known = alert_id in group.paged
            pages = member.paging and member.inhibited_by is None
            if pages and member.ready_ms > now and not known:
                held[alert_id] = member.ready_ms
            elif member.flapping:
                flapping.append((member, pages and not known, known))
            elif pages:
                paging.add(alert_id)
        # A flapping alert is named when it would page now: firing anew, or its resolve the
        # last of a group that paged it. Its other changes page nothing anyway.
        alone = not paging and not any(member.paging for member, _, _ in flapping)
        named = [member for member, new, known in flapping
                 if not member.told and (new or (known and alone))]
        reason = self._reason(group, paging, bool(named), now)
        notification = None
        if reason is not None:
            notification = group.notification(reason, paging, held, self._muted_by(group), now)
            self.stats.sent += 1
            group.sent += 1
            group.last_sent_ms = now
            for member in named:
                member.told = True
            # A flapping alert people know fires stays known: settling firing is no news.
            group.paged = paging | {member.alert.alert_id for member, _, known in flapping
                                    if member.paging and (known or member.told)}
            for alert_id, member in list(group.members.items()):
                member.settled = False
                if not member.paging and not member.flapping:  # reported resolved: done
                    del group.members[alert_id]
                    del self._where[alert_id]
        group.flush_ms = min((at for at in (*held.values(), self._repeat_at(group, now))
                              if at is not None), default=None)
        return notification

    def _reason(self, group: Group, paging: set[str], naming_flapping: bool,
                now: int) -> NotificationReason | None:
        if naming_flapping:
            return "flapping"
        if any(member.settled for member in group.members.values()):
            return "settled"
        if paging - group.paged:
            return "update" if group.sent else "firing"
        if not group.sent:
            return None
        if not any(member.paging or member.flapping for member in group.members.values()):
            return "resolved"
        repeat = self._policy.repeat_interval_ms
        if repeat and now >= group.last_sent_ms + repeat and any(
                group.members[alert_id].alert.state == "firing" for alert_id in paging):
            return "repeat"
        return None

    def _muted_by(self, group: Group) -> list[MutedAlert]:
        """Return the active alerts of other groups that the group's active alerts mute now."""
        sources = {alert_id for alert_id, member in group.members.items() if member.paging}
        if not sources:
            return []
        muted = []
        for other in self._groups.values():
            if other is group:
                continue
            for alert_id, member in other.members.items():
                by = self._inhibitor.inhibited_by(alert_id, member.labels) \
                    if member.paging else None
                if by is not None and by.alert_id in sources:
                    muted.append(MutedAlert(alert_id=alert_id, rule=member.alert.rule,
                                            sensor=member.alert.sensor,
                                            state=member.alert.state, by=by.alert_id,
                                            inhibit_rule=by.inhibit_rule))
        return muted
