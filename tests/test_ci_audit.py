"""The dependency audit of `.ci/run`: a known vulnerability fails the run; dependencies that
could not be looked up are reported, never passed off as clean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "audit_dependencies.py"


def _audit(report: dict[str, object]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT)],
        input=json.dumps(report),
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_known_vulnerability_fails_the_run() -> None:
    result = _audit(
        {
            "dependencies": [
                {
                    "name": "jinja2",
                    "version": "2.10",
                    "vulns": [{"id": "PYSEC-2019-217", "fix_versions": ["2.10.1"], "aliases": []}],
                },
                {"name": "starlette", "version": "1.10.0", "vulns": []},
            ]
        }
    )
    assert result.returncode == 1
    assert "VULNERABLE jinja2 2.10: PYSEC-2019-217 (fixed in: 2.10.1)" in result.stderr


def test_clean_dependencies_pass_and_unaudited_ones_are_reported() -> None:
    result = _audit(
        {
            "dependencies": [
                {"name": "starlette", "version": "1.10.0", "vulns": []},
                {"name": "cbrrr", "skip_reason": "Dependency not found on PyPI"},
            ]
        }
    )
    assert result.returncode == 0
    assert "1 of 2 dependencies could not be audited" in result.stdout
    assert "1 audited, 0 known vulnerabilities" in result.stdout
