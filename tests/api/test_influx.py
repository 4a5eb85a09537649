"""The InfluxQL client: quoting through a real server, and every way a query can fail."""

from __future__ import annotations

import itertools
import uuid

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.errors import InfluxQueryError, InfluxUnavailableError
from api.influx import FakeTransport, InfluxQuery, InfluxResponse, build_client, open_influx
from api.main import create_app
from ops import stack
from tests.api.conftest import write_lines
from urbanpulse.influxql import quote_identifier, quote_literal
from urbanpulse.lineprotocol import encode_point
from urbanpulse.settings import ApiSettings, load

TEXT = st.text(st.sampled_from(list("ab Z09,=\"'\\\n_-.°é中µ³\t;")), min_size=1, max_size=16)
KEYS = st.text(st.sampled_from(list("ab Z09,=\"'_-.é中;")), min_size=1, max_size=12).filter(
    lambda s: s.strip() == s and s not in ("time", "run", "seq"))
_ts = itertools.count(1)


@pytest.mark.parametrize(("text", "literal"), [
    ("pudong", "'pudong'"),
    ("it's", r"'it\'s'"),
    ("back\\slash", r"'back\\slash'"),
    ("line\nbreak", r"'line\nbreak'"),
    ('say "hi"', "'say \"hi\"'"),
])
def test_quote_literal_escapes_quote_backslash_and_newline(text: str, literal: str) -> None:
    assert quote_literal(text) == literal


@pytest.mark.parametrize(("name", "identifier"), [
    ("sensors", '"sensors"'),
    ('a"b', r'"a\"b"'),
    ("a\\b", r'"a\\b"'),
    ("it's", "\"it's\""),
])
def test_quote_identifier_escapes_double_quote_and_backslash(name: str, identifier: str) -> None:
    assert quote_identifier(name) == identifier


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=TEXT, key=KEYS)
def test_quoted_literal_and_identifier_find_exactly_what_was_written(
        influxd: stack.Server, influx_db: str, value: str, key: str) -> None:
    run = uuid.uuid4().hex
    write_lines(influxd.url, influx_db, [
        encode_point("quoting", {"run": run}, {key: value}, next(_ts)),
        encode_point("quoting", {"run": run}, {key: value + "x"}, next(_ts)),
    ])
    statement = (f"SELECT {quote_identifier(key)} FROM {quote_identifier('quoting')} "
                 f"WHERE {quote_identifier('run')} = {quote_literal(run)} "
                 f"AND {quote_identifier(key)} = {quote_literal(value)}")

    response = httpx.get(f"{influxd.url}/query",
                         params={"db": influx_db, "q": statement, "epoch": "ms"}, timeout=30)

    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert [row[1] for one in result["series"] for row in one["values"]] == [value]


async def test_query_returns_series_with_rows(influxd: stack.Server, influx_db: str) -> None:
    write_lines(influxd.url, influx_db, [encode_point("m", {"t": "a"}, {"f": 1.5}, 1000),
                                         encode_point("m", {"t": "b"}, {"f": 2.0}, 2000)])
    settings = load(ApiSettings, influx_url=influxd.url, influx_db=influx_db)

    async with open_influx(settings) as influx:
        series = await influx.query('SELECT "f" FROM "m" GROUP BY "t"')

    assert [(one.tags, one.rows()) for one in series] == [
        ({"t": "a"}, [{"time": 1000, "f": 1.5}]),
        ({"t": "b"}, [{"time": 2000, "f": 2}]),
    ]


async def test_query_error_in_results_raises_query_error(influxd: stack.Server) -> None:
    settings = load(ApiSettings, influx_url=influxd.url, influx_db="no_such_db")

    async with open_influx(settings) as influx:
        with pytest.raises(InfluxQueryError, match="database not found: no_such_db"):
            await influx.query('SELECT * FROM "m"')


async def test_unparsable_query_raises_query_error_with_the_server_message(
        influxd: stack.Server, influx_db: str) -> None:
    settings = load(ApiSettings, influx_url=influxd.url, influx_db=influx_db)

    async with open_influx(settings) as influx:
        with pytest.raises(InfluxQueryError, match="status 400: error parsing query"):
            await influx.query("SELEC 1")


@pytest.mark.parametrize(("response", "error", "message"), [
    (InfluxResponse(503, b"overloaded"), InfluxUnavailableError, "answered 503 to a query"),
    (InfluxResponse(401, b'{"error":"unauthorized access"}'), InfluxQueryError,
     "status 401: unauthorized access"),
    (InfluxResponse(200, b"<html>proxy</html>"), InfluxQueryError, "not InfluxDB JSON"),
    (InfluxResponse(200, b'{"results":[{"error":"boom"}]}'), InfluxQueryError,
     "could not run a query: boom"),
])
async def test_failed_answers_raise_the_matching_error(response: InfluxResponse,
                                                       error: type[Exception],
                                                       message: str) -> None:
    transport = FakeTransport(response)

    with pytest.raises(error, match=message):
        await InfluxQuery(transport, "city").query("SELECT 1")
    assert transport.requests == [("/query", {"db": "city", "q": "SELECT 1", "epoch": "ms"})]


async def test_empty_results_are_no_series() -> None:
    transport = FakeTransport(InfluxResponse(200, b'{"results":[{"statement_id":0}]}'))

    assert await InfluxQuery(transport, "city").query("SELECT 1") == []


async def test_ping_requires_204() -> None:
    with pytest.raises(InfluxUnavailableError, match="with 200 instead of 204"):
        await InfluxQuery(FakeTransport(InfluxResponse(200)), "city").ping()


@pytest.mark.parametrize(("transport", "status", "detail"), [
    (FakeTransport(InfluxResponse(200, b'{"results":[{"error":"boom"}]}')), 502,
     "InfluxDB could not run a query: boom."),
    (FakeTransport(error=InfluxUnavailableError("InfluxDB is on fire.")), 503,
     "InfluxDB is on fire."),
])
async def test_data_routes_turn_influx_errors_into_502_and_503(
        transport: FakeTransport, status: int, detail: str) -> None:
    app = create_app(load(ApiSettings), influx_transport=transport)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as client:
        response = await client.get("/v1/sensors")

    assert response.status_code == status
    assert response.json() == {"detail": detail}


async def test_client_sends_the_token_when_one_is_set() -> None:
    with_token_settings = load(ApiSettings, influx_token="t0k3n-for-tests")
    without_token_settings = with_token_settings.model_copy(update={"influx_token": None})

    async with build_client(with_token_settings) as with_token, \
            build_client(without_token_settings) as without:
        assert with_token.headers["Authorization"] == "Token t0k3n-for-tests"
        assert "Authorization" not in without.headers
