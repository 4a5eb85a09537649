"""The city's shared drivers, as the kinds' models see them: calendar, weather, pollution."""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.profile import Climate
from simulator.weather import Weather
from simulator.workdays import Calendar, load_calendar


@dataclass(frozen=True, slots=True)
class Drivers:
    """What every model feels alike (`urbanpulse.kinds.modelling.Drivers`), for one city."""

    calendar: Calendar = field(default_factory=lambda: load_calendar("china"))
    weather: Weather = field(default_factory=lambda: Weather(0, Climate()))
    pollution: float = 1.0
    climate: Climate = field(default_factory=Climate)
