"""Which department answers for an alert rule's alerts, derived from what the rule detects.

A rule whose `detects` names incident types of its kind (`SPEC.incidents`)
detects incidents: its alerts go to the department of each such type
(`SensorKind.department_of`), in the order `detects` names them. A rule that
detects only device faults (stale, stuck, a battery's decay), or says nothing,
opens no incident: its alerts are the device operator's maintenance work, not
the operations centre's (docs/incidents.md, "Device health").

The network's incidents (`urbanpulse.kinds.network`: a district's backhaul
failing) are no kind's: they go to the communications desk (`COMMUNICATIONS`),
and only from a rule that judges a whole district (`district_stale`). One
station's silence cannot tell its own outage from its uplink's, so a per-sensor
staleness rule that names `backhaul-outage` (for its scoring: the silence is
real) would otherwise send every offline station to the carrier.
"""

from __future__ import annotations

from collections.abc import Sequence

from ingest.alerts.rules import DistrictStaleRule, Rule
from urbanpulse.kinds import KINDS
from urbanpulse.kinds.departments import COMMUNICATIONS, Department
from urbanpulse.kinds.network import NETWORK_INCIDENTS


def department_of(kind: str, incident: str) -> Department | None:
    """Return the desk an incident type striking sensors of `kind` goes to; None for a type
    that is no incident (a device fault) or a kind not registered."""
    if incident in NETWORK_INCIDENTS:
        return COMMUNICATIONS
    spec = KINDS.get(kind)
    if spec is None or incident not in spec.incidents:
        return None
    return spec.department_of(incident)


class Routing:
    """The departments each incident rule's alerts may go to; none for the others."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._desks: dict[str, tuple[Department, ...]] = {}
        self._by_code: dict[str, Department] = {}
        for rule in rules:
            found: dict[str, Department] = {}
            for detected in rule.detects or ():
                department = department_of(rule.kind, detected)
                if department is None or (detected in NETWORK_INCIDENTS
                                          and not isinstance(rule, DistrictStaleRule)):
                    continue
                found.setdefault(department.code, department)
            if found:
                self._desks[rule.name] = tuple(found.values())
                self._by_code.update(found)

    def desks(self, rule: str) -> tuple[Department, ...]:
        """Return the departments `rule`'s alerts may join, the first one to open at; () for
        a rule that detects no incident."""
        return self._desks.get(rule, ())

    def department(self, code: str) -> Department | None:
        """Return the department of `code` some rule routes to, or None."""
        return self._by_code.get(code)

    @property
    def rules(self) -> list[str]:
        """The rules that open incidents."""
        return list(self._desks)
