"""National-standard calculators: pure functions, no I/O, no clock.

    air.py     HJ 633-2012 air quality index (IAQI, AQI, category, primary pollutant)
    water.py   GB 3838-2002 surface-water class (single-factor, basic items we measure)
    noise.py   GB 3096-2008 environmental noise limits (zones 0-4b, day/night, UTC+8 hour)

Every input the standards leave undefined raises ValueError with a full
sentence; `docs/standards.md` gives the tables, their sources and each decision.
"""

from urbanpulse.standards.air import (
    AQI_CATEGORIES,
    POLLUTANTS,
    AqiCategory,
    AqiResult,
    Averaging,
    aqi,
    aqi_category,
    aqi_from_iaqis,
    iaqi,
)
from urbanpulse.standards.noise import ZONES, exceeds, is_night, local_hour, noise_limit
from urbanpulse.standards.water import (
    PARAMETERS,
    WORSE_THAN_V,
    WaterBody,
    WaterClassResult,
    parameter_class,
    water_class,
    worse_than_target,
)

__all__ = [
    "AQI_CATEGORIES",
    "PARAMETERS",
    "POLLUTANTS",
    "WORSE_THAN_V",
    "ZONES",
    "AqiCategory",
    "AqiResult",
    "Averaging",
    "WaterBody",
    "WaterClassResult",
    "aqi",
    "aqi_category",
    "aqi_from_iaqis",
    "exceeds",
    "iaqi",
    "is_night",
    "local_hour",
    "noise_limit",
    "parameter_class",
    "water_class",
    "worse_than_target",
]
