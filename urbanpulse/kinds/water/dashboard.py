"""The water-quality dashboard and the water panel of the city overview, by GB 3838 class.

Class labels are GB 3838 I–V and 劣V (`CLASS_LABELS`) and the item bands its
limits; GB 3838 names classes, not colours, so `WATER_COLOURS` is ours.
"""

from __future__ import annotations

from urbanpulse.kinds.panels import (
    HEADLINE,
    Grid,
    Json,
    KindDashboard,
    Overview,
    by_district,
    by_sensor,
    colour_cells,
    grafana_unit,
    now,
    stat,
    state_timeline,
    table,
    target,
    thresholds,
    timeseries,
    top,
    value_mappings,
)
from urbanpulse.kinds.water import SPEC
from urbanpulse.now import TOP_N
from urbanpulse.standards.water import CLASS_LABELS, DO_MINIMUM, MAXIMUM, TP_MAXIMUM

WATER_COLOURS = {1: "#0066FF", 2: "#33CCFF", 3: "#00B050", 4: "#FFD700", 5: "#FF8C00",
                 6: "#E60000"}
"""Blue (I) through red (劣V): GB 3838 names classes, not colours, so this scale is ours."""


def water_class_mappings() -> list[Json]:
    """Return mappings from `water_class` (1–6) to GB 3838 class labels and colours."""
    return value_mappings({number: (f"Class {label}" if number < 6 else label,
                                    WATER_COLOURS[number])
                           for number, label in CLASS_LABELS.items()})


def water_class_steps() -> Json:
    """Return thresholds that colour `water_class` as its class."""
    return thresholds(WATER_COLOURS[1], *((number, WATER_COLOURS[number])
                                          for number in sorted(CLASS_LABELS) if number > 1))


def _worse_above(limits: tuple[float, ...]) -> Json:
    """Thresholds for an item limited from above: class I below the first limit."""
    return thresholds(WATER_COLOURS[1], *((limit, WATER_COLOURS[number + 2])
                                          for number, limit in enumerate(limits)))


def _item(title: str, field: str, grid: Grid, steps: Json) -> Json:
    return timeseries(title, f"Mean {field} per station; the bands are the GB 3838 "
                      "class limits.", grid, [by_sensor(field, SPEC.name)],
                      unit=grafana_unit(SPEC.metrics[field]), minimum=0, steps=steps,
                      threshold_style="area", interval="10m")


def dashboard() -> KindDashboard:
    """Return the water-quality dashboard."""
    do_steps = thresholds(WATER_COLOURS[6], *((limit, WATER_COLOURS[5 - number])
                                              for number, limit in enumerate(DO_MINIMUM[::-1])))
    return KindDashboard("GB 3838 class and basic items of the stations.", [
        stat("Worst class now", "Worst of the stations' last GB 3838 class (single-factor, "
             "on the items measured).", (0, 0, 6, 5),
             [target(f'SELECT max("water_class_max") FROM ({now(SPEC)})')],
             mappings=water_class_mappings(), steps=water_class_steps()),
        stat("Worst class now by district", "Worst station's last class in each district.",
             (6, 0, 18, 5), [target(f'SELECT max("water_class_max") FROM ({now(SPEC)}) '
                                    'GROUP BY "district"', alias="$tag_district")],
             mappings=water_class_mappings(), steps=water_class_steps()),
        state_timeline("GB 3838 class by district", "Worst class of the district's stations "
                       "per interval: I … V, 劣V.", (0, 5, 12, 8),
                       [by_district("water_class", SPEC.name, "max")],
                       mappings=water_class_mappings(), steps=water_class_steps(),
                       interval="10m"),
        state_timeline("GB 3838 class by station", "Worst class per interval: I … V, 劣V.",
                       (12, 5, 12, 8), [by_sensor("water_class", SPEC.name, "max")],
                       mappings=water_class_mappings(), steps=water_class_steps(),
                       interval="10m"),
        _item("Dissolved oxygen", "dissolved_oxygen", (0, 13, 12, 8), do_steps),
        _item("Ammonia nitrogen (NH3-N)", "nh3_n", (12, 13, 12, 8),
              _worse_above(MAXIMUM["nh3_n"])),
        _item("Permanganate index (CODMn)", "codmn", (0, 21, 12, 8),
              _worse_above(MAXIMUM["codmn"])),
        _item("Total phosphorus (river)", "tp", (12, 21, 12, 8),
              _worse_above(TP_MAXIMUM["river"])),
        timeseries("Turbidity", "Mean turbidity per station (NTU); a rise that holds raises "
                   "turbidity-surge.", (0, 29, 12, 8), [by_sensor("turbidity", SPEC.name)],
                   unit=grafana_unit(SPEC.metrics["turbidity"]), minimum=0, interval="10m"),
        table("Worst stations now", f"The {TOP_N} stations of the worst last class, with "
              "their last reading.", (12, 29, 12, 8), [top(SPEC, {
                  "class": "water_class", "ph": "ph", "do": "dissolved_oxygen",
                  "codmn": "codmn", "nh3_n": "nh3_n", "tp": "tp",
                  "temperature": "temperature"})],
              overrides=[colour_cells("class", mappings=water_class_mappings(),
                                      steps=water_class_steps())], sort_by="class"),
    ])


def overview() -> Overview:
    """Return the worst water class now, for the city overview."""
    return Overview(headlines=(stat(
        "Worst water class now", "Worst of the water stations' last GB 3838 class.", HEADLINE,
        [target(f'SELECT max("water_class_max") FROM ({now(SPEC)})')],
        mappings=water_class_mappings(), steps=water_class_steps()),))
