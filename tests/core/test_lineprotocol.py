"""Line protocol: exact encodings, refusals, and round-trips through a real InfluxDB."""

from __future__ import annotations

import itertools
import re

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ops import stack
from tests.conftest import influx_rows
from urbanpulse.errors import LineProtocolError
from urbanpulse.lineprotocol import encode_point, format_field

ALPHABET = st.sampled_from(list("abcXYZ019 ,=\"'\\_-.:;/°éü中文µ³\t"))
UNWRITABLE = re.compile(r"\\(?:[ ,=\"\\]|\Z)")  # refused by the encoder, tested below
text = st.text(ALPHABET, min_size=1, max_size=12).filter(
    lambda s: not UNWRITABLE.search(s) and s.strip() == s and s not in ("time", "case", "f"))


def test_encode_point_escapes_every_special_character() -> None:
    line = encode_point("a b,c", {"t k": "v,=w", "e": ""}, {"f=1": 'say "hi" \\o/', "n": 3,
                                                              "x": 1.5, "ok": True}, 42)
    assert line == ('a\\ b\\,c,t\\ k=v\\,\\=w f\\=1="say \\"hi\\" \\\\o/",n=3i,x=1.5,ok=true 42')


@pytest.mark.parametrize(("measurement", "tags", "fields"), [
    ("m", {"t": "ends\\"}, {"f": 1.0}),
    ("m", {"t": "a\\,b"}, {"f": 1.0}),
    ("m", {}, {"a\\ b": 1.0}),
    ("m\\ n", {}, {"f": 1.0}),
    ("m", {"t": "line\nbreak"}, {"f": 1.0}),
    ("", {}, {"f": 1.0}),
    ("m", {}, {}),
    ("m", {}, {"f": float("nan")}),
    ("m", {}, {"f": float("inf")}),
    ("m", {"time": "x"}, {"f": 1.0}),
    ("m", {}, {"time": 1.0}),
])
def test_encode_point_refuses_what_line_protocol_cannot_carry(
        measurement: str, tags: dict[str, str], fields: dict[str, float]) -> None:
    with pytest.raises(LineProtocolError):
        encode_point(measurement, tags, fields, 1)


def test_format_field_types() -> None:
    assert [format_field(v) for v in (True, False, 7, -2, 0.1, 1e20, "a")] == [
        "true", "false", "7i", "-2i", "0.1", "1e+20", '"a"']


def _ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


_case = itertools.count()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(measurement=text, tag_key=text, tag_value=text, field_key=text, value=text)
def test_round_trip_through_influxdb(influxd: stack.Server, influx_db: str, measurement: str,
                                     tag_key: str, tag_value: str, field_key: str,
                                     value: str) -> None:
    if tag_key == field_key:
        field_key += "2"
    case = str(next(_case))
    measurement += case  # a key is a tag or a field per measurement: keep examples apart
    line = encode_point(measurement, {"case": case, tag_key: tag_value},
                        {field_key: value, "f": 1.5}, 1_000 + int(case))
    response = httpx.post(f"{influxd.url}/write", params={"db": influx_db, "precision": "ms"},
                          content=line.encode())
    assert response.status_code == 204, (line, response.text)
    rows = influx_rows(influxd.url, influx_db,
                       f"SELECT * FROM {_ident(measurement)} WHERE \"case\" = '{case}'")
    assert len(rows) == 1, line
    assert rows[0][tag_key] == tag_value
    assert rows[0][field_key] == value
    assert rows[0]["f"] == 1.5
