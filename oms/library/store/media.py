"""The media pipeline's rows (`media`): status and progress of each audio blob, and what the
finished ladder measured."""

from __future__ import annotations

from dataclasses import dataclass

from oms.db.database import Database

__all__ = ["ReadyMedia", "mark_ready", "set_progress", "set_status", "status_of"]


@dataclass(frozen=True)
class ReadyMedia:
    codec: str
    lossless: bool
    sample_rate: int
    channels: int
    duration_ms: int
    loudness_lufs: float | None
    true_peak_dbtp: float | None
    gain_db: float | None
    renditions: str  # JSON
    has_cover: bool


async def status_of(db: Database, did: str, cid: str) -> str | None:
    value = await db.fetchval(
        "SELECT status FROM media WHERE did = ? AND audio_cid = ?", (did, cid)
    )
    return None if value is None else str(value)


async def set_status(
    db: Database, did: str, cid: str, status: str, progress: float, error: str | None, now: int
) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE media SET status = ?, progress = ?, error = ?, updated_at = ?"
            " WHERE did = ? AND audio_cid = ?",
            (status, progress, error, now, did, cid),
        )


async def set_progress(db: Database, did: str, cid: str, progress: float) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE media SET progress = ?"
            " WHERE did = ? AND audio_cid = ? AND status = 'processing'",
            (progress, did, cid),
        )


async def mark_ready(db: Database, did: str, cid: str, ready: ReadyMedia, now: int) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE media SET status = 'ready', progress = 100, error = NULL, codec = ?,"
            " lossless = ?, sample_rate = ?, channels = ?, duration_ms = ?, loudness_lufs = ?,"
            " true_peak_dbtp = ?, gain_db = ?, renditions = ?, has_cover = ?, updated_at = ?,"
            " ready_at = ? WHERE did = ? AND audio_cid = ?",
            (
                ready.codec,
                int(ready.lossless),
                ready.sample_rate,
                ready.channels,
                ready.duration_ms,
                ready.loudness_lufs,
                ready.true_peak_dbtp,
                ready.gain_db,
                ready.renditions,
                int(ready.has_cover),
                now,
                now,
                did,
                cid,
            ),
        )
