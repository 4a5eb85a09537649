"""A publish-only MQTT 5 client: QoS 1 inside the broker's window, packets written in batches.

The simulator needs one thing from MQTT: many small QoS 1 PUBLISHes, fast.
General clients build each packet through layers of Python and keep a task or
a storage entry per message (gmqtt spent about 54 µs of CPU per publish in
`bench/sim_scale.py`). `Publisher` builds a PUBLISH with one struct pack, a
table lookup and one join, queues it, and writes everything queued in one event-loop turn with
one `transport.write`; each read from the socket retires all the PUBACKs it
holds at once (`simulator.wire`).

It speaks CONNECT (clean start on the first connection, credentials, a session
the broker keeps 5 minutes), CONNACK (its Receive Maximum caps the window, its
Server Keep Alive is honoured), PUBLISH QoS 1, PUBACK, PINGREQ/PINGRESP and
DISCONNECT. At most `window` messages are ever unacknowledged; packet ids are
taken round-robin from 1..65535, skipping any still in flight. When the
connection drops, it reconnects to the same session and resends every
unacknowledged PUBLISH with DUP set. Every failure is a `SinkError` sentence.

Reconnects back off exponentially with jitter (BACKOFF_FIRST_S doubling up to
BACKOFF_CAP_S), and the back-off only resets once a connection has lasted
STABLE_AFTER_S: a broker that accepts and then drops at once (another client
taking the session over, an ACL kicking the client out) sees a few connections
a minute, not thousands a second. A connection that has not stayed up for
RECONNECT_TIMEOUT_S ends in SinkError. Each stretch of trouble is logged once
when it begins and once when it ends, and a session taken over by another
client with the same id is said once, with what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import struct
from collections.abc import Coroutine, Sequence
from typing import Any

from simulator.errors import SinkError
from simulator.wire import ClosedEarlyError, Wire
from urbanpulse.mqtt5 import DISCONNECT_PACKET, Connack, connect_packet, reason, varint

TAKEN_OVER = reason(0x8E)

log = logging.getLogger(__name__)

KEEPALIVE_S = 60
RECONNECT_TIMEOUT_S = 60.0
"""How long the connection may stay unstable before the publisher gives up."""
BACKOFF_FIRST_S = 0.2
BACKOFF_CAP_S = 15.0
STABLE_AFTER_S = 10.0
"""A connection up this long resets the back-off: the trouble is over."""
FLUSH_AT = 256
"""Queued packets written at once rather than at the end of the event-loop turn."""

_U16 = struct.Struct("!H")
_HEAD_1 = struct.Struct("!BBH")  # PUBLISH fixed header (1-byte remaining length), topic length
_HEAD_2 = struct.Struct("!BBBH")  # the same with a 2-byte remaining length
_IDS = [struct.pack("!HB", mid, 0) for mid in range(65536)]
"""Packet id and an empty property length, ready to splice, by packet id."""
_PINGREQ = b"\xc0\x00"
_DUP = 0x08


class Publisher:
    """An MQTT 5 connection publishing QoS 1 messages, at most `window` unacknowledged.

    `publish` queues messages while the window has room; `wait_for_room` waits for half the
    window to come back. `drain` waits for every acknowledgement; `close` disconnects.
    """

    def __init__(self, host: str, port: int, *, client_id: str, username: str | None = None,
                 password: str | None = None, max_inflight: int = 1000) -> None:
        """Prepare a client; `connect` opens the connection."""
        self.loop = asyncio.get_running_loop()
        self.address = f"{host}:{port}"
        self.window = max_inflight
        self._peak = 0
        self.disconnect_reason = ""
        self._host, self._port = host, port
        self._client_id, self._username, self._password = client_id, username, password
        self._keepalive_s = KEEPALIVE_S
        self._inflight: dict[int, bytes] = {}
        self._pending: list[bytes] = []
        self._next_id = 1
        self._wire: Wire | None = None
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._wake_at = 0
        self._error: SinkError | None = None
        self._rejections: dict[int, int] = {}
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.reconnects = 0
        """Connections made again after one dropped."""
        self._connected_at = 0.0
        self._trouble_since: float | None = None
        self._failures = 0
        self._taken_over_said = False
        self._random = random.Random()

    @property
    def client_id(self) -> str:
        """Return the MQTT client id this publisher connects with."""
        return self._client_id

    @property
    def inflight(self) -> int:
        """Return how many messages await their PUBACK."""
        return len(self._inflight)

    @property
    def peak(self) -> int:
        """Return the most messages ever unacknowledged at once."""
        return max(self._peak, len(self._inflight))

    async def connect(self, timeout_s: float) -> None:
        """Open the first connection (clean start), or raise SinkError saying why not."""
        answer = await self._open(clean_start=True, timeout_s=timeout_s)
        self.window = max(1, min(self.window, answer.receive_maximum))
        self._spawn(self._keep_alive())

    async def _open(self, *, clean_start: bool, timeout_s: float) -> Connack:
        address = self.address
        try:
            async with asyncio.timeout(timeout_s):
                _, wire = await self.loop.create_connection(lambda: Wire(self), self._host,
                                                            self._port)
                assert wire.transport is not None
                wire.transport.write(connect_packet(
                    self._client_id, self._username, self._password, clean_start=clean_start,
                    keepalive_s=KEEPALIVE_S))
                try:
                    answer = await wire.connack
                except BaseException:
                    wire.transport.close()
                    raise
        except TimeoutError:
            raise SinkError(f"The MQTT broker at {address} did not accept the connection "
                            f"within {timeout_s:g} s.") from None
        except ClosedEarlyError as exc:
            raise SinkError(f"The MQTT broker at {address} did not accept the connection: "
                            f"{exc}.") from exc
        except OSError as exc:
            raise self._unreachable(exc) from exc
        if answer.code >= 0x80:
            wire.transport.close()
            detail = f" ({answer.reason_string})" if answer.reason_string else ""
            raise SinkError(f"The MQTT broker at {address} refused the connection: "
                            f"{reason(answer.code)}{detail}.")
        self._wire, self._transport = wire, wire.transport
        self.disconnect_reason = ""
        self._connected_at = self.loop.time()
        if answer.keepalive_s is not None:
            self._keepalive_s = answer.keepalive_s
        return answer

    def _unreachable(self, exc: OSError) -> SinkError:
        return SinkError(f"Cannot reach the MQTT broker at {self.address} ({exc}); check that it "
                         "runs and that URBANPULSE_MQTT_HOST and URBANPULSE_MQTT_PORT point to it.")

    def publish(self, messages: Sequence[tuple[str, bytes]], start: int, retain: bool) -> int:
        """Queue QoS 1 PUBLISHes of `messages[start:]` while the window has room.

        Returns:
            The position after the last message queued (`len(messages)` when all fit).
        """
        if self._error is not None:
            raise self._error
        inflight, pending = self._inflight, self._pending
        if not pending and start < len(messages):
            self.loop.call_soon(self.flush)
        end = min(len(messages), start + self.window - len(inflight))
        first = 0x33 if retain else 0x32
        mid = self._next_id
        short, medium, ids = _HEAD_1.pack, _HEAD_2.pack, _IDS
        for position in range(start, end):
            topic, payload = messages[position]
            while mid in inflight:  # only when PUBACKs come back out of order
                mid = mid % 65535 + 1
            name = topic.encode()
            size = len(name)
            length = size + len(payload) + 5
            if length < 16384:
                head = short(first, length, size) if length < 128 else medium(
                    first, length & 0x7F | 0x80, length >> 7, size)
            else:
                head = bytes((first,)) + varint(length) + _U16.pack(size)
            inflight[mid] = packet = b"".join((head, name, ids[mid], payload))
            pending.append(packet)
            mid = mid % 65535 + 1
        self._next_id = mid
        if len(pending) >= FLUSH_AT:
            self.flush()
        return max(start, end)

    def flush(self) -> None:
        """Write every queued packet in one go (while disconnected, the resend covers them)."""
        if self._pending:
            if self._transport is not None:
                self._transport.write(b"".join(self._pending))
            self._pending.clear()

    async def wait_for_room(self) -> None:
        """Wait until at most half the window is in flight, or raise the connection's error."""
        await self._wait_until(self.window // 2)

    async def drain(self) -> None:
        """Wait until the broker acknowledged everything, or raise the connection's error."""
        await self._wait_until(0)
        if self._rejections:
            refusals = ", ".join(f"{count} with {reason(code)}"
                                 for code, count in sorted(self._rejections.items()))
            self._rejections.clear()
            raise SinkError(f"The MQTT broker at {self.address} refused messages: {refusals}.")

    async def _wait_until(self, limit: int) -> None:
        self.flush()
        while len(self._inflight) > limit:
            if self._error is not None:
                raise self._error
            self._waiter, self._wake_at = self.loop.create_future(), limit
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self._error is not None:
            raise self._error

    def acknowledged(self, mids: list[int]) -> None:
        """Retire acknowledged packet ids and wake a waiting sender (called by the wire)."""
        # Only acknowledgements shrink the in-flight set, so its peaks are seen right here.
        self._peak = max(self._peak, len(self._inflight))
        pop = self._inflight.pop
        for mid in mids:
            pop(mid, None)
        waiter = self._waiter
        if waiter is not None and len(self._inflight) <= self._wake_at and not waiter.done():
            waiter.set_result(None)

    def rejected(self, code: int) -> None:
        """Count a PUBACK that refused its message (an ACL, a quota): retrying will not help."""
        self._rejections[code] = self._rejections.get(code, 0) + 1

    def lost(self, wire: Wire) -> None:
        """Reconnect when the current connection drops unasked (called by the wire)."""
        if wire is not self._wire:
            return
        self._wire = self._transport = None
        self._pending.clear()
        if self._closing:
            return
        now = self.loop.time()
        starts = self._trouble_since is None or now - self._connected_at >= STABLE_AFTER_S
        if starts:  # after a stable connection: a new stretch of trouble, a fresh back-off
            self._trouble_since, self._failures = now, 0
        why = self.disconnect_reason or "the connection closed"
        # MQTT 5 brokers may say "Session taken over" (0x8E); mosquitto 2.0 just closes the
        # old connection, so a reconnection dropped again at once, unexplained, means the same.
        if not self.disconnect_reason and not starts:
            why = TAKEN_OVER
        if why == TAKEN_OVER and not self._taken_over_said:
            self._taken_over_said = True
            log.error("The MQTT broker at %s handed this simulator's session to another client "
                      "with the same client id '%s' (Session taken over%s); reconnecting with "
                      "back-off, but the two will keep taking it from each other. Stop the "
                      "other one, or give each simulator its own URBANPULSE_SIM_CLIENT_ID "
                      "(unset, every simulator gets a unique one).", self.address,
                      self._client_id, "" if self.disconnect_reason else
                      ": it accepted the connection and closed it again without a reason")
        elif starts and why != TAKEN_OVER:
            log.warning("Lost the connection to the MQTT broker at %s (%s); reconnecting with "
                        "%d messages unacknowledged.", self.address, why, len(self._inflight))
        else:
            log.debug("Lost the connection to the MQTT broker at %s again (%s).", self.address,
                      why)
        self._spawn(self._reconnect(why, announce=starts))

    def _backoff(self) -> float:
        """Return the next delay: exponential, capped, half of it random (equal jitter)."""
        ceiling: float = min(BACKOFF_CAP_S, BACKOFF_FIRST_S * 2.0 ** min(self._failures, 16))
        self._failures += 1
        return ceiling / 2 + self._random.uniform(0, ceiling / 2)

    async def _reconnect(self, why: str, *, announce: bool) -> None:
        assert self._trouble_since is not None
        deadline = self._trouble_since + RECONNECT_TIMEOUT_S
        last = why
        while True:
            delay = self._backoff()
            if self.loop.time() + delay >= deadline:
                self._fail(self._gave_up(why, last))
                return
            await asyncio.sleep(delay)
            try:
                await self._open(clean_start=False, timeout_s=max(1.0, deadline - self.loop.time()))
                break
            except SinkError as exc:
                last = str(exc)
        self.reconnects += 1
        log.log(logging.WARNING if announce else logging.DEBUG,
                "Reconnected to the MQTT broker at %s; resending %d messages.", self.address,
                len(self._inflight))
        if self._transport is not None and self._inflight:
            self._transport.write(b"".join(bytes((packet[0] | _DUP,)) + packet[1:]
                                           for packet in self._inflight.values()))

    def _gave_up(self, why: str, last: str) -> SinkError:
        if why == TAKEN_OVER:
            return SinkError(
                f"The MQTT broker at {self.address} kept handing this simulator's session to "
                f"another client with the same client id '{self._client_id}' for "
                f"{RECONNECT_TIMEOUT_S:g} s (Session taken over); stop the other one, or give "
                "each simulator its own URBANPULSE_SIM_CLIENT_ID (unset, every simulator gets "
                "a unique one).")
        detail = "." if last == why else f": {last}"
        return SinkError(f"Lost the connection to the MQTT broker at {self.address} ({why}) and "
                         f"could not keep one for {RECONNECT_TIMEOUT_S:g} s{detail}")

    def _fail(self, error: SinkError) -> None:
        self._error = error
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _keep_alive(self) -> None:
        """Ping at half the keep-alive; drop a connection the broker has gone silent on."""
        while True:
            await asyncio.sleep(max(self._keepalive_s, 2) / 2)
            wire = self._wire
            if wire is None or wire.transport is None:
                continue
            if self.loop.time() - wire.heard > 1.5 * max(self._keepalive_s, 2):
                self.disconnect_reason = "Keep Alive timeout"
                wire.transport.abort()
            else:
                wire.transport.write(_PINGREQ)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Send DISCONNECT and close the connection; unacknowledged messages are abandoned."""
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        wire = self._wire
        self._wire = self._transport = None
        if wire is not None and wire.transport is not None:
            wire.transport.write(DISCONNECT_PACKET)
            wire.transport.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(wire.closed), 5.0)
