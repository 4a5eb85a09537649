"""The building-energy dashboard and the energy panel of the city overview.

Meters report every 15 minutes: mean active power over the interval and
cumulative registers, whose rises (`non_negative_difference`, so a meter reset
or rollover counts nothing) are the energy used.
"""

from __future__ import annotations

from urbanpulse.kinds.energy import SPEC
from urbanpulse.kinds.panels import (
    CHART,
    EVERY,
    WHERE,
    Grid,
    Json,
    KindDashboard,
    Overview,
    by_sensor,
    carried_sum,
    grafana_unit,
    stat,
    table,
    target,
    timeseries,
)

SUB_ITEMS = {"lighting_socket_kwh": "Lighting and sockets", "hvac_kwh": "HVAC",
             "power_kwh": "Power", "special_kwh": "Special"}
"""The public-building sub-metering registers and their names on the panels."""
POWER = grafana_unit(SPEC.metrics["total_active_power"])
ENERGY = grafana_unit(SPEC.metrics["total_active_energy_import"],
                      *(SPEC.metrics[field] for field in SUB_ITEMS))


def _power_by_district(description: str, grid: Grid) -> Json:
    return timeseries("Building power by district", description, grid, [target(
        carried_sum("total_active_power", "energy"), alias="$tag_district")], unit=POWER,
        minimum=0, interval="15m")


def dashboard() -> KindDashboard:
    """Return the building-energy dashboard."""
    inner = ", ".join(f'non_negative_difference(last("{field}")) AS "{field}"'
                      for field in SUB_ITEMS)
    outer = ", ".join(f'sum("{field}") AS "{name}"' for field, name in SUB_ITEMS.items())
    return KindDashboard("Power and sub-metered energy of buildings.", [
        stat("Power now", "Sum of each building's last mean active power.", (0, 0, 8, 5),
             [target(f'SELECT sum("power") FROM (SELECT last("total_active_power") AS "power" '
                     f'FROM "energy" {WHERE} GROUP BY "sensor")')], unit=POWER),
        stat("Energy in the time range", "Sum over buildings of the rises of the import "
             "register (a meter reset or rollover counts nothing).", (8, 0, 8, 5),
             [target('SELECT sum("used") FROM (SELECT non_negative_difference('
                     f'"total_active_energy_import") AS "used" FROM "energy" {WHERE} '
                     'GROUP BY "sensor")')], unit=ENERGY),
        stat("Buildings reporting", "Meters with a reading in the time range.", (16, 0, 8, 5),
             [target('SELECT count("power") FROM (SELECT last("total_active_power") AS "power" '
                     f'FROM "energy" {WHERE} GROUP BY "sensor")')]),
        _power_by_district("Sum over the district's buildings of each meter's last power, "
                           "carried forward; meters report every 15 minutes.", (0, 5, 12, 9)),
        timeseries("Power by building", "Mean active power of each meter.", (12, 5, 12, 9),
                   [by_sensor("total_active_power", "energy")], unit=POWER, minimum=0,
                   interval="15m"),
        timeseries("Energy by sub-item", "kWh per interval by public-building sub-item, "
                   "summed over the buildings.", (0, 14, 24, 9), [target(
                       f'SELECT {outer} FROM (SELECT {inner} FROM "energy" {WHERE} '
                       f'{EVERY}, "sensor") WHERE $timeFilter {EVERY} fill(none)',
                       alias="$col")], unit=ENERGY, bars=True, minimum=0, interval="1h"),
        table("Buildings now", "Each meter's last reading.", (0, 23, 24, 8), [target(
            'SELECT last("total_active_power") AS "power_kw", '
            'last("total_active_energy_import") AS "import_kwh", last("hvac_kwh") AS '
            f'"hvac_kwh" FROM "energy" {WHERE} GROUP BY "sensor", "district"', table=True)],
              sort_by="power_kw"),
    ])


def overview() -> Overview:
    """Return the building power by district, for the city overview."""
    return Overview(charts=(_power_by_district(
        "Sum of each meter's last power, carried forward; meters report every 15 minutes.",
        CHART),))
