"""The air-quality dashboard and the air panels of the city overview, in HJ 633 colours.

AQI colours and category names are HJ 633 Table 2 (`AQI_CATEGORIES`).
Latest-value panels take each station's last reading inside the time range, so
a station silent for the whole range is not "now". Particulates are shown
calibrated (`pm25_cal`, `pm10_cal`: what the AQI is computed from), and beside
the raw readings where the panel is about the calibration (docs/calibration.md).
"""

from __future__ import annotations

from urbanpulse.kinds.air import SPEC
from urbanpulse.kinds.air.calibration import CALIBRATION
from urbanpulse.kinds.panels import (
    CHART,
    HEADLINE,
    Json,
    KindDashboard,
    Overview,
    by_district,
    by_sensor,
    colour_cells,
    grafana_unit,
    now,
    per_district,
    stat,
    state_timeline,
    table,
    target,
    thresholds,
    timeseries,
    top,
    value_mappings,
)
from urbanpulse.now import TOP_N
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


def calibration_by_station() -> Json:
    """Return a chart of each station's PM2.5 as read and as calibrated.

    A reference station's two lines are one; a low-cost station's calibrated line
    joins them, its raw line stays above, the more so on humid nights.
    """
    raw, calibrated = "pm25", CALIBRATION.corrected["pm25"]
    return timeseries(
        "PM2.5 by station: raw and calibrated", "Each station's PM2.5 as it reads (raw) "
        "and as calibrated against the reference stations (cal); on a reference station "
        "the two are one.", (12, 30, 12, 8),
        [{**by_sensor(raw, SPEC.name), "alias": "$tag_sensor raw"},
         {**by_sensor(calibrated, SPEC.name), "refId": "B", "alias": "$tag_sensor cal"}],
        unit=grafana_unit(SPEC.metrics[raw]), minimum=0)


def dashboard() -> KindDashboard:
    """Return the air-quality dashboard."""
    metrics, cal = SPEC.metrics, CALIBRATION.corrected
    particulates = grafana_unit(metrics["pm25"], metrics["pm10"])
    gases = grafana_unit(metrics["no2"], metrics["so2"], metrics["o3"])
    return KindDashboard("HJ 633 AQI and pollutants of the air stations.", [
        stat("AQI now, worst station", "Highest of the stations' last AQI (HJ 633, real-time "
             "indicator), coloured by category.", (0, 0, 6, 5),
             [target(f'SELECT max("aqi_max") FROM ({now(SPEC)})')], steps=aqi_steps()),
        stat("AQI now by district", "Worst station's last AQI in each district.",
             (6, 0, 18, 5), [target(f'SELECT max("aqi_max") FROM ({now(SPEC)}) GROUP BY "district"',
                                    alias="$tag_district")], steps=aqi_steps()),
        timeseries("Highest AQI by district", "Highest AQI of the district's stations per "
                   "interval; the bands are the HJ 633 categories.", (0, 5, 24, 8),
                   [by_district("aqi", SPEC.name, "max")], minimum=0, steps=aqi_steps(),
                   threshold_style="area"),
        timeseries("AQI by station", "Highest AQI per interval; the bands are the HJ 633 "
                   "categories.", (0, 13, 12, 9), [by_sensor("aqi", SPEC.name, "max")],
                   minimum=0, steps=aqi_steps(), threshold_style="area"),
        state_timeline("HJ 633 category by station", "Worst category per interval "
                       "(优 Excellent … 严重污染 Severely polluted).", (12, 13, 12, 9),
                       [by_sensor("aqi_level", SPEC.name, "max")],
                       mappings=aqi_level_mappings(), steps=aqi_level_steps()),
        timeseries("Particulates by district", "Mean calibrated PM2.5 and PM10 (what the "
                   "AQI is computed from).", (0, 22, 12, 8), [target(per_district(
                       f'mean("{cal["pm25"]}_mean") AS "PM2.5", '
                       f'mean("{cal["pm10"]}_mean") AS "PM10"', SPEC.name),
                       alias="$col $tag_district")], unit=particulates, minimum=0),
        timeseries("Gases by district", "Mean NO2, SO2 and O3 (CO is in mg/m³, in the table).",
                   (12, 22, 12, 8), [target(per_district(
                       'mean("no2_mean") AS "NO2", mean("so2_mean") AS "SO2", '
                       'mean("o3_mean") AS "O3"', SPEC.name), alias="$col $tag_district")],
                   unit=gases, minimum=0),
        timeseries("PM2.5 by district: raw and calibrated", "Mean PM2.5 of the district's "
                   "stations as they read (raw) and as calibrated against the reference "
                   "stations (cal): the gap is the low-cost stations' over-reading, widest on "
                   "humid nights.", (0, 30, 12, 8), [target(per_district(
                       f'mean("pm25_mean") AS "raw", mean("{cal["pm25"]}_mean") AS "cal"',
                       SPEC.name), alias="$tag_district $col")],
                   unit=grafana_unit(metrics["pm25"]), minimum=0),
        calibration_by_station(),
        table("Worst stations now", f"The {TOP_N} stations with the highest last AQI: "
              "category, primary pollutant(s) and concentrations (µg/m³; CO mg/m³); PM "
              "calibrated (the AQI's) and as read.",
              (0, 38, 24, 8), [top(SPEC, {
                  "aqi": "aqi", "category": "aqi_level", "primary": "primary_pollutant",
                  "pm25": cal["pm25"], "pm10": cal["pm10"], "pm25 raw": "pm25",
                  "pm10 raw": "pm10",
                  **{name: name for name in ("no2", "so2", "o3", "co")}})],
              overrides=[colour_cells("aqi", steps=aqi_steps()),
                         colour_cells("category", mappings=aqi_level_mappings(),
                                      steps=aqi_level_steps())], sort_by="aqi"),
    ])


def overview() -> Overview:
    """Return the worst AQI now and PM2.5 by district, for the city overview."""
    return Overview(
        headlines=(stat("Worst AQI now", "Highest of the air stations' last AQI (HJ 633).",
                        HEADLINE, [target(f'SELECT max("aqi_max") FROM ({now(SPEC)})')],
                        steps=aqi_steps()),),
        charts=(timeseries("PM2.5 by district", "Mean calibrated PM2.5 of the district's "
                           "air stations.", CHART,
                           [by_district(CALIBRATION.corrected["pm25"], SPEC.name)],
                           unit=grafana_unit(SPEC.metrics["pm25"]), minimum=0),))
