"""The noise dashboard and the noise panel of the city overview, against GB 3096 limits.

Each reading carries the limit of its monitor's zone at its local hour
(`noise_limit_db`, derived by ingest), so panels compare LAeq with that; and
LAeq over that limit and as sound energy, so district panels read the district
rollups, not every monitor's.
"""

from __future__ import annotations

from urbanpulse.kinds.noise import SPEC
from urbanpulse.kinds.panels import (
    CHART,
    KindDashboard,
    Overview,
    by_district,
    by_sensor,
    grafana_unit,
    now,
    now_span,
    per_district,
    reporting,
    stat,
    table,
    target,
    text,
    thresholds,
    timeseries,
    top,
)
from urbanpulse.now import TOP_N
from urbanpulse.standards.noise import DAY_START_HOUR, LIMITS, NIGHT_START_HOUR

ENERGY = SPEC.derived["laeq_energy"].name
"""LAeq as sound energy, derived by ingest: its mean is the energy average."""
LEVEL = grafana_unit(SPEC.metrics["laeq"], SPEC.derived["noise_limit_db"])
"""LAeq, its limit and their difference share one unit."""


def limits_markdown() -> str:
    """Return the GB 3096 limits table as markdown."""
    rows = "\n".join(f"| {zone} | {day:g} | {night:g} |" for zone, (day, night) in LIMITS.items())
    return (f"GB 3096-2008 LAeq limits in dB(A) by acoustic zone: day "
            f"{DAY_START_HOUR:02d}:00–{NIGHT_START_HOUR:02d}:00, night "
            f"{NIGHT_START_HOUR:02d}:00–{DAY_START_HOUR:02d}:00 (Shanghai time). Each reading "
            "is compared with the limit of its monitor's zone and hour (`noise_limit_db`).\n\n"
            f"| zone | day | night |\n|---|---|---|\n{rows}\n")


def dashboard() -> KindDashboard:
    """Return the noise dashboard."""
    levels = grafana_unit(*(SPEC.metrics[field] for field in ("la10", "la90", "lamax")))
    return KindDashboard("LAeq of the monitors against their GB 3096 zone limits.", [
        stat("Over their limit now", "Monitors whose last LAeq exceeds the GB 3096 limit of "
             "their zone and hour.", (0, 0, 8, 5),
             [target(f'SELECT sum("noise_exceeds_limit_nonzero") FROM ({now(SPEC)})')],
             steps=thresholds("green", (1, "red"))),
        stat("Loudest now", "Highest of the monitors' last LAeq.", (8, 0, 8, 5),
             [target(f'SELECT max("laeq_max") FROM ({now(SPEC)})')], unit=LEVEL, decimals=1,
             steps=thresholds("blue")),
        stat("Monitors reporting", f"Monitors with a reading in the last {now_span(SPEC)}.",
             (16, 0, 8, 5), [target(reporting(SPEC))]),
        timeseries("LAeq and GB 3096 limit by monitor", "Mean LAeq (solid) and the limit "
                   "that applies to it (dashed).", (0, 5, 16, 9),
                   [by_sensor("laeq", SPEC.name),
                    {**by_sensor("noise_limit_db", SPEC.name, "max"), "refId": "B",
                     "alias": "limit $tag_sensor"}],
                   unit=LEVEL, decimals=1, overrides=[{
                       "matcher": {"id": "byRegexp", "options": "^limit "},
                       "properties": [{"id": "custom.lineStyle",
                                       "value": {"fill": "dash", "dash": [10, 10]}}]}]),
        text("GB 3096 limits", (16, 5, 8, 9), limits_markdown()),
        timeseries("LAeq over the limit by district", "Highest LAeq minus the limit of its "
                   "monitor's zone and hour, by district; above 0 exceeds GB 3096.",
                   (0, 14, 12, 8), [by_district("noise_over_limit_db", SPEC.name, "max", "1h")],
                   unit=LEVEL, decimals=1, steps=thresholds("transparent", (0, "red")),
                   threshold_style="area", interval="1h"),
        timeseries("Statistical levels by district", "Mean LA10 and LA90, highest LAmax.",
                   (12, 14, 12, 8), [target(per_district(
                       'mean("la10_mean") AS "LA10", mean("la90_mean") AS "LA90", '
                       'max("lamax_max") AS "LAmax"', SPEC.name), alias="$col $tag_district")],
                   unit=levels, decimals=1),
        table("Loudest monitors now", f"The {TOP_N} monitors with the highest last LAeq, "
              "with their limit.", (0, 22, 24, 8), [top(SPEC, {
                  "laeq": "laeq", "limit": "noise_limit_db", "exceeds": "noise_exceeds_limit",
                  "la10": "la10", "la90": "la90"})], sort_by="laeq"),
    ])


def overview() -> Overview:
    """Return the energy-averaged LAeq by district, for the city overview."""
    return Overview(charts=(timeseries(
        "Noise LAeq by district", "Energy average of the district's LAeq readings: "
        "10·log10(mean(10^(LAeq/10))).", CHART, [target(per_district(
            f'10 * log10(mean("{ENERGY}_mean"))', SPEC.name, "1h"), alias="$tag_district")],
        unit=LEVEL, decimals=1, interval="1h"),))
