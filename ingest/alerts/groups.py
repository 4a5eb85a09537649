"""Notification groups: the alerts of one rule in one district, and the page that tells them.

A group lives from its first alert firing until none of its alerts pages or
flaps any more: that span is its window, named by `group_id`. The notifier
(`ingest.alerts.notify`) decides when a group pages; this module keeps what
a group holds and writes its `Notification`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from typing import Final

from urbanpulse.messages import (
    VERSION,
    Alert,
    InhibitedBy,
    MutedAlert,
    Notification,
    NotificationCounts,
    NotificationReason,
    NotifiedAlert,
)

PAGING: Final = frozenset({"firing", "acknowledged"})
"""The states that page (a pending alert does not yet)."""


def group_id(district: str, rule: str, opened_ms: int) -> str:
    """Return the id of a group's window: 16 hex digits of SHA-1 of district, rule, opening."""
    return hashlib.sha1(f"{district}\x00{rule}\x00{opened_ms}".encode(),
                        usedforsecurity=False).hexdigest()[:16]


class Member:
    """One alert of a group: its latest state and what holds its page back."""

    def __init__(self, alert: Alert, labels: Mapping[str, str]) -> None:
        self.alert = alert
        self.labels = labels
        self.ready_ms = 0
        """Until then it waits for an outage that may explain it (an inhibit rule's hold)."""
        self.inhibited_by: InhibitedBy | None = None
        """What muted it when last judged while it paged."""
        self.counted = False
        """Its muting of this episode is counted in the notifier's stats."""
        self.flapping = False
        self.told = False
        """A page named it flapping: its settled state will page."""
        self.settled = False
        """It settled after a page named it flapping: the next page says how."""

    @property
    def paging(self) -> bool:
        """Tell whether its state pages (firing or acknowledged)."""
        return self.alert.state in PAGING


class Group:
    """The alerts of one (district, rule) from its first firing until none is left."""

    def __init__(self, alert: Alert, opened_ms: int, flush_ms: int) -> None:
        self.district = alert.district
        self.rule = alert.rule
        self.kind = alert.kind
        self.severity = alert.severity
        self.opened_ms = opened_ms
        self.group_id = group_id(alert.district, alert.rule, opened_ms)
        self.members: dict[str, Member] = {}
        self.paged: set[str] = set()
        """The alerts its last notification gave as paging."""
        self.sent = 0
        self.last_sent_ms = 0
        self.flush_ms: int | None = flush_ms
        """When it is judged next: a change to page, a hold ending, a repeat."""

    @property
    def finished(self) -> bool:
        """Tell whether nothing in it pages, flaps or waits to say how it settled."""
        return not any(member.paging or member.flapping or member.settled
                       for member in self.members.values())

    def notification(self, reason: NotificationReason, paging: Collection[str],
                     held: Collection[str], muted: list[MutedAlert],
                     now_ms: int) -> Notification:
        """Return its next page: every alert but those `held`, with what mutes or holds them."""
        alerts = [NotifiedAlert(alert_id=alert_id, sensor=member.alert.sensor,
                                kind=member.alert.kind, state=member.alert.state,
                                since=member.alert.since, ts=member.alert.ts,
                                message=member.alert.message, value=member.alert.value,
                                flapping=member.flapping, inhibited_by=member.inhibited_by)
                  for alert_id, member in self.members.items() if alert_id not in held]
        counts = NotificationCounts(
            firing=len(paging),
            acknowledged=sum(self.members[alert_id].alert.state == "acknowledged"
                             for alert_id in paging),
            resolved=sum(alert.state == "resolved" for alert in alerts),
            inhibited=sum(alert.state != "resolved" and alert.inhibited_by is not None
                          for alert in alerts),
            flapping=sum(alert.flapping for alert in alerts))
        return Notification(v=VERSION, group_id=self.group_id, district=self.district,
                            rule=self.rule, kind=self.kind, severity=self.severity,
                            reason=reason, opened=self.opened_ms, ts=now_ms, seq=self.sent + 1,
                            counts=counts, alerts=alerts, muted=muted)
