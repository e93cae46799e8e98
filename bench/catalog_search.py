"""Catalog indexing and search at scale: 100,000 tracks by 20,000 credited artists on 10,000
releases, written as signed commits, then indexed by the real indexer (events -> CAR ->
lexicon -> catalog tables); `searchTracks` latency over a mixed query set in-process and
through HTTP (`oms serve`).

Run: .venv/bin/python bench/catalog_search.py [--tracks 100000] [--keep DIR]
Baselines, measured in the same run on the same database: for search, what Navidrome and
Funkwhale do (SQL `LIKE '%word%'` on title and artist names); for indexing, reading the same
events and decoding their CARs without writing the catalog.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from oms.db.database import Database  # noqa: E402
from oms.library.index import CatalogIndexer, changes_from_event  # noqa: E402
from oms.library.search import search_tracks  # noqa: E402
from oms.library.store.writes import replace_local_catalog  # noqa: E402
from oms.pds import accounts  # noqa: E402
from oms.pds.blobs import store_upload  # noqa: E402
from oms.pds.keystore import KeyStore  # noqa: E402
from oms.pds.lexicons import load_lexicons  # noqa: E402
from oms.pds.repo import Repos, Write  # noqa: E402
from oms.pds.sequencer import events_after  # noqa: E402
from oms.pds.tid import next_tid  # noqa: E402
from oms.resources import lexicons_dir  # noqa: E402

PUBLISHERS = 200  # accounts (labels, collectives) publishing the catalog
GENRES = [
    "Electronic", "House", "Techno", "Ambient", "Jazz", "Hip-Hop", "Rock", "Indie", "Folk",
    "Pop", "Soul", "Funk", "Reggae", "Metal", "Punk", "Classical", "Drum & Bass", "Dub",
    "Afrobeat", "Bossa Nova", "Cumbia", "Grime", "Shoegaze", "Post-Rock",
]  # fmt: skip
SYLLABLES = [
    "ka", "lo", "mi", "ra", "ne", "to", "su", "vi", "de", "mo", "ba", "ri", "ze", "lu", "fa",
    "no", "ta", "ge", "po", "ши", "ké", "ñu", "ø", "bé", "jö", "ça", "ru", "xi", "da", "el",
]  # fmt: skip
COMMON = [
    "love", "night", "heart", "light", "dance", "dream", "blue", "fire", "home", "rain", "sun",
    "time", "song", "city", "river", "moon", "gold", "summer", "shadow", "road", "beats",
    "storm", "echo", "garden", "silver", "wild", "ocean", "midnight", "morning", "electric",
]  # fmt: skip


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    return COMMON + [_word(rng) for _ in range(size)]


_ZIPF: dict[int, list[float]] = {}


def _zipf_pick(rng: random.Random, words: list[str]) -> str:
    # Word frequencies as in natural language (Zipf-Mandelbrot, s = 1, q = 10): the commonest
    # title word is in a few percent of titles, most words are rare.
    if len(words) not in _ZIPF:
        _ZIPF[len(words)] = list(itertools.accumulate(1.0 / (r + 10) for r in range(len(words))))
    return rng.choices(words, cum_weights=_ZIPF[len(words)])[0]


def _title(rng: random.Random, words: list[str]) -> str:
    return " ".join(_zipf_pick(rng, words).capitalize() for _ in range(rng.randint(1, 4)))


async def _audio(db: Database, blobs: Path, did: str) -> dict[str, Any]:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"fLaC" + did.encode()

    ref = await store_upload(db, blobs, did, "audio/flac", chunks(), 10_000)
    return ref.to_json()


async def build(data_dir: Path, tracks: int, seed: int) -> tuple[int, float]:
    """Write the catalog as signed commits; returns (records, seconds)."""
    rng = random.Random(seed)
    words = _vocabulary(rng, 6000)
    artist_names = [
        f"{_word(rng).capitalize()} {_word(rng).capitalize()}" for _ in range(tracks // 5)
    ]
    data_dir.mkdir(parents=True)
    keys = KeyStore(data_dir / "keys")
    keys.prepare()
    (data_dir / "blobs").mkdir()
    db = await Database.open(data_dir / "oms.sqlite3")
    repos = Repos(db, keys, load_lexicons(lexicons_dir()))
    started = time.monotonic()
    records = 0
    per_publisher = tracks // PUBLISHERS
    releases_per_publisher = max(1, tracks // 10 // PUBLISHERS)
    try:
        for p in range(PUBLISHERS):
            account = await accounts.create_account(
                db, keys, name=f"label{p}", password="correct horse", role="artist",
                hostname="localhost",
            )  # fmt: skip
            did = account.did
            audio = await _audio(db, data_dir / "blobs", did)
            now = "2025-06-01T00:00:00.000Z"
            profile = {
                "$type": "fm.oms.artist.profile", "displayName": f"Label {_word(rng).title()}",
                "genres": rng.sample(GENRES, 2), "createdAt": now,
            }  # fmt: skip
            writes = [Write("create", "fm.oms.artist.profile", "self", profile)]
            made: list[tuple[str, str]] = []
            for t in range(per_publisher):
                rkey = next_tid()
                credited = [
                    {"name": rng.choice(artist_names), "role": "primary"}
                    for _ in range(rng.choice((1, 1, 1, 2)))
                ]
                record = {
                    "$type": "fm.oms.track",
                    "title": _title(rng, words),
                    "artists": credited,
                    "audio": audio,
                    "durationMs": rng.randint(90_000, 480_000),
                    "genres": rng.sample(GENRES, rng.randint(1, 2)),
                    "tags": [_zipf_pick(rng, words) for _ in range(rng.randint(0, 3))],
                    "license": rng.choice(("cc-by-4.0", "cc-by-sa-4.0", "all-rights-reserved")),
                    "visibility": "public",
                    "createdAt": f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                    "T12:00:00.000Z",
                }
                writes.append(Write("create", "fm.oms.track", rkey, record))
                if len(writes) == 200 or t == per_publisher - 1:
                    result = await repos.apply_writes(did, writes)
                    records += len(writes)
                    made += [(r.uri, r.cid) for r in result.results if "fm.oms.track" in r.uri]
                    writes = []
            per_release = max(1, len(made) // releases_per_publisher)
            for r in range(releases_per_publisher):
                members = made[r * per_release : (r + 1) * per_release]
                release = {
                    "$type": "fm.oms.release", "title": _title(rng, words),
                    "kind": rng.choice(("album", "ep", "single")),
                    "artists": [{"name": rng.choice(artist_names), "role": "primary"}],
                    "tracks": [{"uri": u, "cid": c} for u, c in members],
                    "createdAt": now,
                }  # fmt: skip
                writes.append(Write("create", "fm.oms.release", next_tid(), release))
                if len(writes) == 200 or r == releases_per_publisher - 1:
                    await repos.apply_writes(did, writes)
                    records += len(writes)
                    writes = []
            if p % 20 == 19:
                print(f"  written {records:,} records", flush=True)
    finally:
        repos.close()
        await db.close()
    return records, time.monotonic() - started


async def index(data_dir: Path) -> tuple[float, float, int]:
    """(indexing seconds, baseline seconds, events): the real indexer from position 0, and
    the same events read and turned into changes without writing them."""
    db = await Database.open(data_dir / "oms.sqlite3")
    lexicons = load_lexicons(lexicons_dir())
    try:
        started = time.monotonic()
        position, events = 0, 0
        while batch := await events_after(db, position, 500):
            for event in batch:
                changes_from_event(event, lexicons)
            position = batch[-1].seq
            events += len(batch)
        baseline = time.monotonic() - started
        async with db.transaction() as tx:  # a kept data dir is indexed afresh
            await tx.run(replace_local_catalog)
            await tx.execute("DELETE FROM catalog_state")
        indexer = CatalogIndexer(db, lexicons)
        started = time.monotonic()
        await indexer.catch_up()
        return time.monotonic() - started, baseline, events
    finally:
        await db.close()


def _plain(word: str) -> str:
    return word.replace("é", "e").replace("ö", "o").replace("ñ", "n").replace("ç", "c")


def _typo(word: str) -> str:
    return word[:2] + word[3] + word[2] + word[4:]  # two letters swapped


def queries(seed: int) -> list[tuple[str, dict[str, Any]]]:
    """A mixed set: common and rare words, several words, prefixes while typing, accents
    dropped, typos, filters and the non-relevance sorts."""
    rng = random.Random(seed)
    words = _vocabulary(rng, 6000)
    rng = random.Random(seed + 1)
    mixed: list[tuple[str, dict[str, Any]]] = []
    for _ in range(40):
        mixed += [
            ("common word", {"q": rng.choice(COMMON)}),
            ("rarer word", {"q": rng.choice(words[30:300])}),
            ("two words", {"q": f"{rng.choice(COMMON)} {rng.choice(COMMON)}"}),
            ("typing (3 letters)", {"q": rng.choice(COMMON)[:3]}),
            ("typing (4 letters)", {"q": rng.choice(words[30:])[:4]}),
            ("accents dropped", {"q": _plain(rng.choice(words[30:]))}),
            ("typo", {"q": _typo(rng.choice(COMMON[:20]) + "er")}),
            ("word + genre", {"q": rng.choice(COMMON), "genre": rng.choice(GENRES)}),
            ("word, newest", {"q": rng.choice(COMMON), "sort": "newest"}),
            ("genre, popular", {"genre": rng.choice(GENRES), "sort": "popular"}),
        ]
    return mixed


async def _timed(calls: list[Callable[[], Awaitable[object]]]) -> list[float]:
    out = []
    for call in calls:
        started = time.perf_counter()
        await call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def _pct(samples: list[float], p: float) -> float:
    return statistics.quantiles(samples, n=100)[int(p) - 1]


async def search_in_process(
    data_dir: Path, mixed: list[dict[str, Any]]
) -> tuple[list[float], list[float]]:
    db = await Database.open(data_dir / "oms.sqlite3")
    try:

        def ours(params: dict[str, Any]) -> Callable[[], Awaitable[object]]:
            kw = {"min_duration_ms": None, **{k: v for k, v in params.items()}}
            return lambda: search_tracks(db, **kw)

        def like(params: dict[str, Any]) -> Callable[[], Awaitable[object]]:
            # What Navidrome and Funkwhale do: every word LIKE '%word%' in title or artists.
            words = str(params.get("q", "")).split()
            clauses = (
                " AND ".join(
                    "(t.title LIKE ? OR EXISTS (SELECT 1 FROM track_credits c"
                    " WHERE c.track_uri = t.uri AND c.name LIKE ?))"
                    for _ in words
                )
                or "1"
            )
            genre = (
                " AND EXISTS (SELECT 1 FROM track_genres g"
                " WHERE g.track_uri = t.uri AND g.genre = ?)"
                if "genre" in params
                else ""
            )
            args: list[object] = [a for w in words for a in (f"%{w}%", f"%{w}%")]
            if genre:
                args.append(params["genre"])
            sql = (
                "SELECT t.uri, t.title FROM tracks t WHERE t.visibility = 'public'"
                f" AND {clauses}{genre} ORDER BY t.created_at DESC LIMIT 26"
            )
            return lambda: db.fetchall(sql, tuple(args))

        await _timed([ours(p) for _, p in mixed[:50]])  # warm the page cache
        return await _timed([ours(p) for _, p in mixed]), await _timed([like(p) for _, p in mixed])
    finally:
        await db.close()


def search_over_http(data_dir: Path, mixed: list[tuple[str, dict[str, Any]]]) -> list[float]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_")}
    (data_dir.parent / "oms.toml").write_text("")
    env.update(OMS_CONFIG=str(data_dir.parent / "oms.toml"), OMS_DATA_DIR=str(data_dir),
               OMS_SERVER_PORT=str(port), OMS_LOG_LEVEL="warning")  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "oms", "serve"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "oms serve did not start"
                time.sleep(0.1)
            url = "/xrpc/fm.oms.catalog.searchTracks"
            for _, params in mixed[:50]:
                client.get(url, params=params)
            samples = []
            for _, params in mixed:
                started = time.perf_counter()
                answer = client.get(url, params=params)
                samples.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, answer.text
            return samples
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="keep (or reuse) the generated data here")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="oms-bench-"))
    data_dir = (args.keep or scratch) / "data"
    try:
        if not (data_dir / "oms.sqlite3").exists():
            print(f"writing {args.tracks:,} tracks, {args.tracks // 10:,} releases, "
                  f"{args.tracks // 5:,} credited artists as signed commits ...")  # fmt: skip
            records, seconds = asyncio.run(build(data_dir, args.tracks, seed=7))
            print(f"  {records:,} records in {seconds:.0f} s ({records / seconds:,.0f} records/s)")
        indexing, baseline, events = asyncio.run(index(data_dir))
        db_records = asyncio.run(_count(data_dir))
        print(f"indexing: {db_records:,} records from {events:,} commits in {indexing:.1f} s = "
              f"{db_records / indexing:,.0f} records/s (target >= 2,000)")  # fmt: skip
        print(f"  baseline (read + decode the same events, no writes): {baseline:.1f} s; "
              f"indexing / baseline = {indexing / baseline:.2f}x")  # fmt: skip
        mixed = queries(seed=7)
        ours, like = asyncio.run(search_in_process(data_dir, mixed))
        print(f"searchTracks in-process over {len(mixed)} queries: p50 {_pct(ours, 50):.1f} ms, "
              f"p95 {_pct(ours, 95):.1f} ms (target p95 < 20 ms)")  # fmt: skip
        print(f"  baseline SQL LIKE: p50 {_pct(like, 50):.1f} ms, p95 {_pct(like, 95):.1f} ms; "
              f"ratio p95 ours/LIKE = {_pct(ours, 95) / _pct(like, 95):.2f}x")  # fmt: skip
        kinds: dict[str, list[float]] = {}
        for (kind, _), ms in zip(mixed, ours, strict=True):
            kinds.setdefault(kind, []).append(ms)
        for kind, samples in kinds.items():
            print(
                f"    {kind:<20} p50 {_pct(samples, 50):6.1f} ms  p95 {_pct(samples, 95):6.1f} ms"
            )
        http = search_over_http(data_dir, mixed)
        print(f"searchTracks over HTTP: p50 {_pct(http, 50):.1f} ms, p95 {_pct(http, 95):.1f} ms")
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)


async def _count(data_dir: Path) -> int:
    db = await Database.open(data_dir / "oms.sqlite3")
    try:
        counts = [
            await db.fetchval(f"SELECT count(*) FROM {t}")
            for t in ("tracks", "releases", "artists")
        ]
        return int(sum(counts))
    finally:
        await db.close()


if __name__ == "__main__":
    main()
