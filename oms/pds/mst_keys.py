"""Key arithmetic of the Merkle Search Tree: a key's height (layer) and the prefix two keys
share, as node entries compress it; atproto.com/specs/repository.
"""

from __future__ import annotations

from atmst.mst.node import MSTNode

__all__ = ["common_prefix_len", "key_height"]


def key_height(key: str) -> int:
    """The MST layer of `key`: leading zero bits of SHA-256(key), counted in pairs (fanout 4)."""
    height: int = MSTNode.key_height(key)
    return height


def common_prefix_len(left: str, right: str) -> int:
    """How many leading bytes (UTF-8, not characters) two keys share; node entries store it."""
    a, b = left.encode(), right.encode()
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
