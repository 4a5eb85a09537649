"""The doctor's broker checks: each account logs in and holds exactly its publish rights.

It also reads the ingesters' retained status messages (`read_status`).

Each check runs on a connection of its own (`ops.doctor.mqtt_probe`), which
sees the broker's reason codes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass

from ops.doctor.mqtt_probe import MqttProbe, ProtocolError
from ops.doctor.report import Finding
from urbanpulse import topics
from urbanpulse.errors import TopicError
from urbanpulse.mqtt5 import (
    BAD_USER_NAME_OR_PASSWORD,
    NO_MATCHING_SUBSCRIBERS,
    NOT_AUTHORIZED,
    SUCCESS,
)
from urbanpulse.topics import Channel


@dataclass(frozen=True)
class Account:
    """An MQTT account, the compose variable of its password, and topics to probe."""

    name: str
    variable: str
    may_write: Channel | None  # a channel it must be able to publish to, where nobody listens
    must_not_write: Channel  # a channel its ACL must refuse


ACCOUNTS = (
    # Probe topics are chosen so that no service reads them: the ACL lets nobody
    # read truth or rejected, so a doctor probe never reaches the pipeline.
    Account("simulator", "MQTT_SIMULATOR_PASSWORD", Channel.TRUTH, Channel.REJECTED),
    Account("ingest", "MQTT_INGEST_PASSWORD", Channel.REJECTED, Channel.TRUTH),
    Account("api", "MQTT_API_PASSWORD", None, Channel.TRUTH),
    Account("observer", "MQTT_OBSERVER_PASSWORD", None, Channel.TRUTH),
)


def probe_topic(channel: Channel, *, root: str) -> str:
    """Return the doctor's probe topic on `channel`: a dead letter or a truth of 'doctor'."""
    if channel is Channel.REJECTED:
        return topics.rejected_topic("doctor", root=root)
    return topics.sensor_topic(channel, "doctor", "doctor", "doctor", root=root)

_RECREATE = ("the password in .env ({variable}) differs from the broker's password file: "
             "recreate the broker so its entrypoint hashes .env again "
             "(docker compose up -d --force-recreate mosquitto)")
_RESTORE_ACL = ("restore deploy/mosquitto/acl from the repository and restart the broker "
                "(docker compose restart mosquitto)")


async def check_broker(host: str, port: int, root: str, passwords: dict[str, str | None],
                       timeout_s: float) -> list[Finding]:
    """Check anonymous refusal, then each account's login and publish rights."""
    where = f"mosquitto at {host}:{port}"
    try:
        anonymous = await _attempt(host, port, None, None, [], timeout_s)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ProtocolError) as exc:
        return [Finding.fail(
            "mqtt", f"cannot reach {where}: {_reason(exc)}",
            "start the broker (docker compose up -d mosquitto) and check "
            "URBANPULSE_MQTT_HOST and URBANPULSE_MQTT_PORT")]
    open_to_all = anonymous[0] == SUCCESS
    findings = [_anonymous_finding(where, open_to_all, configured=any(
        password is not None for password in passwords.values()))]
    for account in ACCOUNTS:
        password = passwords.get(account.name)
        if password is None:
            findings.append(Finding.skip(
                f"mqtt {account.name}", f"no password for account '{account.name}' "
                f"(set {account.variable} or URBANPULSE_DOCTOR_{account.variable})"))
            continue
        findings.extend(await _check_account(host, port, root, account, password, timeout_s,
                                             open_to_all=open_to_all))
    return findings


def _anonymous_finding(where: str, open_to_all: bool, *, configured: bool) -> Finding:
    """Judge anonymous access: wrong for a stack with accounts, by design for `urbanpulse up`."""
    if not open_to_all:
        return Finding.ok("mqtt anonymous", f"{where} refuses anonymous clients")
    if not configured:
        # No account password is set: this is the local broker of `urbanpulse up`
        # (or `make run`), which has no accounts at all.
        return Finding.info("mqtt anonymous", f"{where} accepts clients without a password: "
                            "expected for the local `urbanpulse up` stack; a compose stack "
                            "must refuse them (set the MQTT_*_PASSWORD variables to check one)")
    return Finding.fail(
        "mqtt anonymous", f"{where} accepts clients without a password, so anyone may read "
        "and publish whatever its ACL leaves open",
        "this is not the compose broker's configuration: check that URBANPULSE_MQTT_HOST and "
        "URBANPULSE_MQTT_PORT point at the stack's broker, and that it runs "
        "deploy/mosquitto/mosquitto.conf (`allow_anonymous false`); then restart the broker")


async def read_status(host: str, port: int, root: str, password: str | None,
                      timeout_s: float) -> dict[str, bytes] | str:
    """Return the retained `{root}/status/ingest/+` messages (instance -> payload).

    Read as account 'api', which the ACL lets read status (anonymously when its
    password is unset, as on the local broker). A string says why it could not.
    """
    username = "api" if password is not None else None
    try:
        async with asyncio.timeout(timeout_s):
            probe = await MqttProbe.open(host, port)
            try:
                connack = await probe.login(username, password)
                if connack != SUCCESS:
                    return ("the broker refused account 'api' (see the mqtt api check)"
                            if username else "the broker refuses anonymous clients: set "
                            "MQTT_API_PASSWORD, account 'api' may read the status topics")
                found = await probe.retained(topics.status_subscription("ingest", root=root))
            finally:
                await probe.close()
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ProtocolError) as exc:
        return f"cannot reach the broker ({_reason(exc)})"
    statuses: dict[str, bytes] = {}
    for topic, payload in found.items():
        with contextlib.suppress(TopicError):  # a name outside the grammar is no ingester of ours
            statuses[topics.parse(topic).instance] = payload
    return statuses


async def _attempt(host: str, port: int, username: str | None, password: str | None,
                   topics: list[str], timeout_s: float) -> tuple[int, list[int]]:
    """Log in and publish to each topic; return the CONNACK and PUBACK reason codes."""
    async with asyncio.timeout(timeout_s):
        probe = await MqttProbe.open(host, port)
        try:
            connack = await probe.login(username, password)
            if connack != SUCCESS:
                return connack, []
            return connack, [await probe.publish(topic, b"urbanpulse doctor probe")
                             for topic in topics]
        finally:
            await probe.close()


async def _check_account(host: str, port: int, root: str, account: Account, password: str,
                         timeout_s: float, *, open_to_all: bool = False) -> list[Finding]:
    name = f"mqtt {account.name}"
    allowed = probe_topic(account.may_write, root=root) if account.may_write else None
    refused = probe_topic(account.must_not_write, root=root)
    topics = [topic for topic in (allowed, refused) if topic is not None]
    try:
        connack, pubacks = await _attempt(host, port, account.name, password, topics, timeout_s)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ProtocolError) as exc:
        return [Finding.fail(name, f"account '{account.name}' could not finish its check: "
                             f"{_reason(exc)}", "look at the broker's log "
                             "(docker compose logs mosquitto)")]
    if connack in (BAD_USER_NAME_OR_PASSWORD, NOT_AUTHORIZED):
        return [Finding.fail(name, f"mosquitto refused user '{account.name}': not authorised",
                             _RECREATE.format(variable=account.variable))]
    if connack != SUCCESS:
        return [Finding.fail(name, f"mosquitto refused user '{account.name}' with reason code "
                             f"{connack:#04x}", "look at the broker's log "
                             "(docker compose logs mosquitto)")]
    if open_to_all:
        # A broker open to anonymous clients usually runs without the password file
        # and the ACL: say so, rather than "logged in" followed by ACL failures.
        anyone = ("the broker lets anyone in (see mqtt anonymous), so this says nothing "
                  "about the password")
        findings = [Finding.info(name, f"account '{account.name}' logged in, but {anyone}")]
    else:
        findings = [Finding.ok(name, f"account '{account.name}' logged in")]
    acl_note = (" (the broker lets anyone in: it is probably not running the compose "
                "configuration and ACL)") if open_to_all else ""
    acl_fix = ("see mqtt anonymous: point the doctor at the compose broker, or run the broker "
               "with deploy/mosquitto") if open_to_all else _RESTORE_ACL
    codes = dict(zip(topics, pubacks, strict=True))
    if allowed is not None:
        if codes[allowed] in (SUCCESS, NO_MATCHING_SUBSCRIBERS):
            findings.append(Finding.ok(name, f"'{account.name}' may publish to {allowed}"))
        else:
            findings.append(Finding.fail(
                name, f"the ACL denies '{account.name}' publishing to {allowed} "
                f"(reason code {codes[allowed]:#04x}){acl_note}", acl_fix))
    if codes[refused] == NOT_AUTHORIZED:
        findings.append(Finding.ok(name, f"'{account.name}' may not publish to {refused}"))
    else:
        findings.append(Finding.fail(
            name, f"the broker let '{account.name}' publish to {refused}, which its ACL "
            f"must refuse{acl_note}", acl_fix))
    return findings


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "the broker closed the connection"
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)  # asyncio's own text repeats the address
    return str(exc) or type(exc).__name__
