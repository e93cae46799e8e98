"""The node's dependencies, opened once per process: settings, database, event bus, keys, ffmpeg.

It holds things, not behaviour: surfaces hand its parts to the rooms' functions.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from oms.analytics.fraud import FraudRules
from oms.analytics.recorder import Listening
from oms.config import Settings
from oms.db.backup import DATABASE_FILE, JOURNAL_DIR
from oms.db.database import Database
from oms.db.queue import JobHandler, requeue_interrupted
from oms.errors import StartupError
from oms.events import EventBus
from oms.library.index import CatalogIndexer
from oms.library.ingest import MediaPipeline
from oms.media.ffmpeg_binary import FFmpeg, locate_ffmpeg
from oms.media.ladder import LadderOptions
from oms.media.probe import ProbeLimits
from oms.pds.bootstrap import setup_settings
from oms.pds.firehose import Firehose
from oms.pds.keystore import KeyStore
from oms.pds.lexicons import Lexicons, load_lexicons
from oms.pds.repo import Repos, ensure_repos
from oms.ratelimits import RateLimits
from oms.resources import lexicons_dir

__all__ = ["SETUP_ORIGIN", "AppContext", "DataDirLock", "open_context", "prepare_data_dir"]

log = logging.getLogger(__name__)

LOCK_FILE = "oms.lock"
SETUP_ORIGIN = "first-run setup (stored in the database)"


@dataclass
class AppContext:
    settings: Settings
    data_dir: Path
    db: Database
    bus: EventBus
    keys: KeyStore
    ffmpeg: FFmpeg
    lexicons: Lexicons
    repos: Repos
    firehose: Firehose
    # analytics: takes players' listening reports (journal first, then the database).
    listening: Listening
    lock: DataDirLock | None = None
    # Room functions run by the durable job worker, by job kind (filled by later rooms).
    job_handlers: dict[str, JobHandler] = field(default_factory=dict)
    # library: follows the node's commits into the catalog; started by the app's lifespan.
    catalog_indexer: CatalogIndexer | None = None
    # library: the media jobs (transcoding, removal of unused ladders).
    media: MediaPipeline | None = None
    # Sign-ups, uploads and other frequent actions per account and per address.
    limits: RateLimits = field(default_factory=RateLimits)
    # analytics: the rules its rollups flag listening by.
    fraud_rules: FraudRules = field(default_factory=FraudRules)

    @property
    def blobs_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def hls_dir(self) -> Path:
        return self.data_dir / "hls"

    async def close(self) -> None:
        await self.listening.close()
        self.repos.close()
        await self.db.close()
        if self.lock is not None:
            self.lock.release()


class DataDirLock:
    """An exclusive lock on the data dir, held by the serving process for its lifetime."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StartupError(
                f"the data directory {self.path.parent} is in use by {holder}; "
                "stop that node first (one node per data directory)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"oms pid {os.getpid()}\n")
        handle.flush()
        self._file = handle

    def held_elsewhere(self) -> bool:
        if not self.path.exists():
            return False
        with self.path.open("a+") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def prepare_data_dir(data_dir: Path) -> None:
    """Create the data dir and its folders, and prove it is writable, or say why not."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        for folder in ("blobs", "hls"):
            (data_dir / folder).mkdir(exist_ok=True)
        probe = data_dir / ".write-test"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:
        raise StartupError(
            f"the data directory {data_dir} is not writable ({e.strerror}); "
            "set data.dir (OMS_DATA_DIR) to a folder this user can write"
        ) from e


def free_megabytes(path: Path) -> int:
    return shutil.disk_usage(path).free // (1024 * 1024)


def media_pipeline(
    settings: Settings, data_dir: Path, db: Database, ffmpeg: FFmpeg
) -> MediaPipeline:
    memory = int(settings["media.ffmpeg_memory_mb"])
    return MediaPipeline(
        db=db,
        blobs_dir=data_dir / "blobs",
        hls_dir=data_dir / "hls",
        ffmpeg=ffmpeg.path,
        probe_limits=ProbeLimits(
            min_duration_ms=int(settings["media.min_duration_s"]) * 1000,
            max_duration_ms=int(settings["media.max_duration_min"]) * 60_000,
            memory_limit_mb=memory,
        ),
        ladder=LadderOptions(
            loudness_target_lufs=float(settings["media.loudness_target"]),
            memory_limit_mb=memory,
        ),
    )


async def open_context(settings: Settings, *, serving: bool = False) -> AppContext:
    """Open everything the node needs. `serving` also takes the data-dir lock and resumes
    interrupted jobs, which only the one serving process may do."""
    data_dir = settings.data_dir
    prepare_data_dir(data_dir)
    lock = DataDirLock(data_dir) if serving else None
    if lock is not None:
        lock.acquire()
    try:
        ffmpeg = locate_ffmpeg(str(settings["media.ffmpeg"]))
        keys = KeyStore(data_dir / "keys")
        keys.prepare()
        keys.node_key()
        lexicons = load_lexicons(lexicons_dir())
        bus = EventBus()
        db = await Database.open(data_dir / DATABASE_FILE, bus=bus)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    # What the first admin chose at setup (the node's name, its address), under the
    # operator's own file, environment and flags.
    settings = settings.with_fallbacks(await setup_settings(db), SETUP_ORIGIN)
    repos = Repos(db, keys, lexicons)
    firehose = Firehose(db, int(settings["pds.firehose_replay_hours"]))
    listening = Listening(db, own_host=settings.hostname.rsplit(":", 1)[0])
    context = AppContext(
        settings, data_dir, db, bus, keys, ffmpeg, lexicons, repos, firehose, listening, lock
    )
    context.catalog_indexer = CatalogIndexer(db, lexicons)
    context.media = media_pipeline(settings, data_dir, db, ffmpeg)
    context.fraud_rules = FraudRules(
        daily_cap=int(settings["analytics.daily_cap"]),
        burst_sessions=int(settings["analytics.burst_sessions"]),
    )
    context.job_handlers.update(context.media.handlers())
    if serving:
        created = await ensure_repos(db, keys)
        if created:
            log.info("created the repositories of %d accounts that had none", created)
        swept = await asyncio.to_thread(context.media.sweep_partials)
        if swept:
            log.info("removed %d partial media ladders left by a crash", swept)
        await context.media.requeue_interrupted()
        resumed = await requeue_interrupted(db)
        if resumed:
            log.info("resumed %d interrupted background jobs", resumed)
        await context.listening.open(data_dir / JOURNAL_DIR)
    return context
