"""Counting graphemes (user-perceived characters), for lexicon strings' maxGraphemes and
minGraphemes."""

from __future__ import annotations

import unicodedata

__all__ = ["count_graphemes"]


# An approximation of Unicode extended grapheme clusters (UAX #29) using only `unicodedata`,
# to avoid a dependency: combining marks, variation selectors, emoji modifiers, tag characters,
# Hangul medial/final jamo and ZWJ sequences extend the preceding cluster, regional indicators
# pair up, CR LF is one cluster. It agrees with the full algorithm on text people actually post;
# rarer cases (prepend marks, some Indic conjuncts) may count one cluster too many.
def _extends(ch: str) -> bool:
    cp = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or cp in (0x200C, 0x200D)  # ZWNJ, ZWJ
        or 0xFE00 <= cp <= 0xFE0F  # variation selectors
        or 0xE0100 <= cp <= 0xE01EF  # variation selectors supplement
        or 0x1F3FB <= cp <= 0x1F3FF  # emoji skin-tone modifiers
        or 0xE0020 <= cp <= 0xE007F  # tag characters (subdivision flags)
        or 0x1160 <= cp <= 0x11FF  # Hangul medial vowels and final consonants
        or 0xD7B0 <= cp <= 0xD7FF
    )


def _is_regional_indicator(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def count_graphemes(text: str) -> int:
    """Count user-perceived characters (approximately; see the comment above)."""
    if text.isascii():
        # Nothing ASCII extends a cluster but the LF of CR LF.
        return len(text) - text.count("\r\n")
    count = 0
    prev = ""
    ri_open = False  # an unpaired regional indicator starts the current cluster
    for ch in text:
        joins = prev == "\u200d" or (prev == "\r" and ch == "\n")
        if _is_regional_indicator(ch):
            if ri_open and _is_regional_indicator(prev):
                ri_open = False
            else:
                count += 1
                ri_open = True
        elif not count or not (joins or _extends(ch)):
            count += 1
            ri_open = False
        prev = ch
    return count
