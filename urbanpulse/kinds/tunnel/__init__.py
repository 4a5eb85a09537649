"""Utility tunnels (综合管廊): the environment of each tunnel compartment."""

from urbanpulse.kinds.departments import GAS, MUNICIPAL
from urbanpulse.kinds.spec import Metric, Ranking, SensorKind, metrics

SPEC = SensorKind(
    name="tunnel",
    title="Utility tunnels",
    description="Environment monitors of utility-tunnel compartments (综合管廊)",
    interval_s=60,
    fiware_type="IndoorEnvironmentObserved",
    department=MUNICIPAL, incident_departments={"tunnel-gas": GAS},
    ranked=(Ranking("ch4_lel"),),
    metrics=metrics(
        Metric("temperature", "°C", -20, 80, "Air temperature in the compartment",
               instrument="thermometer"),
        Metric("o2_pct", "%", 0, 30, "Oxygen, % by volume", instrument="o2-cell"),
        Metric("ch4_lel", "% LEL", 0, 100, "Methane, % of its lower explosive limit",
               instrument="ch4-cell"),
        Metric("h2s_mgm3", "mg/m³", 0, 200, "Hydrogen sulphide", instrument="h2s-cell"),
        Metric("sump_water_cm", "cm", 0, 300, "Water in the compartment's sump pit",
               instrument="sump-gauge"),
    ),
    attributes={
        "compartment": "What the compartment carries: gas, power, water or combined",
        "site_use": "Land use of the site above the monitor",
    },
    faults=frozenset({"stuck", "drift", "bias", "spike", "dropout", "offline", "clock-skew",
                      "duplicate", "out-of-order", "malformed"}),
    incidents={
        "tunnel-gas": "a gas pipe in the compartment leaks: CH4 ramps up to 30 % LEL",
        "tunnel-flooding": "a water main bursts or the sump pump fails: the sump fills",
        "ventilation-failure": "the fans stop: temperature up 12 °C, O2 down 1.5 %, H2S up",
    },
)
