"""Which desk a rule's alerts go to: its kind's incidents, and the network's from district rules."""

from __future__ import annotations

from collections.abc import Sequence

from ingest.alerts.engine import fingerprint
from ingest.alerts.rules import Rule, load_rules, parse_rule
from ingest.incidents.desk import IncidentDesk
from ingest.incidents.routing import Routing, department_of
from tests.ingest.incidents.test_desk import LIMITS, MINUTE, T0, feed, resolved
from urbanpulse.kinds.departments import AIR, COMMUNICATIONS, FLOOD_CONTROL, MUNICIPAL
from urbanpulse.messages import Alert

BACKHAUL_RULES: list[Rule] = [
    parse_rule({"name": "air-district-stale", "type": "district_stale", "kind": "air",
                "share": 0.6, "severity": "high", "detects": ["backhaul-outage"]}),
    # A station's own silence: it names the outage (the silence is real) and a pole's power
    # cut (an incident of its kind), as the shipped air-stale may.
    parse_rule({"name": "air-stale", "type": "stale", "kind": "air", "severity": "low",
                "detects": ["offline", "backhaul-outage", "carrier-outage"]}),
    parse_rule({"name": "noise-stale", "type": "stale", "kind": "noise", "severity": "low",
                "detects": ["offline", "backhaul-outage"]}),
]


def backhaul_desk(rules: Sequence[Rule] = BACKHAUL_RULES) -> IncidentDesk:
    return IncidentDesk(Routing(rules), LIMITS, join_window_s=3600,
                        sites={"air-huangpu-0001": "the-bund"})


def district_alert(at: int, district: str = "huangpu") -> Alert:
    """air-district-stale firing on a district (sensor `district-{name}`) at `at`."""
    sensor = f"district-{district}"
    return Alert(v=1, alert_id=fingerprint("air-district-stale", sensor),
                 rule="air-district-stale", sensor=sensor, kind="air", district=district,
                 state="firing", severity="high", ts=at, since=at - 3 * MINUTE,
                 message="4 of 5 air sensors silent")


def station_alert(sensor: str, at: int, rule: str = "air-stale") -> Alert:
    """A per-sensor staleness alert firing at `at`."""
    kind, district = sensor.split("-", maxsplit=1)[0], sensor.split("-")[1]
    return Alert(v=1, alert_id=fingerprint(rule, sensor), rule=rule, sensor=sensor, kind=kind,
                 district=district, state="firing", severity="low", ts=at,
                 since=at - 3 * MINUTE, message="silent")


def test_each_incident_type_has_the_desk_of_its_kind_the_network_the_carriers() -> None:
    assert department_of("air", "pollution-episode") is AIR
    assert department_of("manhole", "manhole-flooding") is FLOOD_CONTROL  # an exception
    assert department_of("manhole", "cover-displaced") is MUNICIPAL
    assert department_of("air", "backhaul-outage") is COMMUNICATIONS  # any kind's sensors
    assert department_of("noise", "backhaul-outage") is COMMUNICATIONS
    assert department_of("air", "offline") is None  # a device fault
    assert department_of("no-such-kind", "pollution-episode") is None


def test_only_a_district_rule_sends_a_network_incident_to_the_communications_desk() -> None:
    routing = Routing(BACKHAUL_RULES)
    assert routing.desks("air-district-stale") == (COMMUNICATIONS,)
    assert routing.desks("air-stale") == (AIR,)  # its carrier-outage; not the network's
    assert routing.desks("noise-stale") == ()  # one device's silence: no incident
    assert routing.department(COMMUNICATIONS.code) is COMMUNICATIONS
    shipped = Routing(load_rules())
    assert shipped.desks("air-district-stale") == (COMMUNICATIONS,)
    assert all(COMMUNICATIONS not in shipped.desks(rule) for rule in shipped.rules
               if rule != "air-district-stale")


def test_a_district_outage_opens_one_incident_that_its_later_alerts_join() -> None:
    network = backhaul_desk()
    first = district_alert(T0)
    feed(network, [first, resolved(first, T0 + 20 * MINUTE), district_alert(T0 + 30 * MINUTE)])
    (incident,) = network.open
    assert (incident.district, incident.category, incident.street) == (
        "huangpu", COMMUNICATIONS.code, "")  # district-wide: no street
    assert incident.department == str(COMMUNICATIONS)
    assert incident.cause.startswith("air-district-stale on district-huangpu")
    assert incident.alerts_total == 2
    feed(network, [district_alert(T0, "pudong")])  # another district's centre: its own
    assert [one.district for one in network.open] == ["huangpu", "pudong"]
