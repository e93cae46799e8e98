"""The catalog indexer: commits become catalog rows, in order, exactly once, crash or not."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from oms.library.index import CatalogIndexer, CatalogUpdated, reindex
from oms.library.search import get_track, search_tracks
from oms.pds import accounts
from oms.pds.sequencer import last_seq, prune_events
from tests.library.conftest import LIKE, PROFILE, RELEASE, SOME_CID, TRACK, Catalog

pytestmark = pytest.mark.anyio

# Every catalog table, as comparable rows (ids and indexing times differ between runs).
_SNAPSHOT = {
    "tracks": "SELECT uri, did, rkey, cid, origin, title, release_uri, release_cid,"
    " track_number, disc_number, duration_ms, license, isrc, release_date, explicit,"
    " visibility, downloadable, audio_cid, audio_mime, audio_size, artwork_cid, lyrics_plain,"
    " lyrics_synced, created_at FROM tracks ORDER BY uri",
    "track_credits": "SELECT * FROM track_credits ORDER BY track_uri, position",
    "track_genres": "SELECT * FROM track_genres ORDER BY track_uri, position",
    "track_tags": "SELECT * FROM track_tags ORDER BY track_uri, position",
    "track_splits": "SELECT * FROM track_splits ORDER BY track_uri, position",
    "releases": "SELECT uri, did, rkey, cid, origin, title, kind, artists, artwork_cid,"
    " release_date, label, upc, genres, created_at FROM releases ORDER BY uri",
    "release_tracks": "SELECT * FROM release_tracks ORDER BY release_uri, position",
    "artists": "SELECT did, rkey, cid, uri, origin, display_name, bio, avatar_cid, banner_cid,"
    " location, genres, links, support_links FROM artists ORDER BY did",
    "likes": "SELECT uri, did, rkey, cid, origin, subject_uri, subject_cid, created_at"
    " FROM likes ORDER BY uri",
    "track_search": "SELECT t.uri, s.title, s.artists, s.release, s.tags, s.lyrics"
    " FROM track_search s JOIN tracks t ON t.id = s.rowid ORDER BY t.uri",
    "artist_search": "SELECT a.did, s.name, s.about"
    " FROM artist_search s JOIN artists a ON a.rowid = s.rowid ORDER BY a.did",
    "release_search": "SELECT r.uri, s.title, s.artists, s.about"
    " FROM release_search s JOIN releases r ON r.rowid = s.rowid ORDER BY r.uri",
    "search_rows": "SELECT (SELECT count(*) FROM track_search), (SELECT count(*) FROM tracks),"
    " (SELECT count(*) FROM artist_search), (SELECT count(*) FROM artists),"
    " (SELECT count(*) FROM release_search), (SELECT count(*) FROM releases)",
    "track_stats": "SELECT track_uri, like_count FROM track_stats WHERE like_count > 0"
    " ORDER BY track_uri",
}


async def _snapshot(catalog: Catalog) -> dict[str, list[tuple[object, ...]]]:
    return {
        name: [tuple(row) for row in await catalog.db.fetchall(sql)]
        for name, sql in _SNAPSHOT.items()
    }


async def _titles(catalog: Catalog, q: str | None = None, **params: object) -> list[str]:
    views, _ = await search_tracks(catalog.db, q=q, **params)  # type: ignore[arg-type]
    return [v.title for v in views]


async def _varied_catalog(catalog: Catalog) -> dict[str, str]:
    """Artists, releases, tracks, likes, edits and deletes, in an order that makes the index
    fix up earlier rows (a release arriving after its tracks, a release renamed)."""
    alice, bob = await catalog.account("alice"), await catalog.account("bob")
    await catalog.put(alice, PROFILE, "self", {"displayName": "Alice", "genres": ["jazz"]})
    first = await catalog.track(
        alice, "Blue Morning", genres=["Jazz"], tags=["calm"], durationMs=200_000,
        lyrics={"plain": "the sky is blue", "synced": [{"timeMs": 0, "text": "sky"}]},
        release={"uri": f"at://{alice}/{RELEASE}/3krelease0001", "cid": SOME_CID},
        splits=[{"did": alice, "shareBps": 10_000, "role": "artist"}],
    )  # fmt: skip
    gone = await catalog.track(alice, "Deleted Song")
    edited = await catalog.track(bob, "Frist Draft")
    release_value = {
        "title": "Morning Sessions",
        "kind": "album",
        "artists": [{"name": "Alice", "did": alice, "role": "primary"}],
        "tracks": [{"uri": first, "cid": SOME_CID}],
        "createdAt": "2024-05-02T00:00:00Z",
    }
    await catalog.put(alice, RELEASE, "3krelease0001", release_value)
    await catalog.put(
        alice, RELEASE, "3krelease0001", {**release_value, "title": "Morning Sessions Vol 1"},
        update=True,
    )  # fmt: skip
    await catalog.put(
        bob, LIKE, catalog.rkey(),
        {"subject": {"uri": first, "cid": SOME_CID}, "createdAt": "2024-05-03T00:00:00Z"},
    )  # fmt: skip
    await catalog.delete(gone)
    rkey = edited.rsplit("/", 1)[1]
    await catalog.put(bob, TRACK, rkey, await catalog.track_value(bob, "First Draft"), update=True)
    return {"alice": alice, "bob": bob, "first": first, "edited": edited, "gone": gone}


async def test_commits_become_catalog_rows_with_edits_and_deletes(catalog: Catalog) -> None:
    names = await _varied_catalog(catalog)
    assert await catalog.indexer.catch_up() > 0
    assert await catalog.indexer.position() == await last_seq(catalog.db)
    view = await get_track(catalog.db, names["first"])
    assert view is not None
    assert (view.title, view.release_title, view.like_count) == (
        "Blue Morning",
        "Morning Sessions Vol 1",
        1,
    )
    assert view.genres == ("Jazz",)
    assert view.duration_ms == 200_000
    assert view.origin == "local"
    assert view.audio_cid == (await catalog.audio(names["alice"]))["ref"]["$link"]
    assert await get_track(catalog.db, names["gone"]) is None
    assert await _titles(catalog, "draft") == ["First Draft"]
    # The old title is gone from the index (the typo pass still leads "frist" to the new one).
    stale = "SELECT count(*) FROM track_search WHERE track_search MATCH 'frist'"
    assert await catalog.db.fetchval(stale) == 0
    assert await _titles(catalog, "frist") == ["First Draft"]
    assert await _titles(catalog, "vol") == ["Blue Morning"]  # release title, renamed
    assert await _titles(catalog, "sky") == ["Blue Morning"]  # lyrics


async def test_reindex_builds_the_same_index_as_following_the_commits(
    catalog: Catalog,
) -> None:
    await _varied_catalog(catalog)
    await catalog.indexer.catch_up()
    incremental = await _snapshot(catalog)
    assert incremental["tracks"]
    assert incremental["releases"]
    assert incremental["likes"]
    count = await reindex(catalog.db, catalog.repos.lexicons)
    assert count == len(incremental["tracks"]) + len(incremental["releases"]) + len(
        incremental["artists"]
    ) + len(incremental["likes"])
    assert await _snapshot(catalog) == incremental
    # The indexer carries on from where the rebuild stood.
    assert await catalog.indexer.position() == await last_seq(catalog.db)
    assert await catalog.indexer.catch_up() == 0


async def test_a_track_is_searchable_within_a_second_of_its_commit(catalog: Catalog) -> None:
    did = await catalog.account("alice")
    await catalog.indexer.start()
    for title, q in (("Quiet Harbour", "harbour"), ("Second Light", "light")):
        uri = await catalog.track(did, title)
        started = time.monotonic()
        async with asyncio.timeout(1.0):
            while await _titles(catalog, q) != [title]:
                await asyncio.sleep(0.01)
        assert time.monotonic() - started < 1.0
        await catalog.delete(uri)
        async with asyncio.timeout(1.0):
            while await _titles(catalog, q):
                await asyncio.sleep(0.01)


async def test_an_invalid_record_is_skipped_and_logged_and_the_next_one_indexed(
    catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    did = await catalog.account("alice")
    untitled = await catalog.track_value(did, "x")
    del untitled["title"]
    await catalog.put(did, TRACK, catalog.rkey(), untitled)
    await catalog.put(did, TRACK, catalog.rkey(), {**untitled, "title": "Fine", "visibility": 7})
    await catalog.track(did, "Valid Song")
    with caplog.at_level(logging.WARNING, logger="oms.library"):
        await catalog.indexer.catch_up()
    assert await _titles(catalog) == ["Valid Song"]
    reasons = [r.getMessage() for r in caplog.records if "catalog skips" in r.getMessage()]
    assert len(reasons) == 2
    assert "title" in reasons[0]


async def test_an_edit_that_makes_a_track_invalid_removes_it(catalog: Catalog) -> None:
    did = await catalog.account("alice")
    uri = await catalog.track(did, "Soon Broken")
    await catalog.indexer.catch_up()
    assert await _titles(catalog, "broken") == ["Soon Broken"]
    broken = await catalog.track_value(did, "Soon Broken")
    del broken["audio"]
    await catalog.put(did, TRACK, uri.rsplit("/", 1)[1], broken, update=True)
    await catalog.indexer.catch_up()
    assert await _titles(catalog, "broken") == []


async def test_a_deleted_account_leaves_the_catalog(catalog: Catalog) -> None:
    alice, bob = await catalog.account("alice"), await catalog.account("bob")
    await catalog.track(alice, "Alice Song")
    await catalog.track(bob, "Bob Song")
    await catalog.put(alice, PROFILE, "self", {"displayName": "Alice"})
    await catalog.indexer.catch_up()
    await accounts.set_status(catalog.db, alice, "deleted")
    await catalog.indexer.catch_up()
    assert await _titles(catalog, "song") == ["Bob Song"]
    assert await catalog.db.fetchval("SELECT count(*) FROM artists") == 0
    snapshot = await _snapshot(catalog)
    assert snapshot["search_rows"] == [(1, 1, 0, 0, 0, 0)]


async def test_an_interrupted_indexer_resumes_without_losing_or_repeating(
    catalog: Catalog,
) -> None:
    did = await catalog.account("alice")
    for i in range(12):
        await catalog.track(did, f"Song {i}", genres=["Ambient"], tags=["loop"])
    first = CatalogIndexer(catalog.db, catalog.repos.lexicons, batch_events=4)
    assert await first.index_batch() == 4
    stopped_at = await first.position()
    assert 0 < stopped_at < await last_seq(catalog.db)
    # A new process starts from the saved position.
    second = CatalogIndexer(catalog.db, catalog.repos.lexicons, batch_events=4)
    await second.catch_up()
    assert len(await _titles(catalog, "song", limit=100)) == 12
    counts = await _snapshot(catalog)
    assert counts["search_rows"] == [(12, 12, 0, 0, 0, 0)]
    assert len(counts["track_genres"]) == len(counts["track_tags"]) == 12
    # Replaying from the very start (a lost position) changes nothing either.
    async with catalog.db.transaction() as tx:
        await tx.execute("UPDATE catalog_state SET seq = 0")
    await second.catch_up()
    assert await _snapshot(catalog) == counts


async def test_the_indexer_announces_each_batch_after_its_commit(catalog: Catalog) -> None:
    did = await catalog.account("alice")
    updates = catalog.db.bus.subscribe(CatalogUpdated)
    try:
        await catalog.indexer.start()
        await catalog.track(did, "Announced")
        async with asyncio.timeout(1.0):
            while True:
                event = await updates.get()
                assert isinstance(event, CatalogUpdated)
                if event.seq == await last_seq(catalog.db):
                    break
        # Announced after COMMIT: a reader already sees the track.
        assert await _titles(catalog, "announced") == ["Announced"]
    finally:
        updates.close()


async def test_the_indexer_stops_and_restarts_cleanly_mid_stream(catalog: Catalog) -> None:
    did = await catalog.account("alice")
    await catalog.indexer.start()
    for i in range(5):
        await catalog.track(did, f"Tune {i}")
    await catalog.indexer.stop()
    for i in range(5, 10):
        await catalog.track(did, f"Tune {i}")
    restarted = CatalogIndexer(catalog.db, catalog.repos.lexicons)
    await restarted.start()
    try:
        async with asyncio.timeout(2):
            while await restarted.position() < await last_seq(catalog.db):
                await asyncio.sleep(0.01)
    finally:
        await restarted.stop()
    assert sorted(await _titles(catalog, "tune", limit=100)) == [f"Tune {i}" for i in range(10)]
    assert (await _snapshot(catalog))["search_rows"] == [(10, 10, 0, 0, 0, 0)]


async def test_events_pruned_before_indexing_are_recovered_from_the_repositories(
    catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    did = await catalog.account("alice")
    await catalog.track(did, "Old Song")
    await catalog.track(did, "Older Song")
    await prune_events(catalog.db, older_than_ms=int(time.time() * 1000) + 1)
    await catalog.track(did, "New Song")
    with caplog.at_level(logging.WARNING, logger="oms.library"):
        await catalog.indexer.catch_up()
    assert sorted(await _titles(catalog, "song")) == ["New Song", "Old Song", "Older Song"]
    assert any("rebuilding" in r.getMessage() for r in caplog.records)
    assert await catalog.indexer.position() == await last_seq(catalog.db)
