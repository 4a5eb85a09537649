"""The doctor's Grafana checks: the InfluxDB data source is healthy, every dashboard provisioned.

The dashboards to look for are read from the JSON files at run time (their `uid`),
so a dashboard added to grafana/dashboards is checked without touching this code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import niquests
from grafana_client.api import GrafanaApi
from grafana_client.client import (
    GrafanaClientError,
    GrafanaException,
    GrafanaServerError,
    GrafanaUnauthorizedError,
)

from ops.doctor.report import Finding, unreachable

DATASOURCE_UID = "urbanpulse-influxdb"
"""Uid of the provisioned InfluxDB data source (grafana/provisioning/datasources)."""

_PASSWORD_FIX = ("GRAFANA_ADMIN_PASSWORD in .env differs from Grafana's: Grafana keeps the "
                 "password of its first start in the grafana-data volume; set it again with "
                 "`docker compose exec grafana grafana cli admin reset-admin-password "
                 "\"$GRAFANA_ADMIN_PASSWORD\"`")
_TOKEN_FIX = "URBANPULSE_DOCTOR_GRAFANA_TOKEN is not a valid service account token of this Grafana"


def dashboard_uids(folder: Path) -> dict[str, str]:
    """Return uid -> file name of every dashboard JSON file in `folder`."""
    uids = {}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        uid = data.get("uid") if isinstance(data, dict) else None
        if isinstance(uid, str) and uid:
            uids[uid] = path.name
    return uids


def check_grafana(url: str, credential: str | tuple[str, str], dashboards: Path,
                  timeout_s: float) -> list[Finding]:
    """Check the data source's health, then that every dashboard in `dashboards` is there."""
    api = GrafanaApi.from_url(url, credential=credential, timeout=timeout_s)
    by_token = isinstance(credential, str)
    login_fix = _TOKEN_FIX if by_token else _PASSWORD_FIX
    who = "the service account token" if by_token else f"user '{credential[0]}'"
    try:
        health: Any = api.datasource.health(DATASOURCE_UID)
    except GrafanaUnauthorizedError:
        return [Finding.fail("grafana login", f"Grafana at {url} refused {who} (401)", login_fix)]
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            found = [Finding.fail(
                "grafana datasource", f"Grafana has no data source with uid {DATASOURCE_UID}",
                "mount grafana/provisioning/datasources at /etc/grafana/provisioning/datasources "
                "and restart Grafana (docker compose restart grafana)")]
        elif exc.status_code == 403:
            return [Finding.fail("grafana login", f"Grafana at {url} lets {who} in but not "
                                 "read data sources (403)", "use an Admin account or token")]
        else:
            found = [_unhealthy(exc.response)]
    except GrafanaServerError as exc:
        found = [_unhealthy(exc.response)]
    except niquests.exceptions.RequestException as exc:
        return [Finding.fail("grafana", f"nothing answers at {url} ({unreachable(exc)})",
                             "start Grafana (docker compose up -d grafana) and check "
                             "URBANPULSE_DOCTOR_GRAFANA_URL")]
    except GrafanaException as exc:
        return [Finding.fail("grafana", f"Grafana at {url} answered what the doctor cannot "
                             f"read: {exc}", "check URBANPULSE_DOCTOR_GRAFANA_URL points at "
                             "Grafana, and look at its log (docker compose logs grafana)")]
    else:
        found = [_health_finding(health)]
    return found + _check_dashboards(api, dashboards)


def _health_finding(health: Any) -> Finding:
    status = health.get("status") if isinstance(health, dict) else None
    if status == "OK":
        return Finding.ok("grafana datasource",
                          f"data source {DATASOURCE_UID} is healthy: {health.get('message', '')}")
    return _unhealthy(health)


def _unhealthy(response: Any) -> Finding:
    message = response.get("message") if isinstance(response, dict) else response
    return Finding.fail(
        "grafana datasource", f"data source {DATASOURCE_UID} is unhealthy: {message}",
        "Grafana logs in to InfluxDB as the read-only user 'grafana': check that InfluxDB is "
        "up and that INFLUX_GRAFANA_PASSWORD is the password InfluxDB's first start gave "
        "'grafana' (docker compose exec influxdb influx v1 auth set-password --username "
        "grafana --password \"$INFLUX_GRAFANA_PASSWORD\"), then restart Grafana")


def _check_dashboards(api: GrafanaApi, folder: Path) -> list[Finding]:
    try:
        wanted = dashboard_uids(folder)
    except (OSError, ValueError) as exc:
        return [Finding.fail("grafana dashboards", f"cannot read the dashboard files in "
                             f"{folder}: {exc}", "run the doctor from the repository folder or "
                             "set URBANPULSE_DOCTOR_DASHBOARDS")]
    if not wanted:
        return [Finding.fail("grafana dashboards", f"no dashboard file with a uid in {folder}",
                             "run the doctor from the repository folder or set "
                             "URBANPULSE_DOCTOR_DASHBOARDS")]
    try:
        hits: Any = api.search.search_dashboards(  # type: ignore[no-untyped-call]  # untyped
            dashboard_uids=list(wanted), type_="dash-db")
    except niquests.exceptions.RequestException as exc:
        return [Finding.fail("grafana dashboards", f"Grafana did not answer the dashboard "
                             f"search ({unreachable(exc)})", "look at Grafana's log "
                             "(docker compose logs grafana)")]
    except GrafanaException as exc:
        return [Finding.fail("grafana dashboards", f"Grafana did not answer the dashboard "
                             f"search: {exc}", "look at Grafana's log (docker compose logs "
                             "grafana)")]
    present = {hit.get("uid") for hit in hits if isinstance(hit, dict)}
    findings = []
    for uid, file in wanted.items():
        if uid in present:
            findings.append(Finding.ok("grafana dashboards", f"dashboard {uid} ({file}) is "
                                       "provisioned"))
        else:
            findings.append(Finding.fail(
                "grafana dashboards", f"dashboard {uid} ({file}) is not provisioned in Grafana",
                "mount grafana/dashboards at /etc/grafana/dashboards, then look for the file "
                "in Grafana's log (docker compose logs grafana | grep -i dashboard): a JSON "
                "error or a uid used twice keeps it out"))
    return findings
