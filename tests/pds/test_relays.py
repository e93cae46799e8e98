from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from oms.errors import ConfigError, InvalidRequest, Unavailable
from oms.pds.relays import parse_relays, relay_client, request_crawl
from tests.conftest import free_port, make_settings
from tests.fake_relay import FakeRelay, fake_relay

PATH = "/xrpc/com.atproto.sync.requestCrawl"


@pytest.fixture
def relay() -> Iterator[FakeRelay]:
    with fake_relay() as running:
        yield running


@pytest.mark.anyio
async def test_request_crawl_posts_the_node_hostname(relay: FakeRelay) -> None:
    async with relay_client(relay.url) as client:
        await request_crawl(relay.url, "music.example.org", client)
    assert relay.requests == [(PATH, {"hostname": "music.example.org"})]


@pytest.mark.anyio
async def test_a_bare_relay_host_is_called_over_https() -> None:
    seen: list[tuple[str, str, object]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, str(request.url), json.loads(request.content)))
        return httpx.Response(200, json={})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        await request_crawl("bsky.network", "music.example.org", client)
        await request_crawl("https://relay.example:4443/", "music.example.org", client)
    assert seen == [
        ("POST", f"https://bsky.network{PATH}", {"hostname": "music.example.org"}),
        ("POST", f"https://relay.example:4443{PATH}", {"hostname": "music.example.org"}),
    ]


@pytest.mark.anyio
async def test_a_refusal_names_the_relay_and_the_http_status(relay: FakeRelay) -> None:
    relay.status = 503
    async with relay_client(relay.url) as client:
        with pytest.raises(Unavailable) as error:
            await request_crawl(relay.url, "music.example.org", client)
    assert str(error.value) == (
        f"relay {relay.url} refused requestCrawl for music.example.org: "
        "HTTP 503 Service Unavailable: Busy: try later"
    )


@pytest.mark.anyio
async def test_an_unreachable_relay_is_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with relay_client(url) as client:
        with pytest.raises(Unavailable, match=rf"relay {url} could not be reached: ConnectError"):
            await request_crawl(url, "music.example.org", client)


@pytest.mark.anyio
async def test_a_silent_relay_times_out(relay: FakeRelay) -> None:
    relay.delay = 1.0
    async with httpx.AsyncClient(timeout=0.2) as client:
        with pytest.raises(Unavailable) as error:
            await request_crawl(relay.url, "music.example.org", client)
    assert str(error.value) == (
        f"relay {relay.url} did not answer requestCrawl in time (ReadTimeout)"
    )


@pytest.mark.anyio
async def test_a_relay_over_plain_http_elsewhere_is_refused() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(InvalidRequest, match="must use https"):
            await request_crawl("http://relay.example", "music.example.org", client)


def test_parse_relays_gives_origins_in_order_each_once() -> None:
    assert parse_relays("") == []
    assert parse_relays(
        " bsky.network, https://Relay.Example:443/ ,http://127.0.0.1:2470,, https://bsky.network"
    ) == ["https://bsky.network", "https://relay.example", "http://127.0.0.1:2470"]
    assert parse_relays("http://localhost:2470, http://[::1]:2470") == [
        "http://localhost:2470",
        "http://[::1]:2470",
    ]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("http://relay.example", "'http://relay.example' must use https"),
        ("bsky.network/xrpc", "must be a bare host or origin"),
        ("https://relay.example?x=1", "must be a bare host or origin"),
        ("ftp://relay.example", "must be a host such as bsky.network or an http(s) URL"),
        ("bsky.network, relay example", "'relay example' does not name a valid host"),
        ("relay.example:99999", "has an invalid port"),
        ("user@relay.example", "must be a bare host or origin"),
    ],
)
def test_bad_relays_are_a_config_error_naming_the_setting(
    tmp_path: Path, value: str, problem: str
) -> None:
    with pytest.raises(ConfigError, match=r"pds\.relays has a bad entry") as error:
        parse_relays(value)
    assert problem in str(error.value)
    # The same check stops the node at start, wherever the value came from.
    with pytest.raises(ConfigError) as at_start:
        make_settings(tmp_path / "data", pds__relays=value)
    assert "command line: pds.relays has a bad entry" in str(at_start.value)
    assert problem in str(at_start.value)
