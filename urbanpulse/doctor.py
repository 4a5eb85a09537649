"""`urbanpulse doctor`: check a running stack end to end and say how to fix what is wrong.

In order: the broker (anonymous refused, each account's login and publish
rights), InfluxDB (a point written as the ingester's user and read back as the
api's, anonymous queries refused), the ingester (its retained status says
online, its newest `pipeline` point is recent), Grafana (the data source's
health, every dashboard provisioned) and the api's `/health`. Each check prints
OK, FAIL with a fix, SKIP when a setting it needs is unset, or INFO for what is
expected of the local `urbanpulse up` stack; the exit code is 1 when any check
failed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import SecretStr

from urbanpulse.doctor_grafana import check_grafana
from urbanpulse.doctor_mqtt import check_broker, read_status
from urbanpulse.doctor_report import Finding, render, unreachable
from urbanpulse.settings import DoctorSettings, basic_auth_header

MEASUREMENT = "doctor"
"""Measurement of the one point the doctor writes per run, tagged with the run's id."""


@dataclass(frozen=True)
class _Login:
    """Who logs in to InfluxDB, with which header, and what to do when it is refused."""

    who: str
    headers: dict[str, str]
    refused_fix: str


def _login(settings: DoctorSettings, user: str, password: SecretStr | None,
           variable: str) -> _Login:
    """Log in as the doctor's `user` when its password is set, else with the influx_* settings."""
    if password is not None:
        return _Login(f"user '{user}'", basic_auth_header(user, password), (
            f"InfluxDB does not know user '{user}' with that password: {variable} in .env must "
            f"be the password InfluxDB's first start gave '{user}' (deploy/influxdb/initdb runs "
            "only on an empty volume); set it again with `docker compose exec influxdb influx "
            f"v1 auth set-password --username {user} --password \"${variable}\"`"))
    if settings.influx_username is not None:
        return _Login(f"user '{settings.influx_username}'", settings.influx_auth_headers(),
                      "check URBANPULSE_INFLUX_USERNAME and URBANPULSE_INFLUX_PASSWORD")
    if settings.influx_token is not None:
        return _Login("the token", settings.influx_auth_headers(),
                      "check URBANPULSE_INFLUX_TOKEN")
    return _Login("an anonymous client", {}, f"set {variable} (InfluxDB requires a login)")


def check_influx(settings: DoctorSettings) -> list[Finding]:
    """Write one point as the ingester's user, then read it back as the api's."""
    url, db = settings.influx_url, settings.influx_db
    run = uuid.uuid4().hex[:12]
    writer = _login(settings, "ingest", settings.doctor_influx_ingest_password,
                    "INFLUX_INGEST_PASSWORD")
    reader = _login(settings, "api", settings.doctor_influx_api_password, "INFLUX_API_PASSWORD")
    down_fix = "start it (docker compose up -d influxdb) and check URBANPULSE_INFLUX_URL"
    with httpx.Client(base_url=url, timeout=settings.doctor_timeout_s) as client:
        point = f"{MEASUREMENT},run={run} ok=1i {int(time.time() * 1000)}"
        try:
            written = client.post("/write", params={"db": db, "precision": "ms"},
                                  headers=writer.headers, content=point)
        except httpx.TransportError as exc:
            return [Finding.fail("influxdb", f"cannot reach InfluxDB at {url} "
                                 f"({unreachable(exc)})", down_fix)]
        findings = [_write_finding(written, writer, db)]
        try:
            answer = client.get("/query", headers=reader.headers, params={
                "db": db, "q": f"SELECT count(ok) FROM {MEASUREMENT} WHERE run = '{run}'"})
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


def _refusal(action: str, response: httpx.Response, login: _Login, denied: str,
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


def _write_finding(response: httpx.Response, login: _Login, db: str) -> Finding:
    if response.status_code == 204:
        return Finding.ok("influxdb write", f"{login.who} wrote a point to {db}")
    if response.status_code == 404:
        return Finding.fail("influxdb write", f"InfluxDB has no database {db} (404: "
                            f"{response.text.strip()[:200]})",
                            "check URBANPULSE_INFLUX_DB; the compose stack's bucket is 'city'")
    return _refusal("write", response, login, f"write to {db}", "write")


def _query_finding(response: httpx.Response, login: _Login, db: str,
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


_INGEST_FIX = ("start the ingest service (docker compose up -d ingest; outside compose, "
               "`urbanpulse ingest`) and look at its log (docker compose logs ingest)")


def check_ingest(settings: DoctorSettings, status: dict[str, bytes] | str) -> list[Finding]:
    """Check an ingester says it is online and wrote its `pipeline` metrics recently.

    `status` is instance -> retained payload of `{root}/status/ingest/+`, or why it
    could not be read. The status alone misses a frozen ingester: its retained
    `online` stays until the broker gives up on the connection, so the age of its
    newest metrics point decides whether data flows.
    """
    topic = f"{settings.topic_root}/status/ingest/+"
    online: set[str] = set()
    if isinstance(status, str):
        findings = [Finding.skip("ingest status", f"cannot read {topic}: {status}")]
    elif not status:
        findings = [Finding.fail("ingest status", f"no ingester has reported on {topic}",
                                 _INGEST_FIX)]
    else:
        online = {name for name, payload in status.items() if payload == b"online"}
        said = ", ".join(f"'{name}' {payload.decode('utf-8', 'replace')}"
                         for name, payload in sorted(status.items()))
        findings = [Finding.ok("ingest status", f"ingester {said}") if online else
                    Finding.fail("ingest status", f"no ingester reported online ({said})",
                                 _INGEST_FIX)]
    return [*findings, _freshness(settings, online)]


def _freshness(settings: DoctorSettings, online: set[str]) -> Finding:
    """Judge the age of each instance's newest `pipeline` point (a bounded query)."""
    max_age = settings.doctor_ingest_max_age_s
    reader = _login(settings, "api", settings.doctor_influx_api_password, "INFLUX_API_PASSWORD")
    query = (f'SELECT last("written") FROM "pipeline" WHERE time > now() - {int(max_age * 1000)}ms '
             'GROUP BY "instance"')
    try:
        answer = httpx.get(f"{settings.influx_url}/query", headers=reader.headers,
                           params={"db": settings.influx_db, "q": query, "epoch": "ms"},
                           timeout=settings.doctor_timeout_s)
        result = answer.json().get("results", [{}])[0] if answer.status_code == 200 else None
    except (httpx.TransportError, ValueError):
        result = None
    if result is None or "error" in result:
        return Finding.skip("ingest data", "cannot query InfluxDB (see the influxdb checks)")
    now_ms = time.time() * 1000
    ages = {one.get("tags", {}).get("instance", "?"): (now_ms - one["values"][0][0],
                                                        one["values"][0][1])
            for one in result.get("series", [])}
    window = f"{max_age:g} s"
    if not ages:
        also = (f", although {_names(online)} reported online: it is frozen or cannot write "
                "to InfluxDB" if online else "")
        return Finding.fail("ingest data", f"no ingester wrote its metrics (`pipeline`) to "
                            f"{settings.influx_db} in the last {window}{also}",
                            "look at the ingester's log (docker compose logs ingest) and "
                            "restart it (docker compose restart ingest)")
    silent = online - set(ages)
    if silent:
        return Finding.fail("ingest data", f"{_names(silent)} reported online but wrote no "
                            f"metrics in the last {window}", "look at its log (docker compose "
                            "logs ingest) and restart it (docker compose restart ingest)")
    fresh = "; ".join(f"'{name}' {max(age, 0) / 1000:.0f} s ago, {written} readings written "
                      "since it started" for name, (age, written) in sorted(ages.items()))
    return Finding.ok("ingest data", f"newest metrics: {fresh}")


def _names(instances: set[str]) -> str:
    listed = ", ".join(f"'{name}'" for name in sorted(instances))
    return f"ingester {listed}" if len(instances) == 1 else f"ingesters {listed}"


def check_api(url: str, timeout_s: float) -> list[Finding]:
    """Check the api's `/health` answers 200; a 503 says which of its servers is down."""
    try:
        response = httpx.get(f"{url}/health", timeout=timeout_s)
    except httpx.TransportError as exc:
        return [Finding.fail("api", f"cannot reach the api at {url} ({unreachable(exc)})",
                             "start it (docker compose up -d api), read its log (docker compose "
                             "logs api) and check URBANPULSE_DOCTOR_API_URL")]
    if response.status_code == 200:
        return [Finding.ok("api", f"{url}/health answered 200")]
    details = _health_details(response)
    return [Finding.fail("api", f"{url}/health answered {response.status_code}{details}",
                         "the api reaches the broker and InfluxDB with its own accounts: see "
                         "the broker and InfluxDB checks above and its log (docker compose "
                         "logs api)")]


def _health_details(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    down = [str(check.get("detail")) for check in body.values()
            if isinstance(check, dict) and check.get("ok") is False]
    return ": " + " ".join(down) if down else ""


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def run_checks(settings: DoctorSettings) -> list[Finding]:
    """Run every check against the stack `settings` points at, in order."""
    passwords = {
        "simulator": _secret(settings.doctor_mqtt_simulator_password),
        "ingest": _secret(settings.doctor_mqtt_ingest_password),
        "api": _secret(settings.doctor_mqtt_api_password),
        "observer": _secret(settings.doctor_mqtt_observer_password),
    }
    findings = asyncio.run(check_broker(settings.mqtt_host, settings.mqtt_port,
                                        settings.topic_root, passwords,
                                        settings.doctor_timeout_s))
    findings += check_influx(settings)
    status = asyncio.run(read_status(settings.mqtt_host, settings.mqtt_port,
                                     settings.topic_root, passwords["api"],
                                     settings.doctor_timeout_s))
    findings += check_ingest(settings, status)
    credential: str | tuple[str, str] | None = None
    if settings.doctor_grafana_token is not None:
        credential = settings.doctor_grafana_token.get_secret_value()
    elif settings.doctor_grafana_password is not None:
        credential = (settings.doctor_grafana_user,
                      settings.doctor_grafana_password.get_secret_value())
    if credential is None:
        findings.append(Finding.skip("grafana", "no Grafana password or token (set "
                                     "GRAFANA_ADMIN_PASSWORD or URBANPULSE_DOCTOR_GRAFANA_TOKEN)"))
    else:
        findings += check_grafana(settings.doctor_grafana_url, credential,
                                  Path(settings.doctor_dashboards), settings.doctor_timeout_s)
    findings += check_api(settings.doctor_api_url, settings.doctor_timeout_s)
    return findings


def main(settings: DoctorSettings) -> int:
    """Print the report; return 1 when a check failed, else 0."""
    findings = run_checks(settings)
    print(render(findings))
    return 1 if any(finding.status == "FAIL" for finding in findings) else 0
