"""The doctor's ingester checks: its retained status says online, its metrics are recent."""

from __future__ import annotations

import asyncio
import time

import httpx

from api.errors import InfluxError
from api.influx import HttpxTransport, InfluxQuery
from ingest.metrics import MEASUREMENT as PIPELINE
from ops.doctor.influx import login
from ops.doctor.report import Finding
from urbanpulse.influxql import Series, quote_identifier, time_from, where
from urbanpulse.settings import DoctorSettings
from urbanpulse.topics import status_subscription

_INGEST_FIX = ("start the ingest service (docker compose up -d ingest; outside compose, "
               "`urbanpulse ingest`) and look at its log (docker compose logs ingest)")


def check_ingest(settings: DoctorSettings, status: dict[str, bytes] | str) -> list[Finding]:
    """Check an ingester says it is online and wrote its `pipeline` metrics recently.

    `status` is instance -> retained payload of `{root}/status/ingest/+`, or why it
    could not be read. The status alone misses a frozen ingester: its retained
    `online` stays until the broker gives up on the connection, so the age of its
    newest metrics point decides whether data flows.
    """
    topic = status_subscription("ingest", root=settings.topic_root)
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
    reader = login(settings, "api", settings.doctor_influx_api_password, "INFLUX_API_PASSWORD")
    since_ms = int(time.time() * 1000 - max_age * 1000)
    statement = (f"SELECT last({quote_identifier('written')}) "
                 f"FROM {quote_identifier(PIPELINE)}{where(time_from(since_ms))} "
                 f"GROUP BY {quote_identifier('instance')}")
    try:
        found = asyncio.run(_query(settings, reader.headers, statement))
    except InfluxError:
        return Finding.skip("ingest data", "cannot query InfluxDB (see the influxdb checks)")
    now_ms = time.time() * 1000
    ages = {one.tags.get("instance", "?"): (now_ms - one.values[0][0], one.values[0][1])
            for one in found if one.values}
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



async def _query(settings: DoctorSettings, headers: dict[str, str],
                 statement: str) -> list[Series]:
    async with httpx.AsyncClient(base_url=settings.influx_url, headers=headers,
                                 timeout=settings.doctor_timeout_s) as client:
        influx = InfluxQuery(HttpxTransport(client), settings.influx_db,
                             where=f"InfluxDB at {settings.influx_url}")
        return await influx.query(statement)
