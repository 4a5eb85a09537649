"""Exceptions of the api package.

    ApiError
    ├── InfluxError             InfluxDB did not answer a query with data
    │   ├── InfluxUnavailableError  no connection, a timeout or a 5xx answer (HTTP 503)
    │   └── InfluxQueryError        a 4xx answer or an `error` in the results (HTTP 502)
    ├── BrokerUnavailableError  the MQTT broker refused or did not take a connection (HTTP 503)
    ├── AckTimeoutError         the ingester did not confirm an acknowledgement in time (HTTP 504)
    └── TransitionTimeoutError  the ingester did not confirm an incident transition in time (504)

Routes raise FastAPI's `HTTPException` for what the client got wrong (401, 403,
404, 409, 422); the exceptions here are about the servers behind the api, and
`api.main` turns them into responses with the sentence they carry.
"""

from __future__ import annotations

from urbanpulse.errors import UrbanPulseError


class ApiError(UrbanPulseError):
    """Base of every error the api raises on purpose."""


class InfluxError(ApiError):
    """InfluxDB did not answer a query with data."""


class InfluxUnavailableError(InfluxError):
    """InfluxDB could not be reached, timed out or answered with a server error."""


class InfluxQueryError(InfluxError):
    """InfluxDB refused a query: a client error status or an `error` in its results."""


class BrokerUnavailableError(ApiError):
    """The MQTT broker could not be reached, refused the api, or did not answer in time."""


class AckTimeoutError(ApiError):
    """The ingester did not publish the acknowledged state of an alert in time."""


class TransitionTimeoutError(ApiError):
    """The ingester did not publish the state of an incident moved to another stage in time."""
