"""What an alert change costs the ingester's incident desk, and what carrying one out costs.

A storm over one district fires BENCH_INCIDENT_ALERTS alerts (default 20,000) of a
flood-control rule, which all join one incident, then resolve: the worst case of
one incident growing past the 200 episodes its state lists. Measured per change:
the desk's work (`IncidentDesk.on_alerts`), and what the ingester then does with
each new state (`IncidentOffice`'s share: the signed JSON for MQTT and the
`incidents` point for InfluxDB). Prints one JSON document.

    .venv/bin/python bench/incidents.py
"""

from __future__ import annotations

import json
import os
import time

import msgspec

from ingest.alerts.engine import fingerprint
from ingest.alerts.rules import parse_rule
from ingest.incidents.changes import StageLimits
from ingest.incidents.desk import IncidentDesk
from ingest.incidents.record import audit_point, incident_point
from ingest.incidents.routing import Routing
from urbanpulse.messages import Alert, encoder
from urbanpulse.signing import sign_incident

ALERTS = int(os.environ.get("BENCH_INCIDENT_ALERTS", "20000"))
T0 = 1_795_000_000_000
KEY = b"bench-alert-key-0123456789"


def main() -> None:
    """Run the storm through a desk and print the costs."""
    rule = parse_rule({"name": "well-water", "type": "threshold", "kind": "manhole",
                       "metric": "water_level_cm", "above": 50, "severity": "high",
                       "detects": ["manhole-flooding"]})
    desk = IncidentDesk(Routing([rule]), StageLimits(900, 1800, 14_400), join_window_s=3600,
                        sites={})
    firing = [Alert(v=1, alert_id=fingerprint(rule.name, sensor), rule=rule.name,
                    sensor=sensor, kind="manhole", district="huangpu", state="firing",
                    severity="high", ts=T0 + n, since=T0 + n, message="water high")
              for n, sensor in enumerate(f"manhole-huangpu-{n:05d}" for n in range(ALERTS))]
    resolved = [msgspec.structs.replace(one, state="resolved", ts=one.ts + 3_600_000)
                for one in firing]
    timings = {}
    states = []
    for name, changes in (("join", firing), ("resolve", resolved)):
        started = time.perf_counter()
        for change in changes:
            states.append(desk.on_alerts([change], change.ts))
        timings[name] = (time.perf_counter() - started) / len(changes)
    started = time.perf_counter()
    for result in states:
        for state in result.incidents:
            encoder.encode(sign_incident(state, KEY))
            incident_point(state)
        for entry in result.audit:
            audit_point(entry)
    carried = (time.perf_counter() - started) / sum(len(one.incidents) for one in states)
    (incident,) = desk.open
    print(json.dumps({
        "alerts": ALERTS, "incidents": len(desk.open), "alerts_total": incident.alerts_total,
        "listed": len(incident.alerts),
        "desk_us_per_join": round(timings["join"] * 1e6, 1),
        "desk_us_per_resolve": round(timings["resolve"] * 1e6, 1),
        "carry_out_us_per_state": round(carried * 1e6, 1)}, indent=2))


if __name__ == "__main__":
    main()
