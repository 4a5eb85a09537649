"""The air rule type: the HJ 633 AQI category (checked in `checks.py`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from urbanpulse.kinds.rule import BaseRule, Duration

Pollutant = Literal["so2", "no2", "pm10", "co", "o3", "pm25"]
"""The HJ 633 pollutants the air stations report."""


class AqiRule(BaseRule):
    """Fires when the HJ 633 AQI category reaches `min_level` (1 excellent … 6 severe).

    It clears only when the category has dropped a whole step below the
    triggering one (`clear_level`, default `min_level` − 2), so a reading
    hovering on a category boundary does not flap.

    `pollutant` judges that pollutant's sub-index (IAQI) alone: PM2.5 at level 4
    is a 1-h PM2.5 above 115 µg/m³. `mean_over` judges the mean concentrations
    of that span before each reading, as HJ 633's real-time report judges the
    1-h means (the PM ones against the 24-h breakpoints), rather than one
    reading; a mean is judged only once the sensor's readings span three
    quarters of it (GB 3095-2012: an hourly mean needs 45 minutes of sampling).
    Without it, each reading's own AQI (the `aqi_level` derived field).
    """

    type: Literal["aqi"]
    kind: Literal["air"] = "air"
    min_level: int = Field(ge=2, le=6)
    clear_level: int | None = Field(None, ge=1, le=5)
    pollutant: Pollutant | None = None
    mean_over: Duration | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _clear_below(self) -> AqiRule:
        if self.clear_level is not None and self.clear_level >= self.min_level:
            raise ValueError("'clear_level' must be below 'min_level'")
        return self

