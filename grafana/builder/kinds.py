"""One dashboard per sensor kind: parking, air, water, energy, noise.

Each reads its kind's measurement (tags `sensor`, `district`; fields the catalog
metrics plus what ingest derives), has the city, district and sensor variables,
and marks the kind's alert state changes from `alerts` as annotations.
Latest-value panels take each sensor's last reading inside the time range, so a
sensor silent for the whole range is not "now".
"""

from __future__ import annotations

from grafana.builder.panels import (
    Json,
    colour_cells,
    dashboard,
    sensor_filter,
    stat,
    state_timeline,
    table,
    target,
    text,
    thresholds,
    timeseries,
)
from grafana.builder.standards import (
    WATER_COLOURS,
    alert_annotation,
    aqi_level_mappings,
    aqi_level_steps,
    aqi_steps,
    noise_limits_markdown,
    place_variables,
    water_class_mappings,
    water_class_steps,
)
from urbanpulse.standards.water import DO_MINIMUM, MAXIMUM, TP_MAXIMUM

WHERE = f"WHERE $timeFilter AND {sensor_filter()}"
EVERY = "GROUP BY time($__interval)"


def _by_sensor(field: str, measurement: str, function: str = "mean") -> Json:
    return target(f'SELECT {function}("{field}") FROM "{measurement}" {WHERE} '
                  f'{EVERY}, "sensor" fill(none)', alias="$tag_sensor")


def _kind(kind: str, title: str, description: str, panels: list[Json]) -> Json:
    return dashboard(f"urbanpulse-{kind}", title, description, panels, place_variables(kind),
                     [alert_annotation(kind)])


def parking() -> Json:
    """Return the parking dashboard."""
    last_lots = ('SELECT last("available_spot_number") AS "free", last("total_spot_number") '
                 f'AS "spaces" FROM "parking" {WHERE} GROUP BY "sensor"')
    return _kind("parking", "Parking", "Off-street lots (counts) and on-street bay sensors "
                 "(occupancy, device health).", [
        stat("Occupancy now", "1 − Σ free / Σ spaces over each lot's last reading.",
             (0, 0, 8, 5), [target(f'SELECT 1 - sum("free") / sum("spaces") FROM ({last_lots})')],
             unit="percentunit", decimals=1,
             steps=thresholds("green", (0.85, "orange"), (0.95, "red"))),
        stat("Free spaces now", "Sum of each lot's last count of free spaces.", (8, 0, 8, 5),
             [target(f'SELECT sum("free") FROM ({last_lots})')]),
        stat("Lots reporting", "Lots with at least one reading in the time range.",
             (16, 0, 8, 5), [target(f'SELECT count("spaces") FROM ({last_lots})')]),
        timeseries("Occupancy by district", "1 − Σ free / Σ spaces per interval, so big lots "
                   "weigh more.", (0, 5, 12, 9), [target(
                       'SELECT 1 - sum("available_spot_number") / sum("total_spot_number") '
                       f'FROM "parking" {WHERE} {EVERY}, "district" fill(none)',
                       alias="$tag_district")], unit="percentunit", minimum=0),
        timeseries("Occupancy by lot", "Mean occupancy of each lot; the line is the "
                   "lot-nearly-full rule's 0.95.", (12, 5, 12, 9),
                   [_by_sensor("occupancy", "parking")], unit="percentunit", minimum=0,
                   steps=thresholds("transparent", (0.95, "red")), threshold_style="line"),
        table("Lots now", "Each lot's last reading in the time range.", (0, 14, 24, 8), [target(
            'SELECT last("total_spot_number") AS "spaces", last("available_spot_number") AS '
            f'"free", last("occupancy") AS "occupancy" FROM "parking" {WHERE} '
            'AND "total_spot_number" >= 0 GROUP BY "sensor", "district"', table=True)],
              overrides=[colour_cells("occupancy", steps=thresholds(
                  "green", (0.85, "orange"), (0.95, "red")))], sort_by="occupancy"),
        timeseries("Occupied bays by district", "On-street bay sensors report on change: "
                   "each bay's last state per interval, carried forward, summed.",
                   (0, 22, 12, 8), [target(
                       'SELECT sum("occupied") FROM (SELECT last("occupied") AS "occupied" '
                       f'FROM "parking" {WHERE} {EVERY}, "sensor", "district" fill(previous)) '
                       f'WHERE $timeFilter {EVERY}, "district" fill(none)',
                       alias="$tag_district")], minimum=0, decimals=0),
        table("Bay sensors now", "Each bay's last state and its last reported device health "
              "(startup and daily heartbeat messages).", (12, 22, 12, 8), [target(
                  'SELECT last("occupied") AS "occupied", last("battery_mv") AS "battery_mv", '
                  'last("rsrp") AS "rsrp", last("snr") AS "snr" FROM "parking" '
                  f'{WHERE} AND "occupied" >= 0 GROUP BY "sensor", "district"', table=True)],
              overrides=[colour_cells("battery_mv", steps=thresholds(
                  "red", (3_000, "orange"), (3_300, "green")))], sort_by="battery_mv"),
    ])


def air() -> Json:
    """Return the air-quality dashboard with HJ 633 AQI colours."""
    last_aqi = f'SELECT last("aqi") AS "aqi" FROM "air" {WHERE} GROUP BY "sensor", "district"'
    return _kind("air", "Air quality", "HJ 633 AQI and pollutants of the air stations.", [
        stat("AQI now, worst station", "Highest of the stations' last AQI (HJ 633, real-time "
             "indicator), coloured by category.", (0, 0, 6, 5),
             [target(f'SELECT max("aqi") FROM ({last_aqi})')], steps=aqi_steps()),
        stat("AQI now by district", "Worst station's last AQI in each district.",
             (6, 0, 18, 5), [target(f'SELECT max("aqi") FROM ({last_aqi}) GROUP BY "district"',
                                    alias="$tag_district")], steps=aqi_steps()),
        timeseries("AQI by station", "Highest AQI per interval; the bands are the HJ 633 "
                   "categories.", (0, 5, 12, 9), [_by_sensor("aqi", "air", "max")], minimum=0,
                   steps=aqi_steps(), threshold_style="area"),
        state_timeline("HJ 633 category by station", "Worst category per interval "
                       "(优 Excellent … 严重污染 Severely polluted).", (12, 5, 12, 9),
                       [_by_sensor("aqi_level", "air", "max")], mappings=aqi_level_mappings(),
                       steps=aqi_level_steps()),
        timeseries("Particulates by district", "Mean PM2.5 and PM10.", (0, 14, 12, 8), [target(
            'SELECT mean("pm25") AS "PM2.5", mean("pm10") AS "PM10" FROM "air" '
            f'{WHERE} {EVERY}, "district" fill(none)', alias="$col $tag_district")],
                   unit="conμgm3", minimum=0),
        timeseries("Gases by district", "Mean NO2, SO2 and O3 (CO is in mg/m³, in the table).",
                   (12, 14, 12, 8), [target(
                       'SELECT mean("no2") AS "NO2", mean("so2") AS "SO2", mean("o3") AS "O3" '
                       f'FROM "air" {WHERE} {EVERY}, "district" fill(none)',
                       alias="$col $tag_district")], unit="conμgm3", minimum=0),
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


def _worse_above(limits: tuple[float, ...]) -> Json:
    """Thresholds for an item limited from above: class I below the first limit."""
    return thresholds(WATER_COLOURS[1], *((limit, WATER_COLOURS[number + 2])
                                          for number, limit in enumerate(limits)))


def water() -> Json:
    """Return the water-quality dashboard with GB 3838 classes."""
    last_class = (f'SELECT last("water_class") AS "class" FROM "water" {WHERE} '
                  'GROUP BY "sensor", "district"')
    do_steps = thresholds(WATER_COLOURS[6], *((limit, WATER_COLOURS[5 - number])
                                              for number, limit in enumerate(DO_MINIMUM[::-1])))

    def item(title: str, field: str, unit: str, grid: tuple[int, int, int, int],
             steps: Json) -> Json:
        return timeseries(title, f"Mean {field} per station; the bands are the GB 3838 "
                          "class limits.", grid, [_by_sensor(field, "water")], unit=unit,
                          minimum=0, steps=steps, threshold_style="area", interval="10m")

    return _kind("water", "Water quality", "GB 3838 class and basic items of the stations.", [
        stat("Worst class now", "Worst of the stations' last GB 3838 class (single-factor, "
             "on the items measured).", (0, 0, 6, 5),
             [target(f'SELECT max("class") FROM ({last_class})')],
             mappings=water_class_mappings(), steps=water_class_steps()),
        stat("Worst class now by district", "Worst station's last class in each district.",
             (6, 0, 18, 5), [target(f'SELECT max("class") FROM ({last_class}) '
                                    'GROUP BY "district"', alias="$tag_district")],
             mappings=water_class_mappings(), steps=water_class_steps()),
        state_timeline("GB 3838 class by station", "Worst class per interval: I … V, 劣V.",
                       (0, 5, 24, 8), [_by_sensor("water_class", "water", "max")],
                       mappings=water_class_mappings(), steps=water_class_steps(),
                       interval="10m"),
        item("Dissolved oxygen", "dissolved_oxygen", "suffix: mg/L", (0, 13, 12, 8), do_steps),
        item("Ammonia nitrogen (NH3-N)", "nh3_n", "suffix: mg/L", (12, 13, 12, 8),
             _worse_above(MAXIMUM["nh3_n"])),
        item("Permanganate index (CODMn)", "codmn", "suffix: mg/L", (0, 21, 12, 8),
             _worse_above(MAXIMUM["codmn"])),
        item("Total phosphorus (river)", "tp", "suffix: mg/L", (12, 21, 12, 8),
             _worse_above(TP_MAXIMUM["river"])),
        timeseries("Turbidity", "Mean turbidity per station (NTU); a fast rise raises "
                   "turbidity-surge.", (0, 29, 12, 8), [_by_sensor("turbidity", "water")],
                   unit="suffix: NTU", minimum=0, interval="10m"),
        table("Stations now", "Each station's last reading and class.", (12, 29, 12, 8), [target(
            'SELECT last("water_class") AS "class", last("ph") AS "ph", '
            'last("dissolved_oxygen") AS "do", last("codmn") AS "codmn", last("nh3_n") AS '
            '"nh3_n", last("tp") AS "tp", last("temperature") AS "temperature" '
            f'FROM "water" {WHERE} GROUP BY "sensor", "district"', table=True)],
              overrides=[colour_cells("class", mappings=water_class_mappings(),
                                      steps=water_class_steps())], sort_by="class"),
    ])


def energy() -> Json:
    """Return the building-energy dashboard."""
    items = {"lighting_socket_kwh": "Lighting and sockets", "hvac_kwh": "HVAC",
             "power_kwh": "Power", "special_kwh": "Special"}
    inner = ", ".join(f'non_negative_difference(last("{field}")) AS "{field}"' for field in items)
    outer = ", ".join(f'sum("{field}") AS "{name}"' for field, name in items.items())
    return _kind("energy", "Building energy", "Power and sub-metered energy of buildings.", [
        stat("Power now", "Sum of each building's last mean active power.", (0, 0, 8, 5),
             [target(f'SELECT sum("power") FROM (SELECT last("total_active_power") AS "power" '
                     f'FROM "energy" {WHERE} GROUP BY "sensor")')], unit="kwatt"),
        stat("Energy in the time range", "Sum over buildings of the rises of the import "
             "register (a meter reset or rollover counts nothing).", (8, 0, 8, 5),
             [target('SELECT sum("used") FROM (SELECT non_negative_difference('
                     f'"total_active_energy_import") AS "used" FROM "energy" {WHERE} '
                     'GROUP BY "sensor")')], unit="kwatth"),
        stat("Buildings reporting", "Meters with a reading in the time range.", (16, 0, 8, 5),
             [target('SELECT count("power") FROM (SELECT last("total_active_power") AS "power" '
                     f'FROM "energy" {WHERE} GROUP BY "sensor")')]),
        timeseries("Building power by district", "Sum over the district's buildings of each "
                   "meter's mean power; meters report every 15 minutes.", (0, 5, 12, 9), [target(
                       'SELECT sum("power") FROM (SELECT mean("total_active_power") AS "power" '
                       f'FROM "energy" {WHERE} {EVERY}, "sensor", "district" fill(previous)) '
                       f'WHERE $timeFilter {EVERY}, "district" fill(none)',
                       alias="$tag_district")], unit="kwatt", minimum=0, interval="15m"),
        timeseries("Power by building", "Mean active power of each meter.", (12, 5, 12, 9),
                   [_by_sensor("total_active_power", "energy")], unit="kwatt", minimum=0,
                   interval="15m"),
        timeseries("Energy by sub-item", "kWh per interval by public-building sub-item, "
                   "summed over the buildings.", (0, 14, 24, 9), [target(
                       f'SELECT {outer} FROM (SELECT {inner} FROM "energy" {WHERE} '
                       f'{EVERY}, "sensor") WHERE $timeFilter {EVERY} fill(none)',
                       alias="$col")], unit="kwatth", bars=True, minimum=0, interval="1h"),
        table("Buildings now", "Each meter's last reading.", (0, 23, 24, 8), [target(
            'SELECT last("total_active_power") AS "power_kw", '
            'last("total_active_energy_import") AS "import_kwh", last("hvac_kwh") AS '
            f'"hvac_kwh" FROM "energy" {WHERE} GROUP BY "sensor", "district"', table=True)],
              sort_by="power_kw"),
    ])


def noise() -> Json:
    """Return the noise dashboard with the GB 3096 limits."""
    over = ('SELECT last("laeq") - last("noise_limit_db") AS "over" FROM "noise" '
            f'{WHERE} GROUP BY "sensor"')
    return _kind("noise", "Noise", "LAeq of the monitors against their GB 3096 zone limits.", [
        stat("Most over its limit now", "Largest last LAeq minus the monitor's GB 3096 limit "
             "for its zone and hour; above 0 exceeds.", (0, 0, 8, 5),
             [target(f'SELECT max("over") FROM ({over})')], unit="dB", decimals=1,
             steps=thresholds("green", (0, "red"))),
        stat("Loudest now", "Highest of the monitors' last LAeq.", (8, 0, 8, 5),
             [target('SELECT max("laeq") FROM (SELECT last("laeq") AS "laeq" FROM "noise" '
                     f'{WHERE} GROUP BY "sensor")')], unit="dB", decimals=1,
             steps=thresholds("blue")),
        stat("Monitors reporting", "Monitors with a reading in the time range.", (16, 0, 8, 5),
             [target(f'SELECT count("over") FROM ({over})')]),
        timeseries("LAeq and GB 3096 limit by monitor", "Mean LAeq (solid) and the limit "
                   "that applies to it (dashed).", (0, 5, 16, 9),
                   [_by_sensor("laeq", "noise"),
                    target(f'SELECT max("noise_limit_db") FROM "noise" {WHERE} {EVERY}, '
                           '"sensor" fill(none)', ref="B", alias="limit $tag_sensor")],
                   unit="dB", decimals=1, overrides=[{
                       "matcher": {"id": "byRegexp", "options": "^limit "},
                       "properties": [{"id": "custom.lineStyle",
                                       "value": {"fill": "dash", "dash": [10, 10]}}]}]),
        text("GB 3096 limits", (16, 5, 8, 9), noise_limits_markdown()),
        timeseries("LAeq over the limit", "Highest LAeq minus limit per interval; above 0 "
                   "exceeds GB 3096.", (0, 14, 12, 8), [target(
                       'SELECT max("over") FROM (SELECT "laeq" - "noise_limit_db" AS "over" '
                       f'FROM "noise" {WHERE}) WHERE $timeFilter {EVERY}, "sensor" fill(none)',
                       alias="$tag_sensor")], unit="dB", decimals=1,
                   steps=thresholds("transparent", (0, "red")), threshold_style="area"),
        timeseries("Statistical levels by district", "Mean LA10 and LA90, highest LAmax.",
                   (12, 14, 12, 8), [target(
                       'SELECT mean("la10") AS "LA10", mean("la90") AS "LA90", '
                       f'max("lamax") AS "LAmax" FROM "noise" {WHERE} {EVERY}, "district" '
                       'fill(none)', alias="$col $tag_district")], unit="dB", decimals=1),
        table("Monitors now", "Each monitor's last reading and limit.", (0, 22, 24, 8), [target(
            'SELECT last("laeq") AS "laeq", last("noise_limit_db") AS "limit", '
            'last("noise_exceeds_limit") AS "exceeds", last("la10") AS "la10", '
            f'last("la90") AS "la90" FROM "noise" {WHERE} GROUP BY "sensor", "district"',
            table=True)], sort_by="laeq"),
    ])


KIND_DASHBOARDS = {"parking": parking, "air": air, "water": water, "energy": energy,
                   "noise": noise}
"""Each sensor kind's dashboard builder, by the kind's catalog name."""
