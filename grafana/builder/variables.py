"""The template variables: the city, its districts and their sensors, plus the generic two.

A city is a shipped simulator profile (`simulator/cities/*.yaml`), read here as
data for its name and district names only, so building the dashboards needs
neither the simulator's code nor its dependencies.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from urbanpulse.kinds.panels import CHOSEN, DATASOURCE, Json, district_filter

CITIES = Path(__file__).resolve().parents[2] / "simulator" / "cities"
"""The shipped city profiles, in the checkout the builder runs from."""


def query_variable(name: str, label: str, query: str, *, multi: bool = True) -> Json:
    """Return a query variable over SHOW TAG VALUES, with All matching every value."""
    return {"name": name, "label": label, "type": "query", "datasource": DATASOURCE,
            "query": query, "definition": query, "refresh": 1, "sort": 1, "multi": multi,
            "includeAll": True, "allValue": ".*", "regex": "", "hide": 0,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": []}


def custom_variable(name: str, label: str, choices: dict[str, str]) -> Json:
    """Return a single-value custom variable of `text : value` choices plus All."""
    query = ",".join(f"{name} : {value}" for name, value in choices.items())
    options = [{"text": "All", "value": "$__all", "selected": True}]
    options += [{"text": name, "value": value, "selected": False}
                for name, value in choices.items()]
    return {"name": name, "label": label, "type": "custom", "query": query, "multi": False,
            "includeAll": True, "allValue": ".*", "hide": 0, "options": options,
            "current": {"selected": True, "text": "All", "value": "$__all"}}


def city_choices(folder: Path = CITIES) -> dict[str, str]:
    """Return each shipped city profile's name and a regex of its districts."""
    choices = {}
    for path in sorted(folder.glob("*.yaml")):
        profile = yaml.safe_load(path.read_text(encoding="utf-8"))
        choices[str(profile["name"])] = "|".join(str(district["name"])
                                                 for district in profile["districts"])
    return choices


def city_variable() -> Json:
    """Return the city variable: InfluxDB has no city tag, so a city is its districts."""
    return custom_variable("city", "City", city_choices())


def district_variable() -> Json:
    """Return the district variable: the districts of the chosen city that have sensors.

    It reads the ingesters' census (`sensors_announced`: a series per district and
    kind), not the births (`sensors`: a series per sensor), whose tag values cost
    InfluxDB a walk over every sensor's series (at 22,150 sensors 20 ms against 8).
    """
    return query_variable("district", "District",
                          'SHOW TAG VALUES FROM "sensors_announced" WITH KEY = "district" '
                          'WHERE "district" =~ /^(${city:raw})$/')


def sensor_variable(measurement: str, condition: str = "") -> Json:
    """Return the sensor variable over the sensors of `measurement` in the chosen districts.

    It lists none while the district is at All: a city of thousands of sensors is
    no list to choose from, and a sensor chosen implies its district is (`CHOSEN`).
    """
    extra = f" AND {condition}" if condition else ""
    return query_variable("sensor", "Sensor",
                          f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "sensor" '
                          f"WHERE {district_filter()} AND {CHOSEN}{extra}")


def place_variables(measurement: str, condition: str = "") -> list[Json]:
    """Return the city, district and sensor variables."""
    return [city_variable(), district_variable(), sensor_variable(measurement, condition)]
