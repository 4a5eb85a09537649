"""The building-energy dashboard and the energy panel of the city overview.

Meters report every 15 minutes: mean active power over the interval and
cumulative registers, whose rises (a meter reset or rollover counts nothing) are
the energy used. The ingester sums each district's rises as they come, into the
"now" snapshot's running totals (`X_rise`, ingest/now.py): what the registers
rose by in an interval is the difference of two snapshots, a few points per
district whatever the number of meters.
"""

from __future__ import annotations

from urbanpulse.kinds.energy import SPEC
from urbanpulse.kinds.panels import (
    CHART,
    EVERY,
    Grid,
    Json,
    KindDashboard,
    Overview,
    by_sensor,
    district_filter,
    grafana_unit,
    now,
    now_span,
    per_district,
    reporting,
    stat,
    table,
    target,
    timeseries,
    top,
)
from urbanpulse.now import TOP_N, now_measurement

SUB_ITEMS = {"lighting_socket_kwh": "Lighting and sockets", "hvac_kwh": "HVAC",
             "power_kwh": "Power", "special_kwh": "Special"}
"""The public-building sub-metering registers and their names on the panels."""
POWER = grafana_unit(SPEC.metrics["total_active_power"])
ENERGY = grafana_unit(SPEC.metrics["total_active_energy_import"],
                      *(SPEC.metrics[field] for field in SUB_ITEMS))


def _power_by_district(description: str, grid: Grid) -> Json:
    return timeseries("Building power by district", description, grid, [target(per_district(
        'mean("total_active_power_mean") * mean("sensors")', SPEC.name, "1h"),
        alias="$tag_district")], unit=POWER, minimum=0, interval="1h")


def dashboard() -> KindDashboard:
    """Return the building-energy dashboard."""
    # What the district's registers rose by per interval: the difference of the
    # snapshot's running totals of rises (ingest/now.py), summed over the districts.
    snapshots = f'FROM "{now_measurement(SPEC.name)}" WHERE $timeFilter AND {district_filter()}'
    inner = ", ".join(f'non_negative_difference(last("{field}_rise")) AS "{field}"'
                      for field in SUB_ITEMS)
    outer = ", ".join(f'sum("{field}") AS "{name}"' for field, name in SUB_ITEMS.items())
    return KindDashboard("Power and sub-metered energy of buildings.", [
        stat("Power now", "Sum of each building's last mean active power.", (0, 0, 8, 5),
             [target(f'SELECT sum("total_active_power_sum") FROM ({now(SPEC)})')],
             unit=POWER),
        stat("Energy in the time range", "Sum over the chosen districts' buildings of the "
             "rises of the import register in the range (a meter reset or rollover counts "
             "nothing).", (8, 0, 8, 5),
             [target('SELECT sum("used") FROM (SELECT spread('
                     f'"total_active_energy_import_rise") AS "used" {snapshots} '
                     'GROUP BY "district")')], unit=ENERGY),
        stat("Buildings reporting", f"Meters with a reading in the last {now_span(SPEC)}.",
             (16, 0, 8, 5), [target(reporting(SPEC))]),
        _power_by_district("Sum of the district's meters' mean power per hour: the mean "
                           "over the meters' readings times the meters reporting.",
                           (0, 5, 12, 9)),
        timeseries("Power by building", "Mean active power of each meter.", (12, 5, 12, 9),
                   [by_sensor("total_active_power", SPEC.name)], unit=POWER, minimum=0,
                   interval="15m"),
        timeseries("Energy by sub-item", "kWh per interval by public-building sub-item, "
                   "summed over the chosen districts' buildings.", (0, 14, 24, 9), [target(
                       f'SELECT {outer} FROM (SELECT {inner} {snapshots} {EVERY}, '
                       f'"district") WHERE $timeFilter {EVERY} fill(none)', alias="$col")],
                   unit=ENERGY, bars=True, minimum=0, interval="1h"),
        table("Highest power now", f"The {TOP_N} meters with the highest last power.",
              (0, 23, 24, 8), [top(SPEC, {"power_kw": "total_active_power",
                                          "import_kwh": "total_active_energy_import",
                                          "hvac_kwh": "hvac_kwh"})], sort_by="power_kw"),
    ])


def overview() -> Overview:
    """Return the building power by district, for the city overview."""
    return Overview(charts=(_power_by_district(
        "Sum of the district's meters' mean power per hour.", CHART),))
