"""The doctor's broker checks: each account logs in and holds exactly its publish rights.

It also reads the ingesters' retained status messages (`read_status`).

The services' MQTT client (gmqtt) hides the CONNACK and PUBACK reason codes and
reconnects on its own. The doctor needs exactly those codes, once, to tell a
wrong password from an ACL refusal, so it sends CONNECT, PUBLISH at QoS 1 and
DISCONNECT itself, built by `urbanpulse.mqtt5` like the simulator's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import uuid
from dataclasses import dataclass

from urbanpulse.doctor_report import Finding
from urbanpulse.mqtt5 import connect_packet, publish_packet, read_varint, varint

SUCCESS = 0x00
NO_MATCHING_SUBSCRIBERS = 0x10  # a PUBACK that still means "accepted"
BAD_USER_NAME_OR_PASSWORD = 0x86
NOT_AUTHORIZED = 0x87
_CONNACK, _PUBLISH, _PUBACK, _SUBACK = 2, 3, 4, 9
RETAINED_QUIET_S = 0.3
"""The broker sends retained messages right after the SUBACK: this long a silence ends them."""


class ProtocolError(Exception):
    """The broker answered with something this client did not ask for."""


class MqttProbe:
    """One MQTT 5 connection with a clean start, kept only for a few packets."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._next_id = 1

    @classmethod
    async def open(cls, host: str, port: int) -> MqttProbe:
        """Open the TCP connection (OSError when nothing listens)."""
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def _read_packet(self) -> tuple[int, bytes]:
        """Return the first byte (type and flags) and the rest of the next packet."""
        first = (await self._reader.readexactly(1))[0]
        header = b""
        while not header or header[-1] & 0x80:  # the remaining length, a variable byte integer
            header += await self._reader.readexactly(1)
        length, _ = read_varint(header, 0) or (0, 0)
        return first, await self._reader.readexactly(length)

    async def _read(self) -> tuple[int, bytes]:
        first, body = await self._read_packet()
        return first >> 4, body

    async def login(self, username: str | None, password: str | None) -> int:
        """Send CONNECT and return the CONNACK reason code (0: logged in)."""
        self._writer.write(connect_packet(
            f"urbanpulse-doctor-{uuid.uuid4().hex[:12]}", username, password or None,
            clean_start=True, keepalive_s=10, session_expiry_s=0))
        await self._writer.drain()
        kind, answer = await self._read()
        if kind != _CONNACK or len(answer) < 2:
            raise ProtocolError(f"expected CONNACK, got packet type {kind}")
        return answer[1]

    async def publish(self, topic: str, payload: bytes) -> int:
        """Publish at QoS 1 (not retained) and return the PUBACK reason code."""
        packet_id, self._next_id = self._next_id, self._next_id + 1
        self._writer.write(publish_packet(topic, packet_id, payload))
        await self._writer.drain()
        while True:
            kind, answer = await self._read()
            if kind == _PUBACK and struct.unpack("!H", answer[:2])[0] == packet_id:
                return answer[2] if len(answer) > 2 else SUCCESS

    async def retained(self, topic_filter: str) -> dict[str, bytes]:
        """Subscribe at QoS 0 and return the retained messages: topic -> payload.

        Returns an empty dict when the broker refuses the subscription (the ACL).
        """
        packet_id, self._next_id = self._next_id, self._next_id + 1
        encoded = topic_filter.encode("utf-8")
        body = b"".join((struct.pack("!H", packet_id), b"\x00",  # no properties
                         struct.pack("!H", len(encoded)), encoded, b"\x00"))  # QoS 0
        self._writer.write(b"\x82" + varint(len(body)) + body)
        await self._writer.drain()
        kind, answer = await self._read()
        while kind != _SUBACK:
            kind, answer = await self._read()
        granted = answer[-1] if answer else 0x80
        found: dict[str, bytes] = {}
        if granted >= 0x80:
            return found
        while True:
            try:
                async with asyncio.timeout(RETAINED_QUIET_S):
                    first, packet = await self._read_packet()
            except TimeoutError:
                return found
            if first >> 4 == _PUBLISH:
                topic, payload = _publish_body(first, packet)
                found[topic] = payload

    async def close(self) -> None:
        """Send DISCONNECT (when still possible) and close the socket."""
        with contextlib.suppress(OSError, RuntimeError):
            self._writer.write(b"\xe0\x00")
            await self._writer.drain()
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


def _publish_body(first: int, packet: bytes) -> tuple[str, bytes]:
    """Return the topic and payload of a PUBLISH packet (MQTT 5, with properties)."""
    width = struct.unpack("!H", packet[:2])[0]
    topic, pos = packet[2:2 + width].decode("utf-8", "replace"), 2 + width
    if (first >> 1) & 0x03:  # QoS 1 or 2 carry a packet id
        pos += 2
    length, pos = read_varint(packet, pos) or (0, pos)
    return topic, packet[pos + length:]


@dataclass(frozen=True)
class Account:
    """An MQTT account, the compose variable of its password, and topics to probe."""

    name: str
    variable: str
    may_write: str | None  # a channel it must be able to publish to, where nobody listens
    must_not_write: str  # a channel its ACL must refuse


ACCOUNTS = (
    # Probe topics are chosen so that no service reads them: the ACL lets nobody
    # read truth or rejected, so a doctor probe never reaches the pipeline.
    Account("simulator", "MQTT_SIMULATOR_PASSWORD", "truth", "rejected"),
    Account("ingest", "MQTT_INGEST_PASSWORD", "rejected", "truth"),
    Account("api", "MQTT_API_PASSWORD", None, "truth"),
    Account("observer", "MQTT_OBSERVER_PASSWORD", None, "truth"),
)

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
                found = await probe.retained(f"{root}/status/ingest/+")
            finally:
                await probe.close()
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ProtocolError) as exc:
        return f"cannot reach the broker ({_reason(exc)})"
    return {topic.rsplit("/", 1)[-1]: payload for topic, payload in found.items()}


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
    allowed = f"{root}/{account.may_write}/doctor" if account.may_write else None
    refused = f"{root}/{account.must_not_write}/doctor"
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
