"""The words the typo pass knows (`search_words` and their trigrams): looked up by trigram."""

from __future__ import annotations

from oms.db.database import Database

__all__ = ["similar_words"]


async def similar_words(db: Database, trigram_match: str, limit: int) -> list[str]:
    """Known words sharing trigrams with the query (an FTS5 OR of trigrams), most first."""
    rows = await db.fetchall(
        "SELECT w.word FROM search_word_trigrams t JOIN search_words w ON w.id = t.rowid"
        " WHERE search_word_trigrams MATCH ? ORDER BY t.rank LIMIT ?",
        (trigram_match, limit),
    )
    return [str(row[0]) for row in rows]
