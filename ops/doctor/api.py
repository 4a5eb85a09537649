"""The doctor's api check: `/health` answers 200, or says which of its servers is down."""

from __future__ import annotations

import httpx

from ops.doctor.report import Finding, unreachable


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
