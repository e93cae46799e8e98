from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from oms.app import create_app
from oms.context import AppContext
from oms.db import queue
from oms.jobs.relays import REQUEST_CRAWL_JOB
from oms.pds.accounts import Account, create_account
from tests.conftest import make_settings
from tests.fake_relay import FakeRelay, fake_relay

NODE = {"hostname": "localhost:8000"}


@pytest.fixture
def relay() -> Iterator[FakeRelay]:
    with fake_relay() as running:
        yield running


def _node(tmp_path: Path, relays: str) -> TestClient:
    return TestClient(create_app(make_settings(tmp_path / "data", pds__relays=relays)))


def _context(client: TestClient) -> AppContext:
    context: AppContext = client.app_state["context"]
    return context


def _create_account(client: TestClient, name: str) -> Account:
    context = _context(client)
    return client.portal.call(
        functools.partial(
            create_account,
            context.db,
            context.keys,
            name=name,
            password="correct horse battery staple",
            role="fan",
            hostname=context.settings.hostname,
        )
    )


def _jobs(client: TestClient) -> list[queue.Job]:
    context = _context(client)

    async def read() -> list[queue.Job]:
        rows = await context.db.fetchall(
            "SELECT id FROM jobs WHERE kind = ? ORDER BY id", (REQUEST_CRAWL_JOB,)
        )
        jobs = [await queue.get_job(context.db, row["id"]) for row in rows]
        return [job for job in jobs if job is not None]

    return client.portal.call(read)


def _until(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _all_done(client: TestClient) -> Callable[[], bool]:
    return lambda: all(job.state == "done" for job in _jobs(client))


def test_relays_are_asked_at_start_and_for_each_new_account(tmp_path: Path) -> None:
    with fake_relay() as first, fake_relay() as second:
        with _node(tmp_path, f"{first.url}, {second.url}") as client:
            assert first.wait_for(1) == [NODE]
            assert second.wait_for(1) == [NODE]
            _until(_all_done(client))

            _create_account(client, "alice")
            assert first.wait_for(2) == [NODE, NODE]
            assert second.wait_for(2) == [NODE, NODE]
            _until(_all_done(client))
            # One job per relay, run again rather than piled up.
            assert [job.payload for job in _jobs(client)] == [
                {"relay": first.url},
                {"relay": second.url},
            ]
        assert first.requests[0][0] == "/xrpc/com.atproto.sync.requestCrawl"


def test_a_relay_that_is_down_is_retried_and_the_node_stays_up(
    tmp_path: Path, relay: FakeRelay
) -> None:
    relay.status = 503
    with _node(tmp_path, relay.url) as client:
        relay.wait_for(1)
        _until(lambda: _jobs(client)[0].last_error is not None)
        [job] = _jobs(client)
        assert (job.state, job.attempts) == ("queued", 1)
        assert job.last_error == (
            f"Unavailable: relay {relay.url} refused requestCrawl for localhost:8000: "
            "HTTP 503 Service Unavailable: Busy: try later"
        )
        assert client.get("/healthz").status_code == 200

        # New accounts while the request waits for its retry add no second request.
        _create_account(client, "alice")
        _create_account(client, "bob")
        [waiting] = _jobs(client)
        assert (waiting.id, waiting.state) == (job.id, "queued")

        # The relay is back; the retry (its backoff cut short here) gets through.
        relay.status = 200

        async def due_now() -> None:
            async with _context(client).db.transaction() as tx:
                await tx.execute("UPDATE jobs SET run_after = 0 WHERE id = ?", (job.id,))

        client.portal.call(due_now)
        assert relay.wait_for(2) == [NODE, NODE]
        _until(_all_done(client))
        [done] = _jobs(client)
        assert done.last_error is None
        assert done.attempts >= 2


def test_without_relays_nothing_is_asked(tmp_path: Path) -> None:
    with _node(tmp_path, "") as client:
        assert REQUEST_CRAWL_JOB not in _context(client).job_handlers
        _create_account(client, "alice")
        assert _jobs(client) == []


def test_a_relay_dropped_from_the_setting_is_not_asked(tmp_path: Path, relay: FakeRelay) -> None:
    with fake_relay() as dropped:
        dropped.status = 503
        with _node(tmp_path, dropped.url) as client:
            dropped.wait_for(1)
            _until(lambda: _jobs(client)[0].last_error is not None)
        # Restarted with another relay: the old one's pending retry is let go, not sent.
        dropped.status = 200
        with _node(tmp_path, relay.url) as client:
            relay.wait_for(1)

            async def due_now() -> None:
                async with _context(client).db.transaction() as tx:
                    await tx.execute("UPDATE jobs SET run_after = 0")

            client.portal.call(due_now)
            _until(_all_done(client))
        assert len(dropped.requests) == 1
    assert relay.bodies() == [NODE]
