"""A listener's reads: the tracks they like, and which of some tracks they like."""

from __future__ import annotations

from collections.abc import Sequence

from oms.db.database import Database

__all__ = ["liked_subjects", "likes_among"]


async def liked_subjects(db: Database, did: str, limit: int) -> list[str]:
    """The subjects `did` likes, the latest like first."""
    rows = await db.fetchall(
        "SELECT subject_uri FROM likes WHERE did = ? ORDER BY created_at DESC, uri LIMIT ?",
        (did, limit),
    )
    return [row["subject_uri"] for row in rows]


async def likes_among(db: Database, did: str, subjects: Sequence[str]) -> dict[str, str]:
    """For each of `subjects` that `did` likes, the like record's AT-URI."""
    wanted = list(dict.fromkeys(subjects))
    if not wanted:
        return {}
    marks = ", ".join("?" * len(wanted))
    rows = await db.fetchall(
        f"SELECT subject_uri, uri FROM likes WHERE did = ? AND subject_uri IN ({marks})",  # noqa: S608 - fixed fragments
        (did, *wanted),
    )
    return {row["subject_uri"]: row["uri"] for row in rows}
