"""Street lights: the lamp controller in each smart pole (综合杆), a sensing node of the street.

The controller's sensor id is the pole's id: air and noise sensors mounted on a
pole name it in their `carrier` attribute.
"""

from urbanpulse.kinds.departments import STREET_LIGHTING
from urbanpulse.kinds.spec import DerivedField, Metric, Ranking, SensorKind, derived, metrics

SPEC = SensorKind(
    name="streetlight",
    title="Street lights",
    description="Lamp controllers of smart poles: supply, lamp state, leakage, door and tilt",
    interval_s=600,
    fiware_type="Streetlight",
    department=STREET_LIGHTING,
    ranked=(Ranking("lamp_fault"),),
    metrics=metrics(
        Metric("voltage_v", "V", 0, 300, "Supply voltage at the controller (RMS)"),
        Metric("current_a", "A", 0, 20, "Lamp circuit current (RMS)"),
        Metric("power_w", "W", 0, 2000, "Active power of the lamp circuit (V·I·PF)"),
        Metric("power_factor", "ratio", 0, 1, "Power factor of the lamp circuit"),
        Metric("dimming_pct", "%", 0, 100,
               "Light output the controller sets, % of full (0 off, 50 dimmed, 100 full)"),
        Metric("lamp_on", "bool", 0, 1, "1 when the lamp is lit"),
        Metric("leakage_ma", "mA", 0, 1000, "Residual (earth-leakage) current of the circuit"),
        Metric("door_open", "bool", 0, 1, "1 when the pole's maintenance door is open"),
        Metric("tilt_deg", "°", 0, 90, "Tilt of the pole from vertical"),
    ),
    derived=derived(
        DerivedField("lamp_fault", "integer", "code",
                     "0 ok, 1 lamp out at night, 2 lamp on by day (local time against "
                     "Shanghai's sunset and sunrise by date, 45 min of twilight left out)"),
    ),
    attributes={
        "road_class": "CJJ 45 road class the pole lights: arterial, secondary or branch",
        "rated_w": "Rated power of the pole's LED lamp, W",
        "site_use": "Land use of the site the pole stands at",
    },
    faults=frozenset({"stuck", "spike", "dropout", "offline", "clock-skew", "duplicate",
                      "out-of-order", "malformed"}),
    incidents={
        "power-cut": "the pole's feeder loses power: the lamp is dark and the controller "
                     "sends nothing, nor does any sensor mounted on the pole (each gets a "
                     "carrier-outage naming the pole), until the power is back",
        "lamp-failure": "the lamp (or its driver) fails: dark when it should be lit, "
                        "the circuit draws standby current only",
        "controller-stuck-on": "the controller's relay sticks closed: the lamp burns by day",
        "cable-leakage": "the feeder cable's insulation is wet or damaged: leakage current "
                         "ramps up to 60 mA x magnitude",
        "door-forced": "the pole's maintenance door is forced open and stays open",
        "pole-knocked": "a vehicle or a gale knocks the pole: it tilts 20° x magnitude and "
                        "stays so",
    },
)
