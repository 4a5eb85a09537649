"""The shared calendar: weekdays, weekends, Chinese public holidays and swapped working days.

Holidays and the weekend days worked in exchange come from a calendar file in
`simulator/calendars/` (the State Council's schedule, year by year). A day is a
*workday* when it is a weekday that is not a holiday, or a swapped working
weekend day; every other day is a rest day, and holidays are rest days that
also change behaviour (malls fill, offices empty further).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from simulator.profile import read_yaml
from urbanpulse.errors import ConfigError
from urbanpulse.kinds.modelling import CST

SEASONS = ("winter", "winter", "spring", "spring", "spring", "summer", "summer", "summer",
           "autumn", "autumn", "autumn", "winter")
"""Meteorological season of each month (Shanghai: summer June to August)."""


@dataclass(frozen=True, slots=True)
class Day:
    """What kind of day a local date is."""

    date: date
    is_workday: bool
    holiday: str
    """Name of the public holiday, or '' on any other day."""

    @property
    def is_holiday(self) -> bool:
        """Return whether the day is a public holiday."""
        return bool(self.holiday)

    @property
    def is_weekend(self) -> bool:
        """Return whether the day is a Saturday or a Sunday."""
        return self.date.weekday() >= 5

    @property
    def season(self) -> str:
        """Return winter, spring, summer or autumn."""
        return SEASONS[self.date.month - 1]


class Calendar:
    """Holidays and swapped working days of one country, by local date."""

    def __init__(self, name: str, holidays: dict[date, str], workdays: set[date],
                 years: tuple[int, ...]) -> None:
        """Build from explicit tables; see `load_calendar` for the shipped files."""
        self.name = name
        self.years = years
        self._holidays = holidays
        self._workdays = workdays

    def day(self, when: date) -> Day:
        """Return the kind of the local date `when`."""
        holiday = self._holidays.get(when, "")
        workday = when in self._workdays or (when.weekday() < 5 and not holiday)
        return Day(when, workday, holiday)

    def at(self, t: int) -> Day:
        """Return the kind of the local day holding epoch second `t`."""
        return self._day_at(t // 3600)

    @functools.lru_cache(maxsize=64)  # noqa: B019  (a few calendars per process)
    def _day_at(self, hour: int) -> Day:
        return self.day(datetime.fromtimestamp(hour * 3600, CST).date())


def load_calendar(name_or_path: str) -> Calendar:
    """Load a shipped calendar by name (`china`) or a calendar file by path."""
    source = read_yaml("calendars", name_or_path, "calendar")
    path, data = source.path, source.data
    try:
        holidays: dict[date, str] = {}
        for first, last, label in data["holidays"]:
            day = _date(first)
            while day <= _date(last):
                holidays[day] = str(label)
                day += timedelta(days=1)
        workdays = {_date(value) for value in data.get("workdays") or ()}
        years = tuple(int(year) for year in data.get("years") or ())
        return Calendar(str(data["name"]), holidays, workdays, years)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"Invalid calendar {path}: {exc}.") from exc


def _date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
