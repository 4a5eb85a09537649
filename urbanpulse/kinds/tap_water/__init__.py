"""Tap water: residual free chlorine and turbidity at points of the supply network."""

from urbanpulse.kinds.departments import WATER_SUPPLY
from urbanpulse.kinds.spec import Metric, Ranking, SensorKind, metrics

SPEC = SensorKind(
    name="tap-water",
    title="Tap-water quality",
    description="Online residual-chlorine and turbidity analysers in the supply network "
                "(GB 5749-2022)",
    interval_s=300,
    fiware_type="WaterQualityObserved",
    department=WATER_SUPPLY,
    ranked=(Ranking("chlorine_mgl", lowest=True),),
    metrics=metrics(
        Metric("chlorine_mgl", "mg/L", 0, 5, "Residual free chlorine",
               instrument="chlorine-analyser"),
        Metric("turbidity_ntu", "NTU", 0, 100, "Turbidity", instrument="turbidimeter"),
    ),
    attributes={"site_use": "Land use of the site the analyser stands in"},
    faults=frozenset({"stuck", "drift", "bias", "spike", "dropout", "offline", "clock-skew",
                      "duplicate", "malformed"}),
    incidents={
        "chlorine-loss": "the residual chlorine decays (time constant 1.5 h over the "
                         "magnitude) below the 0.05 mg/L of GB 5749",
        "turbidity-event": "sediment stirred up after a burst: turbidity jumps 2.5 NTU "
                           "(times the magnitude) within 10 min and settles over 6 h",
    },
)
