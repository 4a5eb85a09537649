"""docs/incidents.md names every kind's department, and every exception of an incident type."""

from __future__ import annotations

import re
from pathlib import Path

from urbanpulse.kinds import KINDS
from urbanpulse.kinds.departments import CITY_OPERATIONS

DOC = (Path(__file__).resolve().parent.parent / "docs" / "incidents.md").read_text()
ROW = re.compile(r"^\| `([a-z0-9-]+)` \|([^|]+)\|([^|]*)\|([^|]*)\|$", re.MULTILINE)
"""A row of the departments table: code, department, kinds, incident types of other kinds."""


def test_the_departments_table_is_the_registry() -> None:
    rows = {code: (name.strip(), kinds.strip(), others.strip())
            for code, name, kinds, others in ROW.findall(DOC)}
    for name, spec in KINDS.items():
        department = spec.department
        assert department is not CITY_OPERATIONS, f"kind {name} names no department"
        assert department.code in rows, f"{department.code} is not in docs/incidents.md"
        title, kinds, _ = rows[department.code]
        assert title == f"{department.name} — {department.name_zh}"
        assert name in [kind.strip() for kind in kinds.split(",")], (name, kinds)
        for incident, other in spec.incident_departments.items():
            assert f"{name}: `{incident}`" in rows[other.code][2], (name, incident)
