"""Fail on a known vulnerability in an installed dependency, as pip-audit reports it.

Reads pip-audit's JSON (`pip-audit -f json`) on stdin. Exit 1 when any dependency has a known
vulnerability (each is listed with its fix versions); exit 0 otherwise. Dependencies pip-audit
could not look up (no vulnerability service reachable from this machine) are counted and
reported loudly, never silently passed as clean.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def verdict(report: dict[str, Any]) -> tuple[int, list[str]]:
    lines: list[str] = []
    vulnerable = 0
    skipped = 0
    audited = 0
    for dependency in report.get("dependencies", []):
        name = f"{dependency['name']} {dependency.get('version', '')}".strip()
        if "skip_reason" in dependency:
            skipped += 1
            continue
        audited += 1
        for vuln in dependency.get("vulns", []):
            vulnerable += 1
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed release yet"
            lines.append(f"VULNERABLE {name}: {vuln['id']} (fixed in: {fixes})")
    if skipped:
        lines.append(
            f"WARNING: {skipped} of {skipped + audited} dependencies could not be audited "
            "(no vulnerability service reachable); they are NOT known to be clean"
        )
    lines.append(f"dependency audit: {audited} audited, {vulnerable} known vulnerabilities")
    return (1 if vulnerable else 0), lines


def main() -> int:
    code, lines = verdict(json.load(sys.stdin))
    for line in lines:
        print(line, file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main())
