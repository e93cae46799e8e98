"""Relays asked to crawl this node: the `pds.relays` list and the `requestCrawl` call itself.

When to ask (at start, when accounts are created) and the retries are the job's, in
`oms.jobs.relays`.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import httpx

from oms import __version__
from oms.config import relay_origin
from oms.errors import ConfigError, InvalidRequest, Unavailable
from oms.pds.identity import is_loopback_host

__all__ = ["REQUEST_CRAWL_TIMEOUT_SECONDS", "parse_relays", "relay_client", "request_crawl"]

REQUEST_CRAWL_TIMEOUT_SECONDS = 10.0
_PATH = "/xrpc/com.atproto.sync.requestCrawl"
# Enough of a refusal's body to say why, not enough to flood the log.
_REASON_CHARS = 200


def parse_relays(setting: str) -> list[str]:
    """The relays of a `pds.relays` value as origins, in order and each once:
    `bsky.network, http://127.0.0.1:2470` → `["https://bsky.network", "http://127.0.0.1:2470"]`.
    Raises ConfigError naming the setting for a bad entry."""
    origins: list[str] = []
    for entry in setting.split(","):
        if not entry.strip():
            continue
        try:
            origin = relay_origin(entry)
        except ValueError as e:
            raise ConfigError(f"pds.relays has a bad entry: {e}") from None
        if origin not in origins:
            origins.append(origin)
    return origins


def relay_client(relay: str) -> httpx.AsyncClient:
    """An HTTP client for calling `relay`: no redirects, and no proxy from the environment for
    a relay on this machine (a proxy could not reach it)."""
    host = urlsplit(relay if "://" in relay else f"https://{relay}").netloc
    return httpx.AsyncClient(
        timeout=REQUEST_CRAWL_TIMEOUT_SECONDS,
        follow_redirects=False,
        trust_env=not is_loopback_host(host),
        headers={"User-Agent": f"oms/{__version__}"},
    )


async def request_crawl(relay: str, hostname: str, client: httpx.AsyncClient) -> None:
    """Ask `relay` (`bsky.network` or an origin URL) to crawl the node named `hostname`
    (`music.example.org`), within the client's timeouts and REQUEST_CRAWL_TIMEOUT_SECONDS in
    all. Raises Unavailable naming the relay and what went wrong."""
    try:
        origin = relay_origin(relay)
    except ValueError as e:
        raise InvalidRequest(f"cannot ask a relay to crawl: {e}") from None
    url = origin + _PATH
    try:
        async with asyncio.timeout(REQUEST_CRAWL_TIMEOUT_SECONDS):
            response = await client.post(url, json={"hostname": hostname})
    except TimeoutError as e:
        raise Unavailable(
            f"relay {origin} did not answer requestCrawl within {REQUEST_CRAWL_TIMEOUT_SECONDS:g}s"
        ) from e
    except httpx.TimeoutException as e:
        raise Unavailable(
            f"relay {origin} did not answer requestCrawl in time ({type(e).__name__})"
        ) from e
    except httpx.HTTPError as e:
        raise Unavailable(
            f"relay {origin} could not be reached: {type(e).__name__} {e}".strip()
        ) from e
    if not response.is_success:
        raise Unavailable(
            f"relay {origin} refused requestCrawl for {hostname}: "
            f"HTTP {response.status_code} {response.reason_phrase}{_reason(response)}"
        )


def _reason(response: httpx.Response) -> str:
    """The XRPC error a relay answered with (`: HostBanned: ...`), when it sent one."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    said = ": ".join(str(body[k]) for k in ("error", "message") if body.get(k))
    return f": {said[:_REASON_CHARS]}" if said else ""
