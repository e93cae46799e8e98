"""Media -> catalog: the durable jobs that turn a track's audio blob into its HLS ladder, and
remove the ladder once no track uses the audio any more.

A ladder is built in `<hls>/.partial/<hash of did>-<cid>-<random>/` and renamed into
`<hls>/<did>/<cid>/` only when complete, so a stream exists exactly when its media row says
`ready`; a crash leaves at most a partial directory, which the next attempt (or start) sweeps.
Bad input fails the job for good with the reason in the media row; anything else (limits,
disk full, a killed ffmpeg) is retried by the job queue with backoff.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from oms.db.database import Database
from oms.db.queue import Job, JobHandler
from oms.errors import InvalidRequest, NotFound, OmsError
from oms.events import Event
from oms.library.index import PROCESS_MEDIA, REMOVE_MEDIA
from oms.library.store import media as store
from oms.library.views import MediaStatusView
from oms.media.artwork import make_artwork
from oms.media.failures import InvalidMedia
from oms.media.ladder import LadderOptions, MediaResult, transcode
from oms.media.probe import AudioProbe, ProbeLimits, probe
from oms.media.tags import read_tags
from oms.pds.blobs import blob_path
from oms.pds.syntax import is_valid_cid, is_valid_did

__all__ = ["MediaPipeline", "MediaProgress", "media_dir", "media_status"]

log = logging.getLogger(__name__)

_PARTIAL = ".partial"
# A ladder being removed is first renamed `<cid>.removing-<random>`.
_REMOVING = ".removing-"
# Progress is written to the database at most this often (it is published on every step).
_PROGRESS_EVERY_S = 1.0


@dataclass(frozen=True)
class MediaProgress(Event):
    """The state of one audio blob's processing changed (for live progress in the portal)."""

    did: str
    cid: str
    status: str
    progress: float
    error: str | None = None


def media_dir(hls_dir: Path, did: str, cid: str) -> Path:
    """Where the ladder of `did`'s audio `cid` lives; InvalidRequest for names that are not
    a DID and a CID (nothing outside `hls_dir` is ever named)."""
    if not is_valid_did(did) or not is_valid_cid(cid) or "/" in did:
        raise InvalidRequest("not a DID and a blob CID")
    return hls_dir / did / cid


async def media_status(
    db: Database,
    *,
    viewer: str | None,
    uri: str | None = None,
    did: str | None = None,
    cid: str | None = None,
) -> MediaStatusView:
    """How the audio of the track `uri`, or the audio blob `cid` (of `did`; without `did`, the
    viewer's own, else the first whose audio a public track uses), is getting on.

    Only the artist sees the media of tracks that are all unlisted: NotFound for anyone else,
    as if there were none (the answer must not confirm that an unlisted track exists)."""
    if (uri is None) == (cid is None):
        raise InvalidRequest("give either uri (a track's AT-URI) or cid (an audio blob's CID)")
    if uri is not None:
        if did is not None:
            raise InvalidRequest("did goes with cid; a track's uri already names its repository")
        use = await store.audio_of_track(db, uri)
        if use is None or (use.visibility != "public" and use.did != viewer):
            raise NotFound(f"no track {uri} in the catalog", name="TrackNotFound")
        if use.origin != "local":
            raise NotFound(
                f"the audio of {uri} is processed by the node that hosts it ({use.origin})",
                name="MediaNotFound",
            )
        did, cid = use.did, use.cid
        found = await _visible_media(db, did, cid, viewer)
    else:
        assert cid is not None
        owners = [did] if did is not None else await store.media_owners(db, cid)
        if viewer in owners:
            owners.remove(viewer)
            owners.insert(0, viewer)
        found = None
        for owner in owners:
            found = await _visible_media(db, owner, cid, viewer)
            if found is not None:
                break
    if found is None:
        raise NotFound(f"this node is not processing the audio {cid}", name="MediaNotFound")
    return found


async def _visible_media(
    db: Database, did: str, cid: str, viewer: str | None
) -> MediaStatusView | None:
    row = await store.media_row(db, did, cid)
    if row is None:
        return None
    uses = await store.audio_uses(db, did, cid)
    visible = tuple(u.uri for u in uses if u.visibility == "public" or viewer == did)
    if not visible:
        return None
    progress = 100 if row.status == "ready" else min(99, math.floor(row.progress))
    return MediaStatusView(
        did=did,
        cid=cid,
        status=row.status,
        progress=progress,
        error=row.error,
        duration_ms=row.duration_ms,
        track_uris=visible,
        updated_at=row.updated_at,
        ready_at=row.ready_at,
    )


@dataclass
class MediaPipeline:
    """The job handlers of `PROCESS_MEDIA` and `REMOVE_MEDIA` for one node."""

    db: Database
    blobs_dir: Path
    hls_dir: Path
    ffmpeg: Path
    probe_limits: ProbeLimits
    ladder: LadderOptions

    def handlers(self) -> dict[str, JobHandler]:
        return {PROCESS_MEDIA: self.process, REMOVE_MEDIA: self.remove}

    async def process(self, job: Job) -> None:
        did, cid = str(job.payload["did"]), str(job.payload["cid"])
        final = media_dir(self.hls_dir, did, cid)
        state = await store.status_of(self.db, did, cid)
        if state is None:
            return  # no track uses the audio any more
        if state == "ready" and final.is_dir():
            return
        await self._set(did, cid, "processing", 0.0)
        last_try = job.attempts >= job.max_attempts
        partial: Path | None = None
        try:
            partial = await asyncio.to_thread(self._fresh_partial, did, cid)
            result, probed, cover = await self._build(did, cid, partial)
            await asyncio.to_thread(_place, partial, final)
        except (Exception, asyncio.CancelledError) as e:
            # The partial ladder goes before the media tells how it ended: whoever reads
            # "failed" finds nothing of it left.
            if partial is not None:
                await asyncio.to_thread(shutil.rmtree, partial, True)
            await self._after_error(did, cid, e, last_try=last_try)
            raise
        now = int(time.time() * 1000)
        if not await store.mark_ready(self.db, did, cid, _ready_fields(result, probed, cover), now):
            # The last track using the audio went while it was processed; its removal job may
            # have run before the ladder was in place, so the ladder goes here.
            await asyncio.to_thread(_remove_tree, final)
            log.info("media %s/%s finished after its last track went; removed", did, cid)
            return
        self.db.bus.publish(MediaProgress(did, cid, "ready", 100.0))
        log.info("media %s/%s ready: %d renditions", did, cid, len(result.renditions))

    async def _build(
        self, did: str, cid: str, partial: Path
    ) -> tuple[MediaResult, AudioProbe, bool]:
        source = blob_path(self.blobs_dir, cid)
        if not source.is_file():
            raise InvalidMedia(f"the audio blob {cid} is not on this node")
        probed = await probe(self.ffmpeg, source, limits=self.probe_limits)
        latest = [0.0]

        def on_progress(percent: float) -> None:
            latest[0] = percent
            self.db.bus.publish(MediaProgress(did, cid, "processing", round(percent, 1)))

        async def save_progress() -> None:
            saved = 0.0
            while True:
                await asyncio.sleep(_PROGRESS_EVERY_S)
                if latest[0] != saved:
                    saved = latest[0]
                    await store.set_progress(self.db, did, cid, saved)

        saver = asyncio.create_task(save_progress(), name=f"media-progress-{cid}")
        try:
            result = await transcode(
                self.ffmpeg, source, partial, probe=probed, options=self.ladder,
                on_progress=on_progress,
            )  # fmt: skip
        finally:
            saver.cancel()
            await asyncio.gather(saver, return_exceptions=True)
        cover = False
        if probed.has_cover:
            cover = await asyncio.to_thread(_embedded_cover, source, partial)
        return result, probed, cover

    def _fresh_partial(self, did: str, cid: str) -> Path:
        # Named without the DID: ffmpeg's muxers read '%' (as in did:web:host%3A8000) in
        # output names as a pattern.
        folder = self.hls_dir / _PARTIAL
        owner = hashlib.sha256(did.encode()).hexdigest()[:16]
        for stale in folder.glob(f"{owner}-{cid}-*"):  # left by a crash of an earlier attempt
            shutil.rmtree(stale, ignore_errors=True)
        partial = folder / f"{owner}-{cid}-{secrets.token_hex(4)}"
        partial.mkdir(parents=True)
        return partial

    async def _set(
        self, did: str, cid: str, status: str, progress: float, *, error: str | None = None
    ) -> None:
        await store.set_status(self.db, did, cid, status, progress, error, int(time.time() * 1000))
        self.db.bus.publish(MediaProgress(did, cid, status, progress, error))

    async def _after_error(
        self, did: str, cid: str, error: Exception | asyncio.CancelledError, *, last_try: bool
    ) -> None:
        if isinstance(error, InvalidMedia):
            await self._fail(did, cid, error.message)
        elif isinstance(error, asyncio.CancelledError):
            # The node is stopping: the job goes back to the queue, and so does the media.
            await self._set(did, cid, "queued", 0.0)
        elif isinstance(error, Exception) and last_try:
            await self._fail(did, cid, _reason(error))
        elif isinstance(error, Exception):
            # Anything but bad input is worth another attempt; the artist sees why meanwhile
            # (an unexpected error too: the media must not say "processing" for ever).
            await self._set(did, cid, "queued", 0.0, error=f"will retry: {_reason(error)}")

    async def _fail(self, did: str, cid: str, reason: str) -> None:
        log.warning("media %s/%s failed: %s", did, cid, reason)
        await self._set(did, cid, "failed", 0.0, error=reason)

    async def remove(self, job: Job) -> None:
        did, cid = str(job.payload["did"]), str(job.payload["cid"])
        if await store.status_of(self.db, did, cid) is not None:
            return  # a track uses the audio again: its ladder stays
        await asyncio.to_thread(_remove_tree, media_dir(self.hls_dir, did, cid))

    async def requeue_interrupted(self) -> int:
        """At start: media left 'processing' by a stop or crash says 'queued' again (its job
        was put back in the queue too); the count of such media."""
        return await store.requeue_processing(self.db, int(time.time() * 1000))

    def sweep_partials(self) -> int:
        """At start: remove partial ladders left by a crash (their jobs build them anew), and
        ladders a crash interrupted the removal of."""
        root = self.hls_dir / _PARTIAL
        count = 0
        if root.is_dir():
            for partial in root.iterdir():
                shutil.rmtree(partial, ignore_errors=True)
                count += 1
        for doomed in self.hls_dir.glob(f"*/*{_REMOVING}*"):
            shutil.rmtree(doomed, ignore_errors=True)
        return count


def _embedded_cover(source: Path, out_dir: Path) -> bool:
    """The audio file's embedded picture as artwork sizes in `out_dir/cover/`, if readable."""
    tags = read_tags(source)
    if tags.cover is None:
        return False
    try:
        make_artwork(tags.cover.data, out_dir / "cover")
    except InvalidMedia as e:
        log.info("embedded picture of %s skipped: %s", source.name, e.message)
        return False
    return True


def _place(partial: Path, final: Path) -> None:
    """Move a complete ladder into place (replacing one left by an interrupted attempt)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        _remove_tree(final)
    os.rename(partial, final)
    fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_tree(folder: Path) -> None:
    # Renamed away first, so no reader ever sees half a ladder.
    doomed = folder.with_name(f"{folder.name}{_REMOVING}{secrets.token_hex(4)}")
    try:
        os.rename(folder, doomed)
    except FileNotFoundError:
        return  # not there, or another job removed it first
    shutil.rmtree(doomed, ignore_errors=True)


def _reason(error: Exception) -> str:
    if isinstance(error, OmsError):
        return error.message
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return f"internal error: {type(error).__name__}: {error}"[:500]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _ready_fields(result: MediaResult, probed: AudioProbe, cover: bool) -> store.ReadyMedia:
    return store.ReadyMedia(
        codec=probed.codec,
        lossless=result.lossless,
        sample_rate=probed.sample_rate,
        channels=probed.channels,
        duration_ms=result.duration_ms,
        loudness_lufs=_finite(result.loudness.integrated_lufs),
        true_peak_dbtp=_finite(result.loudness.true_peak_dbtp),
        gain_db=_finite(result.gain_db),
        renditions=json.dumps(
            [
                {
                    "name": r.name,
                    "codec": r.codecs,
                    "bitrate": r.nominal_bitrate,
                    "bandwidth": r.bandwidth,
                    "averageBandwidth": r.average_bandwidth,
                }
                for r in result.renditions
            ]
        ),
        has_cover=cover,
    )
