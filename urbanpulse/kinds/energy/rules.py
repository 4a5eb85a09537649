"""The energy rule types: power against a learnt baseline, and night baseload (`checks.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from urbanpulse.kinds.rule import BaseRule


class EnergyBaselineRule(BaseRule):
    """Fires when a building draws `factor` × its usual power for the local hour of the day.

    Its usual power is the median of the building's mean power at that local hour
    on its last `history_days` days of the same kind (weekdays, or Saturdays and
    Sundays), once it has `min_days` of them; until then the hour is not judged.
    The baseline of domain facts §4.4 ("the same weekday-hour over the last
    weeks"), with a median so that one holiday, or one day of the fault itself,
    among them does not move it.
    """

    type: Literal["energy_baseline"]
    kind: Literal["energy"] = "energy"
    factor: float = Field(1.3, gt=1)
    history_days: int = Field(5, ge=1)
    min_days: int = Field(2, ge=1)


class NightBaseloadRule(BaseRule):
    """Fires when night power (local 00:00–05:00) stays above `share` of the day's load.

    The day's load is the median of the building's mean power from 09:00 to 17:00
    on its last `history_days` weekdays, once it has `min_days` of them (domain
    facts §4.4: an office's night baseload is 30–40 % of it); with one day, the
    latest weekday's. A weekday counts when readings came in at least `min_hours`
    of its eight hours. Once on (pending included), it stays on until the night
    load falls to `clear` of the day's (default `share`), so a night hovering at
    the share does not restart its `for` at every reading. `building_types` names
    the buildings it judges (None: all); a hospital or a hotel works through the
    night.
    """

    type: Literal["night_baseload"]
    kind: Literal["energy"] = "energy"
    share: float = Field(0.5, gt=0, lt=1)
    history_days: int = Field(1, ge=1)
    min_days: int = Field(1, ge=1)
    min_hours: int = Field(1, ge=1, le=8)
    clear: float | None = Field(None, gt=0, lt=1)
    building_types: tuple[str, ...] | None = None

    def watches(self, attributes: Mapping[str, object]) -> bool:
        """Whether the rule judges a building whose birth carries `attributes`."""
        return self.building_types is None or attributes.get("building_type") in \
            self.building_types
