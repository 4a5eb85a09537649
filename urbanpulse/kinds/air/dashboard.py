"""The air-quality dashboard and the air panels of the city overview, in HJ 633 colours.

AQI colours and category names are HJ 633 Table 2 (`AQI_CATEGORIES`).
Latest-value panels take each station's last reading inside the time range, so
a station silent for the whole range is not "now".
"""

from __future__ import annotations

from urbanpulse.kinds.air import SPEC
from urbanpulse.kinds.panels import (
    CHART,
    EVERY,
    HEADLINE,
    WHERE,
    Json,
    KindDashboard,
    Overview,
    by_sensor,
    colour_cells,
    grafana_unit,
    stat,
    state_timeline,
    table,
    target,
    thresholds,
    timeseries,
    value_mappings,
)
from urbanpulse.standards.air import AQI_CATEGORIES


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


def dashboard() -> KindDashboard:
    """Return the air-quality dashboard."""
    metrics = SPEC.metrics
    particulates = grafana_unit(metrics["pm25"], metrics["pm10"])
    gases = grafana_unit(metrics["no2"], metrics["so2"], metrics["o3"])
    last_aqi = f'SELECT last("aqi") AS "aqi" FROM "air" {WHERE} GROUP BY "sensor", "district"'
    return KindDashboard("HJ 633 AQI and pollutants of the air stations.", [
        stat("AQI now, worst station", "Highest of the stations' last AQI (HJ 633, real-time "
             "indicator), coloured by category.", (0, 0, 6, 5),
             [target(f'SELECT max("aqi") FROM ({last_aqi})')], steps=aqi_steps()),
        stat("AQI now by district", "Worst station's last AQI in each district.",
             (6, 0, 18, 5), [target(f'SELECT max("aqi") FROM ({last_aqi}) GROUP BY "district"',
                                    alias="$tag_district")], steps=aqi_steps()),
        timeseries("AQI by station", "Highest AQI per interval; the bands are the HJ 633 "
                   "categories.", (0, 5, 12, 9), [by_sensor("aqi", "air", "max")], minimum=0,
                   steps=aqi_steps(), threshold_style="area"),
        state_timeline("HJ 633 category by station", "Worst category per interval "
                       "(优 Excellent … 严重污染 Severely polluted).", (12, 5, 12, 9),
                       [by_sensor("aqi_level", "air", "max")], mappings=aqi_level_mappings(),
                       steps=aqi_level_steps()),
        timeseries("Particulates by district", "Mean PM2.5 and PM10.", (0, 14, 12, 8), [target(
            'SELECT mean("pm25") AS "PM2.5", mean("pm10") AS "PM10" FROM "air" '
            f'{WHERE} {EVERY}, "district" fill(none)', alias="$col $tag_district")],
                   unit=particulates, minimum=0),
        timeseries("Gases by district", "Mean NO2, SO2 and O3 (CO is in mg/m³, in the table).",
                   (12, 14, 12, 8), [target(
                       'SELECT mean("no2") AS "NO2", mean("so2") AS "SO2", mean("o3") AS "O3" '
                       f'FROM "air" {WHERE} {EVERY}, "district" fill(none)',
                       alias="$col $tag_district")], unit=gases, minimum=0),
        table("Stations now", "Each station's last reading: AQI, category, primary "
              "pollutant(s) and concentrations (µg/m³; CO mg/m³).", (0, 22, 24, 8), [target(
                  'SELECT last("aqi") AS "aqi", last("aqi_level") AS "category", '
                  'last("primary_pollutant") AS "primary", last("pm25") AS "pm25", '
                  'last("pm10") AS "pm10", last("no2") AS "no2", last("so2") AS "so2", '
                  'last("o3") AS "o3", last("co") AS "co" '
                  f'FROM "air" {WHERE} GROUP BY "sensor", "district"', table=True)],
              overrides=[colour_cells("aqi", steps=aqi_steps()),
                         colour_cells("category", mappings=aqi_level_mappings(),
                                      steps=aqi_level_steps())], sort_by="aqi"),
    ])


def overview() -> Overview:
    """Return the worst AQI now and PM2.5 by district, for the city overview."""
    return Overview(
        headlines=(stat("Worst AQI now", "Highest of the air stations' last AQI (HJ 633).",
                        HEADLINE, [target('SELECT max("aqi") FROM (SELECT last("aqi") AS "aqi" '
                                          f'FROM "air" {WHERE} GROUP BY "sensor")')],
                        steps=aqi_steps()),),
        charts=(timeseries("PM2.5 by district", "Mean PM2.5 of the district's air stations.",
                           CHART, [target(f'SELECT mean("pm25") FROM "air" {WHERE} {EVERY}, '
                                          '"district" fill(none)', alias="$tag_district")],
                           unit=grafana_unit(SPEC.metrics["pm25"]), minimum=0),))
