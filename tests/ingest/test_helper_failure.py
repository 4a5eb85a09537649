"""A helper task of the ingester that fails stops the ingester, saying which one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from ingest import IngestError
from ingest.service import Ingester
from urbanpulse.settings import IngestSettings


@pytest.mark.services
async def test_a_failing_rollup_task_stops_the_ingester_by_name(
        ingest_settings: IngestSettings) -> None:
    running = Ingester(ingest_settings)

    async def broken_roll(write: Callable[[str], None]) -> None:
        raise ValueError("a rollup bug")

    running.keeper.roll = broken_roll  # type: ignore[method-assign]
    with pytest.raises(IngestError, match="The rollups task failed: ValueError"):
        await asyncio.wait_for(running.run(asyncio.Event()), 30)
