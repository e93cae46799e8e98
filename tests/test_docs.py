"""Documentation stays true: every setting, command and route is documented where users look."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from starlette.routing import Mount, Route, WebSocketRoute

from oms.app import routes
from oms.cli import build_parser
from oms.config import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
EXAMPLE_CONFIG = (ROOT / "etc" / "oms.toml").read_text()


def _commands(parser: argparse.ArgumentParser, prefix: str = "oms") -> list[str]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(f"{prefix} {name}")
                found.extend(_commands(sub, f"{prefix} {name}"))
    return found


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.key)
def test_every_setting_is_documented(setting: object) -> None:
    key, env = setting.key, setting.env  # type: ignore[attr-defined]
    section, name = key.split(".", 1)
    assert f"[{section}]" in EXAMPLE_CONFIG
    assert f"# {name} = " in EXAMPLE_CONFIG, f"{key} is missing from etc/oms.toml"
    assert env in EXAMPLE_CONFIG
    assert f"`{key}`" in README, f"{key} is missing from the README's configuration table"
    assert f"`{env}`" in README


@pytest.mark.parametrize("command", _commands(build_parser()))
def test_every_command_is_documented(command: str) -> None:
    assert f"`{command}" in README, f"'{command}' is not documented in the README"


def test_every_route_is_documented() -> None:
    for route in routes():
        path = route.path  # type: ignore[attr-defined]
        assert isinstance(route, Route | Mount | WebSocketRoute)
        assert f"`{path}" in README, f"route {path} is not documented in the README"


def test_the_quick_start_is_two_command_lines_and_ci_runs_the_second() -> None:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) == 2
    assert lines[0].startswith("./install.sh && ")
    assert "oms serve" in lines[0]
    ci = (ROOT / ".ci" / "run").read_text()
    assert lines[1] in ci
