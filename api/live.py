"""The city's latest state in memory: every sensor's birth and newest reading, active alerts.

Home Assistant's state machine and ThingsBoard's latest-telemetry table are the
model: one current entry per sensor (and per active alert), replaced when a
newer one arrives, read by the routes without a query. `LiveState` is pure: it
takes messages (MQTT payloads, or rows InfluxDB seeded it with) and answers
questions; `api.follow` does the I/O. Every entry obeys "newer wins" (births by
`ts`, readings by `(ts, seq)`, alerts by `ts`), so the seed from InfluxDB and
the broker's retained messages may arrive in any order.

What it accepts, and why:

- births as the ingester accepts them (`urbanpulse.births.check_birth`, with the
  ingester's default limits): the topic agrees with the payload, a registered
  kind, no reserved attribute name, `ts` in the readings' time window; anything
  else is counted in `ignored` and logged, a few per reason and minute
  (`urbanpulse.ratelog.RateLimitedLog`: whoever may publish there cannot flood
  the log);
- district states (`DistrictState`) and alert states only with the ingester's
  signature (`URBANPULSE_ALERT_KEY`); an alert leaves only by a signed
  `resolved` state, never by a cleared retained topic, and a resolved alert's
  older states cannot bring it back;
- incident states the same way: signed, on the incident's own topic, newer
  wins; an incident leaves only by its signed `closed` state.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left, insort
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import msgspec

from api.alert_store import ACTIVE_STATES
from api.answers import HeldAnswers
from api.broker import alert_model
from api.grid import Grid, Readings
from api.incident_models import Incident as IncidentSummary
from api.incident_models import summary_of
from api.influx import InfluxQuery
from api.models import Alert, Sensor
from api.params import ALERT_SPAN
from api.recent import Recent
from api.summary_history import KeptReads, SummaryHistory
from urbanpulse.births import Refusal, check_birth
from urbanpulse.influxql import Series
from urbanpulse.kinds.summaries import Current, View
from urbanpulse.messages import (
    DistrictState,
    Incident,
    SensorBirth,
    SensorState,
    alert_decoder,
    district_state_decoder,
    incident_decoder,
)
from urbanpulse.ratelog import RateLimitedLog
from urbanpulse.signing import is_signed_alert, is_signed_incident, is_signed_state
from urbanpulse.topics import Channel, alert_topic, incident_topic

logger = logging.getLogger(__name__)

IGNORED_LOG_BURST: Final = 5
"""Refused messages logged one by one per reason (birth, state, alert) per interval."""
IGNORED_LOG_INTERVAL_S: Final = 60.0
"""Interval of that burst and of the count of the refused messages not logged."""
CLOSED_KEPT: Final = 10_000
"""Closed incidents remembered at most, the oldest forgotten first: a transition asked
right after a close sees it closed before InfluxDB has the closing state."""
RECENT_ALERTS_MS: Final = int(ALERT_SPAN.total_seconds() * 1000) + 3_600_000
"""How long the newest state of every alert is held after its last change (`Recent`):
the alert list's default range, 24 hours, and an hour more. A day of the
10,189-sensor city changed 4,656 alerts."""
RECENT_INCIDENTS_MS: Final = 31 * 86_400_000
"""The same for incidents, by default (`URBANPULSE_API_MAX_RANGE_S`): that day, 18."""

Row = dict[str, Any]
"""A reading as the kinds read it: fields by name, `time` and `seq`."""


def newest_first(alert: Alert) -> tuple[int, str]:
    """Order alerts as the alert list shows them: newest first, then by id."""
    return -alert.ts, alert.alert_id


def sensor_of(birth: SensorBirth) -> Sensor:
    """Return the api's model of an accepted birth."""
    return Sensor(sensor=birth.sensor, kind=birth.kind, district=birth.district, site=birth.site,
                  zone=birth.zone, lat=birth.lat, lon=birth.lon, interval_s=birth.interval_s,
                  attributes=dict(birth.attributes), birth_ts=birth.ts)


def _row(state: SensorState) -> Row:
    return {**state.values, "time": state.ts, "seq": state.seq}


_Listed = tuple[str | None, str | None, Callable[[Sensor], bool] | None]
"""A list of births held: kind, district (None: any) and what keeps a birth (None: all)."""


class LiveState:
    """Births, newest readings and active alerts, by id, replaced when newer ones arrive.

    `loaded` turns true once the seed from InfluxDB is in (`mark_loaded`); the
    routes answer from here only then. `ignored` counts what was refused, by reason.
    `answers` keeps the routes' encoded answers, dropped as what they show changes;
    `version` counts the changes of a district (births, readings, alerts);
    `history` keeps what the district summaries read of history.
    """

    def __init__(self, *, root: str, alert_key: bytes | None,
                 incidents_kept_ms: int = RECENT_INCIDENTS_MS) -> None:
        self._root = root
        self._key = alert_key
        self.births: dict[str, Sensor] = {}
        self.rows: dict[str, Row] = {}
        self.alerts: dict[str, Alert] = {}
        self._alert_index: defaultdict[tuple[str, str | None], list[Alert]] = defaultdict(list)
        """The active alerts of each state (and district), newest first: `held_alerts`."""
        self._resolved: OrderedDict[str, int] = OrderedDict()
        """When each alert resolved lately, oldest first: a late message of an alert that
        resolved after it does not bring it back. Kept `RECENT_ALERTS_MS` after the newest."""
        self.recent_alerts: Recent[Alert] = Recent(lambda alert: alert.alert_id,
                                                   keep_ms=RECENT_ALERTS_MS)
        """The newest state of every alert changed lately, resolved ones too (`/v1/alerts`)."""
        self.recent_incidents: Recent[IncidentSummary] = Recent(
            lambda incident: incident.incident_id, keep_ms=incidents_kept_ms)
        """The same of the incidents, as lists show them (`/v1/incidents`)."""
        self.incidents: dict[str, Incident] = {}
        """The open incidents, by id (their states without `sig`)."""
        self._closed: OrderedDict[str, Incident] = OrderedDict()
        self._views: dict[tuple[str | None, str | None], list[Sensor]] = {}
        self._listed: dict[_Listed, list[Sensor]] = {}
        self._grids: dict[_Listed, Grid] = {}
        self._districts: dict[str, dict[str, int]] | None = None
        self._versions: Counter[str] = Counter()
        self.answers = HeldAnswers()
        self.history = SummaryHistory()
        self.ignored: Counter[str] = Counter()
        self.ignored_log = RateLimitedLog(logger, burst=IGNORED_LOG_BURST,
                                          interval_s=IGNORED_LOG_INTERVAL_S, verb="ignored",
                                          noun="refusals")
        self.loaded_event = asyncio.Event()
        """Set once the seed is in (`loaded`), for what waits for the state."""
        self.seeded_at: int | None = None
        self.states = 0

    # -- what comes in -------------------------------------------------------------

    def _ignore(self, reason: str, topic: str, payload: bytes, why: str) -> None:
        self.ignored[reason] += 1
        self.ignored_log.rejected(topic, reason, why, payload)

    def add_birth(self, sensor: Sensor) -> None:
        """Keep `sensor` unless a newer birth of it, or the same one, is held.

        The same birth again (every reconnect re-delivers the retained births)
        changes nothing: no list or answer is dropped, no version counted.
        """
        held = self.births.get(sensor.sensor)
        if held is None or (sensor.birth_ts >= held.birth_ts and sensor != held):
            self.births[sensor.sensor] = sensor
            self._views.clear()  # births change seldom; the lists are made again on demand
            self._listed.clear()
            self._grids.clear()
            self._districts = None
            self.answers.forget_birth(sensor.sensor)
            self._versions[sensor.district] += 1
            if held is not None and held.district != sensor.district:
                self._versions[held.district] += 1

    def on_birth(self, topic: str, payload: bytes, *, now_ms: int) -> None:
        """Take a retained birth, as the ingester would (an empty payload changes nothing)."""
        if not payload:
            return
        birth = check_birth(topic, payload, root=self._root, now_ms=now_ms)
        if isinstance(birth, Refusal):
            self._ignore("birth", topic, payload, f"{birth.reason}: {birth.detail}")
            return
        self.add_birth(sensor_of(birth))

    def add_reading(self, sensor: str, state: SensorState) -> None:
        """Keep `state` as the newest reading of `sensor` unless a newer one is held."""
        held = self.rows.get(sensor)
        if held is None or (state.ts, state.seq) >= (held["time"], held["seq"]):
            row = _row(state)
            if row == held:  # the same reading again, in the next district state
                return
            self.rows[sensor] = row
            self.answers.forget_reading(sensor)
            for grid in self._grids.values():
                grid.changed(sensor)
            birth = self.births.get(sensor)
            if birth is not None:
                self._versions[birth.district] += 1

    def on_state(self, topic: str, payload: bytes) -> None:
        """Take a district state the ingester signed; anything else is counted and dropped."""
        try:
            state: DistrictState = district_state_decoder.decode(payload)
        except msgspec.DecodeError as exc:
            self._ignore("state", topic, payload, f"malformed: {exc}")
            return
        if self._key is None or not is_signed_state(state, self._key):
            self._ignore("state", topic, payload, "no valid signature of the ingester")
            return
        if topic != f"{self._root}/{Channel.STATE.value}/{state.district}":
            self._ignore("state", topic, payload, f"it names district {state.district!r}")
            return
        self.states += 1
        for sensors in state.sensors.values():
            for sensor, reading in sensors.items():
                self.add_reading(sensor, reading)

    def add_alert(self, alert: Alert) -> None:
        """Keep the newest state of an alert: active ones are held, a resolved one drops it."""
        self.recent_alerts.add(alert)
        held = self.alerts.get(alert.alert_id)
        newest = max(held.ts if held else -1, self._resolved.get(alert.alert_id, -1))
        if alert.ts < newest:
            return
        self._versions[alert.district] += 1
        if held is not None:
            self._index(held, keep=False)
        if alert.state in ACTIVE_STATES:
            self.alerts[alert.alert_id] = alert
            self._resolved.pop(alert.alert_id, None)
            self._index(alert, keep=True)
        else:
            self.alerts.pop(alert.alert_id, None)
            self._resolve(alert)
            self.answers.forget_alert(alert.alert_id)

    def _resolve(self, alert: Alert) -> None:
        """Note that `alert` resolved, and forget what resolved long before it."""
        resolved = self._resolved
        resolved[alert.alert_id] = alert.ts
        resolved.move_to_end(alert.alert_id)
        horizon = alert.ts - RECENT_ALERTS_MS
        while resolved:
            oldest, ts = next(iter(resolved.items()))
            if ts >= horizon:
                break
            del resolved[oldest]

    def _index(self, alert: Alert, *, keep: bool) -> None:
        for key in ((alert.state, None), (alert.state, alert.district)):
            held = self._alert_index[key]
            if keep:
                insort(held, alert, key=newest_first)
            else:
                del held[bisect_left(held, newest_first(alert), key=newest_first)]

    def on_alert(self, topic: str, payload: bytes) -> None:
        """Take an alert state the ingester signed, published on its own topic."""
        if not payload:  # a cleared topic: only a signed `resolved` state ends an alert
            return
        try:
            message = alert_decoder.decode(payload)
        except msgspec.DecodeError as exc:
            self._ignore("alert", topic, payload, f"malformed: {exc}")
            return
        if self._key is None or not is_signed_alert(message, self._key):
            self._ignore("alert", topic, payload, "no valid signature of the ingester")
            return
        if topic != alert_topic(message.district, message.kind, message.sensor, message.rule,
                                root=self._root):
            self._ignore("alert", topic, payload, "the topic is not the alert's own")
            return
        self.add_alert(alert_model(message))

    def add_incident(self, incident: Incident) -> None:
        """Keep the newest state of an incident: open ones are held, a closed one drops it."""
        held = self.incident(incident.incident_id)
        if held is not None and incident.ts < held.ts:
            return
        incident = msgspec.structs.replace(incident, sig=None)
        self.recent_incidents.add(summary_of(incident))
        if incident.stage == "closed":
            self.incidents.pop(incident.incident_id, None)
            self._closed[incident.incident_id] = incident
            while len(self._closed) > CLOSED_KEPT:
                self._closed.popitem(last=False)
        else:
            self.incidents[incident.incident_id] = incident

    def on_incident(self, topic: str, payload: bytes) -> None:
        """Take an incident state the ingester signed, published on the incident's own topic."""
        if not payload:  # a cleared topic: only a signed closed state ends an incident
            return
        try:
            incident = incident_decoder.decode(payload)
        except msgspec.DecodeError as exc:
            self._ignore("incident", topic, payload, f"malformed: {exc}")
            return
        if self._key is None or not is_signed_incident(incident, self._key):
            self._ignore("incident", topic, payload, "no valid signature of the ingester")
            return
        if topic != incident_topic(incident.district, incident.incident_id, root=self._root):
            self._ignore("incident", topic, payload, "the topic is not the incident's own")
            return
        self.add_incident(incident)

    def alert(self, alert_id: str) -> Alert | None:
        """Return the newest state of an active alert or of one changed lately, else None."""
        return self.alerts.get(alert_id) or self.recent_alerts.get(alert_id)

    def incident(self, incident_id: str) -> Incident | None:
        """Return the newest state of an open incident, or of one closed lately; else None."""
        return self.incidents.get(incident_id) or self._closed.get(incident_id)

    @property
    def loaded(self) -> bool:
        """Tell whether the seed from InfluxDB is in: the routes may answer from here."""
        return self.loaded_event.is_set()

    def mark_loaded(self, now_ms: int) -> None:
        """Record that the seed from InfluxDB is in: the routes may answer from here."""
        self.loaded_event.set()
        self.seeded_at = now_ms

    # -- what goes out -------------------------------------------------------------

    def version(self, district: str) -> int:
        """Return how many times a birth, reading or alert of `district` changed."""
        return self._versions[district]

    def newest(self, sensor: str) -> Row | None:
        """Return the newest reading of `sensor`, or None (`LatestReadings`)."""
        return self.rows.get(sensor)

    def sensors(self, *, kind: str | None = None, district: str | None = None,
                until_ms: int | None = None, lists: Callable[[Sensor], bool] | None = None
                ) -> list[Sensor]:
        """Return the births of `kind` in `district` (None: any) born by `until_ms`, of
        those that `lists` keeps (a view's: parking guidance lists lots, not bays), by id.

        The lists are made once per change of the births.
        """
        found = self._list(kind, district, lists)
        if until_ms is None:
            return found
        return [sensor for sensor in found if sensor.birth_ts <= until_ms]

    def within(self, place: tuple[float, float], radius_m: float, *, kind: str | None = None,
               district: str | None = None, until_ms: int | None = None,
               lists: Callable[[Sensor], bool] | None = None) -> list[tuple[float, Sensor]]:
        """Return the births `sensors` would, those within `radius_m` of `place`, each with
        its distance in metres (`api.grid.Grid.within`), in no set order.

        The grid of a list is made once per change of the births.
        """
        return self._grid(kind, district, lists).within(place, radius_m, until_ms=until_ms)

    def nearest(self, view: View[Any], place: tuple[float, float], radius_m: float, *,
                kind: str, district: str | None, until_ms: int, at_ms: int, limit: int
                ) -> tuple[list[tuple[float, Current]], int]:
        """Return the first `limit` births `view` lists (of `kind`, in `district`: None,
        any) within `radius_m` of `place`, born by `until_ms`, whose newest reading is
        current at `at_ms` and makes an item (`View.keeps`), nearest first then by id,
        each with its distance and reading; and how many there are (`Grid.nearest`).

        The view must say what it keeps: without `keeps` only making the items tells.
        """
        keeps, fields = view.keeps, view.fields
        if keeps is None:
            raise ValueError("the view does not say which readings make an item (keeps)")

        def usable(sensor: Sensor, row: Mapping[str, Any]) -> bool:
            return any(row.get(name) is not None for name in fields) and \
                keeps(Current(sensor, row))

        found, total = self._grid(kind, district, view.lists).nearest(
            place, radius_m, until_ms=until_ms, at_ms=at_ms, limit=limit,
            readings=Readings(view, self.rows.get, usable))
        return [(metres, Current(sensor, self.rows[sensor.sensor]))
                for metres, sensor in found], total

    def _grid(self, kind: str | None, district: str | None,
              lists: Callable[[Sensor], bool] | None) -> Grid:
        """Return the grid of a list, made once per change of the births."""
        key = (kind, district, lists)
        grid = self._grids.get(key)
        if grid is None:
            grid = self._grids[key] = Grid(self._list(kind, district, lists))
        return grid

    def _list(self, kind: str | None, district: str | None,
              lists: Callable[[Sensor], bool] | None) -> list[Sensor]:
        if not self._views:  # every list in one pass, once per change of the births
            for name in sorted(self.births):
                birth = self.births[name]
                keys: tuple[tuple[str | None, str | None], ...] = (
                    (None, None), (birth.kind, None), (None, birth.district),
                    (birth.kind, birth.district))
                for one in keys:
                    self._views.setdefault(one, []).append(birth)
        key = (kind, district, lists)
        found = self._listed.get(key)
        if found is None:
            found = self._views.get((kind, district), [])
            if lists is not None:
                found = [sensor for sensor in found if lists(sensor)]
            self._listed[key] = found
        return found

    def kinds_by_district(self) -> dict[str, dict[str, int]]:
        """Return how many sensors of each kind every district has."""
        if self._districts is None:
            counts: dict[str, dict[str, int]] = {}
            for sensor in self.births.values():
                kinds = counts.setdefault(sensor.district, {})
                kinds[sensor.kind] = kinds.get(sensor.kind, 0) + 1
            self._districts = counts
        return self._districts

    def has_district(self, district: str) -> bool:
        """Return whether any held birth stands in `district`."""
        return district in self.kinds_by_district()

    def active_alerts(self, *, district: str | None = None) -> Iterable[Alert]:
        """Return the active alerts, of `district` when given (from the index, state by state)."""
        return [alert for state in ACTIVE_STATES
                for alert in self._alert_index.get((state, district), ())]

    def held_alerts(self, *, state: str, district: str | None, start_ms: int,
                    end_ms: int) -> Sequence[Alert]:
        """Return the active alerts in `state` (of `district`) of [start, end), newest first.

        A slice of an index kept as alerts change, found by bisection: its cost is the
        answer's length, not the number of alerts held.
        """
        held = self._alert_index.get((state, district), [])
        return held[bisect_left(held, (1 - end_ms, ""), key=newest_first):
                    bisect_left(held, (1 - start_ms, ""), key=newest_first)]

    def describe(self) -> Mapping[str, int]:
        """Return the counts `/health` reports."""
        return {"sensors": len(self.births), "readings": len(self.rows),
                "alerts": len(self.alerts), "incidents": len(self.incidents),
                "states": self.states,
                **{f"ignored_{reason}": n for reason, n in sorted(self.ignored.items())}}


class HeldQueries:
    """InfluxDB for history, the state in memory for newest readings (`LatestReadings`).

    Given to the kinds' sections and views in place of the bare InfluxDB client.
    With `reads`, a history statement already answered there is not run again,
    and one that is run is kept there (`api.summary_history`).
    """

    def __init__(self, influx: InfluxQuery, live: LiveState,
                 reads: KeptReads | None = None) -> None:
        self._influx = influx
        self._reads = reads
        self.newest = live.newest

    async def query(self, statement: str) -> list[Series]:
        """Run one InfluxQL statement (history only: the kinds' current readings are held)."""
        if self._reads is None:
            return await self._influx.query(statement)
        answer = self._reads.answers.get(statement)
        if answer is None:
            answer = self._reads.answers[statement] = await self._influx.query(statement)
        return answer
