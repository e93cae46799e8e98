"""MST key arithmetic against the interop vectors: key heights and shared-prefix lengths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from oms.pds.mst_keys import common_prefix_len, key_height


def load(conformance_dir: Path, name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(
        (conformance_dir / "mst" / name).read_text(encoding="utf-8")
    )
    assert cases
    return cases


def test_key_heights(conformance_dir: Path) -> None:
    cases = load(conformance_dir, "key_heights.json")
    assert {c["key"]: key_height(c["key"]) for c in cases} == {c["key"]: c["height"] for c in cases}


def test_common_prefix_lengths(conformance_dir: Path) -> None:
    for case in load(conformance_dir, "common_prefix.json"):
        assert common_prefix_len(case["left"], case["right"]) == case["len"], case


def test_common_prefix_counts_utf8_bytes() -> None:
    # MST keys are byte strings: "é" and "è" share their first UTF-8 byte (0xC3).
    assert common_prefix_len("é", "è") == 1
    assert common_prefix_len("aé", "aé") == 3
