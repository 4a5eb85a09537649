"""The city departments incidents are dispatched to (一网统管 派单), named once (pure: words only).

A kind's `SPEC` names the department that answers for its incidents
(`SensorKind.department`), and, where one of its incident types belongs to
another desk, that one's (`SensorKind.incident_departments`: the water under a
manhole cover in a storm is flood control's, a displaced cover the municipal
desk's). The ingester groups related alerts into one incident per district and
department (docs/incidents.md), so a department here is one dispatch desk of a
bureau (a division, 处室/条线), not a whole bureau: the ecology bureau's air and
noise desks get separate incidents.

`code` is a topic-level name: it is the incident's `category`, an InfluxDB tag
and a Grafana variable value. A kind of another distribution may name one of
these or bring a `Department` of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from urbanpulse.topics import check_name


@dataclass(frozen=True, slots=True)
class Department:
    """One dispatch desk of a city bureau: a code, its English name and its Chinese name."""

    code: str
    name: str
    name_zh: str

    def __post_init__(self) -> None:
        check_name(self.code, what="department code")

    def __str__(self) -> str:
        return f"{self.name} {self.name_zh}"


CITY_OPERATIONS = Department("city-operations", "City Operations Centre", "城市运行管理中心")
"""The desk of a kind that names none: the operations centre dispatches by hand."""
AIR = Department("eco-air", "Ecology and Environment Bureau, air", "生态环境局（大气）")
NOISE = Department("eco-noise", "Ecology and Environment Bureau, noise", "生态环境局（噪声）")
RIVERS = Department("water-rivers", "Water Affairs Bureau, rivers", "水务局（河道水质）")
WATER_SUPPLY = Department("water-supply", "Water Affairs Bureau, water supply", "水务局（供水）")
FLOOD_CONTROL = Department("flood-control", "Water Affairs Bureau, flood control",
                           "水务局（防汛）")
TRAFFIC = Department("traffic", "Transport Commission and Traffic Police", "交通委／交警")
BUILDING_ENERGY = Department("building-energy", "Housing and Construction Commission, "
                             "building energy", "住建委／机关事务管理局（建筑节能）")
GAS = Department("gas-safety", "City Operations Centre, gas safety", "城运中心／燃气管理")
MUNICIPAL = Department("municipal", "City Operations Centre, municipal facilities",
                       "城运中心／市政设施")
STREET_LIGHTING = Department("street-lighting", "Greening and City Appearance Bureau, "
                             "street lighting", "绿化市容局（路灯）")
COMMUNICATIONS = Department("communications", "Communications Administration, network "
                            "assurance", "通信管理局（通信保障）")
"""The desk of the network's incidents (`urbanpulse.kinds.network`: a district's uplink
failing), whatever kind's sensors fall silent: the communications administration has the
carrier restore its base station or backhaul. No kind names it: the network is no kind's."""
