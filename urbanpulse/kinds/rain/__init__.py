"""Rain gauges: tipping buckets logging 5-minute rain and rolling accumulations."""

from urbanpulse.kinds.departments import FLOOD_CONTROL
from urbanpulse.kinds.spec import Metric, Ranking, SensorKind, metrics

SPEC = SensorKind(
    name="rain",
    title="Rain gauges",
    description="Tipping-bucket rain gauges: 5-minute rain, rolling totals and rain rate",
    interval_s=300,
    fiware_type="WeatherObserved",
    department=FLOOD_CONTROL,
    ranked=(Ranking("rain_3h"),),
    metrics=metrics(
        Metric("rain_5min", "mm", 0, 50, "Rain in the last 5 minutes (0.1 mm bucket)"),
        Metric("rain_1h", "mm", 0, 300, "Rain in the last hour (last 12 five-minute values)"),
        Metric("rain_3h", "mm", 0, 600, "Rain in the last 3 hours"),
        Metric("rain_6h", "mm", 0, 800, "Rain in the last 6 hours"),
        Metric("rain_12h", "mm", 0, 1_000, "Rain in the last 12 hours"),
        Metric("rain_24h", "mm", 0, 1_500, "Rain in the last 24 hours"),
        Metric("intensity_mm_h", "mm/h", 0, 600, "Current rain rate: the 5-minute rain × 12"),
        Metric("battery_v", "V", 0, 15, "Logger battery voltage (12 V, solar charged)"),
    ),
    attributes={"site_use": "Land use of the site the gauge stands at"},
    faults=frozenset({"offline", "dropout", "stuck", "clock-skew", "duplicate",
                      "out-of-order", "malformed"}),
    incidents={
        "cloudburst": "a convective cell over the district's gauges: 60-120 mm/h for 45 min",
        "typhoon-rain": "a typhoon's rain bands: 25-60 mm/h, a band every 3 h, for its length",
    },
)
