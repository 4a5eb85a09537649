"""A kind the api tests register: underpass water depth gauges, with a section and a view."""

from urbanpulse.kinds.spec import Metric, SensorKind, metrics

SPEC = SensorKind(
    name="underpass",
    title="Underpass flooding",
    description="Water depth gauges in road underpasses",
    interval_s=60,
    fiware_type="WaterObserved",
    metrics=metrics(Metric("depth_cm", "cm", 0, 500, "Water depth over the road")),
    attributes={"closes_at_cm": "Depth at which the underpass is closed"},
)
