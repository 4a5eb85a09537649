"""Colours, mappings and variables that come from the project rather than from Grafana.

AQI colours are HJ 633 Table 2 (`urbanpulse.standards.air.AQI_CATEGORIES`), water
classes GB 3838 I–V and 劣V (`urbanpulse.standards.water.CLASS_LABELS`), noise
limits GB 3096 (`urbanpulse.standards.noise.LIMITS`), cities the shipped
simulator profiles. GB 3838 defines no colours: the water scale below is ours.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from grafana.builder.panels import (
    Json,
    annotation,
    custom_variable,
    district_filter,
    query_variable,
    sensor_filter,
    thresholds,
    value_mappings,
)
from simulator.profile import load_profile
from urbanpulse.standards.air import AQI_CATEGORIES
from urbanpulse.standards.noise import DAY_START_HOUR, LIMITS, NIGHT_START_HOUR
from urbanpulse.standards.water import CLASS_LABELS

WATER_COLOURS = {1: "#0066FF", 2: "#33CCFF", 3: "#00B050", 4: "#FFD700", 5: "#FF8C00",
                 6: "#E60000"}
"""Blue (I) through red (劣V): GB 3838 names classes, not colours, so this scale is ours."""


def aqi_steps() -> Json:
    """Return thresholds that colour an AQI by its HJ 633 category."""
    first, *rest = AQI_CATEGORIES
    return thresholds(first.colour, *((category.low, category.colour) for category in rest))


def aqi_level_mappings() -> list[Json]:
    """Return mappings from `aqi_level` (1–6) to the HJ 633 category name and colour."""
    return value_mappings({category.level: (f"{category.name_en} {category.name_zh}",
                                            category.colour) for category in AQI_CATEGORIES})


def aqi_level_steps() -> Json:
    """Return thresholds that colour `aqi_level` as its category."""
    first, *rest = AQI_CATEGORIES
    return thresholds(first.colour, *((category.level, category.colour) for category in rest))


def water_class_mappings() -> list[Json]:
    """Return mappings from `water_class` (1–6) to GB 3838 class labels and colours."""
    return value_mappings({number: (f"Class {label}" if number < 6 else label,
                                    WATER_COLOURS[number])
                           for number, label in CLASS_LABELS.items()})


def water_class_steps() -> Json:
    """Return thresholds that colour `water_class` as its class."""
    return thresholds(WATER_COLOURS[1], *((number, WATER_COLOURS[number])
                                          for number in sorted(CLASS_LABELS) if number > 1))


def noise_limits_markdown() -> str:
    """Return the GB 3096 limits table as markdown."""
    rows = "\n".join(f"| {zone} | {day:g} | {night:g} |" for zone, (day, night) in LIMITS.items())
    return (f"GB 3096-2008 LAeq limits in dB(A) by acoustic zone: day "
            f"{DAY_START_HOUR:02d}:00–{NIGHT_START_HOUR:02d}:00, night "
            f"{NIGHT_START_HOUR:02d}:00–{DAY_START_HOUR:02d}:00 (Shanghai time). Each reading "
            "is compared with the limit of its monitor's zone and hour (`noise_limit_db`).\n\n"
            f"| zone | day | night |\n|---|---|---|\n{rows}\n")


def city_choices() -> dict[str, str]:
    """Return each shipped city profile's name and a regex of its districts."""
    folder = Path(str(resources.files("simulator") / "cities"))
    choices = {}
    for path in sorted(folder.glob("*.yaml")):
        profile = load_profile(str(path))
        choices[profile.name] = "|".join(district.name for district in profile.districts)
    return choices


def city_variable() -> Json:
    """Return the city variable: InfluxDB has no city tag, so a city is its districts."""
    return custom_variable("city", "City", city_choices())


def district_variable() -> Json:
    """Return the district variable: the districts of the chosen city that have sensors."""
    return query_variable("district", "District",
                          'SHOW TAG VALUES FROM "sensors" WITH KEY = "district" '
                          'WHERE "district" =~ /^(${city:raw})$/')


def sensor_variable(measurement: str, condition: str = "") -> Json:
    """Return the sensor variable over the sensors of `measurement` in the chosen districts."""
    extra = f" AND {condition}" if condition else ""
    return query_variable("sensor", "Sensor",
                          f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "sensor" '
                          f"WHERE {district_filter()}{extra}")


def place_variables(measurement: str, condition: str = "") -> list[Json]:
    """Return the city, district and sensor variables."""
    return [city_variable(), district_variable(), sensor_variable(measurement, condition)]


def alert_annotation(kind: str | None = None) -> Json:
    """Return the annotation of alert state changes (of one kind) in the chosen places."""
    of_kind = f""""kind" = '{kind}' AND """ if kind else ""
    return annotation(
        "Alerts",
        'SELECT "message", "rule", "state", "severity", "sensor" FROM "alerts" '
        f"WHERE $timeFilter AND {of_kind}{sensor_filter()}",
        colour="red", text_column="message", tags_column="rule,state,severity,sensor")
