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
from pathlib import Path

from pydantic import SecretStr

from ops.doctor.api import check_api
from ops.doctor.grafana import check_grafana
from ops.doctor.influx import check_influx
from ops.doctor.ingest import check_ingest
from ops.doctor.mqtt import check_broker, read_status
from ops.doctor.report import Finding, render
from urbanpulse.settings import DoctorSettings


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
