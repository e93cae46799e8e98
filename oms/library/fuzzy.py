"""The typo pass of search: what the trigram tables store, which trigrams a query looks for,
and how close a candidate's words are to the query's.

Stored text is folded and padded with spaces (" bjork radiohead "), so the trigrams at a
word's edges (" bj", "rk ") survive a typo in its middle; queries add the trigrams of every
adjacent transposition ("bjrok" also looks for "bjork").
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from difflib import SequenceMatcher

from oms.library.records import fold

__all__ = ["MIN_SIMILARITY", "closest", "stored_text", "trigram_query"]

_WORD = re.compile(r"\w+")
_MAX_QUERY_CHARS = 256
_MAX_WORDS = 8
_MAX_TRIGRAMS = 300
MIN_SIMILARITY = 0.7


def stored_text(text: str) -> str:
    """`text` as the trigram tables store it: folded words, one space apart and around."""
    return " " + " ".join(_WORD.findall(fold(text))) + " "


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(fold(text[:_MAX_QUERY_CHARS]))[:_MAX_WORDS] if len(w) >= 2]


def _trigrams(word: str) -> set[str]:
    padded = f" {word} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def trigram_query(text: str) -> str | None:
    """An FTS5 query for rows sharing a trigram with the words of `text` or their adjacent
    transpositions; None when `text` has no word of two letters or more."""
    grams: set[str] = set()
    for word in _words(text):
        grams |= _trigrams(word)
        for i in range(len(word) - 1):
            grams |= _trigrams(word[:i] + word[i + 1] + word[i] + word[i + 2 :])
    if not grams:
        return None
    quoted = ['"' + g.replace('"', '""') + '"' for g in sorted(grams)[:_MAX_TRIGRAMS]]
    return " OR ".join(quoted)


def _best_similarity(word: str, known: Sequence[str]) -> float:
    best = 0.0
    for candidate in known:
        best = max(best, SequenceMatcher(None, word, candidate).ratio())
        if len(candidate) > len(word):  # still typing: compare with the word's start
            best = max(best, SequenceMatcher(None, word, candidate[: len(word)]).ratio())
    return best


def closest(text: str, candidates: Sequence[sqlite3.Row], limit: int) -> list[int]:
    """Ids of the candidates (rows of id, key, text) whose words come close to every word of
    `text`, the closest first (ties by key)."""
    words = _words(text)
    if not words:
        return []
    scored = []
    for row in candidates:
        known = _WORD.findall(row["text"])
        similarity = min(_best_similarity(w, known) for w in words)
        if similarity >= MIN_SIMILARITY:
            scored.append((-similarity, row["key"], int(row["id"])))
    scored.sort()
    return [row_id for _, _, row_id in scored[:limit]]
