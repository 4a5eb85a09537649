"""Two ingesters with one client id: they back off and say so once (against real servers)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ingest.service import Ingester
from urbanpulse.settings import IngestSettings


@pytest.mark.services
async def test_a_second_ingester_with_the_same_id_backs_off_and_says_so_once(
        ingester: Ingester, ingest_settings: IngestSettings,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ingest.service")
    stop = asyncio.Event()
    second = Ingester(ingest_settings)  # same URBANPULSE_INGEST_CLIENT_ID as the fixture's
    task = asyncio.create_task(second.run(stop))
    try:
        await asyncio.sleep(8)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    lines = [r.getMessage() for r in caplog.records if r.name == "ingest.service"]
    connects = [line for line in lines if line.startswith("connected")]
    taken = [line for line in lines if "taken over" in line]
    # gmqtt alone reconnects every second, forever, with two log lines each time.
    assert len(connects) <= 7
    assert 1 <= len(taken) <= 2
    assert all("URBANPULSE_INGEST_CLIENT_ID" in line for line in taken)
    assert sum("disconnected" in line for line in lines) <= 2
