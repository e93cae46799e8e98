"""Listening analytics: `fm.oms.analytics.reportListening` over HTTP against a bare endpoint on
the same server, the listening store's rows/s against raw batched aiosqlite inserts, and the
rollup of a million listening sessions.

Run: .venv/bin/python bench/analytics.py [--quick] [--only http|store|rollup] [--profile]
Baselines, measured in the same run: (1) `POST /xrpc/bench.bare` on the same `oms serve`
process (bench/analytics_server.py), which reads the body and answers 204 behind the same
middleware; (2) aiosqlite `executemany` of the same rows, prebuilt, into a table with the
same schema and indexes, one transaction per batch, WAL and synchronous=NORMAL; for context,
the same into a table of three integer columns. (3) has no baseline: the time, sessions/s and
peak RSS of a from-scratch rollup of every day.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import aiosqlite
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.analytics_data import Population, day_reports, flat_reports, population  # noqa: E402
from bench.analytics_load import LoadResult, LoadSpec, generate_load, report_bodies  # noqa: E402
from oms.analytics import store  # noqa: E402
from oms.analytics.coverage import pack  # noqa: E402
from oms.analytics.fraud import DEFAULT_RULES  # noqa: E402
from oms.analytics.recorder import Listening  # noqa: E402
from oms.analytics.reports import Report  # noqa: E402
from oms.analytics.rollups import compute_day, roll_up  # noqa: E402
from oms.db.database import Database  # noqa: E402
from oms.metrics import DB_WRITE_SECONDS  # noqa: E402

SERVER = ROOT / "bench" / "analytics_server.py"
REPORT_PATH = "/xrpc/fm.oms.analytics.reportListening"
BARE_PATH = "/xrpc/bench.bare"  # served by bench/analytics_server.py
PASSWORD = "correct horse battery"
DAY_MS = store.DAY_MS
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def figure(name: str, value: str, baseline: str, ratio: float | None, target: str) -> None:
    ratio_text = "" if ratio is None else f", ratio {ratio:.2f}"
    print(f"{name}: {value} (baseline {baseline}{ratio_text}, target {target})", flush=True)


def spawn_pool() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))


# --- 1. reportListening over HTTP -------------------------------------------------------------


@dataclass
class Node:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log: Path
    tracks: list[tuple[str, str]]


def start_node(scratch: Path, tracks: int) -> Node:
    """`oms serve` (plus the bare route) on a fresh data dir with an artist's `tracks` tracks,
    published over XRPC (fake audio blobs, lengths in the records) and indexed."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_")}
    (scratch / "oms.toml").write_text("")
    env.update(
        OMS_CONFIG=str(scratch / "oms.toml"),
        OMS_DATA_DIR=str(scratch / "data"),
        OMS_SERVER_PUBLIC_URL=f"http://localhost:{port}",
        OMS_LIMITS_LISTENING_REPORTS_PER_MINUTE="0",
    )
    account = ["--handle", "artist", "--password", PASSWORD, "--role", "artist"]
    command = [sys.executable, "-m", "oms", "account", "create", *account]
    subprocess.run(command, env=env, cwd=scratch, check=True, capture_output=True)
    log = scratch / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(SERVER), "serve", "--port", str(port)],
            env=env,
            cwd=scratch,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    node = Node(process, port, scratch / "data", log, [])
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for _ in range(400):
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        session = client.post(
            "/xrpc/com.atproto.server.createSession",
            json={"identifier": "artist.localhost", "password": PASSWORD},
        ).json()
        auth = {"Authorization": f"Bearer {session['accessJwt']}"}
        for i in range(tracks):
            blob = client.post(
                "/xrpc/com.atproto.repo.uploadBlob",
                content=b"fLaC" + bytes([i]) * 256,
                headers={**auth, "Content-Type": "audio/flac"},
            )
            blob.raise_for_status()
            record = {
                "$type": "fm.oms.track",
                "title": f"Track {i + 1}",
                "artists": [{"name": "Ada", "did": session["did"], "role": "primary"}],
                "audio": blob.json()["blob"],
                "license": "cc-by-4.0",
                "durationMs": 180_000 + 7_000 * i,
                "visibility": "public",
                "createdAt": "2026-11-01T12:00:00.000Z",
            }
            created = client.post(
                "/xrpc/com.atproto.repo.createRecord",
                headers=auth,
                json={"repo": session["did"], "collection": "fm.oms.track", "record": record},
            )
            created.raise_for_status()
            node.tracks.append((created.json()["uri"], created.json()["cid"]))
        # Indexed when a report of each track is taken (TrackNotFound until then).
        bodies = report_bodies(node.tracks, int(time.time() * 1000), len(node.tracks))
        for i, (before, after) in enumerate(bodies):
            for _ in range(200):
                answer = client.post(
                    REPORT_PATH,
                    content=before + f"setup-{i:04d}".encode() + after,
                    headers={"Content-Type": "application/json"},
                )
                if answer.status_code != 404:
                    break
                time.sleep(0.05)
            assert answer.status_code == 200, answer.text
        before, after = bodies[0]
        bare = client.post(BARE_PATH, content=before + b"bare-0001" + after)
        assert bare.status_code == 204, bare.text
    return node


def stored_reports(data_dir: Path) -> int:
    connection = sqlite3.connect(f"{(data_dir / 'oms.sqlite3').as_uri()}?mode=ro", uri=True)
    try:
        return int(connection.execute("SELECT count(*) FROM listening_reports").fetchone()[0])
    finally:
        connection.close()


def write_transactions(port: int) -> tuple[float, float]:
    """(write transactions so far, their seconds) from the node's /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    values = dict(
        line.split(" ", 1)
        for line in text.splitlines()
        if line.startswith("oms_db_write_transaction_seconds_")
    )
    return float(values["oms_db_write_transaction_seconds_count"]), float(
        values["oms_db_write_transaction_seconds_sum"]
    )


def bench_http(args: argparse.Namespace) -> None:
    print(
        f"== reportListening over HTTP: {args.connections} keep-alive connections, "
        f"{args.warmup:g} s warm-up + {args.seconds:g} s measured, {args.rounds} rounds "
        "alternating with the bare endpoint",
        flush=True,
    )
    scratch = Path(tempfile.mkdtemp(prefix="oms-bench-analytics-"))
    runs: dict[str, list[LoadResult]] = {"bare": [], "report": []}
    try:
        node = start_node(scratch, tracks=3)
        try:
            bodies = report_bodies(node.tracks, int(time.time() * 1000), 48)
            with spawn_pool() as pool:
                for run in range(2 * args.rounds):
                    # bare, report, report, bare, bare, ...: neither always goes first
                    kind = ("bare", "report")[(run + run // 2) % 2]
                    path = BARE_PATH if kind == "bare" else REPORT_PATH
                    spec = LoadSpec(
                        node.port, path, bodies, run, args.connections, args.warmup,
                        args.seconds, node.process.pid,
                    )  # fmt: skip
                    before = write_transactions(node.port)
                    result = pool.submit(generate_load, spec).result()
                    after = write_transactions(node.port)
                    runs[kind].append(result)
                    commits = after[0] - before[0]
                    grouping = ""
                    if kind == "report" and commits:
                        grouping = (
                            f", {result.statuses[200] / commits:.1f} reports a commit"
                            f" ({(after[1] - before[1]) / commits * 1000:.2f} ms each)"
                        )
                    print(
                        f"  run {run + 1} {kind:<6} {result.rate:8,.0f} req/s, server "
                        f"{result.server_us:4.0f} CPU-us a request{grouping}, statuses "
                        f"{dict(result.statuses)}, load generator "
                        f"{result.cpu / result.seconds:.0%} of a core",
                        flush=True,
                    )
            if node.process.poll() is not None:
                raise RuntimeError(f"the server stopped: {node.log.read_text()[-2000:]}")
        finally:
            node.process.terminate()
            node.process.wait(60)
        stored = stored_reports(node.data_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    statuses = {
        kind: sum((r.statuses for r in results), Counter()) for kind, results in runs.items()
    }
    bad = {k: sum(n for s, n in c.items() if not 200 <= s < 300) for k, c in statuses.items()}
    answered = statuses["report"][200] + len(node.tracks)  # with the setup's reports
    rate = {k: statistics.median(r.rate for r in results) for k, results in runs.items()}
    cpu = {k: statistics.median(r.server_us for r in results) for k, results in runs.items()}
    figure(
        "reportListening over HTTP",
        f"{rate['report']:,.0f} req/s",
        f"bare 204 endpoint, same server: {rate['bare']:,.0f} req/s",
        rate["report"] / rate["bare"],
        ">= 0.7",
    )
    figure(
        "  server CPU a request",
        f"{cpu['report']:,.0f} us",
        f"bare: {cpu['bare']:,.0f} us",
        cpu["bare"] / cpu["report"],
        "none; a cross-check less swayed by other work on the machine",
    )
    generator = max(r.cpu / r.seconds for results in runs.values() for r in results)
    print(
        f"  non-2xx answers: report {bad['report']}, bare {bad['bare']}; reports answered 200: "
        f"{answered:,}, rows stored: {stored:,}; the load generator used at most "
        f"{generator:.0%} of a core",
        flush=True,
    )
    if bad["report"] or bad["bare"] or stored != answered:
        print("  INVALID RUN: some answers were not 2xx, or not every report was stored")


# --- 2. the listening store against raw batched inserts ---------------------------------------


def raw_row(r: Report) -> tuple[Any, ...]:
    return tuple(
        pack(r.ranges) if column == "ranges" else getattr(r, column)
        for column in store.REPORT_COLUMNS
    )


async def raw_inserts(
    path: Path, schema: list[str], insert: str, rows: list[Any], batch: int
) -> float:
    """Seconds to insert `rows` with aiosqlite `executemany`, a transaction per `batch`."""
    connection = await aiosqlite.connect(path, isolation_level=None)
    try:
        for statement in (*PRAGMAS, *schema):
            await connection.execute(statement)
        started = time.perf_counter()
        for i in range(0, len(rows), batch):
            await connection.execute("BEGIN IMMEDIATE")
            await connection.executemany(insert, rows[i : i + batch])
            await connection.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        await connection.close()


async def store_appends(path: Path, reports: list[Report], batch: int) -> float:
    """Seconds for the store to take `reports`, a `store.append` transaction per `batch`: what
    the recorder does with each batch it moves (rows made from the reports, written)."""
    db = await Database.open(path)
    try:
        started = time.perf_counter()
        for i in range(0, len(reports), batch):
            chunk = reports[i : i + batch]
            async with db.transaction() as tx:
                rows = [store.report_row(r) for r in chunk]
                await tx.run(lambda connection, rows=rows: store.append(connection, rows))
        return time.perf_counter() - started
    finally:
        await db.close()


def _commits() -> float:
    return next(
        s.value for m in DB_WRITE_SECONDS.collect() for s in m.samples if s.name.endswith("_count")
    )


async def recorder_appends(path: Path, reports: list[Report], callers: int) -> tuple[float, float]:
    """Seconds for `callers` concurrent players to have `reports` recorded by the recorder
    (each written to its journal, `Listening._append`, then moved into the database in
    batches behind them) and in the database (`flush`), and the mean reports per commit."""
    db = await Database.open(path)
    listening = Listening(db, own_host="localhost")
    await listening.open(path.with_suffix(".journal"))

    async def player(mine: list[Report]) -> None:
        for report in mine:
            listening._append(report)
            await asyncio.sleep(0)  # the next player's turn, as requests interleave

    try:
        commits = _commits()
        started = time.perf_counter()
        await asyncio.gather(*(player(reports[k::callers]) for k in range(callers)))
        await listening.flush()
        elapsed = time.perf_counter() - started
        return elapsed, len(reports) / (_commits() - commits)
    finally:
        await listening.close()
        await db.close()
        shutil.rmtree(path.with_suffix(".journal"), ignore_errors=True)


async def _schema(path: Path) -> list[str]:
    db = await Database.open(path)
    try:
        rows = await db.fetchall(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'listening_reports'"
            " AND sql IS NOT NULL ORDER BY type DESC"  # the table before its indexes
        )
        return [str(row[0]) for row in rows]
    finally:
        await db.close()


def bench_store(args: argparse.Namespace) -> None:
    n, batch = args.rows, args.batch
    print(
        f"== listening store: {n:,} reports in batches of {batch:,}, {args.store_rounds} rounds "
        "alternating, a fresh database file for each",
        flush=True,
    )
    rng = random.Random(2)
    pop = population(rng, tracks=3_000, listeners=40_000)
    reports = flat_reports(rng, pop, n, int(time.time() * 1000))
    rows = [raw_row(r) for r in reports]
    minimal = [(i, i * 7, i % 1000) for i in range(n)]
    insert = (
        f"INSERT INTO listening_reports ({', '.join(store.REPORT_COLUMNS)})"
        f" VALUES ({', '.join('?' * len(store.REPORT_COLUMNS))})"
    )
    times: dict[str, list[float]] = {"raw": [], "minimal": [], "store": [], "recorder": []}
    per_commit: list[float] = []
    with tempfile.TemporaryDirectory(prefix="oms-bench-store-") as scratch:
        schema = asyncio.run(_schema(Path(scratch) / "schema.sqlite3"))
        for run in range(args.store_rounds):
            order = ["raw", "store", "recorder", "minimal"]
            for kind in order if run % 2 == 0 else order[::-1]:
                path = Path(scratch) / f"{kind}-{run}.sqlite3"
                if kind == "raw":
                    elapsed = asyncio.run(raw_inserts(path, schema, insert, rows, batch))
                elif kind == "minimal":
                    elapsed = asyncio.run(
                        raw_inserts(
                            path,
                            ["CREATE TABLE t (a INTEGER, b INTEGER, c INTEGER)"],
                            "INSERT INTO t (a, b, c) VALUES (?, ?, ?)",
                            minimal,
                            batch,
                        )
                    )
                elif kind == "store":
                    elapsed = asyncio.run(store_appends(path, reports, batch))
                else:
                    elapsed, mean = asyncio.run(recorder_appends(path, reports, batch))
                    per_commit.append(mean)
                times[kind].append(elapsed)
                print(f"  run {run + 1} {kind:<8} {n / elapsed:11,.0f} rows/s", flush=True)
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
    rate = {kind: n / statistics.median(t) for kind, t in times.items()}
    figure(
        "listening store (store.append in tx.run)",
        f"{rate['store']:,.0f} rows/s",
        f"aiosqlite executemany, same schema and indexes: {rate['raw']:,.0f} rows/s",
        rate["store"] / rate["raw"],
        ">= 0.5",
    )
    figure(
        f"recorder: journal, then batched moves ({batch:,} concurrent players)",
        f"{rate['recorder']:,.0f} rows/s, {statistics.median(per_commit):,.0f} reports a commit",
        f"aiosqlite executemany, same schema: {rate['raw']:,.0f} rows/s",
        rate["recorder"] / rate["raw"],
        "none",
    )
    figure(
        "context: raw executemany into a 3-integer-column table",
        f"{rate['minimal']:,.0f} rows/s",
        f"the listening_reports schema: {rate['raw']:,.0f} rows/s",
        rate["raw"] / rate["minimal"],
        "none; the issue quotes ~1.2 M rows/s",
    )


# --- 3. rolling up a million sessions ---------------------------------------------------------


async def fill(path: Path, pop: Population, sessions: int, days: int, last_day: int) -> int:
    """Store `sessions` sessions over `days` days ending `last_day` (store.append, in the order
    they arrive); the number of reports."""
    rng = random.Random(3)
    db = await Database.open(path)
    stored = 0
    carry: list[Report] = []
    try:
        for d in range(days):
            day = last_day - days + 1 + d
            count = sessions // days + (1 if d < sessions % days else 0)
            reports = carry + day_reports(rng, pop, day, count)
            reports.sort(key=lambda r: r.received_at)
            cut = len(reports)
            if d < days - 1:
                cut = next(
                    (i for i, r in enumerate(reports) if r.received_at >= (day + 1) * DAY_MS), cut
                )
            carry = reports[cut:]
            for i in range(0, cut, 20_000):
                chunk = reports[i : min(cut, i + 20_000)]
                rows = [store.report_row(r) for r in chunk]
                async with db.transaction() as tx:
                    await tx.run(lambda connection, rows=rows: store.append(connection, rows))
            stored += cut
    finally:
        await db.close()
    return stored


@dataclass(frozen=True)
class RollupRun:
    seconds: float
    days: int
    sessions: int
    flagged: int
    by_rule: dict[str, int]
    rss_before_mb: float
    peak_rss_mb: float
    compute_seconds: float = 0.0  # with `profile`: every day's compute_day alone, profiled
    profile: str = ""


def _memory_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (the peak) of this process; not getrusage, whose maximum a spawned
    process inherits from its parent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def rollup_in_process(path: Path, now_ms: int, profile: bool) -> RollupRun:
    """A from-scratch rollup of every day (run in a fresh process, so its peak RSS is the
    rollup's): the job's own `roll_up`, every day's reports made into sessions, judged,
    summed and stored. With `profile`, then each day's `compute_day` again under cProfile
    (the half of the rollup that runs in a thread, which a profiler of the loop misses)."""

    async def run() -> RollupRun:
        db = await Database.open(path)
        try:
            before = _memory_mb("VmRSS")
            started = time.perf_counter()
            result = await roll_up(db, now_ms=now_ms)
            elapsed = time.perf_counter() - started
            peak = _memory_mb("VmHWM")
            rules = await db.fetchall("SELECT rule, count(*) FROM listening_flags GROUP BY rule")
            done = RollupRun(
                elapsed,
                result.days,
                result.sessions,
                result.flagged,
                {str(r[0]): int(r[1]) for r in rules},
                before,
                peak,
            )
            if not profile:
                return done
            upto = (await store.high_water(db))[1]
            first, last = await db.fetchone(
                "SELECT min(received_at) / ?, max(received_at) / ? FROM listening_reports",
                (DAY_MS, DAY_MS),
            )
            profiler = cProfile.Profile()
            started = time.perf_counter()
            profiler.enable()
            for day in range(first - 1, last + 1):
                compute_day(path, day, upto, DEFAULT_RULES)
            profiler.disable()
            computing = time.perf_counter() - started
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
            return replace(done, compute_seconds=computing, profile=out.getvalue())
        finally:
            await db.close()

    return asyncio.run(run())


def bench_rollup(args: argparse.Namespace) -> None:
    print(
        f"== rollup: {args.sessions:,} sessions over {args.days} days, {args.tracks:,} tracks, "
        f"{args.listeners:,} listeners",
        flush=True,
    )
    now_ms = int(time.time() * 1000)
    scratch = Path(tempfile.mkdtemp(prefix="oms-bench-rollup-"))
    path = (args.keep or scratch) / "oms.sqlite3"
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            pop = population(random.Random(4), args.tracks, args.listeners)
            reports = asyncio.run(fill(path, pop, args.sessions, args.days, now_ms // DAY_MS - 1))
            print(
                f"  generated and stored {reports:,} reports in "
                f"{time.perf_counter() - started:.0f} s ({reports / args.sessions:.2f} a session)",
                flush=True,
            )
        connection = sqlite3.connect(path)
        with connection:  # from scratch, also when the data is reused
            connection.execute("UPDATE listening_state SET rolled_up_to = 0")
            for table in ("listening_daily", "listening_daily_mix", "listening_flags"):
                connection.execute(f"DELETE FROM {table}")
        connection.close()
        with spawn_pool() as pool:
            run = pool.submit(rollup_in_process, path, now_ms, args.profile).result()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    figure(
        f"rollup of {run.sessions:,} sessions from scratch ({run.days} days)",
        f"{run.seconds:.1f} s, {run.sessions / run.seconds:,.0f} sessions/s, "
        f"peak RSS {run.peak_rss_mb:,.0f} MB",
        f"the same process before the rollup: {run.rss_before_mb:,.0f} MB RSS",
        None,
        "none",
    )
    print(f"  flagged {run.flagged:,} sessions: {run.by_rule}", flush=True)
    if run.profile:
        print(
            f"  every day's compute_day alone, under cProfile: {run.compute_seconds:.1f} s"
            " (the rest of the rollup: storing the days and the tracks' figures)"
        )
        print(run.profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a few seconds")
    parser.add_argument("--only", choices=("http", "store", "rollup"), action="append")
    parser.add_argument("--seconds", type=float, default=8, help="HTTP: measured per run")
    parser.add_argument("--warmup", type=float, default=2, help="HTTP: warm-up per run")
    parser.add_argument("--rounds", type=int, default=5, help="HTTP: runs of each endpoint")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rows", type=int, default=200_000, help="store: rows per run")
    parser.add_argument("--batch", type=int, default=1_000, help="store: rows per transaction")
    parser.add_argument("--store-rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=1_000_000, help="rollup: sessions")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--tracks", type=int, default=3_000)
    parser.add_argument("--listeners", type=int, default=40_000)
    parser.add_argument("--profile", action="store_true", help="cProfile the rollup's compute")
    parser.add_argument("--keep", type=Path, help="rollup: keep (or reuse) the generated data here")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.warmup, args.rounds, args.connections = 1.0, 0.5, 1, 8
        args.rows, args.batch, args.store_rounds = 5_000, 500, 1
        args.sessions, args.days, args.tracks, args.listeners = 5_000, 3, 100, 1_000
    parts = args.only or ["http", "store", "rollup"]
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores", flush=True)
    for part, bench in (("http", bench_http), ("store", bench_store), ("rollup", bench_rollup)):
        if part in parts:
            bench(args)
            # Other work on the machine shows here; the runs alternate for that reason.
            print("  load average: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)


if __name__ == "__main__":
    main()
