"""Data rights of a signed-in account: what the node holds about it (`/account/data`), one
archive of all of it (`/account/export`), and deleting the account (`/account/delete`).

The archive is assembled here, at the edge, because its parts come from several rooms (the
repository and blobs from pds; listening history from analytics and statements from
royalties once those rooms keep any). It is built by worker threads into a file under the data
directory's `tmp/`, unlinked as soon as it is open for sending, and streamed from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from oms.analytics.privacy import export_listening, forget_listener, report_count
from oms.context import AppContext
from oms.errors import OmsError, RateLimitExceeded, Unavailable
from oms.pds import sessions
from oms.pds.accounts import Account, get_account
from oms.pds.blobs import StoredBlob, owned_blobs
from oms.pds.web_sessions import WebSession, list_sessions
from oms.web.render import page, problem_text, with_retry_after
from oms.web.session import check_csrf, clear_session_cookie, client_address, member

__all__ = ["EXPORT_FILES", "data_page", "delete_account", "delete_listening", "export_archive"]

log = logging.getLogger(__name__)

# What the archive holds, for its README.txt and the page that offers it.
EXPORT_FILES: tuple[tuple[str, str], ...] = (
    (
        "repo.car",
        "your repository: every record you published (tracks, releases, profile, likes, "
        "playlists) with its signed commit, as a CAR v1 file, exactly what "
        "com.atproto.sync.getRepo serves. Any ATProto tool reads it, and another PDS can "
        "import it (com.atproto.repo.importRepo).",
    ),
    (
        "blobs/<cid>",
        "each file you uploaded (audio masters, artwork), named by its content identifier; "
        "account.json lists the type and size of each.",
    ),
    (
        "account.json",
        "your account: handle, DID, role, email, when it was created, the names of your app "
        "passwords (never the passwords themselves) and where you are signed in.",
    ),
    (
        "listening.json",
        "your listening: every report your players sent while you were signed in (which "
        "seconds of which track, when, from which client and page, and the country your "
        "player's time zone implies), most recent first, for as long as the node keeps them.",
    ),
    (
        "statements.json",
        "your royalty statements: an empty list, since this node keeps no royalty statements "
        "for this account yet.",
    ),
)

# Written here, inside the data directory, so an archive of large masters does not fill /tmp.
_TMP = "tmp"
_PREFIX = "export-"
# An archive file older than this is what a crash left behind (a live one is unlinked as
# soon as it is built, and touched while it is).
_STALE_S = 24 * 60 * 60
_CHUNK = 1024 * 1024
_MB = 1024 * 1024


def _context(request: Request) -> AppContext:
    context: AppContext = request.state.context
    return context


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


# --- the page --------------------------------------------------------------------------------


async def _data_page(
    request: Request,
    session: WebSession,
    status: int = 200,
    *,
    problem: str | None = None,
    notice: str | None = None,
) -> Response:
    context = _context(request)
    account = await get_account(context.db, session.did)
    blobs = await owned_blobs(context.db, context.blobs_dir, session.did)
    collections = await context.repos.collections(session.did)
    return await page(
        request,
        "account/data.html",
        status,
        account=account,
        collections=collections,
        blob_count=len(blobs),
        blob_mb=round(sum(blob.size for _, blob in blobs) / _MB, 1),
        files=EXPORT_FILES,
        problem=problem,
        notice=notice,
        listening_reports=await report_count(context.listening, session.did),
        raw_days=int(context.settings["analytics.raw_days"]),
    )


async def data_page(request: Request) -> Response:
    return await _data_page(request, await member(request))


# --- the archive -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Contents:
    account: Account
    blobs: list[tuple[str, StoredBlob]]
    document: dict[str, Any]
    readme: str
    listening: list[dict[str, Any]]


async def _contents(context: AppContext, session: WebSession) -> _Contents:
    db = context.db
    account = await get_account(db, session.did)
    blobs = await owned_blobs(db, context.blobs_dir, session.did)
    app_passwords = await sessions.list_app_passwords(db, session.did)
    signed_in_at = await list_sessions(db, session.did)
    now = int(time.time() * 1000)
    document: dict[str, Any] = {
        "did": account.did,
        "handle": account.handle,
        "role": account.role,
        "email": account.email,
        "status": account.status,
        "createdAt": _iso(account.created_at),
        "node": context.settings.public_url,
        "exportedAt": _iso(now),
        "appPasswords": [
            {"name": p.name, "createdAt": _iso(p.created_at), "privileged": p.privileged}
            for p in app_passwords
        ],
        "sessions": [
            {
                "kind": s.kind,
                "label": s.label,
                "createdAt": _iso(s.created_at),
                "lastUsedAt": _iso(s.seen_at),
                "current": s.session_id == session.session_id,
            }
            for s in signed_in_at
        ],
        "blobs": [
            {"cid": cid, "mimeType": blob.mime_type, "size": blob.size} for cid, blob in blobs
        ],
    }
    width = max(len(name) for name, _ in EXPORT_FILES)
    readme = "\n".join(
        [
            f"Everything {context.settings['node.name']} ({context.settings.public_url}) holds "
            f"for @{account.handle} ({account.did}), exported {_iso(now)}.",
            "",
            *(f"{name:<{width}}  {what}" for name, what in EXPORT_FILES),
            "",
        ]
    )
    listening = await export_listening(context.listening, session.did)
    return _Contents(account, blobs, document, readme, listening)


class _Archive:
    """A ZIP being written by worker threads, one call at a time."""

    def __init__(self, path: Path) -> None:
        self._zip = zipfile.ZipFile(path, "x", allowZip64=True)
        self._entry: IO[bytes] | None = None

    def _info(self, name: str, compress: int) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, time.gmtime()[:6])
        info.compress_type = compress
        info.external_attr = 0o644 << 16
        return info

    def add_text(self, name: str, text: str) -> None:
        self._zip.writestr(self._info(name, zipfile.ZIP_DEFLATED), text.encode())

    def open_entry(self, name: str) -> None:
        # force_zip64: its size is not known in advance and may pass 2 GiB.
        self._entry = self._zip.open(self._info(name, zipfile.ZIP_DEFLATED), "w", force_zip64=True)

    def write(self, chunk: bytes) -> None:
        assert self._entry is not None
        self._entry.write(chunk)

    def close_entry(self) -> None:
        assert self._entry is not None
        self._entry.close()
        self._entry = None

    def add_file(self, name: str, source: Path) -> None:
        # Stored: audio and images are compressed already.
        info = self._info(name, zipfile.ZIP_STORED)
        with source.open("rb") as src, self._zip.open(info, "w", force_zip64=True) as dst:
            shutil.copyfileobj(src, dst, _CHUNK)

    def close(self) -> None:
        self._zip.close()

    def abandon(self) -> None:
        """Let go of a half-written archive (its file is removed by the caller)."""
        with contextlib.suppress(Exception):
            if self._entry is not None:
                self._entry.close()
        with contextlib.suppress(Exception):
            self._zip.close()


def _fresh_path(folder: Path) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    # What a crash left behind goes first; live archives are unlinked once built.
    cutoff = time.time() - _STALE_S
    for stale in folder.glob(f"{_PREFIX}*"):
        with contextlib.suppress(FileNotFoundError):
            if stale.stat().st_mtime < cutoff:
                stale.unlink()
    return folder / f"{_PREFIX}{secrets.token_hex(12)}.zip"


def _check_room(context: AppContext, folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    reserve = int(context.settings["data.min_free_mb"]) * _MB
    if free - needed < reserve:
        raise Unavailable(
            f"the node has too little free disk to build your archive (it needs about "
            f"{needed // _MB + 1} MB); try again later or ask the node's operator"
        )


async def _build(context: AppContext, contents: _Contents, path: Path) -> None:
    """Write the whole archive to `path` (which the caller removes, whatever happens)."""
    archive = await asyncio.to_thread(_Archive, path)
    try:
        await asyncio.to_thread(archive.add_text, "README.txt", contents.readme)
        document = json.dumps(contents.document, indent=2, ensure_ascii=False) + "\n"
        await asyncio.to_thread(archive.add_text, "account.json", document)
        listening = json.dumps(contents.listening, indent=1, ensure_ascii=False) + "\n"
        await asyncio.to_thread(archive.add_text, "listening.json", listening)
        await asyncio.to_thread(archive.add_text, "statements.json", "[]\n")
        await asyncio.to_thread(archive.open_entry, "repo.car")
        async for chunk in context.repos.export_car(contents.account.did):
            await asyncio.to_thread(archive.write, chunk)
        await asyncio.to_thread(archive.close_entry)
        for cid, blob in contents.blobs:
            try:
                await asyncio.to_thread(archive.add_file, f"blobs/{cid}", blob.path)
            except FileNotFoundError:
                # Collected between the listing and now: it is no longer the account's.
                log.warning("blob %s left %s during its export", cid, contents.account.did)
        await asyncio.to_thread(archive.close)
    except BaseException:
        archive.abandon()  # not in a thread: it must run even while the request is cancelled
        raise


async def _stream(handle: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(handle.read, _CHUNK):
            yield chunk
    finally:
        # Not in a thread: a download cut short finalizes this generator late, perhaps after
        # the loop's thread pool has shut down. Closing a file that is only read is quick.
        handle.close()


def _open_and_unlink(path: Path) -> tuple[IO[bytes], int]:
    # Once open, the name can go: nothing is left on disk after the download, whether it
    # finished, failed or the browser went away.
    handle = path.open("rb")
    try:
        size = os.fstat(handle.fileno()).st_size
    finally:
        path.unlink(missing_ok=True)
    return handle, size


def _exports_under_way(request: Request) -> set[str]:
    state = request.app.state
    if not hasattr(state, "data_exports"):
        state.data_exports = set()
    under_way: set[str] = state.data_exports
    return under_way


async def export_archive(request: Request) -> Response:
    """The account's archive, as a ZIP download (POST with the session's CSRF token)."""
    context = _context(request)
    session = await member(request)
    check_csrf(session, await request.form())
    under_way = _exports_under_way(request)
    if session.did in under_way:
        raise RateLimitExceeded(
            "an archive of your account is being built already; wait for its download",
            retry_after=30,
        )
    under_way.add(session.did)
    try:
        contents = await _contents(context, session)
        folder = context.data_dir / _TMP
        path = await asyncio.to_thread(_fresh_path, folder)
        needed = sum(blob.size for _, blob in contents.blobs) + 64 * _MB
        await asyncio.to_thread(_check_room, context, folder, needed)
        try:
            await _build(context, contents, path)
            handle, size = await asyncio.to_thread(_open_and_unlink, path)
        except BaseException:
            path.unlink(missing_ok=True)  # not in a thread, for the same reason as abandon()
            raise
    finally:
        under_way.discard(session.did)
    day = datetime.now(UTC).strftime("%Y%m%d")
    name = f"oms-export-{contents.account.handle}-{day}.zip"
    return StreamingResponse(
        _stream(handle),
        media_type="application/zip",
        headers={
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


# --- deletion --------------------------------------------------------------------------------


async def delete_listening(request: Request) -> Response:
    """Delete the signed-in listener's listening (raw reports and the fraud rules' notes on
    them); the days it touched are counted again without it."""
    context = _context(request)
    session = await member(request)
    check_csrf(session, await request.form())
    days = await forget_listener(context.listening, session.did, rules=context.fraud_rules)
    notice = (
        f"Your listening is deleted; {days} {'day was' if days == 1 else 'days were'} counted "
        "again without it."
        if days
        else "This node kept no listening of yours."
    )
    return await _data_page(request, session, notice=notice)


async def delete_account(request: Request) -> Response:
    """Delete the signed-in account, given its handle typed out and its password; then the
    browser is signed out and told what went."""
    context = _context(request)
    session = await member(request)
    form = await request.form()
    check_csrf(session, form)
    typed = str(form.get("handle", "")).strip().removeprefix("@").lower()
    password = str(form.get("password", ""))
    if typed != session.handle:
        problem = f"Type your handle, @{session.handle}, to confirm that this account should go."
        return await _data_page(request, session, 400, problem=problem)
    if not password:
        return await _data_page(request, session, 400, problem="Enter your password.")
    try:
        await sessions.delete_own_account(
            context.db,
            context.blobs_dir,
            did=session.did,
            password=password,
            address=client_address(request),
        )
    except OmsError as e:
        response = await _data_page(request, session, e.status, problem=problem_text(e))
        return with_retry_after(response, e)
    # Their listening goes with them (the figures are recounted without it).
    await forget_listener(context.listening, session.did, rules=context.fraud_rules)
    if context.catalog_indexer is not None:
        # So that the catalog this browser sees next no longer lists the account's music
        # (two seconds at most; the indexer gets there regardless).
        await context.catalog_indexer.settle_within(2)
    response = await page(
        request, "account/data_deleted.html", viewer=None, handle=session.handle, did=session.did
    )
    clear_session_cookie(response, context)
    return response
