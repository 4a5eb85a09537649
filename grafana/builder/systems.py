"""One dashboard per city system, from the panels its kinds contribute.

A kind's `urbanpulse/kinds/<kind>/dashboard.py` may define `system()`, a
`SystemPart`: the system it belongs to (`urbanpulse.kinds.systems`) and its
panels there, sized. This module gathers the parts of every registered kind by
system, in registry (name) order, places each kind's panels left to right
below the previous kind's (wrapping at the grid's width), and adds the frame:
uid `urbanpulse-<system>`, the system's title, the city, district and sensor
variables over the births of its kinds, and their alert state changes as
annotations. A system no registered kind names gets no dashboard.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from grafana.builder.frame import alert_annotation, dashboard
from grafana.builder.kinds import call, dashboard_modules
from grafana.builder.overview import place
from grafana.builder.variables import place_variables
from urbanpulse.kinds.panels import Json, System, SystemPart


def system_parts() -> dict[str, SystemPart]:
    """Return the system part of every registered kind whose dashboard module has one."""
    return {name: call(module, "system", SystemPart)
            for name, module in dashboard_modules().items() if hasattr(module, "system")}


def kinds_by_system() -> dict[System, list[str]]:
    """Return each system that a registered kind names, with its kinds in registry order."""
    systems: dict[System, list[str]] = {}
    for name, part in system_parts().items():
        systems.setdefault(part.system, []).append(name)
    return systems


def system_dashboard(system: System) -> Json:
    """Return the dashboard of `system`, with the panels of its kinds."""
    parts = [part for part in system_parts().values() if part.system == system]
    kinds = [name for name, part in system_parts().items() if part.system == system]
    panels: list[Json] = []
    top = 0
    for part in parts:
        top = place(part.panels, 0, top)
        panels += part.panels
    of_kinds = f'"kind" =~ /^({"|".join(kinds)})$/'
    return dashboard(f"urbanpulse-{system.name}", system.title, system.description, panels,
                     place_variables("sensors", of_kinds), [alert_annotation(*kinds)])


def system_dashboards() -> dict[str, Callable[[], Json]]:
    """Return each system's dashboard builder, by the system's name (the file's name)."""
    names = [system.name for system in kinds_by_system()]
    if len(names) != len(set(names)):
        raise ValueError(f"Two systems share a name among {', '.join(sorted(names))}.")
    return {system.name: partial(system_dashboard, system) for system in kinds_by_system()}
