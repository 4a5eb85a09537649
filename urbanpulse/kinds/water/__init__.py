"""Water quality: surface-water stations measuring the GB 3838 basic items."""

from urbanpulse.kinds.departments import RIVERS
from urbanpulse.kinds.spec import DerivedField, Metric, Ranking, SensorKind, derived, metrics

SPEC = SensorKind(
    name="water",
    title="Water quality",
    description="Surface-water quality stations (GB 3838 basic items)",
    interval_s=600,
    fiware_type="WaterQualityObserved",
    department=RIVERS,
    ranked=(Ranking("water_class"),),
    metrics=metrics(
        Metric("temperature", "°C", -5, 45, "Water temperature", instrument="conductivity-cell"),
        Metric("ph", "pH", 0, 14, "pH", instrument="ph-electrode"),
        Metric("dissolved_oxygen", "mg/L", 0, 25, "Dissolved oxygen (DO)", instrument="do-probe"),
        Metric("conductivity", "µS/cm", 0, 100_000, "Electrical conductivity",
               instrument="conductivity-cell"),
        Metric("turbidity", "NTU", 0, 4_000, "Turbidity", instrument="turbidity-probe"),
        Metric("nh3_n", "mg/L", 0, 100, "Ammonia nitrogen (NH3-N)", instrument="ammonia-analyser"),
        Metric("codmn", "mg/L", 0, 100, "Permanganate index (CODMn)", instrument="codmn-analyser"),
        Metric("tp", "mg/L", 0, 50, "Total phosphorus", instrument="tp-analyser"),
        Metric("nh3_n_check", "mg/L", 0, 100, "NH3-N read on the daily 1.0 mg/L standard",
               instrument="ammonia-analyser"),
        Metric("codmn_check", "mg/L", 0, 100, "CODMn read on the daily 6.0 mg/L standard",
               instrument="codmn-analyser"),
        Metric("tp_check", "mg/L", 0, 50, "TP read on the daily 0.2 mg/L standard",
               instrument="tp-analyser"),
    ),
    derived=derived(
        DerivedField("water_class", "integer", "class",
                     "GB 3838 class, 1..5 (I..V), 6 for worse than V"),
    ),
    attributes={
        "class_target": "The GB 3838 class the site must meet, 1..5",
        "station": "national (automatic station) or micro",
        "site_use": "Land use of the site the station stands in",
    },
    mixes=("water_class",),
    faults=frozenset({"stuck", "drift", "bias", "spike", "dropout", "offline", "clock-skew",
                      "duplicate", "malformed"}),
    incidents={"sewage-discharge": "NH3-N, CODMn, TP, conductivity and turbidity up, DO down"},
)
