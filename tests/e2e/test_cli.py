"""End to end: the operator's `oms` tools — help, config, doctor, init, accounts, and backup and
restore while a node serves writes. Real processes, real SQLite files, loopback only.
"""

from __future__ import annotations

import json
import re
import sqlite3
import stat
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError

from tests.conftest import OMS, free_port, oms_env, run_oms, start_oms

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"


def oms(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_oms(*args, data_dir=data_dir, env=oms_env(data_dir, **env))


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], *, one_line: bool = True) -> str:
    """The error message of a command that must fail with exit status 1."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, f"exit {result.returncode}\n{output}"
    assert "Traceback" not in output, output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, output
    if one_line:
        assert len(lines) == 1, output
    assert lines[0].startswith("oms: error: "), lines[0]
    return lines[0]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def account_rows(database: Path) -> dict[str, dict[str, Any]]:
    """Every account row of a database file, by DID, read without writing to it."""
    connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        return {
            row["did"]: dict(row)
            for row in connection.execute("SELECT * FROM accounts ORDER BY created_at, did")
        }
    finally:
        connection.close()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- help ---------------------------------------------------------------------------------------


def _command() -> list[str]:
    """The installed `oms` entry point when the environment has one, else `python -m oms`."""
    script = Path(sys.executable).with_name("oms")
    return [str(script)] if script.is_file() else list(OMS)


def _listed(help_text: str, name: str) -> bool:
    return re.search(rf"^\s+{re.escape(name)}\s", help_text, re.M) is not None


def test_help_lists_every_command(tmp_path: Path) -> None:
    def helps(*args: str) -> str:
        result = subprocess.run(
            [*_command(), *args, "--help"],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=tmp_path,
            check=False,
        )
        return ok(result)

    top = helps()
    for name in ("serve", "init", "config", "doctor", "backup", "restore", "account"):
        assert _listed(top, name), f"{name} missing from oms --help:\n{top}"
    account = helps("account")
    for name in ("create", "list", "disable", "enable", "reset-password"):
        assert _listed(account, name), f"{name} missing from oms account --help:\n{account}"


# --- config -------------------------------------------------------------------------------------


def _config_json(*args: str, data_dir: Path, **env: str) -> dict[str, dict[str, Any]]:
    values: dict[str, dict[str, Any]] = json.loads(
        ok(oms("config", "--json", *args, data_dir=data_dir, **env))
    )
    return values


def test_config_shows_each_value_and_where_it_came_from(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    config = tmp_path / "site.toml"
    config.write_text('[server]\nport = 9001\n\n[node]\nname = "Riverside Collective"\n')

    # Precedence on one key: default < file < environment < flag.
    port = _config_json(data_dir=data_dir)["server.port"]
    assert port == {"value": 8000, "origin": "default"}
    port = _config_json("--config", str(config), data_dir=data_dir)["server.port"]
    assert port == {"value": 9001, "origin": str(config)}
    port = _config_json("--config", str(config), data_dir=data_dir, OMS_SERVER_PORT="9002")[
        "server.port"
    ]
    assert port == {"value": 9002, "origin": "environment OMS_SERVER_PORT"}
    port = _config_json(
        "--config",
        str(config),
        "--set",
        "server.port=9003",
        data_dir=data_dir,
        OMS_SERVER_PORT="9002",
    )["server.port"]
    assert port == {"value": 9003, "origin": "command line"}

    text = ok(
        oms(
            "config",
            "--config",
            str(config),
            "--set",
            "log.level=debug",
            data_dir=data_dir,
            OMS_LOG_FORMAT="json",
            OMS_METRICS_TOKEN="hunter2-metrics",
        )
    )
    rows = {}
    for line in text.splitlines():
        match = re.fullmatch(r"(\S+)\s+= (.+?)\s+# (.+)", line)
        if match:
            rows[match[1]] = (json.loads(match[2]), match[3])
    assert rows["node.name"] == ("Riverside Collective", str(config))
    assert rows["log.format"] == ("json", "environment OMS_LOG_FORMAT")
    assert rows["log.level"] == ("debug", "command line")
    assert rows["jobs.concurrency"] == (0, "default")
    assert rows["metrics.token"][0] != "hunter2-metrics"
    assert "hunter2-metrics" not in text

    masked = _config_json(data_dir=data_dir, OMS_METRICS_TOKEN="hunter2-metrics")
    assert masked["metrics.token"]["value"] == "***"
    assert masked["metrics.token"]["origin"] == "environment OMS_METRICS_TOKEN"


# --- doctor -------------------------------------------------------------------------------------

CHECKS = ("ffmpeg", "data-dir", "disk", "port", "database")


def test_doctor_passes_on_a_fresh_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    output = ok(oms("doctor", data_dir=data_dir, OMS_SERVER_PORT=str(free_port())))
    lines = output.splitlines()
    for name in CHECKS:
        assert any(line.startswith(f"ok    {name}: ") for line in lines), output
    assert len(lines) == len(CHECKS), output


def test_doctor_fails_without_ffmpeg_and_can_run_one_check(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    port = str(free_port())
    result = oms("doctor", data_dir=data_dir, OMS_SERVER_PORT=port, OMS_MEDIA_FFMPEG="/nonexistent")
    assert result.returncode == 1, result.stdout + result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL  ffmpeg: ")]
    assert len(failed) == 1, result.stdout
    assert "/nonexistent" in failed[0]
    assert "Traceback" not in result.stdout + result.stderr
    # The other checks still ran and passed.
    assert sum(line.startswith("ok    ") for line in result.stdout.splitlines()) == 4

    only = ok(oms("doctor", "--only", "ffmpeg", data_dir=data_dir, OMS_SERVER_PORT=port))
    lines = only.splitlines()
    assert len(lines) == 1, only
    assert lines[0].startswith("ok    ffmpeg: ffmpeg ")


# --- accounts -----------------------------------------------------------------------------------


def test_init_then_create_an_account_by_name(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    init = ok(oms("init", data_dir=data_dir))
    assert str(data_dir) in init
    assert (data_dir / "oms.sqlite3").is_file()
    assert mode(data_dir / "keys" / "node.pem") == 0o600

    created = ok(
        oms(
            "account",
            "create",
            "--handle",
            "alice",
            "--password",
            PASSWORD,
            "--role",
            "artist",
            data_dir=data_dir,
        )
    )
    assert "@alice.localhost" in created
    assert "did:web:alice.localhost%3A8000" in created
    key = (
        data_dir / "keys" / "accounts" / (quote("did:web:alice.localhost%3A8000", safe="") + ".pem")
    )
    assert mode(key) == 0o600

    again = refused(
        oms(
            "account",
            "create",
            "--handle",
            "alice.localhost",
            "--password",
            PASSWORD,
            data_dir=data_dir,
        )
    )
    assert "alice.localhost" in again
    assert "taken" in again


def test_account_create_refuses_bad_input_clearly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ok(
        oms(
            "account",
            "create",
            "--handle",
            "carol.localhost",
            "--password",
            PASSWORD,
            data_dir=data_dir,
        )
    )
    duplicate = refused(
        oms(
            "account",
            "create",
            "--handle",
            "carol.localhost",
            "--password",
            "another password",
            data_dir=data_dir,
        )
    )
    assert "carol.localhost" in duplicate
    assert "taken" in duplicate

    bad = refused(
        oms(
            "account",
            "create",
            "--handle",
            "bad handle!",
            "--password",
            PASSWORD,
            data_dir=data_dir,
        )
    )
    assert "bad handle!" in bad

    short = refused(
        oms(
            "account",
            "create",
            "--handle",
            "dave.localhost",
            "--password",
            "short",
            data_dir=data_dir,
        )
    )
    assert "password" in short
    assert "at least 10 characters" in short  # security.min_password_length

    listing = json.loads(ok(oms("account", "list", "--json", data_dir=data_dir)))
    assert [a["handle"] for a in listing] == ["carol.localhost"]


def create(data_dir: Path, handle: str, role: str = "fan", email: str | None = None) -> str:
    extra = ("--email", email) if email else ()
    return ok(
        oms(
            "account",
            "create",
            "--handle",
            handle,
            "--password",
            PASSWORD,
            "--role",
            role,
            *extra,
            data_dir=data_dir,
        )
    )


def statuses(data_dir: Path) -> dict[str, str]:
    found = json.loads(ok(oms("account", "list", "--json", data_dir=data_dir)))
    return {a["handle"]: a["status"] for a in found}


def test_account_list_in_text_and_json(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert ok(oms("account", "list", data_dir=data_dir)).strip() == "no accounts yet"
    assert json.loads(ok(oms("account", "list", "--json", data_dir=data_dir))) == []
    create(data_dir, "erin.localhost", "artist", "Erin@Example.org")
    create(data_dir, "frank.localhost", "fan")

    text = ok(oms("account", "list", data_dir=data_dir))
    rows = [line.split() for line in text.splitlines()]
    assert rows == [
        ["erin.localhost", "artist", "active", "did:web:erin.localhost%3A8000"],
        ["frank.localhost", "fan", "active", "did:web:frank.localhost%3A8000"],
    ]

    listing = json.loads(ok(oms("account", "list", "--json", data_dir=data_dir)))
    by_handle = {a["handle"]: a for a in listing}
    assert set(by_handle) == {"erin.localhost", "frank.localhost"}
    assert by_handle["erin.localhost"]["did"] == "did:web:erin.localhost%3A8000"
    assert by_handle["erin.localhost"]["email"] == "erin@example.org"
    assert by_handle["erin.localhost"]["role"] == "artist"
    assert by_handle["frank.localhost"]["email"] is None
    assert all(a["status"] == "active" for a in listing)
    assert all("password" not in key for a in listing for key in a)


def test_account_disable_and_enable_change_the_status(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    create(data_dir, "erin.localhost")
    create(data_dir, "frank.localhost")

    result = ok(oms("account", "disable", "erin.localhost", data_dir=data_dir))
    assert "disabled" in result
    assert statuses(data_dir) == {"erin.localhost": "disabled", "frank.localhost": "active"}

    # By DID as well as by handle (the DID keeps the port, percent-encoded).
    result = ok(oms("account", "enable", "did:web:erin.localhost%3A8000", data_dir=data_dir))
    assert "active" in result
    assert statuses(data_dir) == {"erin.localhost": "active", "frank.localhost": "active"}

    missing = refused(oms("account", "disable", "nobody.localhost", data_dir=data_dir))
    assert "nobody.localhost" in missing


def test_account_reset_password_prints_a_new_one_when_not_given(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    create(data_dir, "frank.localhost")
    did = "did:web:frank.localhost%3A8000"
    hasher = PasswordHasher()

    before = account_rows(data_dir / "oms.sqlite3")[did]["password_hash"]
    reset = ok(oms("account", "reset-password", "frank.localhost", data_dir=data_dir))
    match = re.search(r"^new password: (\S+)$", reset, re.M)
    assert match, reset
    new_password = match[1]
    assert len(new_password) >= 12
    after = account_rows(data_dir / "oms.sqlite3")[did]["password_hash"]
    assert after != before
    assert hasher.verify(after, new_password)
    with pytest.raises(VerifyMismatchError):
        hasher.verify(after, PASSWORD)

    chosen = ok(
        oms(
            "account",
            "reset-password",
            "frank.localhost",
            "--password",
            "my own choice",
            data_dir=data_dir,
        )
    )
    assert "new password" not in chosen
    current = account_rows(data_dir / "oms.sqlite3")[did]["password_hash"]
    assert hasher.verify(current, "my own choice")

    short = refused(
        oms(
            "account", "reset-password", "frank.localhost", "--password", "short", data_dir=data_dir
        )
    )
    assert "at least 10 characters" in short
    assert account_rows(data_dir / "oms.sqlite3")[did]["password_hash"] == current


# --- backup and restore -------------------------------------------------------------------------


class AccountWriter(threading.Thread):
    """Creates accounts one after another through the CLI until told to stop."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(daemon=True)
        self.data_dir = data_dir
        self.created: list[str] = []  # handles, in commit order
        self.failures: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        number = 0
        while not self.halt.is_set():
            handle = f"w{number:03d}.localhost"
            number += 1
            try:
                result = oms(
                    "account",
                    "create",
                    "--handle",
                    handle,
                    "--password",
                    PASSWORD,
                    data_dir=self.data_dir,
                )
            except Exception as e:  # recorded, and asserted on by the test
                self.failures.append(f"{handle}: {e!r}")
                return
            if result.returncode == 0:
                self.created.append(handle)
            else:
                self.failures.append(f"{handle}: {result.stderr.strip()}")


def test_backup_while_serving_writes_restores_a_consistent_node(tmp_path: Path) -> None:
    live = tmp_path / "live"
    archive = tmp_path / "backups" / "archive.tar"
    restored = tmp_path / "restored"
    server = start_oms(live)
    writer = AccountWriter(live)
    try:
        server.wait_healthy()
        busy_until = time.monotonic() + 3  # the writer keeps going for a few seconds
        writer.start()
        wait_for(lambda: len(writer.created) >= 2 or bool(writer.failures), 60, "first accounts")
        created_before = len(writer.created)
        backup = oms("backup", str(archive), data_dir=live)
        created_after = len(writer.created)
        # The writer went on after the backup: the backup really ran in the middle of it.
        wait_for(
            lambda: (
                (len(writer.created) >= created_after + 2 and time.monotonic() >= busy_until)
                or bool(writer.failures)
            ),
            60,
            "accounts after the backup",
        )
        writer.halt.set()
        writer.join(60)
        assert not writer.is_alive()
        assert writer.failures == []
        assert "backup written" in ok(backup)
        assert archive.is_file()
        live_rows = account_rows(live / "oms.sqlite3")
        assert sorted(r["handle"] for r in live_rows.values()) == sorted(writer.created)
    finally:
        writer.halt.set()
        server.stop()

    ok(oms("restore", str(archive), "--data-dir", str(restored), data_dir=restored))
    database = restored / "oms.sqlite3"
    connection = sqlite3.connect(database)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        connection.close()

    rows = account_rows(database)
    handles = [row["handle"] for row in rows.values()]
    # A snapshot of one moment: exactly the accounts committed before it, none after.
    assert created_before <= len(handles) <= created_after + 1, (created_before, created_after)
    assert sorted(handles) == sorted(writer.created[: len(handles)])
    for did, row in rows.items():
        assert row == live_rows[did]

    keys = restored / "keys"
    assert mode(keys) == 0o700
    assert mode(keys / "node.pem") == 0o600
    assert (keys / "node.pem").read_bytes() == (live / "keys" / "node.pem").read_bytes()
    for did in rows:
        name = quote(did, safe="") + ".pem"
        key = keys / "accounts" / name
        assert key.is_file(), f"no signing key for {did}"
        assert mode(key) == 0o600
        assert key.read_bytes() == (live / "keys" / "accounts" / name).read_bytes()

    node = start_oms(restored)
    try:
        node.wait_healthy()
        with httpx.Client(timeout=10) as http:
            assert http.get(f"{node.url}/readyz").status_code == 200
        listing = json.loads(ok(oms("account", "list", "--json", data_dir=restored)))
        assert sorted(a["handle"] for a in listing) == sorted(handles)
    finally:
        node.stop()


@pytest.fixture(scope="module")
def small_backup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive of a node with one account."""
    base = tmp_path_factory.mktemp("small-backup")
    source = base / "source"
    ok(
        oms(
            "account",
            "create",
            "--handle",
            "gina.localhost",
            "--password",
            PASSWORD,
            data_dir=source,
        )
    )
    archive = base / "small.tar"
    ok(oms("backup", str(archive), data_dir=source))
    return archive


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_restore_over_a_non_empty_dir_needs_force_and_keeps_the_old_contents(
    tmp_path: Path, small_backup: Path
) -> None:
    target = tmp_path / "data"
    target.mkdir()
    (target / "notes.txt").write_text("the operator's notes\n")
    before = _snapshot(target)

    message = refused(oms("restore", str(small_backup), data_dir=target))
    assert str(target) in message
    assert "--force" in message
    assert _snapshot(target) == before
    assert list(tmp_path.glob("data.before-restore-*")) == []

    ok(oms("restore", str(small_backup), "--force", data_dir=target))
    assert (target / "oms.sqlite3").is_file()
    assert not (target / "notes.txt").exists()
    (aside,) = tmp_path.glob("data.before-restore-*")
    assert _snapshot(aside) == before
    listing = json.loads(ok(oms("account", "list", "--json", data_dir=target)))
    assert [a["handle"] for a in listing] == ["gina.localhost"]


def test_restore_is_refused_while_a_node_serves_the_dir(tmp_path: Path, small_backup: Path) -> None:
    target = tmp_path / "data"
    server = start_oms(target)
    try:
        server.wait_healthy()
        before = sorted(p.name for p in target.iterdir())
        message = refused(oms("restore", str(small_backup), "--force", data_dir=target))
        assert str(target) in message
        assert "stop" in message
        assert sorted(p.name for p in target.iterdir()) == before
        assert list(tmp_path.glob("data.before-restore-*")) == []
        with httpx.Client(timeout=5) as http:
            assert http.get(f"{server.url}/healthz").status_code == 200
        assert json.loads(ok(oms("account", "list", "--json", data_dir=target))) == []
    finally:
        server.stop()


def test_restore_rejects_a_file_that_is_not_a_backup(tmp_path: Path) -> None:
    target = tmp_path / "data"
    junk = tmp_path / "holiday-photos.tar"
    junk.write_bytes(b"this is not a tar archive at all\n" * 100)
    message = refused(oms("restore", str(junk), data_dir=target), one_line=False)
    assert str(junk) in message
    assert "not a readable tar archive" in message
    assert not target.exists() or not any(target.iterdir())

    stranger = tmp_path / "someone-elses.tar"
    readme = tmp_path / "README"
    readme.write_text("hello\n")
    with tarfile.open(stranger, "w") as tar:
        tar.add(readme, arcname="README")
    message = refused(oms("restore", str(stranger), data_dir=target))
    assert str(stranger) in message
    assert "not an OMS backup" in message
    assert not target.exists() or not any(target.iterdir())
    assert list(tmp_path.glob(".oms-restore-*")) == []


def test_reindex_rebuilds_the_catalog_from_the_repositories(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run_oms("init", data_dir=data).returncode == 0
    rebuilt = run_oms("reindex", data_dir=data)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.strip() == "catalog rebuilt from 0 records"
    bad = run_oms("reindex", "--config", str(tmp_path / "missing.toml"), data_dir=data)
    assert bad.returncode == 1
    assert "does not exist" in bad.stderr
