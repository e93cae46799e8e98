"""The load generator of bench/analytics.py: keep-alive HTTP/1.1 connections on raw asyncio
streams, one request in flight on each, prebuilt request bytes (only each report's session id
is new), every answer's status counted. Run in a process of its own (`generate_load`)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from oms.analytics.reports import RENDITIONS, SOURCES

SESSION_MARK = "SESSION-ID-GOES-HERE"


def iso(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class LoadSpec:
    port: int
    path: str
    bodies: tuple[tuple[bytes, bytes], ...]  # each request's body: before and after a session id
    run: int
    connections: int
    warmup: float
    seconds: float
    server_pid: int  # whose CPU time is read at both ends of the window


@dataclass
class LoadResult:
    counted: int = 0  # responses received inside the measured window
    seconds: float = 0.0
    cpu: float = 0.0  # the load generator's CPU seconds inside the window
    server_cpu: float = 0.0  # the server's CPU seconds (all its threads) inside the window
    statuses: Counter[int] = field(default_factory=Counter)  # every response, warm-up included

    @property
    def rate(self) -> float:
        return self.counted / self.seconds

    @property
    def server_us(self) -> float:
        """Server CPU microseconds a request: what other work on the machine changes least."""
        return self.server_cpu / self.counted * 1e6


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report_bodies(
    tracks: list[tuple[str, str]], now_ms: int, n: int
) -> tuple[tuple[bytes, bytes], ...]:
    """`n` realistic report bodies (a first report of ten seconds or a later one), each split
    where its session id goes; the load generator puts a new id there for every request."""
    rng = random.Random(1)
    bodies = []
    for i in range(n):
        uri, cid = tracks[i % len(tracks)]
        start = rng.choice((0, 0, 10_000, 20_000, 30_000))
        body = {
            "sessionId": SESSION_MARK,
            "track": {"uri": uri, "cid": cid},
            "ranges": [{"startMs": start, "endMs": start + 10_000}],
            "positionMs": start + 10_000,
            "events": [{"kind": "play", "at": iso(now_ms - 10_000), "positionMs": start}]
            if start == 0
            else [],
            "rendition": rng.choice(RENDITIONS),
            "client": "web",
            "device": f"device-{rng.randrange(10_000):05d}",
            "sentAt": iso(now_ms),
            "context": {
                "page": rng.choice(SOURCES[:9]),
                "timeZone": rng.choice(("Europe/Paris", "Europe/Lisbon", "America/New_York")),
                "locale": rng.choice(("fr-FR", "pt-PT", "en-US")),
            },
        }
        before, after = json.dumps(body, separators=(",", ":")).split(SESSION_MARK)
        bodies.append((before.encode(), after.encode()))
    return tuple(bodies)


def session_id(run: int, connection: int, n: int) -> bytes:
    return f"r{run:03d}c{connection:03d}n{n:09d}".encode()  # always 18 characters


async def _response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        length = int(lower[at + 17 : lower.index(b"\r\n", at + 2)])
        if length:
            await reader.readexactly(length)
    elif b"transfer-encoding" in lower:
        raise RuntimeError("the load generator reads only Content-Length bodies")
    return status


async def _load(spec: LoadSpec) -> LoadResult:
    sid_length = len(session_id(0, 0, 0))
    requests = []
    for before, after in spec.bodies:
        head = (
            f"POST {spec.path} HTTP/1.1\r\nHost: 127.0.0.1:{spec.port}\r\n"
            "Content-Type: application/json\r\nUser-Agent: oms-bench\r\n"
            f"Content-Length: {len(before) + sid_length + len(after)}\r\n\r\n"
        )
        requests.append((head.encode() + before, after))
    result = LoadResult()
    started = time.monotonic()
    window = (started + spec.warmup, started + spec.warmup + spec.seconds)

    async def connection(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", spec.port)
        n = 0
        try:
            while time.monotonic() < window[1]:
                before, after = requests[(k * 7 + n) % len(requests)]
                writer.write(before + session_id(spec.run, k, n) + after)
                n += 1
                result.statuses[await _response(reader)] += 1
                if window[0] <= time.monotonic() < window[1]:
                    result.counted += 1
        finally:
            writer.close()
            await writer.wait_closed()

    async def clock() -> None:
        await asyncio.sleep(window[0] - time.monotonic())
        cpu, server, t = time.process_time(), cpu_seconds(spec.server_pid), time.monotonic()
        await asyncio.sleep(window[1] - time.monotonic())
        result.cpu, result.seconds = time.process_time() - cpu, time.monotonic() - t
        result.server_cpu = cpu_seconds(spec.server_pid) - server

    await asyncio.gather(clock(), *(connection(k) for k in range(spec.connections)))
    return result


def generate_load(spec: LoadSpec) -> LoadResult:
    """The load generator (run in a process of its own): `spec.connections` keep-alive HTTP/1.1
    connections, one request in flight on each, for a warm-up and then a measured window."""
    return asyncio.run(_load(spec))
