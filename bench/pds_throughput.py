"""PDS throughput: record writes per second through XRPC, and firehose fan-out to 100
subscribers with zero loss and end-to-end lag.

Run: .venv/bin/python bench/pds_throughput.py [--seconds 10] [--subscribers 100]
The baseline, measured in the same run against the same server, is GET /healthz: what
HTTP alone costs on this machine with the same client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
from cbrrr import decode_multi_dag_cbor_in_violation_of_the_spec
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
NOTE = "com.example.note"
PASSWORD = "correct horse battery"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def rate(seconds: float, workers: int, call: object) -> float:
    done = 0
    deadline = time.monotonic() + seconds

    async def work() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await call()  # type: ignore[operator]
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(work() for _ in range(workers)))
    return done / (time.monotonic() - started)


async def main(seconds: float, subscribers: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_")}
        (Path(scratch) / "oms.toml").write_text("")
        env.update(
            OMS_CONFIG=str(Path(scratch) / "oms.toml"),
            OMS_DATA_DIR=str(Path(scratch) / "data"),
            OMS_SERVER_PUBLIC_URL=f"http://localhost:{port}",
            OMS_LOG_LEVEL="warning",
        )
        oms = [sys.executable, "-m", "oms"]
        subprocess.run(
            [*oms, "account", "create", "--handle", "bench", "--password", PASSWORD],
            env=env,
            cwd=scratch,
            check=True,
            capture_output=True,
        )
        server = subprocess.Popen(
            [*oms, "serve", "--port", str(port)],
            env=env,
            cwd=scratch,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                for _ in range(200):
                    try:
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        await asyncio.sleep(0.05)
                session = (
                    await client.post(
                        "/xrpc/com.atproto.server.createSession",
                        json={"identifier": "bench.localhost", "password": PASSWORD},
                    )
                ).json()
                did, token = session["did"], session["accessJwt"]
                auth = {"Authorization": f"Bearer {token}"}
                n = 0

                async def healthz() -> None:
                    (await client.get("/healthz")).raise_for_status()

                async def write() -> None:
                    nonlocal n
                    n += 1
                    answer = await client.post(
                        "/xrpc/com.atproto.repo.createRecord",
                        headers=auth,
                        json={
                            "repo": did,
                            "collection": NOTE,
                            "record": {"$type": NOTE, "text": f"note {n}"},
                        },
                    )
                    answer.raise_for_status()

                baseline = await rate(seconds / 2, 8, healthz)
                writes = await rate(seconds, 8, write)
                print(f"GET /healthz (baseline): {baseline:8.0f} requests/s")
                print(
                    f"createRecord via XRPC:   {writes:8.0f} writes/s   "
                    f"ratio {writes / baseline:.2f} of bare HTTP; target >= 300 writes/s"
                )

                await fan_out(client, port, did, auth, seconds, subscribers)
        finally:
            server.terminate()
            server.wait(60)


async def fan_out(
    client: httpx.AsyncClient,
    port: int,
    did: str,
    auth: dict[str, str],
    seconds: float,
    subscribers: int,
) -> None:
    start_seq: list[int] = []
    received = [0] * subscribers
    gaps = [0] * subscribers
    lags: list[float] = []
    stop = asyncio.Event()
    ready = asyncio.Barrier(subscribers + 1)

    async def subscribe(index: int) -> None:
        uri = f"ws://127.0.0.1:{port}/xrpc/com.atproto.sync.subscribeRepos"
        async with connect(uri, max_size=None, ping_interval=None) as ws:
            await ready.wait()
            last = None
            while not stop.is_set() or True:
                try:
                    frame = await asyncio.wait_for(ws.recv(), timeout=5)
                except TimeoutError:
                    return
                _, body = decode_multi_dag_cbor_in_violation_of_the_spec(frame)
                seq = body["seq"]
                if last is not None and seq != last + 1:
                    gaps[index] += 1
                last = seq
                received[index] += 1
                if index % 10 == 0 and "time" in body:
                    sent = datetime.fromisoformat(body["time"].replace("Z", "+00:00"))
                    lags.append(time.time() - sent.timestamp())
                if stop.is_set() and received[index] >= len(start_seq):
                    return

    tasks = [asyncio.create_task(subscribe(i)) for i in range(subscribers)]
    await ready.wait()
    n = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        n += 1
        answer = await client.post(
            "/xrpc/com.atproto.repo.createRecord",
            headers=auth,
            json={"repo": did, "collection": NOTE, "record": {"$type": NOTE, "text": f"f{n}"}},
        )
        answer.raise_for_status()
        start_seq.append(n)
    stop.set()
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    delivered = sum(received)
    lost = sum(max(0, n - r) for r in received)
    lags.sort()
    p50 = statistics.median(lags) * 1000 if lags else float("nan")
    p99 = lags[int(len(lags) * 0.99) - 1] * 1000 if lags else float("nan")
    print(
        f"firehose: {n} commits in {elapsed:.1f} s to {subscribers} subscribers: "
        f"{delivered / elapsed:8.0f} events/s delivered, lost {lost}, gaps {sum(gaps)}, "
        f"lag p50 {p50:.1f} ms p99 {p99:.1f} ms; target >= 2000 events/s, zero loss"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--subscribers", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.subscribers))
