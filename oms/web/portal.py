"""The creator portal: an artist's dashboard of uploads, the upload page, the track and release
editors, and the live feed of media progress.

The pages only show; every change (upload, publish, edit, replace, delete) is made by the
portal's scripts through the node's XRPC methods, as any ATProto client would make it.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from oms.context import AppContext
from oms.errors import NotFound
from oms.library.ingest import MediaProgress
from oms.library.records import LICENSES
from oms.library.store.creator import creator_releases, creator_tracks
from oms.pds.repo import Record
from oms.pds.syntax import is_valid_record_key
from oms.pds.web_sessions import WebSession
from oms.web.render import page
from oms.web.session import member

__all__ = ["dashboard", "events", "release_editor", "track_editor", "upload_page"]

TRACK = "fm.oms.track"
RELEASE = "fm.oms.release"
# How the portal names each licence of `LICENSES`.
LICENSE_LABELS = {
    "all-rights-reserved": "All rights reserved",
    "cc0-1.0": "CC0 (public domain)",
    "cc-by-4.0": "CC BY 4.0",
    "cc-by-sa-4.0": "CC BY-SA 4.0",
    "cc-by-nc-4.0": "CC BY-NC 4.0",
    "cc-by-nc-sa-4.0": "CC BY-NC-SA 4.0",
    "cc-by-nd-4.0": "CC BY-ND 4.0",
    "cc-by-nc-nd-4.0": "CC BY-NC-ND 4.0",
}
RELEASE_KINDS = ("album", "ep", "single", "compilation")
# A comment line keeps proxies from closing a quiet event stream.
_HEARTBEAT_S = 15.0
# How often a quiet stream checks whether the node is stopping.
_WAKE_S = 1.0


def _licenses() -> list[tuple[str, str]]:
    return [(value, LICENSE_LABELS.get(value, value)) for value in LICENSES]


def _context(request: Request) -> AppContext:
    context: AppContext = request.state.context
    return context


async def _own_tracks(
    request: Request, session: WebSession, *, uri: str | None = None
) -> list[sqlite3.Row]:
    """The artist's tracks as the catalog has them once it has caught up with the latest
    writes: what the artist just published, edited or deleted shows (read your writes)."""
    context = _context(request)
    if context.catalog_indexer is not None:
        # A busy indexer delays the page by two seconds at most; it then shows what it has.
        await context.catalog_indexer.settle_within(2)
    return await creator_tracks(context.db, session.did, uri=uri)


async def dashboard(request: Request) -> Response:
    session = await member(request)
    db = _context(request).db
    tracks = await _own_tracks(request, session)
    counts: dict[str, int] = {}
    for row in tracks:
        counts[row["status"] or "queued"] = counts.get(row["status"] or "queued", 0) + 1
    wanted = request.query_params.get("status", "")
    shown = [t for t in tracks if not wanted or (t["status"] or "queued") == wanted]
    return await page(
        request,
        "portal/dashboard.html",
        tracks=shown,
        total=len(tracks),
        counts=counts,
        wanted=wanted,
        releases=await creator_releases(db, session.did),
    )


async def upload_page(request: Request) -> Response:
    await member(request)
    context = _context(request)
    return await page(
        request,
        "portal/upload.html",
        licenses=_licenses(),
        kinds=RELEASE_KINDS,
        max_mb=int(context.settings["pds.blob_max_mb"]),
    )


async def _own_record(request: Request, session: WebSession, collection: str) -> Record:
    rkey = request.path_params["rkey"]
    if not is_valid_record_key(rkey):
        raise NotFound(f"no {collection} record {rkey!r}")
    return await _context(request).repos.get_record(session.did, collection, rkey)


def _fields(record: Record) -> dict[str, Any]:
    return dict(record.value) if isinstance(record.value, dict) else {}


def _record_json(record: Record) -> str:
    # Embedded in a <script type="application/json">: "</" must not end the element.
    return json.dumps({"uri": record.uri, "cid": record.cid, "value": record.value}).replace(
        "</", "<\\/"
    )


async def track_editor(request: Request) -> Response:
    session = await member(request)
    record = await _own_record(request, session, TRACK)
    value = _fields(record)
    rows = await _own_tracks(request, session, uri=record.uri)
    indexed = rows[0] if rows else None
    return await page(
        request,
        "portal/track.html",
        record=record,
        track=value,
        indexed=indexed,
        record_json=_record_json(record),
        licenses=_licenses(),
        title=str(value.get("title") or "Untitled"),
    )


async def release_editor(request: Request) -> Response:
    session = await member(request)
    record = await _own_record(request, session, RELEASE)
    tracks = {r["uri"]: r for r in await _own_tracks(request, session)}
    value = _fields(record)
    listed = [
        {"uri": ref.get("uri"), "cid": ref.get("cid"), "row": tracks.get(str(ref.get("uri")))}
        for ref in value.get("tracks", [])
        if isinstance(ref, dict)
    ]
    in_release = {item["uri"] for item in listed}
    return await page(
        request,
        "portal/release.html",
        record=record,
        release=value,
        listed=listed,
        others=[row for uri, row in tracks.items() if uri not in in_release],
        record_json=_record_json(record),
        kinds=RELEASE_KINDS,
    )


def _sse(event: str, data: dict[str, object]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def events(request: Request) -> Response:
    """Server-sent events: the progress of the signed-in artist's media, as it happens."""
    session = await member(request)
    bus = _context(request).bus
    stopping: asyncio.Event = request.app.state.stopping
    subscription = bus.subscribe(MediaProgress, maxsize=1000)

    async def stream() -> AsyncIterator[bytes]:
        quiet = 0.0
        try:
            yield b"retry: 3000\n\n"
            while not stopping.is_set():
                try:
                    event = await asyncio.wait_for(subscription.get(), _WAKE_S)
                except TimeoutError:
                    quiet += _WAKE_S
                    if quiet >= _HEARTBEAT_S:
                        quiet = 0.0
                        if await request.is_disconnected():
                            return
                        yield b": still here\n\n"
                    continue
                if subscription.overflowed:
                    # Events were lost: the page reloads its state from the server.
                    subscription.overflowed = False
                    yield _sse("resync", {})
                assert isinstance(event, MediaProgress)
                if event.did != session.did:
                    continue
                yield _sse(
                    "media",
                    {
                        "cid": event.cid,
                        "status": event.status,
                        "progress": int(event.progress),
                        "error": event.error,
                    },
                )
        finally:
            subscription.close()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
