"""Offline checks of the compose stack: docker-compose.yml, Dockerfile, mosquitto config.

No Docker engine runs on the developers' or CI machines, so the stack is checked
by reading its files: services, start-up order, volumes, ports, variables, and
each service's settings names. The parts that can run without Docker do run:
the two Python healthchecks, the secrets check, the InfluxDB users script, and
the mosquitto entrypoint, configuration and ACL against a real local
`mosquitto`, where every account's publish and receive rights are tried topic
by topic.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import subprocess
import sys
import threading
import time
import tomllib
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from paho.mqtt.client import Client, ConnectFlags, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ops import stack
from ops.doctor.secrets import COMPOSE_SECRETS, MIN_LENGTH
from simulator.broker_queue import DROPPED, RETAINED, STORED, UPTIME, BrokerQueue
from tests.conftest import _require as require_server
from urbanpulse import topics
from urbanpulse.settings import ApiSettings, IngestSettings, SimSettings, env_name

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
MOSQUITTO_DIR = ROOT / "deploy" / "mosquitto"
GRAFANA_PROVISIONING = ROOT / "grafana" / "provisioning"

SERVICES = {"secrets", "mosquitto", "influxdb", "grafana", "simulator", "ingest", "api"}
THIRD_PARTY = {"mosquitto", "influxdb", "grafana"}
INFLUX_INIT = ROOT / "deploy" / "influxdb" / "initdb"
# InfluxDB v1 user of each service that reaches InfluxDB, and its only right on bucket city.
INFLUX_USERS = {"ingest": ("--write-bucket", "--read-bucket"), "api": ("--read-bucket",),
                "grafana": ("--read-bucket",)}
"""The rights of each service's InfluxDB user on `city`: the ingester reads back its alerts."""
PUBLISHED = {"mosquitto": (1883, 1883), "influxdb": (8086, 8086), "grafana": (3000, 3000),
             "api": (8000, 8000)}
SETTINGS_BY_COMMAND: dict[str, type[Any]] = {
    "sim": SimSettings, "ingest": IngestSettings, "api": ApiSettings,
}
ACCOUNT_BY_SERVICE = {"simulator": "simulator", "ingest": "ingest", "api": "api"}

# Topic permissions of each MQTT account: (access, topic filter), nothing else.
EXPECTED_ACL: dict[str, set[tuple[str, str]]] = {
    "simulator": {("write", "city/readings/#"), ("write", "city/sensors/#"),
                  ("write", "city/truth/#"),
                  *(("read", topic) for topic in (STORED, RETAINED, DROPPED, UPTIME))},
    "ingest": {("read", "city/readings/#"), ("read", "city/sensors/#"),
               ("read", "city/commands/alerts/ack"), ("readwrite", "city/alerts/#"),
               ("write", "city/rejected/#"), ("write", "city/state/#"),
               ("write", "city/status/ingest/#"), ("write", "city/notifications/#"),
               ("read", "city/commands/incidents/transition"), ("write", "city/incidents/#")},
    "api": {("write", "city/commands/alerts/ack"), ("read", "city/alerts/#"),
            ("read", "city/state/#"), ("read", "city/sensors/#"), ("read", "city/status/#"),
            ("write", "city/commands/incidents/transition"), ("read", "city/incidents/#")},
    "observer": {("read", "city/alerts/#"), ("read", "city/notifications/#"),
                 ("read", "city/incidents/#")},
}

_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


# -- helpers -----------------------------------------------------------------------------


def interpolate(text: str) -> str:
    """Replace each `${VAR...}` by its default, or by `<VAR>` when it has none."""
    return _VARIABLE.sub(
        lambda m: m.group(3) if m.group(2) in (":-", "-") else f"<{m.group(1)}>", text)


def environment(service: dict[str, Any]) -> dict[str, str]:
    """Return a service's environment as a mapping, list syntax included."""
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(key): str(value) for key, value in env.items()}


def volume_entries(service: dict[str, Any]) -> list[tuple[str, str]]:
    """Return (source, target) of each volume of a service, short and long syntax."""
    entries = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        entries.append((source, target))
    return entries


def is_bind(source: str) -> bool:
    return source.startswith((".", "/", "~"))


def parse_acl(text: str) -> tuple[dict[str, set[tuple[str, str]]], list[str]]:
    """Parse a mosquitto ACL file into per-user rules and the lines outside any user."""
    rules: dict[str, set[tuple[str, str]]] = {}
    stray: list[str] = []
    user: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split(maxsplit=2)  # a topic may hold spaces ("retained messages")
        if words[0] == "user":
            user = words[1]
            rules.setdefault(user, set())
        elif words[0] == "topic" and user is not None:
            access, pattern = (words[1], words[2]) if len(words) == 3 else ("readwrite", words[1])
            rules[user].add((access, pattern))
        else:
            stray.append(line)
    return rules, stray


def conf_options(text: str) -> dict[str, list[str]]:
    """Parse a mosquitto.conf into option -> values."""
    options: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            options.setdefault(key, []).append(value.strip())
    return options


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


# -- docker-compose.yml ----------------------------------------------------------------


def test_compose_has_the_seven_services_and_no_version_key(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES
    assert "version" not in compose


def test_app_services_build_the_one_image_and_run_their_subcommand(
        services: dict[str, dict[str, Any]]) -> None:
    for name, subcommand in (("simulator", "sim"), ("ingest", "ingest"), ("api", "api")):
        assert services[name]["build"] == "."
        assert services[name]["command"] == ["urbanpulse", subcommand]


def test_depends_on_waits_for_healthy_targets(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: use the long depends_on syntax"
        for target, spec in depends.items():
            assert target in services, f"{name} depends on unknown service {target}"
            if "healthcheck" in services[target]:
                assert spec == {"condition": "service_healthy"}, f"{name} -> {target}"
            else:
                assert target == "secrets", f"{name} waits on {target}, which has no healthcheck"
                assert spec == {"condition": "service_completed_successfully"}, name


def test_every_long_running_service_but_the_simulator_has_a_healthcheck(
        services: dict[str, dict[str, Any]]) -> None:
    checked = {name for name, service in services.items() if "healthcheck" in service}
    assert checked == SERVICES - {"simulator", "secrets"}
    for name in checked:
        assert services[name]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    assert services["secrets"]["restart"] == "no", "a one-shot check must not restart"


def test_start_up_order(services: dict[str, dict[str, Any]]) -> None:
    assert set(services["ingest"]["depends_on"]) == {"mosquitto", "influxdb"}
    assert set(services["simulator"]["depends_on"]) == {"mosquitto", "ingest"}
    assert set(services["api"]["depends_on"]) == {"mosquitto", "influxdb"}
    assert set(services["grafana"]["depends_on"]) == {"secrets", "influxdb"}
    for name in ("mosquitto", "influxdb"):
        assert set(services[name]["depends_on"]) == {"secrets"}, name


def test_third_party_services_wait_for_the_secrets_check(
        services: dict[str, dict[str, Any]]) -> None:
    """mosquitto, InfluxDB and Grafana would take 'change-me'; they start after the check."""
    for name in THIRD_PARTY:
        spec = services[name]["depends_on"]["secrets"]
        assert spec == {"condition": "service_completed_successfully"}, name
    secrets = services["secrets"]
    assert secrets["image"] == services["api"]["image"]
    assert secrets["command"] == ["python", "-m", "ops.doctor.secrets"]
    env = environment(secrets)
    assert set(env) == set(COMPOSE_SECRETS)
    for name, value in env.items():
        assert value.startswith(f"${{{name}:?"), name


def test_the_secrets_check_covers_every_secret_of_the_compose_file() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    secret_like = {match.group(1) for match in _VARIABLE.finditer(text)
                   if match.group(1).endswith(("PASSWORD", "TOKEN", "KEY"))}
    assert secret_like == set(COMPOSE_SECRETS)


def test_named_volumes_are_declared_and_hold_the_data(
        compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set(compose.get("volumes", {}))
    used = {source for service in services.values()
            for source, _ in volume_entries(service) if not is_bind(source)}
    assert used == declared
    targets = {name: {target for source, target in volume_entries(services[name])
                      if not is_bind(source)} for name in ("mosquitto", "influxdb", "grafana")}
    assert "/mosquitto/data" in targets["mosquitto"]
    assert "/var/lib/influxdb2" in targets["influxdb"]
    assert "/var/lib/grafana" in targets["grafana"]


def test_bind_mounts_exist_in_the_repository(services: dict[str, dict[str, Any]]) -> None:
    binds = [(name, source) for name, service in services.items()
             for source, _ in volume_entries(service) if is_bind(source)]
    assert binds
    for name, source in binds:
        assert source.startswith("./"), f"{name}: bind-mount {source} from inside the repository"
        assert (ROOT / source).exists(), f"{name}: {source} does not exist"


def test_only_the_four_ports_are_published(services: dict[str, dict[str, Any]]) -> None:
    published = {}
    for name, service in services.items():
        for port in service.get("ports", []):
            parts = interpolate(str(port)).split(":")
            assert parts[0] == "127.0.0.1", f"{name}: publish on PUBLISH_ADDRESS"
            published[name] = (int(parts[-2]), int(parts[-1]))
        assert "expose" not in service, name
        assert service.get("network_mode") != "host", name
    assert published == PUBLISHED


def test_every_variable_is_defined_in_env_example() -> None:
    assert ENV_EXAMPLE.exists(), ".env.example is missing"
    example = ENV_EXAMPLE.read_text(encoding="utf-8")
    assigned = set(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)=", example, re.MULTILINE))
    mentioned = set(re.findall(r"^#?\s*([A-Za-z_][A-Za-z0-9_]*)=", example, re.MULTILINE))
    for match in _VARIABLE.finditer(COMPOSE_FILE.read_text(encoding="utf-8")):
        name, operator = match.group(1), match.group(2)
        if operator == ":?":
            assert name in assigned, f"{name} is required: assign it in .env.example"
        else:
            assert name in mentioned, f"{name} is not in .env.example"


def test_secrets_are_required_not_defaulted() -> None:
    for match in _VARIABLE.finditer(COMPOSE_FILE.read_text(encoding="utf-8")):
        if match.group(1).endswith(("PASSWORD", "TOKEN", "KEY")):
            assert match.group(2) == ":?", f"{match.group(0)} must use ${{VAR:?message}}"


def test_app_environment_names_are_settings_of_their_service(
        services: dict[str, dict[str, Any]]) -> None:
    for name in ACCOUNT_BY_SERVICE:
        settings = SETTINGS_BY_COMMAND[services[name]["command"][1]]
        known = {env_name(field) for field in settings.model_fields}
        unknown = {key for key in environment(services[name])
                   if key.startswith("URBANPULSE_")} - known
        assert not unknown, f"{name} sets variables its settings do not read: {unknown}"


def test_app_services_log_in_with_their_own_account(
        services: dict[str, dict[str, Any]]) -> None:
    broker_env = environment(services["mosquitto"])
    for name, account in ACCOUNT_BY_SERVICE.items():
        env = environment(services[name])
        variable = f"MQTT_{account.upper()}_PASSWORD"
        assert env["URBANPULSE_MQTT_USERNAME"] == account
        assert env["URBANPULSE_MQTT_PASSWORD"].startswith(f"${{{variable}:?")
        assert broker_env[variable].startswith(f"${{{variable}:?")
        assert env["URBANPULSE_MQTT_HOST"] == "mosquitto"
        assert env["URBANPULSE_TOPIC_ROOT"] == "city"  # the ACL is written for `city`


def test_only_influxdb_set_up_gets_the_operator_token(
        services: dict[str, dict[str, Any]]) -> None:
    influx = environment(services["influxdb"])
    assert influx["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert influx["DOCKER_INFLUXDB_INIT_BUCKET"] == "city"
    assert influx["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"].startswith("${INFLUX_ADMIN_TOKEN:?")
    for name, service in services.items():
        env = environment(service)
        assert "URBANPULSE_INFLUX_TOKEN" not in env, name
        if name not in ("influxdb", "secrets"):
            assert not any("INFLUX_ADMIN_TOKEN" in value for value in env.values()), name


def test_services_reach_influxdb_as_their_own_user(
        services: dict[str, dict[str, Any]]) -> None:
    influx = environment(services["influxdb"])
    for name in ("ingest", "api"):
        env = environment(services[name])
        assert env["URBANPULSE_INFLUX_URL"] == "http://influxdb:8086"
        assert env["URBANPULSE_INFLUX_DB"] == "city"
        assert env["URBANPULSE_INFLUX_USERNAME"] == name
        variable = f"INFLUX_{name.upper()}_PASSWORD"
        assert env["URBANPULSE_INFLUX_PASSWORD"].startswith(f"${{{variable}:?"), name
    for name in INFLUX_USERS:
        variable = f"INFLUX_{name.upper()}_PASSWORD"
        assert influx[variable].startswith(f"${{{variable}:?"), "the users script reads it"
    mounts = {target: source for source, target in volume_entries(services["influxdb"])}
    assert mounts["/docker-entrypoint-initdb.d"] == "./deploy/influxdb/initdb"


def test_grafana_reads_influxdb_as_its_read_only_user(
        services: dict[str, dict[str, Any]]) -> None:
    (source,) = yaml.safe_load((GRAFANA_PROVISIONING / "datasources" / "influxdb.yaml")
                               .read_text(encoding="utf-8"))["datasources"]
    # InfluxDB 2 checks v1 users under Basic auth only; `Token user:password` is
    # looked up as an API token.
    assert source["basicAuth"] is True
    assert source["basicAuthUser"] == "grafana"
    assert source["secureJsonData"] == {"basicAuthPassword": "${INFLUX_GRAFANA_PASSWORD}"}
    assert "httpHeaderName1" not in source["jsonData"]
    env = environment(services["grafana"])
    assert env["INFLUX_GRAFANA_PASSWORD"].startswith("${INFLUX_GRAFANA_PASSWORD:?")


def test_grafana_mounts_match_its_provisioning(services: dict[str, dict[str, Any]]) -> None:
    grafana = services["grafana"]
    mounts = {target: source for source, target in volume_entries(grafana)}
    provider = yaml.safe_load(
        (GRAFANA_PROVISIONING / "dashboards" / "urbanpulse.yaml").read_text(encoding="utf-8"))
    path = provider["providers"][0]["options"]["path"]
    assert mounts[path] == "./grafana/dashboards"
    home = environment(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / mounts[str(Path(home).parent)] / Path(home).name).is_file()
    for kind in ("datasources", "dashboards"):
        assert mounts[f"/etc/grafana/provisioning/{kind}"] == f"./grafana/provisioning/{kind}"
    env = environment(grafana)
    for file in GRAFANA_PROVISIONING.rglob("*.yaml"):
        for match in _VARIABLE.finditer(file.read_text(encoding="utf-8")):
            assert match.group(1) in env, f"{file.name} reads {match.group(1)}, unset in grafana"


# -- healthchecks, run for real ----------------------------------------------------------


def _python_check(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], "the image has python but no curl"
    code: str = test[3]
    return code


def test_ingest_healthcheck_wants_a_fresh_health_file(
        services: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    code = _python_check(services["ingest"])
    assert "URBANPULSE_INGEST_HEALTH_FILE" in environment(services["ingest"])
    health = tmp_path / "alive"
    env = {**os.environ, "URBANPULSE_INGEST_HEALTH_FILE": str(health)}

    def check() -> int:
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              timeout=30, check=False).returncode

    assert check() != 0  # never touched
    health.touch()
    assert check() == 0
    stale = time.time() - 60
    os.utime(health, (stale, stale))
    assert check() != 0


class _HealthHandler(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


def test_api_healthcheck_wants_200_from_health(services: dict[str, dict[str, Any]]) -> None:
    code = _python_check(services["api"])
    env = environment(services["api"])
    assert env["URBANPULSE_API_HOST"] == "0.0.0.0"
    url = f"http://127.0.0.1:{env['URBANPULSE_API_PORT']}/health"
    assert url in code
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HealthHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        local = code.replace(url, f"http://127.0.0.1:{server.server_address[1]}/health")

        def check() -> int:
            return subprocess.run([sys.executable, "-c", local], capture_output=True,
                                  timeout=30, check=False).returncode

        _HealthHandler.status = 200
        assert check() == 0
        _HealthHandler.status = 503
        assert check() != 0
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# -- Dockerfile --------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile_compiles_in_a_build_stage_and_runs_slim_as_non_root() -> None:
    steps = _instructions()
    stages = [args for op, args in steps if op == "FROM"]
    assert stages == ["python:3.11 AS build", "python:3.11-slim"], "mypyc needs a compiler"
    runs = [shlex.split(args) for op, args in steps if op == "RUN"]
    assert any(words[i:i + 3] == ["pip", "wheel", "--no-deps"]
               for words in runs for i in range(len(words))), "no wheel built"
    final = steps[[op for op, _ in steps].index("FROM", 1):]
    assert ("COPY", "--from=build /wheels /wheels") in final
    assert any(words[:3] == ["pip", "install", "/wheels/*.whl"]
               for words in (shlex.split(args) for op, args in final if op == "RUN"))
    assert not any(op == "ENV" and "URBANPULSE_PURE_PYTHON" in args for op, args in steps)
    users = [args for op, args in final if op == "USER"]
    assert users, "the image runs as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert steps[-1] == ("CMD", '["urbanpulse", "--help"]')


def test_dockerignore_keeps_secrets_out_and_the_package_in() -> None:
    patterns = [line.strip().removeprefix("**/")
                for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
    for secret in (".env", ".git", ".venv"):
        assert any(fnmatch.fnmatch(secret, p) for p in patterns), f"{secret} is not ignored"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    needed = ["pyproject.toml", "setup.py", pyproject["project"]["readme"]]
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    needed += [pattern.rstrip("*") for pattern in packages]
    for name in needed:
        assert not any(fnmatch.fnmatch(name, p) for p in patterns), f"{name} is ignored"


# -- the secrets check, run for real -----------------------------------------------------


def good_secrets() -> dict[str, str]:
    return {name: f"{name.lower()}-{uuid.uuid4().hex}" for name in COMPOSE_SECRETS}


def run_secrets_check(secrets: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the `secrets` service's command with `secrets` as its whole compose environment."""
    clean = {k: v for k, v in os.environ.items() if k not in COMPOSE_SECRETS}
    return subprocess.run([sys.executable, "-m", "ops.doctor.secrets"],
                          env={**clean, **secrets}, capture_output=True, text=True, timeout=60,
                          check=False)


def test_the_secrets_check_passes_random_secrets() -> None:
    result = run_secrets_check(good_secrets())
    assert result.returncode == 0, result.stderr
    assert f"all {len(COMPOSE_SECRETS)} secrets are set" in result.stdout


def test_the_secrets_check_refuses_the_shipped_example() -> None:
    example = dict(re.findall(r"^([A-Z_]+)=(.*)$", ENV_EXAMPLE.read_text(encoding="utf-8"),
                              re.MULTILINE))
    result = run_secrets_check({name: example[name] for name in COMPOSE_SECRETS})
    assert result.returncode == 1
    for name in COMPOSE_SECRETS:
        assert f"secrets: {name} is the well-known default 'change-me'" in result.stderr
    assert "refusing to start the stack" in result.stderr


@pytest.mark.parametrize(("value", "message"), [
    ("", "GRAFANA_ADMIN_PASSWORD is not set: set it in .env"),
    ("   ", "GRAFANA_ADMIN_PASSWORD is not set"),
    ("Password", "GRAFANA_ADMIN_PASSWORD is the well-known default 'Password'"),
    ("a" * (MIN_LENGTH - 1), f"GRAFANA_ADMIN_PASSWORD has {MIN_LENGTH - 1} characters, "
     f"fewer than {MIN_LENGTH}"),
])
def test_the_secrets_check_refuses_a_bad_secret(value: str, message: str) -> None:
    secrets = good_secrets()
    secrets["GRAFANA_ADMIN_PASSWORD"] = value
    result = run_secrets_check(secrets)
    assert result.returncode == 1
    assert f"secrets: {message}" in result.stderr
    assert result.stderr.count("\n") == 2, "one problem and the closing sentence"
    if value.strip():
        assert value not in result.stderr.replace(f"{value!r}", ""), "a secret was echoed"


def test_the_secrets_check_refuses_a_missing_or_shared_secret() -> None:
    secrets = good_secrets()
    del secrets["API_KEY"]
    secrets["MQTT_API_PASSWORD"] = secrets["MQTT_INGEST_PASSWORD"]
    result = run_secrets_check(secrets)
    assert result.returncode == 1
    assert "secrets: API_KEY is not set" in result.stderr
    assert ("secrets: MQTT_API_PASSWORD has the same value as MQTT_INGEST_PASSWORD"
            in result.stderr)
    assert secrets["MQTT_INGEST_PASSWORD"] not in result.stderr


# -- the InfluxDB users script -----------------------------------------------------------

# A stand-in for the `influx` CLI of the influxdb:2 image, which is not installed here:
# it records its arguments, tab-separated, one call a line, so the script's commands can be
# read back.
_RECORDING_INFLUX = """#!/bin/sh
for word in "$@"; do printf '%s\\t' "$word"; done >> "$INFLUX_CALLS"
echo >> "$INFLUX_CALLS"
"""


def run_users_script(tmp_path: Path, passwords: dict[str, str]) -> tuple[
        subprocess.CompletedProcess[str], list[str]]:
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    (bin_dir / "influx").write_text(_RECORDING_INFLUX)
    (bin_dir / "influx").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "INFLUX_CALLS": str(calls), "DOCKER_INFLUXDB_INIT_BUCKET_ID": "0a1b2c3d4e5f6071",
           "DOCKER_INFLUXDB_INIT_ORG": "urbanpulse", **passwords}
    (script,) = INFLUX_INIT.glob("*.sh")
    result = subprocess.run([str(script)], env=env, capture_output=True, text=True,
                            timeout=30, check=False)
    return result, calls.read_text().splitlines() if calls.exists() else []


def test_the_users_script_is_executable_for_the_image() -> None:
    scripts = list(INFLUX_INIT.iterdir())
    assert [path.suffix for path in scripts] == [".sh"], "the image runs *.sh files only"
    assert os.access(scripts[0], os.X_OK), "the image runs the scripts; keep the x bit"


def test_the_users_script_gives_each_service_only_its_rights_on_city(tmp_path: Path) -> None:
    passwords = {f"INFLUX_{user.upper()}_PASSWORD": f"{user}-{uuid.uuid4().hex}"
                 for user in INFLUX_USERS}
    result, calls = run_users_script(tmp_path, passwords)
    assert result.returncode == 0, result.stderr
    made = {}
    for call in calls:
        words = call.rstrip("\t").split("\t")
        assert words[:3] == ["v1", "auth", "create"], call
        options = dict(zip(words[3::2], words[4::2], strict=True))
        user = options.pop("--username")
        assert options.pop("--password") == passwords[f"INFLUX_{user.upper()}_PASSWORD"]
        assert options.pop("--org") == "urbanpulse"
        options.pop("--description")
        made[user] = options
    assert made == {user: dict.fromkeys(rights, "0a1b2c3d4e5f6071")
                    for user, rights in INFLUX_USERS.items()}
    for user in INFLUX_USERS:
        assert passwords[f"INFLUX_{user.upper()}_PASSWORD"] not in result.stdout + result.stderr


def test_the_users_script_stops_on_an_empty_password(tmp_path: Path) -> None:
    passwords = {f"INFLUX_{user.upper()}_PASSWORD": f"{user}-{uuid.uuid4().hex}"
                 for user in INFLUX_USERS}
    passwords["INFLUX_API_PASSWORD"] = ""
    result, calls = run_users_script(tmp_path, passwords)
    assert result.returncode != 0
    assert ("INFLUX_API_PASSWORD is empty: set the password of InfluxDB user 'api' in .env"
            in result.stderr)
    assert len(calls) == 1, "ingest was made before api; grafana never"


# -- mosquitto configuration -------------------------------------------------------------


def test_acl_gives_each_account_only_its_topics() -> None:
    rules, stray = parse_acl((MOSQUITTO_DIR / "acl").read_text(encoding="utf-8"))
    assert stray == [], "no pattern lines and no rules for anonymous clients"
    assert rules == EXPECTED_ACL
    assert {pattern for access, pattern in rules["simulator"] if access != "write"} == {
        STORED, RETAINED, DROPPED, UPTIME}, "the simulator reads the broker's queue, nothing else"
    for user, user_rules in rules.items():
        for _, pattern in user_rules:
            assert pattern.startswith("city/") or user == "simulator", (user, pattern)


def test_entrypoint_creates_exactly_the_acl_accounts(
        services: dict[str, dict[str, Any]]) -> None:
    script = (MOSQUITTO_DIR / "entrypoint.sh").read_text(encoding="utf-8")
    accounts = dict(re.findall(r"^add_account (\w+) (\w+)$", script, re.MULTILINE))
    assert set(accounts) == set(EXPECTED_ACL)
    assert set(accounts.values()) == {
        key for key in environment(services["mosquitto"]) if key.startswith("MQTT_")}
    assert services["mosquitto"]["entrypoint"] == [
        "/bin/sh", "/mosquitto/config/entrypoint.sh"]


def test_mosquitto_conf_is_authenticated_persistent_and_queues(
        services: dict[str, dict[str, Any]]) -> None:
    options = conf_options((MOSQUITTO_DIR / "mosquitto.conf").read_text(encoding="utf-8"))
    assert options["allow_anonymous"] == ["false"]
    assert options["listener"] == ["1883"]
    assert options["persistence"] == ["true"]
    data = {target for source, target in volume_entries(services["mosquitto"])
            if not is_bind(source)}
    assert options["persistence_location"][0].rstrip("/") in data
    assert int(options["max_queued_messages"][0]) >= 100_000
    # Secrets are generated into the tmpfs, never read from the committed folder.
    assert services["mosquitto"]["tmpfs"] == ["/run/mosquitto"]
    assert options["password_file"] == ["/run/mosquitto/passwd"]
    assert options["acl_file"] == ["/run/mosquitto/acl"]


# -- mosquitto for real: the entrypoint, the configuration and the ACL -----------------

PASSWORDS = {account: f"pw-{account}-{uuid.uuid4().hex[:8]}" for account in EXPECTED_ACL}
SAMPLE_TOPICS = {
    "readings": topics.reading_topic("pudong", "air", "air-pudong-0001"),
    "sensors": topics.sensor_topic(topics.Channel.SENSORS, "pudong", "air", "air-pudong-0001"),
    "truth": topics.sensor_topic(topics.Channel.TRUTH, "pudong", "air", "air-pudong-0001"),
    "alerts": topics.alert_topic("pudong", "air", "air-pudong-0001", "pm25-high"),
    "rejected": topics.rejected_topic("malformed"),
    "ack": topics.ack_topic(),
    "state": topics.state_topic("pudong"),
    "notifications": topics.notification_topic("pudong", "air-district-stale"),
    "incidents": topics.incident_topic("pudong", "0123456789abcdef"),
    "transition": topics.transition_topic(),
    "ingest-status": topics.status_topic("ingest", "main"),
    "api-status": topics.status_topic("api", "main"),
    "foreign": "other/readings/pudong",
}
WRITES = {
    "simulator": {"readings", "sensors", "truth"},
    "ingest": {"alerts", "rejected", "state", "ingest-status", "notifications", "incidents"},
    "api": {"ack", "transition"},
    "observer": set(),
}
READS = {
    "simulator": set(),
    "ingest": {"readings", "sensors", "ack", "alerts", "transition"},
    "api": {"alerts", "state", "sensors", "ingest-status", "api-status", "incidents"},
    "observer": {"alerts", "notifications", "incidents"},
}


def start_compose_broker(folder: Path, port: int, acl: str | None = None) -> stack.Server:
    """Run deploy/mosquitto/entrypoint.sh with the committed conf, moved to `folder` and `port`.

    `acl` replaces the committed ACL (to break it on purpose).
    """
    binary = stack.find_binary("mosquitto", "mosquitto")
    stack.find_binary("mosquitto_passwd", "mosquitto")
    stack.find_binary("mosquitto_sub", "mosquitto-clients")  # the healthcheck's client
    config_dir, run_dir, data_dir = folder / "config", folder / "run", folder / "data"
    for path in (config_dir, data_dir):
        path.mkdir()
    committed = (MOSQUITTO_DIR / "acl").read_text(encoding="utf-8")
    (config_dir / "acl").write_text(committed if acl is None else acl, encoding="utf-8")
    conf = (MOSQUITTO_DIR / "mosquitto.conf").read_text(encoding="utf-8")
    for old, new in (("listener 1883", f"listener {port} 127.0.0.1"),
                     ("/run/mosquitto/", f"{run_dir}/"),
                     ("/mosquitto/data/", f"{data_dir}/")):
        assert old in conf
        conf = conf.replace(old, new)
    # As root, stay root: the test's temporary folders are closed to the mosquitto user.
    (config_dir / "mosquitto.conf").write_text(conf + "user root\n", encoding="utf-8")
    env = {**os.environ, "MOSQUITTO_RUN_DIR": str(run_dir),
           "MOSQUITTO_CONFIG_DIR": str(config_dir), "MOSQUITTO_BIN": binary,
           **{f"MQTT_{account.upper()}_PASSWORD": pw for account, pw in PASSWORDS.items()}}
    log = folder / "mosquitto.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(["sh", str(MOSQUITTO_DIR / "entrypoint.sh")], env=env,
                                   stdout=sink, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    server = stack.Server("mosquitto", process, port, log)
    deadline = time.monotonic() + 15
    while not stack.accepts(port):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise stack.ServerStartError(
                f"mosquitto did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    return server


@pytest.fixture(scope="module")
def broker_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The compose broker's entrypoint, configuration and ACL on a loopback port."""
    server = require_server(start_compose_broker, tmp_path_factory.mktemp("compose-mosquitto"),
                            stack.free_port())
    yield server.port
    server.stop()


class Session:
    """An MQTT v5 client logged in as one account, keeping what the broker answers."""

    def __init__(self, port: int, username: str | None, password: str | None) -> None:
        self.connack: int | None = None
        self.pubacks: dict[int, int] = {}
        self.received: set[str] = set()
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.subscribed = threading.Event()
        self.client = Client(CallbackAPIVersion.VERSION2, client_id=f"acl-{uuid.uuid4().hex[:10]}",
                             protocol=MQTTProtocolVersion.MQTTv5)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._connected.wait(10), "no CONNACK"

    def _on_connect(self, client: Client, userdata: object, flags: ConnectFlags,
                    reason: ReasonCode, properties: Properties | None) -> None:
        self.connack = reason.value
        self._connected.set()

    def _on_subscribe(self, client: Client, userdata: object, mid: int,
                      reasons: list[ReasonCode], properties: Properties) -> None:
        self.subscribed.set()

    def _on_publish(self, client: Client, userdata: object, mid: int, reason: ReasonCode,
                    properties: Properties) -> None:
        with self._lock:
            self.pubacks[mid] = reason.value

    def _on_message(self, client: Client, userdata: object, message: MQTTMessage) -> None:
        with self._lock:
            self.received.add(message.topic)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.services
def test_broker_refuses_anonymous_and_wrong_passwords(broker_port: int) -> None:
    for username, password in ((None, None), ("observer", "wrong-password"),
                               ("nobody", PASSWORDS["observer"])):
        session = Session(broker_port, username, password)
        try:
            assert session.connack == 135, username  # Not authorized
        finally:
            session.close()


@pytest.mark.services
def test_broker_enforces_each_accounts_acl(broker_port: int) -> None:
    sessions = {account: Session(broker_port, account, pw) for account, pw in PASSWORDS.items()}
    try:
        for session in sessions.values():
            assert session.connack == 0
            result, _ = session.client.subscribe("#", qos=1)
            assert result == MQTTErrorCode.MQTT_ERR_SUCCESS
        for session in sessions.values():
            assert session.subscribed.wait(10), "no SUBACK"
        # Write rights: the broker acknowledges a QoS 1 publish with 0 or 135.
        for account, session in sessions.items():
            mids = {name: session.client.publish(topic, b"acl-test", qos=1).mid
                    for name, topic in SAMPLE_TOPICS.items()}
            _wait_until(lambda s=session, m=mids: all(mid in s.pubacks for mid in m.values()))
            allowed = {name for name, mid in mids.items() if session.pubacks[mid] == 0}
            assert allowed == WRITES[account], account
        # Read rights: each account receives exactly the published topics it may read.
        published = set().union(*WRITES.values())
        expected = {account: {SAMPLE_TOPICS[name] for name in names & published}
                    for account, names in READS.items()}
        _wait_until(lambda: all(sessions[a].received >= expected[a] for a in sessions))
        time.sleep(0.3)  # let anything that should not arrive arrive
        for account, session in sessions.items():
            assert session.received == expected[account], account
    finally:
        for session in sessions.values():
            session.close()


@pytest.mark.services
def test_hash_gives_the_simulator_nothing_not_even_retained_messages(broker_port: int) -> None:
    """Retained births and alerts go out on subscribe, a path apart from live delivery."""
    writers = {account: Session(broker_port, account, PASSWORDS[account])
               for account in ("simulator", "ingest")}
    retained = {"simulator": SAMPLE_TOPICS["sensors"], "ingest": SAMPLE_TOPICS["alerts"]}
    try:
        mids = {account: writers[account].client.publish(topic, b"retained", qos=1,
                                                         retain=True).mid
                for account, topic in retained.items()}
        _wait_until(lambda: all(mids[a] in writers[a].pubacks for a in writers))
        # 0x10: accepted, and nobody subscribed yet.
        assert all(writers[a].pubacks[mids[a]] in (0x00, 0x10) for a in writers), writers
        simulator = Session(broker_port, "simulator", PASSWORDS["simulator"])
        observer = Session(broker_port, "observer", PASSWORDS["observer"])
        try:
            for session in (simulator, observer):
                session.client.subscribe("#", qos=1)
                assert session.subscribed.wait(10), "no SUBACK"
            # The observer's copy shows the retained alert was there to be sent.
            _wait_until(lambda: SAMPLE_TOPICS["alerts"] in observer.received)
            time.sleep(0.3)
            assert simulator.received == set()
            assert observer.received == {SAMPLE_TOPICS["alerts"]}
        finally:
            simulator.close()
            observer.close()
    finally:
        for account, topic in retained.items():  # an empty retained message clears it
            writers[account].client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
        for session in writers.values():
            session.close()


@pytest.mark.services
def test_broker_healthcheck_logs_in_as_observer(
        broker_port: int, services: dict[str, dict[str, Any]]) -> None:
    kind, command = services["mosquitto"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    assert "-p 1883" in command
    # Compose turns `$$` into `$`, and the container's shell expands the variable.
    local = command.replace("$$", "$").replace("-p 1883", f"-p {broker_port}")
    client = Path(stack.find_binary("mosquitto_sub", "mosquitto-clients"))
    path = f"{client.parent}{os.pathsep}{os.environ.get('PATH', '')}"

    def check(password: str) -> int:
        env = {**os.environ, "PATH": path, "MQTT_OBSERVER_PASSWORD": password}
        return subprocess.run(["sh", "-c", local], env=env, capture_output=True, timeout=30,
                              check=False).returncode

    assert check(PASSWORDS["observer"]) == 0
    assert check("wrong-password") != 0


@pytest.mark.services
async def test_the_simulator_reads_the_brokers_queue_and_the_observer_does_not(
        broker_port: int) -> None:
    def login(account: str) -> SimSettings:
        return SimSettings(mqtt_host="127.0.0.1", mqtt_port=broker_port,
                           mqtt_username=account, mqtt_password=PASSWORDS[account])

    queue = await BrokerQueue.watch(login("simulator"), "acl-test")
    assert queue is not None
    assert queue.queued is not None
    await queue.close()
    assert await BrokerQueue.watch(login("observer"), "acl-test") is None
