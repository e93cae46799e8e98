"""What the catalog knows of one listener: the tracks they like (from their fm.oms.like
records, local or indexed from elsewhere) and which of the tracks a page shows they like."""

from __future__ import annotations

from collections.abc import Sequence

from oms.db.database import Database
from oms.library.search import MAX_LIMIT, get_tracks
from oms.library.store import listener as store
from oms.library.views import TrackView

__all__ = ["liked_tracks", "likes_among"]


async def liked_tracks(db: Database, did: str, *, limit: int = MAX_LIMIT) -> list[TrackView]:
    """The tracks `did` likes that the catalog holds, the latest like first."""
    subjects = await store.liked_subjects(db, did, max(1, min(limit, MAX_LIMIT)))
    return await get_tracks(db, [uri for uri in subjects if "/fm.oms.track/" in uri])


async def likes_among(db: Database, did: str, subjects: Sequence[str]) -> dict[str, str]:
    """For each of `subjects` (AT-URIs) that `did` likes, the AT-URI of the like record."""
    return await store.likes_among(db, did, subjects)
