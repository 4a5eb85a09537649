"""Score incidents against a run's injected truth: each injected incident should become one.

Pure, like `ops.score`: the caller reads the run and replays or reads its alerts.

- **Injected incidents.** A truth whose type is an incident of its kind
  (`SPEC.incidents`, not a device fault) belongs to one injected incident: all
  the truths of one cause (`detail.cause`, a chain scenario's id), or of one
  scenario entry (same type, start and end: an entry affecting many sensors is
  one incident), in one district. A sensor mounted on a pole that lost power
  (`carrier-outage`) belongs to its pole's entry. Per district, because the
  platform's incidents are per district, as a district's operations centre
  dispatches them (docs/incidents.md, "Scoring").
- **Match.** A platform incident matches an injected incident when one of its
  alert episodes does: the same sensor (a district-wide alert: any sensor of
  its kind in the district), a truth type its rule detects, and windows that
  overlap, the truth's widened by the tolerance on both sides. An episode runs
  from its `since` to its resolve; one the incident still holds active lasts to
  the end of the data.
- **Score.** Per injected incident, the platform incidents matching it (the
  goal is exactly one: none is a miss, two or more a split); and the platform
  incidents matching no injected incident (false incidents).

`replay_incidents` feeds alert changes to the ingester's own desk in order, as
the ingester would, with the alerts' time as the clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from ingest.alerts.rules import Rule
from ingest.incidents.changes import StageLimits
from ingest.incidents.desk import IncidentDesk
from ingest.incidents.routing import Routing
from urbanpulse.kinds import KINDS
from urbanpulse.messages import Alert, Incident, IncidentAlert, Truth
from urbanpulse.topics import Channel, split_sensor_topic

REPLAY_LIMITS = StageLimits(accepted_s=86_400, dispatched_s=86_400, handling_s=86_400)
"""Nobody moves a replayed incident: the limits only time overruns, which are not scored."""
_DISTRICT_WIDE = "district-"


@dataclass(frozen=True, slots=True)
class Injected:
    """One injected incident: its key (cause, or type and window), district and truths."""

    key: str
    district: str
    truths: tuple[Truth, ...]

    @property
    def types(self) -> list[str]:
        """The truth types it is made of, in order of first start."""
        ordered = sorted(self.truths, key=lambda truth: (truth.start, truth.type))
        return list(dict.fromkeys(truth.type for truth in ordered))

    @property
    def start(self) -> int:
        """When its first truth began (epoch ms)."""
        return min(truth.start for truth in self.truths)


@dataclass(frozen=True, slots=True)
class InjectedScore:
    """The platform incidents one injected incident became (ids, oldest first)."""

    injected: Injected
    incidents: tuple[str, ...]

    @property
    def verdict(self) -> str:
        """`one`, `missed` (none) or `split` (more than one)."""
        return {0: "missed", 1: "one"}.get(len(self.incidents), "split")


@dataclass(frozen=True, slots=True)
class IncidentScore:
    """Every injected incident's platform incidents, and the platform's false incidents."""

    injected: list[InjectedScore]
    false_incidents: list[Incident] = field(default_factory=list)
    platform: int = 0
    """Platform incidents in all."""

    def count(self, verdict: str) -> int:
        """How many injected incidents got `verdict` (one, missed, split)."""
        return sum(score.verdict == verdict for score in self.injected)

    def as_dict(self) -> dict[str, object]:
        """Return the score as plain JSON-ready values."""
        return {"injected": [{"key": one.injected.key, "district": one.injected.district,
                              "types": one.injected.types, "incidents": list(one.incidents),
                              "verdict": one.verdict} for one in self.injected],
                "one": self.count("one"), "split": self.count("split"),
                "missed": self.count("missed"), "platform": self.platform,
                "false_incidents": [incident.incident_id for incident in self.false_incidents]}


def sites_of(messages: Iterable[tuple[str, bytes]], *, root: str = "city") -> dict[str, str]:
    """Return each sensor's site from the births among a run's (topic, payload) messages."""
    sites: dict[str, str] = {}
    for topic, payload in messages:
        is_birth = split_sensor_topic(topic, Channel.SENSORS, root=root) is not None
        if not is_birth or payload in (b"", b"null"):
            continue
        birth = msgspec.json.decode(payload)
        if isinstance(birth, dict) and isinstance(birth.get("site"), str):
            sites[str(birth.get("sensor"))] = birth["site"]
    return sites


def replay_incidents(alerts: Iterable[Alert], rules: Sequence[Rule], sites: Mapping[str, str],
                     *, join_window_s: float = 3600) -> list[Incident]:
    """Feed alert changes, in order, to a desk of `rules`; return every incident it opened.

    The clock is the newest alert time seen. No operator moves an incident, so
    each stays open and its last state lists its alert episodes.
    """
    desk = IncidentDesk(Routing(rules), REPLAY_LIMITS, join_window_s=join_window_s,
                        sites=sites)
    now = 0
    for alert in alerts:
        now = max(now, alert.ts)
        desk.on_alerts([alert], now)
    return desk.open


def injected_incidents(truths: Iterable[Truth]) -> list[Injected]:
    """Group the incident truths of a run into injected incidents, oldest first."""
    groups: dict[tuple[str, str], list[Truth]] = {}
    for truth in truths:
        spec = KINDS.get(truth.kind)
        if spec is None or truth.type not in spec.incidents:
            continue  # a device fault
        cause = truth.detail.get("cause")
        entry = truth.detail.get("carrier_incident", truth.type)
        key = str(cause) if cause is not None else f"{entry}@{truth.start}-{truth.end}"
        groups.setdefault((key, truth.district), []).append(truth)
    found = [Injected(key, district, tuple(members))
             for (key, district), members in groups.items()]
    return sorted(found, key=lambda one: (one.start, one.district, one.key))


def _overlaps(episode: IncidentAlert, truth: Truth, tolerance_ms: int) -> bool:
    end = math.inf if episode.resolved is None else episode.resolved  # active to the end
    truth_end = math.inf if truth.end is None else truth.end + tolerance_ms
    return episode.since <= truth_end and end >= truth.start - tolerance_ms


def _matches(incident: Incident, injected: Injected, detects: Mapping[str, frozenset[str]],
             tolerance_ms: int) -> bool:
    if incident.district != injected.district:
        return False
    for episode in incident.alerts:
        types = detects.get(episode.rule, frozenset())
        district_wide = episode.sensor == f"{_DISTRICT_WIDE}{incident.district}"
        for truth in injected.truths:
            same_place = truth.kind == episode.kind if district_wide else (
                truth.sensor == episode.sensor)
            if same_place and truth.type in types and _overlaps(episode, truth, tolerance_ms):
                return True
    return False


def score_incidents(truths: Iterable[Truth], incidents: Sequence[Incident],
                    rules: Sequence[Rule], *, tolerance_ms: int) -> IncidentScore:
    """Match the platform's incidents to the injected ones; see the module docstring."""
    detects = {rule.name: frozenset(rule.detects or ()) for rule in rules}
    ordered = sorted(incidents, key=lambda incident: (incident.opened, incident.incident_id))
    matched: set[str] = set()
    scores = []
    for injected in injected_incidents(truths):
        hits = tuple(incident.incident_id for incident in ordered
                     if _matches(incident, injected, detects, tolerance_ms))
        matched.update(hits)
        scores.append(InjectedScore(injected, hits))
    false = [incident for incident in ordered if incident.incident_id not in matched]
    return IncidentScore(scores, false, len(ordered))


def format_incidents(score: IncidentScore) -> str:
    """Return the incident score as a table, the false incidents and a summary line."""
    lines = [f"{'injected incident':36} {'district':10} {'types':44} {'incidents':>9}  verdict"]
    for one in score.injected:
        types = ", ".join(one.injected.types)
        lines.append(f"{one.injected.key[:36]:36} {one.injected.district:10} {types[:44]:44} "
                     f"{len(one.incidents):>9}  {one.verdict}")
    for incident in score.false_incidents:
        lines.append(f"false incident {incident.incident_id} {incident.district} "
                     f"{incident.category}: {incident.cause[:80]}")
    lines.append(f"injected {len(score.injected)}: one {score.count('one')}, split "
                 f"{score.count('split')}, missed {score.count('missed')}; platform incidents "
                 f"{score.platform}, false {len(score.false_incidents)}")
    return "\n".join(lines)
