"""One dashboard per registered kind, from the kind's own `dashboard` module.

A kind's `urbanpulse/kinds/<kind>/dashboard.py` defines `dashboard()`, its
panels (a `KindDashboard`), and `overview()`, its panels on the city overview
(an `Overview`). This module adds the frame: the uid `urbanpulse-<kind>`, the
kind's title, the city, district and sensor variables over the kind's
measurement, and the kind's alert state changes as annotations. A kind without
a dashboard module gets no dashboard.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from types import ModuleType
from typing import TypeVar

from grafana.builder.frame import alert_annotation, dashboard
from grafana.builder.variables import place_variables
from urbanpulse.kinds import KINDS, SensorKind, part
from urbanpulse.kinds.panels import Json, KindDashboard, Overview, SystemPart

Made = TypeVar("Made", KindDashboard, Overview, SystemPart)


def dashboard_modules() -> dict[str, ModuleType]:
    """Return the `dashboard` module of every registered kind that has one, by kind name."""
    return {name: module for name, kind in KINDS.items()
            if (module := part(kind, "dashboard")) is not None}


def call(module: ModuleType, function: str, wanted: type[Made]) -> Made:
    """Return what `module.function()` makes, refusing anything but a `wanted`."""
    made = getattr(module, function, None)
    result = made() if callable(made) else None
    if not isinstance(result, wanted):
        raise TypeError(f"{module.__name__}.{function}() must exist and return a "
                        f"urbanpulse.kinds.panels.{wanted.__name__}, not {result!r}.")
    return result


def kind_dashboard(kind: SensorKind, module: ModuleType) -> Json:
    """Return the dashboard of `kind` from its dashboard module."""
    board = call(module, "dashboard", KindDashboard)
    return dashboard(f"urbanpulse-{kind.name}", kind.title, board.description, board.panels,
                     place_variables(kind.name), [alert_annotation(kind.name)])


def kind_overview(module: ModuleType) -> Overview:
    """Return a kind's panels on the city overview from its dashboard module."""
    return call(module, "overview", Overview)


def kind_dashboards() -> dict[str, Callable[[], Json]]:
    """Return each kind's dashboard builder, by the kind's name (the file's name)."""
    return {name: partial(kind_dashboard, KINDS[name], module)
            for name, module in dashboard_modules().items()}
