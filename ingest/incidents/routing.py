"""Which department answers for an alert rule's alerts, derived from what the rule detects.

A rule whose `detects` names incident types of its kind (`SPEC.incidents`)
detects incidents: its alerts go to the department of each such type
(`SensorKind.department_of`), in the order `detects` names them. A rule that
detects only device faults (stale, stuck, a battery's decay), or says nothing,
opens no incident: its alerts are the device operator's maintenance work, not
the operations centre's (docs/incidents.md, "Device health").
"""

from __future__ import annotations

from collections.abc import Sequence

from ingest.alerts.rules import Rule
from urbanpulse.kinds import KINDS
from urbanpulse.kinds.departments import Department


class Routing:
    """The departments each incident rule's alerts may go to; none for the others."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._desks: dict[str, tuple[Department, ...]] = {}
        self._by_code: dict[str, Department] = {}
        for rule in rules:
            spec = KINDS[rule.kind]
            found: dict[str, Department] = {}
            for detected in rule.detects or ():
                if detected in spec.incidents:
                    department = spec.department_of(detected)
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
