"""A malformed profile or scenario is a sentence with its file and line, not a Python error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulator.profile import load_profile
from simulator.scenarios import load_scenario
from urbanpulse.errors import ConfigError

YANCHENG = (Path(__file__).parents[2] / "simulator/cities/yancheng.yaml").read_text()


def line_of(text: str) -> int:
    """Return the 1-based line of the first line of YANCHENG that starts with `text`."""
    return next(number for number, line in enumerate(YANCHENG.splitlines(), 1)
                if line.startswith(text))


TINGHU, YANDU = line_of("  - name: tinghu"), line_of("  - name: yandu")
CBD_PARKING = line_of("    parking_use: {office: 0.55")
YANDU_COUNTS = line_of("    counts: {parking: 12, ")


def test_a_file_that_is_no_profile_says_what_it_holds() -> None:
    with pytest.raises(ConfigError, match=r"^/etc/passwd, line 1: the city profile must be a "
                                          r"mapping of the fields name, .*, not the text 'root:"):
        load_profile("/etc/passwd")


@pytest.mark.parametrize(("text", "message"), [
    ("", r"line 1: the city profile must be a mapping .*, not nothing"),
    ("- name: x\n", r"line 1: the city profile must be a mapping .*, not a list of 1"),
    ("42\n", r"line 1: the city profile must be a mapping .*, not the number 42"),
])
def test_a_profile_that_is_no_mapping_is_refused(tmp_path: Path, text: str,
                                                 message: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_profile(str(path))


@pytest.mark.parametrize(("edit", "message"), [
    (("name: yancheng", "name: [yancheng]"),
     r"line 6: the city profile name must be a name or text, not a list of 1"),
    (("name: yancheng", "name: 42"), r"line 6: the city profile name must be a name or text, "
                                     r"not the number 42"),
    (("pollution: 0.85", "pollution: high"), r"line 12: the city profile pollution must be a "
                                             r"number, not the text 'high'"),
    (("  rain_days: 105", "  rain_dayz: 105"), r"line 11: unknown field 'rain_dayz' in the city "
                                               r"profile climate; it may give mean_c, "),
    (("    bay_share: 0.4", "    - 0.4"), r"line 14: the city profile options.parking must be "
                                           r"a mapping of option to number or nothing, not a "
                                           r"list of 1"),
    (("    parking_use: {office: 0.55, retail: 0.3, hotel: 0.15}", "    parking_use: 0.5"),
     rf"line {CBD_PARKING}: the city profile land_uses.cbd.parking_use must be a mapping of "
     r"value to weight"
     r", not the number 0.5"),
    (("counts: {parking: 12, ", "counts: {parking: twelve, "),
     rf"line {YANDU_COUNTS}: the city profile districts\[1\].counts.parking must be a whole "
     r"number, not the "
     r"text 'twelve'"),
    (("    lat: [33.25, 33.60]", "    lat: 33.25"),
     rf"line {TINGHU + 1}: the city profile districts\[0\].lat must be a \[low, high\] pair, "
     r"not the "
     r"number 33.25"),
    (("    lat: [33.25, 33.60]", "    lat: [33.25, 33.4, 33.60]"),
     rf"line {TINGHU + 1}: the city profile districts\[0\].lat must be a \[low, high\] pair, "
     r"not a list "
     r"of 3"),
    (("land_uses:", "land_uses: []\nold_land_uses:"), r"line \d+: the city profile land_uses must "
                                                      r"be a mapping of land use to mixes, not a "
                                                      r"list of 0"),
    (("sites:", "sitez:"), r"line \d+: unknown field 'sitez' in the city profile districts\[0\]"),
    (("      - {name: city-centre, ", "      - {nome: city-centre, "),
     r"line \d+: unknown field 'nome' in the city profile districts\[0\].sites\[0\]"),
    # A value of the right shape but wrong: the sentence names the line of its district.
    (("    lat: [33.25, 33.60]", "    lat: [33.60, 33.25]"),
     rf"line {TINGHU}: tinghu.lat must be \[low, high\] with low < high, not \[33.6, 33.25\]\.$"),
    (("{name: city-centre, lat: 33.385", "{name: city-centre, lat: 35.0"),
     rf"line {TINGHU}: site city-centre lies outside district tinghu\.$"),
])
def test_a_malformed_profile_names_file_line_and_shape(tmp_path: Path, edit: tuple[str, str],
                                                       message: str) -> None:
    assert edit[0] in YANCHENG
    path = tmp_path / "bad.yaml"
    path.write_text(YANCHENG.replace(*edit, 1))
    with pytest.raises(ConfigError, match=rf"^{path}, {message}"):
        load_profile(str(path))


def test_a_district_without_counts_names_the_missing_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    counts = re.search(r"(?m)^    counts: \{parking: 12, [^}]*\}\n", YANCHENG)
    assert counts is not None
    path.write_text(YANCHENG.replace(counts.group(), "", 1))
    with pytest.raises(ConfigError, match=rf"bad.yaml, line {YANDU}: the city profile "
                                          r"districts\[1\] misses the field 'counts'\.$"):
        load_profile(str(path))


@pytest.mark.parametrize(("text", "message"), [
    ("- a\n", r"line 1: the scenario must be a mapping of the fields name, incidents, not a "
              r"list of 1"),
    ("name: x\n", r"line 1: the scenario misses the field 'incidents'"),
    ("incidents:\n  - 5\n", r"line 2: the scenario incidents\[0\] must be an incident's fields, "
                           r"not the number 5"),
    ("incidents: {type: venue-event}\n", r"line 1: the scenario incidents must be a list, not a "
                                         r"mapping"),
    ("incidents:\n  - {type: [venue-event], at: 1h, duration: 2h}\n",
     r"line 2: the scenario incidents\[0\].type must be a name or text, not a list of 1"),
    ("incidents:\n  - {type: venue-event, at: 1h}\n",
     r"line 2: the scenario incidents\[0\] misses the field 'duration'"),
    ("incidents:\n  - {type: venue-event, at: 1h, duration: 2h, count: many}\n",
     r"line 2: the scenario incidents\[0\].count must be a whole number, not the text 'many'"),
    ("incidents:\n  - {type: venue-event, at: 1h, duration: 2h, sensors: air-1}\n",
     r"line 2: the scenario incidents\[0\].sensors must be a list, not the text 'air-1'"),
    ("incidents:\n  - {type: venue-event, at: 1h, duration: 2h, distrct: pudong}\n",
     r"line 2: unknown field 'distrct' in the scenario incidents\[0\]; it may give type, "),
])
def test_a_malformed_scenario_names_file_line_and_shape(tmp_path: Path, text: str,
                                                        message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"^{path}, {message}"):
        load_scenario(str(path))


def test_etc_passwd_is_no_scenario() -> None:
    with pytest.raises(ConfigError, match=r"^/etc/passwd, line 1: the scenario must be a "
                                          r"mapping"):
        load_scenario("/etc/passwd")


def test_a_bad_value_in_an_incident_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("incidents:\n  - {type: venue-event, at: 1h, duration: 2h}\n"
                    "  - {type: venue-event, at: 1h, duration: soon}\n")
    with pytest.raises(ConfigError, match=rf"^{path}, line 3: 'soon' is not a duration"):
        load_scenario(str(path))
