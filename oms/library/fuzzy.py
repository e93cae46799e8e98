"""The typo pass of search: when a query finds nothing, each misspelt word is replaced by the
close words the catalog knows, and the query runs again.

The catalog remembers every word it indexes (`search_words`, folded) with the trigrams of the
word padded by spaces (" bjork "), so the trigrams at a word's edges (" bj", "rk ") survive a
typo in its middle; the query word's trigrams also include those of every adjacent
transposition ("bjrok" looks for "bjork" too). Candidates sharing trigrams are ranked by
similarity; a few of the closest stand in for the word.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from oms.db.database import Database
from oms.library.records import fold
from oms.library.store import words as store

__all__ = ["MIN_SIMILARITY", "corrected_query", "words_of"]

_WORD = re.compile(r"\w+")
# Words shorter than this are not corrected (too many neighbours to mean anything).
_MIN_LENGTH = 3
_MAX_WORD = 64
_CANDIDATES = 50
_ALTERNATIVES = 3
MIN_SIMILARITY = 0.7


def words_of(text: str) -> list[str]:
    """The words of `text` the typo pass remembers: folded, at least three letters."""
    return [w for w in _WORD.findall(fold(text)) if _MIN_LENGTH <= len(w) <= _MAX_WORD]


def _trigrams(word: str) -> set[str]:
    padded = f" {word} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def _trigram_query(word: str) -> str:
    grams = set(_trigrams(word))
    for i in range(len(word) - 1):
        grams |= _trigrams(word[:i] + word[i + 1] + word[i] + word[i + 2 :])
    return " OR ".join('"' + g.replace('"', '""') + '"' for g in sorted(grams))


def _similarity(word: str, candidate: str, *, typing: bool) -> float:
    best = SequenceMatcher(None, word, candidate).ratio()
    if typing and len(candidate) > len(word):  # still typing: compare with the word's start
        best = max(best, SequenceMatcher(None, word, candidate[: len(word)]).ratio())
    return best


async def _alternatives(db: Database, word: str, *, typing: bool) -> list[str]:
    candidates = await store.similar_words(db, _trigram_query(word), _CANDIDATES)
    scored = sorted((-_similarity(word, c, typing=typing), c) for c in candidates if c != word)
    return [c for score, c in scored if -score >= MIN_SIMILARITY][:_ALTERNATIVES]


def _quoted(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


async def corrected_query(db: Database, words: list[str]) -> str | None:
    """An FTS5 query where each word of `words` (the query's, in order; the last one is being
    typed) may also be one of its close words; None when no word has any."""
    groups = []
    corrected = False
    for i, raw in enumerate(words):
        word = fold(raw)
        typing = i == len(words) - 1
        options = [_quoted(word) + ("*" if typing else "")]
        if len(word) >= _MIN_LENGTH:
            alternatives = await _alternatives(db, word[:_MAX_WORD], typing=typing)
            corrected = corrected or bool(alternatives)
            options += [_quoted(a) for a in alternatives]
        groups.append(options[0] if len(options) == 1 else "(" + " OR ".join(options) + ")")
    # Explicit AND: FTS5 takes implicit AND between phrases only, not before "(".
    return " AND ".join(groups) if corrected else None
