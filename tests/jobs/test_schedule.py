from __future__ import annotations

import time
from pathlib import Path

import pytest

from oms.context import open_context
from oms.jobs.schedule import start_schedule
from oms.pds import accounts
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio


async def test_upkeep_sweeps_blobs_and_prunes_the_firehose(tmp_path: Path) -> None:
    context = await open_context(make_settings(tmp_path / "data", pds__firehose_replay_hours=1))
    try:
        await accounts.create_account(
            context.db,
            context.keys,
            name="ada",
            password="correct horse",
            role="fan",
            hostname="localhost:8000",
        )
        async with context.db.transaction() as tx:
            await tx.execute(
                "UPDATE repo_events SET sequenced_at = ?", (int(time.time() * 1000) - 7_200_000,)
            )
        schedule = start_schedule(context)
        try:
            assert await schedule.prune_firehose() == 2
            assert await schedule.sweep_blobs() == 0
            refreshed = await schedule.refresh_discovery()
            assert (refreshed.trending, refreshed.pairs) == (0, 0)
        finally:
            await schedule.stop()
        assert await context.db.fetchval("SELECT count(*) FROM repo_events") == 1
    finally:
        await context.close()
