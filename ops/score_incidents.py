"""Score incidents against a run's injected truth: each injected incident should become one.

Pure, like `ops.score`: the caller reads the run and replays or reads its alerts.

- **Injected incidents.** A truth whose type is an incident (of its kind,
  `SPEC.incidents`, or of the network, `urbanpulse.kinds.network`; not a
  device fault) belongs to one injected incident: all the truths of one cause
  (`detail.cause`, a chain scenario's id), or of one scenario entry (same type,
  start and end: an entry affecting many sensors is one incident), in one
  district. A sensor mounted on a pole that lost power (`carrier-outage`)
  belongs to its pole's entry. Per district, because the platform's incidents
  are per district, as a district's operations centre dispatches them
  (docs/incidents.md, "Scoring").
- **Match.** A platform incident matches an injected incident when one of its
  alert episodes does: the same sensor (a district-wide alert: any sensor of
  its kind in the district), a truth type its rule detects and whose desk is
  the incident's (`ingest.incidents.routing.department_of`: an incident sent
  to the wrong desk is not that incident), and windows that overlap, the
  truth's widened by the tolerance on both sides. An episode runs from its
  `since` to its resolve; one the incident still holds active lasts to the end
  of the data.
- **Score.** Per injected incident, the platform incidents matching it (the
  goal is exactly one: none is a miss, two or more a split). Each platform
  incident stands as `injected` (it matches one), `real` (it matches none, but
  an alert it lists is a true alert of a condition rule, a level the clean
  signal really reached: a lot really full, noise really over its zone's
  limit; sending someone was warranted, and its other alerts are their rules'
  false alarms, counted in the rule tables) or `false`. The per-alert verdicts
  are the rule scoring's (`RuleScore.matched`), not recomputed here.
- **Unseen.** With the run's clean signal, an injected incident that no rule
  judging the clean signal fired over (`shown`: no episode of a rule detecting
  one of its types, on one of its sensors, over one of its truths) did not
  reach any rule's condition: a pollution episode too mild for a level-4 hour,
  HVAC left on in a hospital that cools through the night anyway. It is
  `unseen`, not missed, as an incident rule's truth is not its miss then
  (docs/alerts.md, "What each rule is scored on now"). With the evidence of
  what the platform received, a clean-signal episode shows an incident only
  where the sensor's usable readings span the rule's `for` within it, as for
  the rules' own recall: offices offline the night their HVAC was left on did
  not show it to anyone. Incidents only device rules detect (a backhaul
  outage) are judged on the readings alone.
- **Scored span.** With a warm-up (`scored_from_ms`), an injected incident
  over before the span is not scored, and a platform incident opened before it
  is counted only when it matches an injected incident that is.

`replay_incidents` feeds alert changes to the ingester's own desk in order, as
the ingester would, with the alerts' time as the clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import msgspec

from ingest.alerts.rules import Rule
from ingest.incidents.changes import StageLimits
from ingest.incidents.desk import IncidentDesk
from ingest.incidents.routing import Routing, department_of
from ops.score import Basis, Episode, Evidence, RuleScore
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
    shown: bool = True
    """Whether a rule's condition showed on the clean signal (or no clean signal judges it)."""

    @property
    def verdict(self) -> str:
        """`one`, `missed` (none), `split` (more than one), or `unseen` (none, and no
        rule's condition showed)."""
        if not self.incidents and not self.shown:
            return "unseen"
        return {0: "missed", 1: "one"}.get(len(self.incidents), "split")


class Standing(StrEnum):
    """What a platform incident stands for in the score."""

    INJECTED = "injected"
    """It matches an injected incident."""
    REAL = "real"
    """It matches none, but each of its alerts is a true alert of a condition rule."""
    FALSE = "false"
    """Anything else: an incident nothing in the run explains."""


@dataclass(frozen=True, slots=True)
class PlatformScore:
    """One platform incident the score counts, and what it stands for."""

    incident: Incident
    standing: Standing
    true_alerts: int = 0
    """How many of the alerts it lists are true alerts of condition rules."""


@dataclass(frozen=True, slots=True)
class IncidentScore:
    """Every injected incident's platform incidents, and what each platform incident stands for."""

    injected: list[InjectedScore]
    platform: list[PlatformScore] = field(default_factory=list)
    """The platform incidents counted, oldest first."""

    def count(self, verdict: str) -> int:
        """How many injected incidents got `verdict` (one, missed, split)."""
        return sum(score.verdict == verdict for score in self.injected)

    def standing(self, standing: Standing) -> list[Incident]:
        """The platform incidents that stand as `standing`, oldest first."""
        return [one.incident for one in self.platform if one.standing is standing]

    @property
    def false_incidents(self) -> list[Incident]:
        """The platform incidents nothing in the run explains."""
        return self.standing(Standing.FALSE)

    def as_dict(self) -> dict[str, object]:
        """Return the score as plain JSON-ready values."""
        return {"injected": [{"key": one.injected.key, "district": one.injected.district,
                              "types": one.injected.types, "incidents": list(one.incidents),
                              "verdict": one.verdict} for one in self.injected],
                "one": self.count("one"), "split": self.count("split"),
                "missed": self.count("missed"), "unseen": self.count("unseen"),
                "platform": len(self.platform),
                **{f"{standing.value}_incidents": [incident.incident_id for incident
                                                   in self.standing(standing)]
                   for standing in Standing}}


def true_condition_alerts(rows: Iterable[RuleScore]) -> frozenset[tuple[str, str, int]]:
    """Return the (rule, sensor, since) of each alert the rule scoring found true of a
    condition rule: a level the run's clean signal (or its truth) really reached."""
    return frozenset((row.rule, sensor, since) for row in rows
                     if row.basis is Basis.CONDITION for sensor, since in row.matched)


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
        if department_of(truth.kind, truth.type) is None:
            continue  # a device fault
        cause = truth.detail.get("cause")
        entry = truth.detail.get("carrier_incident", truth.type)
        key = str(cause) if cause is not None else f"{entry}@{truth.start}-{truth.end}"
        groups.setdefault((key, truth.district), []).append(truth)
    found = [Injected(key, district, tuple(members))
             for (key, district), members in groups.items()]
    return sorted(found, key=lambda one: (one.start, one.district, one.key))


def _overlaps(episode: IncidentAlert | Episode, truth: Truth, tolerance_ms: int) -> bool:
    end = math.inf if episode.resolved is None else episode.resolved  # active to the end
    truth_end = math.inf if truth.end is None else truth.end + tolerance_ms
    return episode.since <= truth_end and end >= truth.start - tolerance_ms


class _Truths:
    """One injected incident's truths, by sensor and by kind, each with the desk it goes to."""

    def __init__(self, injected: Injected) -> None:
        self.injected = injected
        self.on_sensor: dict[str, list[tuple[Truth, str]]] = {}
        self.of_kind: dict[str, list[tuple[Truth, str]]] = {}
        for truth in injected.truths:
            desk = department_of(truth.kind, truth.type)
            entry = (truth, "" if desk is None else desk.code)
            self.on_sensor.setdefault(truth.sensor, []).append(entry)
            self.of_kind.setdefault(truth.kind, []).append(entry)

    def shown_by(self, episodes: Sequence[Episode], detects: Mapping[str, frozenset[str]],
                 judged_clean: Collection[str], tolerance_ms: int,
                 received: Callable[[Episode], bool]) -> bool:
        """Whether a clean-signal episode of a rule detecting one of these truths overlaps
        it, on readings the platform `received`; True when no rule run on the clean signal
        detects any of their types."""
        types = {truth.type for truth in self.injected.truths}
        if not any(types & detects.get(rule, frozenset()) for rule in judged_clean):
            return True
        for episode in episodes:
            if episode.district != self.injected.district:
                continue
            near = (self.of_kind.get(episode.kind, ()) if episode.is_district
                    else self.on_sensor.get(episode.sensor, ()))
            if any(truth.type in detects.get(episode.rule, frozenset())
                   and _overlaps(episode, truth, tolerance_ms) for truth, _ in near
                   ) and received(episode):
                return True
        return False

    def matched_by(self, incident: Incident, detects: Mapping[str, frozenset[str]],
                   tolerance_ms: int) -> bool:
        """Whether one of the incident's episodes matches one of these truths."""
        if incident.district != self.injected.district:
            return False
        for episode in incident.alerts:
            types = detects.get(episode.rule, frozenset())
            district_wide = episode.sensor == f"{_DISTRICT_WIDE}{incident.district}"
            near = (self.of_kind.get(episode.kind, ()) if district_wide
                    else self.on_sensor.get(episode.sensor, ()))
            if any(truth.type in types and desk == incident.category
                   and _overlaps(episode, truth, tolerance_ms) for truth, desk in near):
                return True
        return False


def score_incidents(truths: Iterable[Truth], incidents: Sequence[Incident],
                    rules: Sequence[Rule], *, tolerance_ms: int,
                    real_alerts: Collection[tuple[str, str, int]] = frozenset(),
                    scored_from_ms: int | None = None,
                    shown: Sequence[Episode] | None = None,
                    judged_clean: Collection[str] = frozenset(),
                    evidence: Evidence | None = None) -> IncidentScore:
    """Match the platform's incidents to the injected ones; see the module docstring.

    Args:
        truths: The run's truths (device faults among them are left out).
        incidents: The platform's incidents, each with its alert episodes.
        rules: The rules whose alerts they group (their `detects`).
        tolerance_ms: How far an episode may lie outside a truth.
        real_alerts: The (rule, sensor, since) of the true alerts of condition rules
            (`true_condition_alerts`); empty: no incident stands as real.
        scored_from_ms: Where the scored span begins (a warm-up before it); None: all.
        shown: The rules' episodes on the run's clean signal; None: every injected
            incident counts as shown.
        judged_clean: The rules run on the clean signal (`shown` is theirs).
        evidence: What the platform received: a sensor's episode in `shown` shows an
            incident only where its usable readings span the rule's `for`. None: any does.
    """
    detects = {rule.name: frozenset(rule.detects or ()) for rule in rules}
    for_s = {rule.name: rule.for_s for rule in rules}

    def received(episode: Episode) -> bool:
        return evidence is None or episode.is_district or evidence.spans(
            episode.sensor, episode.since, episode.resolved, for_s.get(episode.rule, 0.0))

    ordered = sorted(incidents, key=lambda incident: (incident.opened, incident.incident_id))
    matched: set[str] = set()
    counted: set[str] = set()
    scores = []
    for injected in injected_incidents(truths):
        near = _Truths(injected)
        hits = tuple(incident.incident_id for incident in ordered
                     if near.matched_by(incident, detects, tolerance_ms))
        matched.update(hits)
        if scored_from_ms is None or any(truth.end is None or truth.end >= scored_from_ms
                                         for truth in injected.truths):
            counted.update(hits)
            seen = shown is None or near.shown_by(shown, detects, judged_clean, tolerance_ms,
                                                  received)
            scores.append(InjectedScore(injected, hits, seen))
    platform = [_standing(incident, matched, real_alerts)
                for incident in ordered if incident.incident_id in counted
                or scored_from_ms is None or incident.opened >= scored_from_ms]
    return IncidentScore(scores, platform)


def _standing(incident: Incident, matched: Collection[str],
              real_alerts: Collection[tuple[str, str, int]]) -> PlatformScore:
    true = sum((episode.rule, episode.sensor, episode.since) in real_alerts
               for episode in incident.alerts)
    if incident.incident_id in matched:
        return PlatformScore(incident, Standing.INJECTED, true)
    if true:
        return PlatformScore(incident, Standing.REAL, true)
    return PlatformScore(incident, Standing.FALSE, true)


TITLE = "-- incidents: each injected incident should become exactly one platform incident"


def format_incidents(score: IncidentScore) -> str:
    """Return the incident score as a table: the injected incidents and their verdicts, the
    false incidents one a line, the real ones counted by desk, and a summary line."""
    lines = [TITLE,
             f"{'injected incident':36} {'district':10} {'types':44} {'incidents':>9}  verdict"]
    for one in score.injected:
        types = ", ".join(one.injected.types)
        lines.append(f"{one.injected.key[:36]:36} {one.injected.district:10} {types[:44]:44} "
                     f"{len(one.incidents):>9}  {one.verdict}")
    for platform in score.platform:
        if platform.standing is Standing.FALSE:
            incident = platform.incident
            lines.append(f"false incident {incident.incident_id} {incident.district} "
                         f"{incident.category}, {incident.alerts_total} alerts "
                         f"({platform.true_alerts} of real conditions): "
                         f"{incident.cause[:80]}")
    real = score.standing(Standing.REAL)
    if real:
        desks: dict[str, int] = {}
        for incident in real:
            desks[incident.category] = desks.get(incident.category, 0) + 1
        lines.append("real conditions (incidents by desk): " + ", ".join(
            f"{desk} {count}" for desk, count in sorted(desks.items())))
    lines.append(f"injected {len(score.injected)}: one {score.count('one')}, split "
                 f"{score.count('split')}, missed {score.count('missed')}, unseen "
                 f"{score.count('unseen')}; platform incidents "
                 f"{len(score.platform)}: injected {len(score.standing(Standing.INJECTED))}, "
                 f"real {len(real)}, false {len(score.false_incidents)}")
    return "\n".join(lines)
