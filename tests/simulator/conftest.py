"""Fixtures of the simulator tests: a fault-injecting broker that never acknowledges."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator

import pytest

CONNACK_V5 = bytes([0x20, 0x03, 0x00, 0x00, 0x00])
"""MQTT 5 CONNACK: no session present, success, no properties."""


class _SilentHandler(socketserver.BaseRequestHandler):
    """Accepts the MQTT connection, then reads everything and answers nothing."""

    def handle(self) -> None:
        if self.request.recv(65536):
            self.request.sendall(CONNACK_V5)
            while self.request.recv(65536):
                pass


@pytest.fixture
def silent_broker() -> Iterator[int]:
    """A TCP server that accepts MQTT connections but never sends a PUBACK; yields its port."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SilentHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
