"""The OpenAPI document against the app: schemathesis fuzzes every operation.

The app is the real one, served by uvicorn over HTTP and backed by the
session's InfluxDB (holding the seeded test city) and mosquitto, with an API
key the requests carry. Every default check must pass: no 5xx, every status,
content type, header and body as the document says, invalid input refused and
valid input accepted, except that a 422 for a combination of parameters (a
rule OpenAPI cannot state) does not count as refusing valid input.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
)

from api.main import create_app
from api.params import COMBINATION_ERROR
from ops import stack
from tests.api.city import seed_city
from tests.api.test_alerts import ALERT_KEY, KEY
from urbanpulse.settings import ApiSettings, load

schema = schemathesis.openapi.from_dict(create_app(load(ApiSettings)).openapi())
"""The document, as any app serves it (it does not depend on the settings)."""


@pytest.fixture(scope="module")
def base_url(mosquitto: stack.Server, influxd: stack.Server) -> Iterator[str]:
    """Serve an app over the seeded city with uvicorn in a thread, for the whole module.

    Its database and topic root are its own; it holds the alert key (without it the
    stream and acks are 503 by design), and its ack key is its operator key too (without
    one the incident routes are 503); acks wait 0.2 s and streams last 0.1 s.
    """
    database, root = f"test_{uuid.uuid4().hex[:12]}", f"t{uuid.uuid4().hex[:10]}"
    stack.create_database(influxd.url, database)
    seed_city(influxd.url, database)
    app = create_app(load(
        ApiSettings, mqtt_host="127.0.0.1", mqtt_port=mosquitto.port, topic_root=root,
        influx_url=influxd.url, influx_db=database, api_key=KEY, alert_key=ALERT_KEY,
        api_operator_key=KEY,  # so the requests' one key reads and moves incidents too
        api_ack_timeout_s=0.2,
        api_stream_max_s=0.1))
    port = stack.free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on",
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start in time"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(15)
    httpx.post(f"{influxd.url}/query", data={"q": f'DROP DATABASE "{database}"'})


def send(case: Any, client: httpx.Client) -> httpx.Response:
    """Send the case over HTTP with httpx.

    Schemathesis's own `case.call` goes through `requests`, whose connection
    accounting fails under the `urllib3-future` installed beside it; the
    request it would send is the same: `as_transport_kwargs` builds it.
    """
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url).rstrip("/"),
                                      headers={"X-API-Key": KEY})
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        body["content" if isinstance(data, bytes | str) else "data"] = data
    client.cookies = kwargs.get("cookies") or {}
    return client.request(kwargs["method"], kwargs["url"], params=kwargs.get("params"),
                          headers=kwargs.get("headers"), **body)


@schema.parametrize()
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
def test_every_operation_matches_its_document(case: Any, base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        response = send(case, client)
    # Rules across parameters (range width, end after start, one of district or near)
    # are beyond what OpenAPI can say, so schema-valid data may break them: such a 422,
    # and only such a one, is not held against the positive-data check.
    excluded: list[Any] = [positive_data_acceptance] if is_combination_error(response) else []
    # `send` puts the server's key on every request, where schemathesis believes it sent a
    # made-up one, or none in a negative case of the headers: a 200 of a keyed route is then
    # neither an ignored key nor accepted bad data. The refusals without a key and with a
    # wrong one are tested apart (test_limits.py, test_incidents_end_to_end.py).
    excluded.append(ignored_auth)
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
        excluded.append(negative_data_rejection)
    case.validate_response(response, excluded_checks=excluded)


def is_combination_error(response: httpx.Response) -> bool:
    """Return whether the response is a 422 for a combination of parameters only."""
    if response.status_code != 422:
        return False
    errors = response.json()["detail"]
    return bool(errors) and all(error["type"] == COMBINATION_ERROR for error in errors)
