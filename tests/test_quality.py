"""The code's own gates: lint, format, types, and the import fences of DESIGN.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize(
    "command",
    [
        ("ruff", "check", "oms", "tests", "bench"),
        ("ruff", "format", "--check", "oms", "tests", "bench"),
        ("mypy",),
        ("lint-imports",),
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_gate_passes(command: tuple[str, ...]) -> None:
    result = _run(str(BIN / command[0]), *command[1:])
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_package_module_has_a_docstring() -> None:
    import ast

    missing = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "oms").rglob("*.py")
        if ast.get_docstring(ast.parse(path.read_text())) is None and path.name != "__main__.py"
    ]
    assert missing == []


def test_public_names_are_listed_and_exist() -> None:
    import ast
    import importlib

    for path in (ROOT / "oms").rglob("*.py"):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        tree = ast.parse(path.read_text())
        names = [
            node
            for node in tree.body
            if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
        ]
        module_name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        assert names, f"{module_name} lists no __all__"
        module = importlib.import_module(module_name)
        for name in module.__all__:
            assert hasattr(module, name), f"{module_name}.__all__ names missing {name}"
