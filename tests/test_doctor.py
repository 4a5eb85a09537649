"""`urbanpulse doctor` against a real local stack, one fault at a time.

The broker is the compose one (deploy/mosquitto entrypoint, configuration and
ACL on a loopback port), InfluxDB a real 1.x with authentication on and the
least-privilege users of the compose stack (ingest writes, api reads), the api a
real `urbanpulse api` process. Grafana is a small fake on loopback answering the
two endpoints grafana-client calls (data source health, dashboard search), so
that its faults can be chosen; everything else is broken for real.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ops import stack
from ops.doctor.checks import main, run_checks
from ops.doctor.grafana import DATASOURCE_UID, dashboard_uids
from ops.doctor.mqtt import check_broker, read_status
from ops.doctor.report import Finding
from tests.conftest import _require as require_server
from tests.test_compose import MOSQUITTO_DIR, PASSWORDS, start_compose_broker
from urbanpulse.errors import ConfigError
from urbanpulse.settings import DoctorSettings, IngestSettings, load

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "grafana" / "dashboards"
INFLUX_PASSWORDS = {"admin": "admin-pw-0123456789", "ingest": "ingest-pw-0123456789",
                    "api": "api-pw-0123456789"}
GRAFANA_PASSWORD = "grafana-admin-pw-0123456789"
ALERT_KEY = "alert-key-doctor-5b2e9d41c7"
"""The key the stack's ingester and api share to sign alert states and ack commands."""


# -- a real InfluxDB 1.x with authentication and per-database users ----------------------


def _influx(url: str, query: str, user: str | None = "admin") -> None:
    auth = None if user is None else (user, INFLUX_PASSWORDS[user])
    response = httpx.post(f"{url}/query", data={"q": query}, auth=auth, timeout=10)
    response.raise_for_status()
    assert "error" not in response.json()["results"][0], response.text


def start_auth_influxd(folder: Path, port: int) -> stack.Server:
    """Start influxd with auth on; users: ingest may write and read `city`, api may read it.

    The ingester reads its alert record back at start, so its user has both rights, as
    deploy/influxdb/initdb/10-service-users.sh gives them in the compose stack.
    """
    binary = stack.find_binary("influxd", "influxdb")
    config = stack.influxd_config(folder, port, stack.free_port())
    assert "[http]\n" in config
    auth = config.replace("[http]\n", "[http]\n  auth-enabled = true\n")
    (folder / "influxdb.conf").write_text(auth)
    log = folder / "influxd.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([binary, "-config", str(folder / "influxdb.conf")],
                                   stdout=sink, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = stack.Server("influxd", process, port, log)
    deadline = time.monotonic() + 30
    while not _pings(server.url):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise stack.ServerStartError(f"influxd did not start: {log.read_text()[-2000:]}")
        time.sleep(0.05)
    # With auth on and no user yet, InfluxDB lets the first admin be created anonymously.
    _influx(server.url, f"CREATE USER admin WITH PASSWORD '{INFLUX_PASSWORDS['admin']}' "
            "WITH ALL PRIVILEGES", user=None)
    for statement in ("CREATE DATABASE city", "CREATE DATABASE other",
                      f"CREATE USER ingest WITH PASSWORD '{INFLUX_PASSWORDS['ingest']}'",
                      "GRANT ALL ON city TO ingest",  # read and write: one privilege per database
                      f"CREATE USER api WITH PASSWORD '{INFLUX_PASSWORDS['api']}'",
                      "GRANT READ ON city TO api", "GRANT READ ON other TO api"):
        _influx(server.url, statement)
    return server


def _pings(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ping", timeout=1).status_code == 204
    except httpx.TransportError:
        return False


# -- a fake Grafana: the endpoints grafana-client calls, with faults to choose ----------


@dataclass
class GrafanaState:
    """What the fake Grafana answers."""

    healthy: bool = True
    provisioned: set[str] = field(default_factory=set)


class _GrafanaHandler(BaseHTTPRequestHandler):
    state = GrafanaState()

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        expected = base64.b64encode(f"admin:{GRAFANA_PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {expected}":
            self._answer(401, {"message": "Invalid username or password"})
            return
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == f"/api/datasources/uid/{DATASOURCE_UID}/health":
            if self.state.healthy:
                self._answer(200, {"status": "OK", "message": "datasource is working. "
                                   "2 measurements found"})
            else:
                self._answer(400, {"status": "ERROR", "message": "error reading InfluxDB. "
                                   "Status Code: 401"})
        elif url.path.startswith("/api/datasources/uid/"):
            self._answer(404, {"message": "Data source not found"})
        elif url.path == "/api/search":
            assert query.get("type") == ["dash-db"]
            wanted = set(query.get("dashboardUIDs", []))
            self._answer(200, [{"uid": uid, "type": "dash-db", "title": uid}
                               for uid in sorted(wanted & self.state.provisioned)])
        else:
            self._answer(404, {"message": "Not found"})

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    server = require_server(start_compose_broker, tmp_path_factory.mktemp("doctor-broker"),
                            stack.free_port())
    yield server.port
    server.stop()


@pytest.fixture(scope="module")
def influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = require_server(start_auth_influxd, tmp_path_factory.mktemp("doctor-influxd"),
                            stack.free_port())
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def grafana() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GrafanaHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def healthy_grafana() -> None:
    _GrafanaHandler.state = GrafanaState(provisioned=set(dashboard_uids(DASHBOARDS)))


def _clean_env() -> dict[str, str]:
    """The environment without any setting a developer's shell could leak into a test."""
    names = ("URBANPULSE_", "MQTT_", "INFLUX_", "GRAFANA_")
    return {k: v for k, v in os.environ.items() if not k.startswith(names)}


@pytest.fixture(scope="module")
def api(broker: int, influx: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `urbanpulse api` logged in to the broker and to InfluxDB as 'api'."""
    port = stack.free_port()
    env = {**_clean_env(), "URBANPULSE_MQTT_HOST": "127.0.0.1",
           "URBANPULSE_MQTT_PORT": str(broker), "URBANPULSE_MQTT_USERNAME": "api",
           "URBANPULSE_MQTT_PASSWORD": PASSWORDS["api"], "URBANPULSE_INFLUX_URL": influx,
           "URBANPULSE_INFLUX_DB": "city", "URBANPULSE_INFLUX_USERNAME": "api",
           "URBANPULSE_INFLUX_PASSWORD": INFLUX_PASSWORDS["api"],
           "URBANPULSE_API_PORT": str(port), "URBANPULSE_ALERT_KEY": ALERT_KEY}
    log = tmp_path_factory.mktemp("doctor-api") / "api.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "ops", "api"], env=env,
                                   cwd=log.parent, stdout=sink, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"the api exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"the api never got healthy: {log.read_text()}"
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@dataclass(frozen=True)
class Ingester:
    """The real ingester of the test stack."""

    process: subprocess.Popen[bytes]
    log: Path


def _fresh_metrics(influx: str) -> bool:
    response = httpx.get(f"{influx}/query", auth=("admin", INFLUX_PASSWORDS["admin"]),
                         params={"db": "city", "q": 'SELECT count("written") FROM "pipeline" '
                                 "WHERE time > now() - 2s"}, timeout=5)
    return bool(response.json()["results"][0].get("series"))


def _online(broker: int) -> bool:
    status = asyncio.run(read_status("127.0.0.1", broker, "city", PASSWORDS["api"], 5))
    return isinstance(status, dict) and status.get("main") == b"online"


def _wait(predicate: Any, what: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not within {timeout:.0f} s: " + (
            log.read_text(errors="replace")[-2000:] if log.exists() else "")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def ingester(broker: int, influx: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingester]:
    """A real `urbanpulse ingest` with the compose accounts, writing metrics every second."""
    folder = tmp_path_factory.mktemp("doctor-ingest")
    env = {**_clean_env(), "URBANPULSE_MQTT_HOST": "127.0.0.1",
           "URBANPULSE_MQTT_PORT": str(broker), "URBANPULSE_MQTT_USERNAME": "ingest",
           "URBANPULSE_MQTT_PASSWORD": PASSWORDS["ingest"], "URBANPULSE_TOPIC_ROOT": "city",
           "URBANPULSE_INFLUX_URL": influx, "URBANPULSE_INFLUX_DB": "city",
           "URBANPULSE_INFLUX_USERNAME": "ingest",
           "URBANPULSE_INFLUX_PASSWORD": INFLUX_PASSWORDS["ingest"],
           "URBANPULSE_INGEST_METRICS_INTERVAL_S": "1", "URBANPULSE_ALERT_KEY": ALERT_KEY,
           "URBANPULSE_INGEST_HEALTH_FILE": str(folder / "healthy")}
    log = folder / "ingest.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "ops", "ingest"], env=env,
                                   cwd=folder, stdout=sink, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    try:
        _wait(lambda: process.poll() is None and _online(broker) and _fresh_metrics(influx),
              "the ingester's 'online' and a fresh pipeline point", log)
        yield Ingester(process, log)
    finally:
        process.send_signal(signal.SIGCONT)  # in case a test left it stopped
        process.terminate()
        process.wait(timeout=60)


def settings(broker: int, influx: str, grafana: str, api: str,
             **overrides: Any) -> DoctorSettings:
    """Doctor settings for the healthy local stack, with `overrides`."""
    values: dict[str, Any] = {
        "mqtt_host": "127.0.0.1", "mqtt_port": broker, "topic_root": "city",
        **{f"doctor_mqtt_{account}_password": password for account, password in PASSWORDS.items()},
        "influx_url": influx, "influx_db": "city",
        "doctor_influx_ingest_password": INFLUX_PASSWORDS["ingest"],
        "doctor_influx_api_password": INFLUX_PASSWORDS["api"],
        "doctor_grafana_url": grafana, "doctor_grafana_password": GRAFANA_PASSWORD,
        "doctor_dashboards": str(DASHBOARDS), "doctor_api_url": api, "doctor_timeout_s": 5,
    }
    values.update(overrides)
    return DoctorSettings(_env_file=None, **values)


@pytest.fixture
def stack_settings(broker: int, influx: str, grafana: str, api: str,
                   ingester: Ingester) -> dict[str, Any]:
    return {"broker": broker, "influx": influx, "grafana": grafana, "api": api}


def failures(findings: list[Finding]) -> list[Finding]:
    return [finding for finding in findings if finding.status == "FAIL"]


def only_failure(stack_settings: dict[str, Any], **overrides: Any) -> Finding:
    """Run the doctor with `overrides` and return its one failed check."""
    found = failures(run_checks(settings(**stack_settings, **overrides)))
    assert len(found) == 1, found
    return found[0]


# -- healthy ------------------------------------------------------------------------------


def test_a_healthy_stack_passes_every_check(stack_settings: dict[str, Any],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(settings(**stack_settings))
    out = capsys.readouterr().out
    assert code == 0, out
    assert "FAIL" not in out
    assert "SKIP" not in out
    assert "OK    mqtt anonymous: mosquitto at 127.0.0.1" in out
    for account in PASSWORDS:
        assert f"account '{account}' logged in" in out
    assert "'simulator' may publish to city/truth/doctor/doctor/doctor" in out
    assert "'observer' may not publish to city/truth/doctor/doctor/doctor" in out
    assert "user 'ingest' wrote a point to city" in out
    assert "user 'api' read back the point from city" in out
    assert "OK    influxdb anonymous: InfluxDB refuses a query without a login (401)" in out
    assert "OK    ingest status: ingester 'main' online" in out
    assert re.search(r"OK    ingest data: newest metrics: 'main' \d+ s ago, \d+ readings "
                     "written since it started", out), out
    assert "INFO" not in out
    assert f"data source {DATASOURCE_UID} is healthy" in out
    for uid in dashboard_uids(DASHBOARDS):
        assert f"dashboard {uid} (" in out
    assert out.rstrip().endswith("No problem found.")


def test_the_command_reads_the_compose_env_file(stack_settings: dict[str, Any],
                                                tmp_path: Path) -> None:
    """Beside the stack's .env, `urbanpulse doctor` needs only the addresses."""
    compose_env = {f"MQTT_{account.upper()}_PASSWORD": pw for account, pw in PASSWORDS.items()}
    compose_env |= {"INFLUX_INGEST_PASSWORD": INFLUX_PASSWORDS["ingest"],
                    "INFLUX_API_PASSWORD": INFLUX_PASSWORDS["api"],
                    "GRAFANA_ADMIN_PASSWORD": GRAFANA_PASSWORD}
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in compose_env.items()))
    (tmp_path / "grafana").mkdir()
    (tmp_path / "grafana" / "dashboards").symlink_to(DASHBOARDS)
    result = subprocess.run(
        [sys.executable, "-m", "ops", "doctor", "--mqtt-host", "127.0.0.1",
         "--mqtt-port", str(stack_settings["broker"]), "--influx-url", stack_settings["influx"],
         "--grafana-url", stack_settings["grafana"], "--api-url", stack_settings["api"]],
        cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No problem found." in result.stdout


# -- one fault at a time -----------------------------------------------------------------


def test_a_wrong_mqtt_password_names_the_account_and_the_fix(
        stack_settings: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(settings(**stack_settings, doctor_mqtt_ingest_password="not-the-password"))
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL  mqtt ingest: mosquitto refused user 'ingest': not authorised" in out
    assert ("fix: the password in .env (MQTT_INGEST_PASSWORD) differs from the broker's "
            "password file") in out
    assert "docker compose up -d --force-recreate mosquitto" in out
    assert out.rstrip().endswith("1 problem found.")


def test_an_acl_that_denies_or_allows_too_much_is_reported(
        stack_settings: dict[str, Any], tmp_path: Path) -> None:
    acl = (MOSQUITTO_DIR / "acl").read_text(encoding="utf-8")
    assert "topic write city/truth/#\n" in acl
    assert "user observer\n" in acl
    broken = acl.replace("topic write city/truth/#\n", "").replace(
        "user observer\n", "user observer\ntopic write city/truth/#\n")
    server = start_compose_broker(tmp_path, stack.free_port(), acl=broken)
    try:
        found = failures(run_checks(settings(**{**stack_settings, "broker": server.port})))
    finally:
        server.stop()
    # No ingester is connected to this second broker: only the ACL findings matter here.
    found = [finding for finding in found if finding.check.startswith("mqtt")]
    assert [finding.detail for finding in found] == [
        "the ACL denies 'simulator' publishing to city/truth/doctor/doctor/doctor "
        "(reason code 0x87)",
        "the broker let 'observer' publish to city/truth/doctor/doctor/doctor, which its ACL "
        "must refuse",
    ]
    assert all(finding.fix.startswith("restore deploy/mosquitto/acl") for finding in found)


def test_a_broker_that_is_down_is_one_problem(stack_settings: dict[str, Any]) -> None:
    finding = only_failure({**stack_settings, "broker": stack.free_port()})
    assert finding.detail.startswith("cannot reach mosquitto at 127.0.0.1:")
    assert "docker compose up -d mosquitto" in finding.fix


def test_influxdb_down(stack_settings: dict[str, Any]) -> None:
    finding = only_failure(stack_settings,
                           influx_url=f"http://127.0.0.1:{stack.free_port()}")
    assert finding.check == "influxdb"
    assert re.fullmatch(r"cannot reach InfluxDB at http://127\.0\.0\.1:\d+ \(connection "
                        r"refused\)", finding.detail), finding.detail
    assert "docker compose up -d influxdb" in finding.fix


def test_influxdb_refuses_a_wrong_password_with_401(stack_settings: dict[str, Any]) -> None:
    finding = only_failure(stack_settings, doctor_influx_ingest_password="wrong-password-1234")
    assert finding.check == "influxdb write"
    assert finding.detail.startswith("InfluxDB refused user 'ingest' (401: ")
    assert finding.fix.startswith("InfluxDB does not know user 'ingest' with that password: "
                                  "INFLUX_INGEST_PASSWORD in .env must be the password")
    assert "--username ingest --password \"$INFLUX_INGEST_PASSWORD\"" in finding.fix


def test_influxdb_refuses_a_user_without_the_right_with_403(
        stack_settings: dict[str, Any]) -> None:
    found = failures(run_checks(settings(**stack_settings, influx_db="other")))
    assert [finding.check for finding in found] == ["influxdb write", "ingest data"]
    assert found[0].detail.startswith("user 'ingest' may not write to other (403: ")
    # The ingester writes its metrics to `city`, not to the database the doctor looks at.
    assert found[1].detail.startswith("no ingester wrote its metrics (`pipeline`) to other ")


def test_grafana_datasource_unhealthy(stack_settings: dict[str, Any]) -> None:
    _GrafanaHandler.state.healthy = False
    finding = only_failure(stack_settings)
    assert finding.detail == (f"data source {DATASOURCE_UID} is unhealthy: error reading "
                              "InfluxDB. Status Code: 401")
    assert "INFLUX_GRAFANA_PASSWORD" in finding.fix


def test_a_dashboard_that_is_not_provisioned(stack_settings: dict[str, Any]) -> None:
    uids = dashboard_uids(DASHBOARDS)
    missing = sorted(uids)[0]
    _GrafanaHandler.state.provisioned.discard(missing)
    finding = only_failure(stack_settings)
    assert finding.detail == (f"dashboard {missing} ({uids[missing]}) is not provisioned "
                              "in Grafana")
    assert "docker compose logs grafana" in finding.fix


def test_grafana_refuses_a_wrong_admin_password(stack_settings: dict[str, Any]) -> None:
    finding = only_failure(stack_settings, doctor_grafana_password="not-the-password")
    assert finding.detail == f"Grafana at {stack_settings['grafana']} refused user 'admin' (401)"
    assert "reset-admin-password" in finding.fix


def test_grafana_down_is_said_in_plain_words(stack_settings: dict[str, Any]) -> None:
    url = f"http://127.0.0.1:{stack.free_port()}"
    finding = only_failure(stack_settings, doctor_grafana_url=url)
    assert finding.detail == f"nothing answers at {url} (connection refused)"
    assert finding.fix == ("start Grafana (docker compose up -d grafana) and check "
                           "URBANPULSE_DOCTOR_GRAFANA_URL")


def test_the_api_down(stack_settings: dict[str, Any]) -> None:
    url = f"http://127.0.0.1:{stack.free_port()}"
    finding = only_failure({**stack_settings, "api": url})
    assert finding.detail == f"cannot reach the api at {url} (connection refused)"
    assert "docker compose up -d api" in finding.fix


def test_unset_passwords_skip_their_checks(stack_settings: dict[str, Any],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code = main(settings(**stack_settings, doctor_mqtt_observer_password=None,
                         doctor_grafana_password=None))
    out = capsys.readouterr().out
    assert code == 0
    assert ("SKIP  mqtt observer: no password for account 'observer' (set "
            "MQTT_OBSERVER_PASSWORD or URBANPULSE_DOCTOR_MQTT_OBSERVER_PASSWORD)") in out
    assert "SKIP  grafana: no Grafana password or token" in out


# -- the ingester: online, and writing --------------------------------------------------


def test_a_frozen_ingester_is_found_by_the_age_of_its_metrics(
        stack_settings: dict[str, Any], ingester: Ingester) -> None:
    """SIGSTOP: the retained 'online' stays, but no `pipeline` point arrives any more."""
    ingester.process.send_signal(signal.SIGSTOP)
    try:
        time.sleep(2.5)
        finding = only_failure(stack_settings, doctor_ingest_max_age_s=2)
    finally:
        ingester.process.send_signal(signal.SIGCONT)
    assert finding.check == "ingest data"
    assert finding.detail == ("no ingester wrote its metrics (`pipeline`) to city in the last "
                              "2 s, although ingester 'main' reported online: it is frozen or "
                              "cannot write to InfluxDB")
    assert "docker compose logs ingest" in finding.fix
    _wait(lambda: _fresh_metrics(stack_settings["influx"]), "metrics after SIGCONT",
          ingester.log)
    assert not failures(run_checks(settings(**stack_settings, doctor_ingest_max_age_s=2)))


def test_no_ingester_online_is_reported_with_its_fix(stack_settings: dict[str, Any],
                                                     tmp_path: Path) -> None:
    """A broker no ingester uses: nothing retained, then an ingester's last will."""
    server = start_compose_broker(tmp_path, stack.free_port())
    try:
        other = {**stack_settings, "broker": server.port}
        finding = only_failure(other)
        assert finding.check == "ingest status"
        assert finding.detail == "no ingester has reported on city/status/ingest/+"
        assert finding.fix == ("start the ingest service (docker compose up -d ingest; "
                               "outside compose, `urbanpulse ingest`) and look at its log "
                               "(docker compose logs ingest)")
        client = mqtt.Client(CallbackAPIVersion.VERSION2)
        client.username_pw_set("ingest", PASSWORDS["ingest"])
        client.connect("127.0.0.1", server.port)
        client.loop_start()
        sent = client.publish("city/status/ingest/main", b"offline", qos=1, retain=True)
        sent.wait_for_publish(10)
        client.loop_stop()
        client.disconnect()
        finding = only_failure(other)
        assert finding.detail == "no ingester reported online ('main' offline)"
    finally:
        server.stop()


# -- authentication that is off -----------------------------------------------------------


def test_an_influxdb_without_authentication_is_reported(
        stack_settings: dict[str, Any], influxd: stack.Server, influx_db: str) -> None:
    """Logins configured, but InfluxDB accepts anyone: a FAIL, not a pass."""
    found = failures(run_checks(settings(**stack_settings, influx_url=influxd.url,
                                         influx_db=influx_db)))
    (anonymous,) = [finding for finding in found if finding.check == "influxdb anonymous"]
    assert anonymous.detail == (f"InfluxDB at {influxd.url} answers queries without a login: "
                                "its authentication is off, so anyone who reaches it may read "
                                "and write")
    assert "auth-enabled = true" in anonymous.fix
    # With no login configured (the local `urbanpulse up` stack) it is expected, not a fault.
    local = run_checks(settings(**stack_settings, influx_url=influxd.url, influx_db=influx_db,
                                doctor_influx_ingest_password=None,
                                doctor_influx_api_password=None))
    (info,) = [finding for finding in local if finding.check == "influxdb anonymous"]
    assert info.status == "INFO"
    assert "expected for the local `urbanpulse up` stack" in info.detail
    assert not [finding for finding in failures(local) if finding.check.startswith("influxdb")]


def test_the_local_anonymous_broker_is_not_a_failure_without_passwords(
        mosquitto: stack.Server) -> None:
    """`urbanpulse up` runs mosquitto without accounts: with no password set, say so calmly."""
    found = asyncio.run(check_broker("127.0.0.1", mosquitto.port, "city",
                                     dict.fromkeys(PASSWORDS), 5))
    assert [(finding.check, finding.status) for finding in found] == [
        ("mqtt anonymous", "INFO"), *((f"mqtt {account}", "SKIP") for account in PASSWORDS)]
    assert found[0].detail == (
        f"mosquitto at 127.0.0.1:{mosquitto.port} accepts clients without a password: "
        "expected for the local `urbanpulse up` stack; a compose stack must refuse them (set "
        "the MQTT_*_PASSWORD variables to check one)")


def test_passwords_against_an_anonymous_broker_say_it_accepts_anyone(
        mosquitto: stack.Server) -> None:
    """Passwords set (a compose stack is expected), but the broker lets anyone in."""
    found = asyncio.run(check_broker("127.0.0.1", mosquitto.port, "city",
                                     dict.fromkeys(PASSWORDS, "wrong-password-0123"), 5))
    assert found[0].status == "FAIL"
    assert found[0].detail.endswith("accepts clients without a password, so anyone may read "
                                    "and publish whatever its ACL leaves open")
    assert "allow_anonymous false" in found[0].fix
    logins = [finding for finding in found if "logged in" in finding.detail]
    assert [finding.status for finding in logins] == ["INFO"] * len(PASSWORDS)
    assert all(finding.detail.endswith("but the broker lets anyone in (see mqtt anonymous), "
                                       "so this says nothing about the password")
               for finding in logins)
    acl = [finding for finding in found[1:] if finding.status == "FAIL"]
    assert acl, "the local broker has no ACL: the refused publishes go through"
    assert all("the broker lets anyone in" in finding.detail for finding in acl)
    assert all(finding.fix.startswith("see mqtt anonymous") for finding in acl)


# -- the InfluxDB login the services and the doctor share --------------------------------


def test_a_user_and_password_go_as_basic_auth_that_influxdb_accepts(influx: str) -> None:
    """What the compose stack's ingest sends: InfluxDB checks it as a v1 user."""
    ingest = IngestSettings(_env_file=None, influx_url=influx, influx_username="ingest",
                            influx_password=INFLUX_PASSWORDS["ingest"])
    headers = ingest.influx_auth_headers()
    assert headers["Authorization"].startswith("Basic ")
    point = f"doctor,run=settings ok=1i {int(time.time() * 1000)}"
    written = httpx.post(f"{influx}/write", params={"db": "city", "precision": "ms"},
                         headers=headers, content=point, timeout=10)
    assert written.status_code == 204, written.text
    # The same user reads `city` back (the ingester restores its alert record from it)...
    read = httpx.get(f"{influx}/query", headers=headers, timeout=10,
                     params={"db": "city", "q": "SELECT count(ok) FROM doctor"})
    assert read.status_code == 200, read.text
    (series,) = read.json()["results"][0]["series"]
    assert series["values"][0][1] >= 1
    # ...and has no right at all on another database.
    other = httpx.get(f"{influx}/query", headers=headers, timeout=10,
                      params={"db": "other", "q": "SELECT count(ok) FROM doctor"})
    assert "not authorized" in other.text


def test_a_token_still_goes_as_a_token_header() -> None:
    settings = IngestSettings(_env_file=None, influx_token="a-real-token-0123456789")
    assert settings.influx_auth_headers() == {
        "Authorization": "Token a-real-token-0123456789"}
    assert IngestSettings(_env_file=None).influx_auth_headers() == {}


@pytest.mark.parametrize(("values", "message"), [
    ({"URBANPULSE_INFLUX_USERNAME": "ingest"},
     "set both URBANPULSE_INFLUX_USERNAME and URBANPULSE_INFLUX_PASSWORD or neither"),
    ({"URBANPULSE_INFLUX_PASSWORD": "a-long-password-01234"},
     "set both URBANPULSE_INFLUX_USERNAME and URBANPULSE_INFLUX_PASSWORD or neither"),
    ({"URBANPULSE_INFLUX_USERNAME": "ingest", "URBANPULSE_INFLUX_PASSWORD": "x" * 20,
      "URBANPULSE_INFLUX_TOKEN": "a-real-token-0123456789"},
     "set either URBANPULSE_INFLUX_TOKEN or a user name and password, not both"),
    ({"URBANPULSE_INFLUX_USERNAME": "ingest", "URBANPULSE_INFLUX_PASSWORD": "change-me"},
     "is a well-known default"),
])
def test_influx_login_settings_are_checked_at_start_up(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, values: dict[str, str],
        message: str) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="URBANPULSE_INFLUX_PASSWORD") as raised:
        load(IngestSettings)
    assert message in str(raised.value)
    assert "change-me" not in str(raised.value)


def test_the_doctor_reads_the_compose_names_and_its_own_win(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("MQTT_INGEST_PASSWORD=from-compose-env-0123\n"
                                   "GRAFANA_ADMIN_USER=boss\n"
                                   "INFLUX_API_PASSWORD=api-from-compose-0123\n")
    monkeypatch.setenv("URBANPULSE_DOCTOR_INFLUX_API_PASSWORD", "api-from-doctor-0123")
    settings = load(DoctorSettings)
    assert settings.doctor_mqtt_ingest_password is not None
    assert settings.doctor_mqtt_ingest_password.get_secret_value() == "from-compose-env-0123"
    assert settings.doctor_grafana_user == "boss"
    assert settings.doctor_influx_api_password is not None
    assert settings.doctor_influx_api_password.get_secret_value() == "api-from-doctor-0123"
    assert settings.doctor_mqtt_api_password is None
