"""Sewers: radar level and Doppler flow meters in drainage sewers."""

from urbanpulse.kinds.departments import FLOOD_CONTROL
from urbanpulse.kinds.spec import Metric, Ranking, SensorKind, Tally, metrics, tallies

SPEC = SensorKind(
    name="sewer",
    title="Sewers",
    description="Radar level and Doppler flow meters in storm, foul and combined sewers",
    interval_s=300,
    fiware_type="WaterObserved",
    department=FLOOD_CONTROL,
    ranked=(Ranking("fill_ratio"),),
    metrics=metrics(
        Metric("level_m", "m", 0, 5, "Water level above the pipe invert",
               instrument="level-gauge"),
        Metric("fill_ratio", "ratio", 0, 1.5,
               "Level over pipe diameter; above 1 the pipe is surcharged",
               instrument="level-gauge"),
        Metric("flow_m3s", "m³/s", 0, 20, "Flow through the section", instrument="doppler-meter"),
        Metric("velocity_ms", "m/s", 0, 6, "Mean flow velocity", instrument="doppler-meter"),
    ),
    tallies=tallies(Tally("surcharged_count", "fill_ratio",
                          "Readings with the pipe surcharged (fill ratio 1 or more)",
                          at_least=1.0)),
    attributes={
        "diameter_m": "Pipe diameter, m",
        "network": "storm, foul or combined",
        "lag_min": "Time constant of the catchment's response to rain, minutes",
        "site_use": "Land use of the site the meter stands at",
    },
    faults=frozenset({"stuck", "drift", "spike", "dropout", "offline", "clock-skew",
                      "duplicate", "out-of-order", "malformed"}),
    incidents={"sewer-surcharge": "a storm cell (+80 mm/h at magnitude 1) over the "
                                  "catchment: flow exceeds the pipe's capacity, the level "
                                  "rises above the crown after the catchment's lag",
               "foul-connection": "a foul drain wrongly connected into the pipe (雨污混接): "
                                  "sewage, 5-15 % of capacity at magnitude 1, flows with "
                                  "the day's water use, rain or not"},
)
