"""The incident desk at work in the ingester: alerts and commands in, states and record out.

The ingester hands the office every alert change it emits (`on_alerts`),
routes the transition command topic to it (`commands`) and runs its clock
(`run`: overruns every second, and the streets of new incidents looked up in
the `sensors` measurement). What the desk changes, the office carries out:

- each incident state is signed (`URBANPULSE_ALERT_KEY`) and published on
  `{root}/incidents/{district}/{incident_id}`, retained while open; a closed
  state is published not retained, then the topic is cleared, as a resolved
  alert's is;
- each state and audit entry becomes a point of `incidents` or
  `incident_audit`, written with the ingester's next batch;
- overrun alerts go out as every alert does (`emit_alerts`: topic, `alerts`).

A transition command that is unsigned, stale or replayed is dead-lettered
(`ingest.incidents.gate`), as is one the incident's stage does not allow
(`illegal-transition`). One for an incident this ingester does not hold (another
instance's district, or closed) is acknowledged and left alone.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, Protocol

from ingest.alerts.commands import transition_gate
from ingest.alerts.rules import load_rules
from ingest.decode import Rejected
from ingest.history import History
from ingest.incidents.changes import UNKNOWN, Changes, StageLimits, TransitionRefusedError
from ingest.incidents.desk import IncidentDesk
from ingest.incidents.record import audit_point, incident_point, read_open, read_sites
from ingest.incidents.routing import Routing
from ingest.pipeline import Handler
from urbanpulse.messages import Alert, encoder, transition_decoder
from urbanpulse.settings import IngestSettings
from urbanpulse.signing import sign_incident
from urbanpulse.topics import incident_topic, transition_topic

log = logging.getLogger(__name__)

TICK_S: Final = 1.0
"""How often stages are checked against their limits."""
SITE_RETRY_S: Final = 30.0
"""How long before a sensor whose birth InfluxDB did not hold yet is looked up again."""


class Publish(Protocol):
    """Publishes one QoS 1 message (`ingest.outbox.Outbox.publish`)."""

    def __call__(self, topic: str, payload: bytes, *, retain: bool) -> None: ...


class Record(Protocol):
    """What the office needs of the pipeline: write a point, dead-letter a command."""

    def add_point(self, line: str) -> None: ...

    def dead_letter(self, topic: str, payload: bytes, rejected: Rejected,
                    token: object | None = None) -> None: ...


class IncidentOffice:
    """Runs the ingester's incident desk; `attach` the pipeline before the first message."""

    def __init__(self, settings: IngestSettings, *, publish: Publish,
                 emit_alerts: Callable[[list[Alert]], None],
                 acknowledge: Callable[[Sequence[object]], None],
                 clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._root = settings.topic_root
        self._key = settings.alert_key_bytes()
        self._publish = publish
        self._emit_alerts = emit_alerts
        self._acknowledge = acknowledge
        self._clock = clock
        rules = load_rules(Path(settings.ingest_rules) if settings.ingest_rules else None)
        self.sites: dict[str, str] = {}
        """Sites of the sensors incidents opened on, as InfluxDB's births say."""
        self.desk = IncidentDesk(
            Routing(rules), StageLimits(settings.ingest_incident_accepted_limit_s,
                                        settings.ingest_incident_dispatched_limit_s,
                                        settings.ingest_incident_handling_limit_s),
            join_window_s=settings.ingest_incident_join_window_s, sites=self.sites)
        self._gate = transition_gate(self._key, settings.ingest_ack_max_age_s)
        self._history = History(url=settings.influx_url, database=settings.influx_db,
                                headers=settings.influx_auth_headers(),
                                timeout_s=settings.influx_timeout_s,
                                retry_max_s=settings.ingest_retry_max_s)
        self._record: Record | None = None
        self._looked_up: dict[str, float] = {}  # sensor → when its site was last asked for

    @property
    def commands(self) -> dict[str, Handler]:
        """The command topics the ingester routes to the office, with their handlers."""
        return {transition_topic(root=self._root): self._on_transition}

    def attach(self, record: Record) -> None:
        """Write points and dead letters through `record` (the ingester's pipeline)."""
        self._record = record

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def on_alerts(self, alerts: list[Alert]) -> None:
        """Take the alert changes the ingester emits."""
        self._carry_out(self.desk.on_alerts(alerts, self._now_ms()))

    def acknowledge(self, alert_id: str, by: str, note: str, now_ms: int) -> Alert | None:
        """Acknowledge an incident's firing overrun alert (None: no such alert here)."""
        return self.desk.acknowledge(alert_id, by, note, now_ms)

    async def restore(self) -> None:
        """Take this partition's open incidents back from InfluxDB, before consuming.

        The `incidents` record and the `alerts` record are read (one request),
        never the broker's retained topics; an InfluxDB that cannot answer is
        waited for.
        """
        incidents, active = await read_open(self._history, self._settings.ingest_districts)
        self._carry_out(self.desk.restore(incidents, active, self._now_ms()))
        log.info("restored %d open incidents from InfluxDB", len(self.desk.open))

    async def run(self) -> None:
        """Check the stages' time limits and find new incidents' streets, for ever."""
        await asyncio.gather(self._ticks(), self._streets())

    async def _ticks(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self._carry_out(self.desk.tick(self._now_ms()))

    async def _streets(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            waiting = self.desk.unlocated()
            now = time.monotonic()
            self._looked_up = {sensor: asked for sensor, asked in self._looked_up.items()
                               if sensor in waiting}
            wanted = {sensor for sensor in waiting
                      if now - self._looked_up.get(sensor, -math.inf) >= SITE_RETRY_S}
            if wanted:
                self._looked_up.update(dict.fromkeys(wanted, now))
                self.sites.update(await read_sites(self._history, wanted))
                self._carry_out(self.desk.locate(self._now_ms()))

    def _on_transition(self, topic: str, payload: bytes, token: object) -> None:
        record = self._record
        assert record is not None, "attach() the pipeline first"
        try:
            command = transition_decoder.decode(payload)
        except ValueError as exc:  # msgspec.DecodeError is a ValueError
            record.dead_letter(topic, payload, Rejected("schema", f"Bad transition: {exc}."),
                               token)
            return
        now_ms = self._now_ms()
        if (refused := self._gate.refuse(command, now_ms)) is not None:
            record.dead_letter(topic, payload, refused, token)
            return
        try:
            changes = self.desk.transition(command.incident_id, command.to, command.by,
                                           command.note, now_ms)
        except TransitionRefusedError as exc:
            if exc.reason != UNKNOWN:
                record.dead_letter(topic, payload, Rejected(exc.reason, str(exc)), token)
                return
            log.debug("%s", exc)  # another instance's incident, or closed meanwhile
        else:
            self._carry_out(changes)
        self._acknowledge((token,))

    def _carry_out(self, changes: Changes) -> None:
        """Publish and record what the desk changed."""
        if not changes:
            return
        record = self._record
        assert record is not None, "attach() the pipeline first"
        for incident in changes.incidents:
            topic = incident_topic(incident.district, incident.incident_id, root=self._root)
            signed = incident if self._key is None else sign_incident(incident, self._key)
            payload = encoder.encode(signed)
            if incident.stage == "closed":
                self._publish(topic, payload, retain=False)
                self._publish(topic, b"", retain=True)  # late subscribers see only open ones
            else:
                self._publish(topic, payload, retain=True)
            record.add_point(incident_point(incident))
        for entry in changes.audit:
            record.add_point(audit_point(entry))
        if changes.alerts:
            self._emit_alerts(changes.alerts)
