"""The doctor's InfluxDB checks: a point written as the ingester's user, read back as the api's.

These are probes of logins and permissions: their answer is the HTTP status
(401 a wrong password, 403 a missing permission, 404 a missing database), which
a query client turns into an exception. So they speak HTTP themselves, and
build their statements and the point with the contract's InfluxQL and line
protocol; plain queries (the ingester's freshness) go through
`api.influx.InfluxQuery`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from ops.doctor.report import Finding, unreachable
from urbanpulse.influxql import quote_identifier, tag_equals, where
from urbanpulse.lineprotocol import encode_point
from urbanpulse.settings import DoctorSettings, basic_auth_header

MEASUREMENT = "doctor"
"""Measurement of the one point the doctor writes per run, tagged with the run's id."""


@dataclass(frozen=True)
class Login:
    """Who logs in to InfluxDB, with which header, and what to do when it is refused."""

    who: str
    headers: dict[str, str]
    refused_fix: str


def login(settings: DoctorSettings, user: str, password: SecretStr | None,
           variable: str) -> Login:
    """Log in as the doctor's `user` when its password is set, else with the influx_* settings."""
    if password is not None:
        return Login(f"user '{user}'", basic_auth_header(user, password), (
            f"InfluxDB does not know user '{user}' with that password: {variable} in .env must "
            f"be the password InfluxDB's first start gave '{user}' (deploy/influxdb/initdb runs "
            "only on an empty volume); set it again with `docker compose exec influxdb influx "
            f"v1 auth set-password --username {user} --password \"${variable}\"`"))
    if settings.influx_username is not None:
        return Login(f"user '{settings.influx_username}'", settings.influx_auth_headers(),
                      "check URBANPULSE_INFLUX_USERNAME and URBANPULSE_INFLUX_PASSWORD")
    if settings.influx_token is not None:
        return Login("the token", settings.influx_auth_headers(),
                      "check URBANPULSE_INFLUX_TOKEN")
    return Login("an anonymous client", {}, f"set {variable} (InfluxDB requires a login)")


def check_influx(settings: DoctorSettings) -> list[Finding]:
    """Write one point as the ingester's user, then read it back as the api's."""
    url, db = settings.influx_url, settings.influx_db
    run = uuid.uuid4().hex[:12]
    writer = login(settings, "ingest", settings.doctor_influx_ingest_password,
                    "INFLUX_INGEST_PASSWORD")
    reader = login(settings, "api", settings.doctor_influx_api_password, "INFLUX_API_PASSWORD")
    down_fix = "start it (docker compose up -d influxdb) and check URBANPULSE_INFLUX_URL"
    with httpx.Client(base_url=url, timeout=settings.doctor_timeout_s) as client:
        point = encode_point(MEASUREMENT, {"run": run}, {"ok": 1}, int(time.time() * 1000))
        try:
            written = client.post("/write", params={"db": db, "precision": "ms"},
                                  headers=writer.headers, content=point)
        except httpx.TransportError as exc:
            return [Finding.fail("influxdb", f"cannot reach InfluxDB at {url} "
                                 f"({unreachable(exc)})", down_fix)]
        findings = [_write_finding(written, writer, db)]
        try:
            answer = client.get("/query", headers=reader.headers, params={"db": db, "q": (
                f"SELECT count({quote_identifier('ok')}) FROM {quote_identifier(MEASUREMENT)}"
                f"{where(tag_equals('run', run))}")})
        except httpx.TransportError as exc:
            return [*findings, Finding.fail("influxdb query", f"cannot reach InfluxDB at {url} "
                                            f"({unreachable(exc)})", down_fix)]
        expect_point = findings[0].status == "OK"
        findings.append(_query_finding(answer, reader, db, expect_point))
        findings.append(_anonymous_finding(client, url, configured=bool(
            writer.headers or reader.headers)))
    return findings


def _anonymous_finding(client: httpx.Client, url: str, *, configured: bool) -> Finding:
    """Send a query without a login: with logins configured, InfluxDB must answer 401."""
    if not configured:
        return Finding.info("influxdb anonymous", "no InfluxDB login is configured, so "
                            "anonymous access is not checked: expected for the local "
                            "`urbanpulse up` stack, whose InfluxDB has no users")
    try:
        answer = client.get("/query", params={"q": "SHOW DATABASES"})
    except httpx.TransportError as exc:
        return Finding.fail("influxdb anonymous", f"cannot reach InfluxDB at {url} "
                            f"({unreachable(exc)})", "start it (docker compose up -d influxdb)")
    if answer.status_code in (401, 403):
        return Finding.ok("influxdb anonymous", f"InfluxDB refuses a query without a login "
                          f"({answer.status_code})")
    if answer.status_code == 200:
        return Finding.fail(
            "influxdb anonymous", f"InfluxDB at {url} answers queries without a login: "
            "its authentication is off, so anyone who reaches it may read and write",
            "check that URBANPULSE_INFLUX_URL points at the stack's InfluxDB (InfluxDB 2 "
            "always requires a login); an InfluxDB 1.x needs `auth-enabled = true` in the "
            "[http] section of its configuration")
    return Finding.fail("influxdb anonymous", f"InfluxDB answered a query without a login "
                        f"with {answer.status_code}: {answer.text.strip()[:200]}",
                        "look at InfluxDB's log (docker compose logs influxdb)")


def _refusal(action: str, response: httpx.Response, login: Login, denied: str,
             right: str) -> Finding:
    """Return the finding of a 401, a 403, or any other answer InfluxDB should not give."""
    check, text, who = f"influxdb {action}", response.text.strip()[:200], login.who
    if response.status_code == 401:
        return Finding.fail(check, f"InfluxDB refused {who} (401: {text})", login.refused_fix)
    if response.status_code == 403:
        return Finding.fail(check, f"{who} may not {denied} (403: {text})",
                            f"that user needs {right} permission on the bucket: recreate it "
                            "as deploy/influxdb/initdb/10-service-users.sh does")
    return Finding.fail(check, f"InfluxDB answered the {action} with "
                        f"{response.status_code}: {text}", "look at InfluxDB's log "
                        "(docker compose logs influxdb)")


def _write_finding(response: httpx.Response, login: Login, db: str) -> Finding:
    if response.status_code == 204:
        return Finding.ok("influxdb write", f"{login.who} wrote a point to {db}")
    if response.status_code == 404:
        return Finding.fail("influxdb write", f"InfluxDB has no database {db} (404: "
                            f"{response.text.strip()[:200]})",
                            "check URBANPULSE_INFLUX_DB; the compose stack's bucket is 'city'")
    return _refusal("write", response, login, f"write to {db}", "write")


def _query_finding(response: httpx.Response, login: Login, db: str,
                   expect_point: bool) -> Finding:
    who = login.who
    if response.status_code != 200:
        return _refusal("query", response, login, f"read {db}", "read")
    result = response.json().get("results", [{}])[0]
    if "error" in result:
        return Finding.fail("influxdb query", f"InfluxDB refused the query on {db}: "
                            f"{result['error']}", "check URBANPULSE_INFLUX_DB")
    series = result.get("series", [])
    count = series[0]["values"][0][1] if series else 0
    if expect_point and count != 1:
        return Finding.fail("influxdb query", f"{who} did not read back the point just "
                            f"written to {db}", "the reading and the writing user must use "
                            "the same bucket: check URBANPULSE_INFLUX_DB and the users' buckets")
    read = "read back the point from" if expect_point else "queried"
    return Finding.ok("influxdb query", f"{who} {read} {db}")
