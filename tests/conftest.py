"""Fixtures shared by the whole suite: settings on a temp data dir, the app, real `oms serve`."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from oms.analytics import journal
from oms.audit import CLI
from oms.config import Settings, load_settings
from oms.context import AppContext
from oms.db.backup import JOURNAL_DIR, create_backup
from oms.media.ffmpeg_binary import locate_ffmpeg
from oms.pds.accounts import set_role

ROOT = Path(__file__).resolve().parent.parent
OMS = [sys.executable, "-m", "oms"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings on `data_dir` that ignore the checkout's etc/oms.toml and the environment."""
    empty = data_dir.parent / "empty-oms.toml"
    empty.write_text("")
    values = {"data.dir": str(data_dir), **{k.replace("__", "."): v for k, v in overrides.items()}}
    return load_settings(config_file=empty, environ={}, overrides=values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


def sign_up(
    client: TestClient, name: str, password: str = "correct horse battery", role: str = "artist"
) -> tuple[str, dict[str, str]]:
    """Create `<name>.localhost` over XRPC on an in-process node (open sign-up), then give it
    `role` as an admin would (sign-up makes fans; artists publish); its DID and bearer header."""
    answer = client.post(
        "/xrpc/com.atproto.server.createAccount",
        json={"handle": f"{name}.localhost", "password": password},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    if role != "fan":
        context: AppContext = client.app_state["context"]
        client.portal.call(lambda: set_role(context.db, body["did"], role, actor=CLI))
    return body["did"], {"Authorization": f"Bearer {body['accessJwt']}"}


def upload_blob(
    client: httpx.Client, headers: dict[str, str], content: bytes, mime: str = "audio/flac"
) -> dict[str, Any]:
    """`uploadBlob` over XRPC (a TestClient or a client of a real node); the blob ref."""
    answer = client.post(
        "/xrpc/com.atproto.repo.uploadBlob",
        content=content,
        headers={**headers, "Content-Type": mime},
    )
    assert answer.status_code == 200, answer.text
    blob: dict[str, Any] = answer.json()["blob"]
    return blob


def publish_track(
    client: httpx.Client,
    headers: dict[str, str],
    did: str,
    blob: dict[str, Any],
    title: str,
    **fields: Any,
) -> str:
    """`createRecord` of an `fm.oms.track` naming `blob`, credited to `did`; its AT-URI."""
    record = {
        "$type": "fm.oms.track",
        "title": title,
        "artists": [{"name": "Ada", "did": did, "role": "primary"}],
        "audio": blob,
        "license": "cc-by-4.0",
        "createdAt": "2024-05-01T12:00:00.000Z",
        **fields,
    }
    created = client.post(
        "/xrpc/com.atproto.repo.createRecord",
        headers=headers,
        json={"repo": did, "collection": "fm.oms.track", "record": record},
    )
    assert created.status_code == 200, created.text
    return str(created.json()["uri"])


def tone_flac(path: Path, seconds: float, frequency: int = 440) -> bytes:
    """A stereo 44.1 kHz FLAC of a sine tone, written to `path`; its bytes."""
    source = f"sine=frequency={frequency}:duration={seconds}:sample_rate=44100"
    subprocess.run(
        [str(locate_ffmpeg().path), "-v", "error", "-y", "-f", "lavfi", "-i", source, "-ac", "2",
         str(path)],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def query_node(data_dir: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of `sql` read straight from a node's database file (read-only; a node may be
    serving it meanwhile)."""
    connection = sqlite3.connect(f"{(data_dir / 'oms.sqlite3').as_uri()}?mode=ro", uri=True)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def kill_9_while_writing(
    server: OmsProcess,
    write: Callable[[httpx.Client, int, int], str | None],
    *,
    acknowledged_at_least: int,
    workers: int = 4,
) -> list[str]:
    """`workers` threads each call `write(client, worker, n)` for n = 1, 2, … against `server`
    (it returns the key of a write the node acknowledged, else None) until `server` is killed
    with SIGKILL, once `acknowledged_at_least` writes are acknowledged. The keys acknowledged."""
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(worker: int) -> None:
        with httpx.Client(timeout=5) as client:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    key = write(client, worker, n)
                except httpx.HTTPError:
                    return  # the node is gone
                if key is not None:
                    with lock:
                        acknowledged.append(key)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    while len(acknowledged) < acknowledged_at_least:
        time.sleep(0.01)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)
    stop.set()
    for thread in threads:
        thread.join(10)
    with lock:
        return list(acknowledged)


async def back_up_while(
    data_dir: Path, archive: Path, work: Callable[[asyncio.Event], Awaitable[None]]
) -> None:
    """`oms backup` of `data_dir` into `archive` in the middle of `work(stop)`, which runs
    until `stop` is set: 0.2 s in, then 0.1 s more before it is stopped and awaited."""
    stop = asyncio.Event()
    working = asyncio.create_task(work(stop))
    await asyncio.sleep(0.2)
    await asyncio.to_thread(create_backup, data_dir, archive)
    await asyncio.sleep(0.1)
    stop.set()
    await working


def journal_moved(data_dir: Path, connection: sqlite3.Connection) -> bool:
    """Whether a node has moved every listening report it acknowledged from its journal
    (`data_dir/journal`) into its database (read through `connection`)."""
    generation, offset = connection.execute(
        "SELECT generation, position FROM listening_journal WHERE id = 1"
    ).fetchone()
    beyond = journal.unmoved(data_dir / JOURNAL_DIR, journal.Position(generation, offset))
    return next(beyond, None) is None


def oms_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """A clean environment for an `oms` subprocess: no OMS_* settings but ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_")}
    env.update({"OMS_DATA_DIR": str(data_dir), "OMS_CONFIG": str(_empty_config(data_dir))})
    env.update(extra)
    return env


def _empty_config(data_dir: Path) -> Path:
    path = data_dir.parent / "oms-test.toml"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    return path


def run_oms(
    *args: str, data_dir: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OMS, *args],
        env=env or oms_env(data_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=data_dir.parent,
        check=False,
    )


@dataclass
class OmsProcess:
    """A real `oms serve` on a loopback port, with its output captured to a file."""

    data_dir: Path
    port: int
    process: subprocess.Popen[str]
    log_path: Path
    url: str = field(init=False)
    public_url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = f"http://127.0.0.1:{self.port}"
        # Handles need a domain name: the node names itself localhost (which resolves to
        # loopback), while tests connect to 127.0.0.1 directly.
        self.public_url = f"http://localhost:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for CLI commands on this node's data dir, with its public URL."""
        return oms_env(self.data_dir, OMS_SERVER_PUBLIC_URL=self.public_url, **extra)

    def create_account(self, name: str, password: str, role: str = "artist") -> str:
        """`oms account create` beside the running node (the CLI writes into its database);
        returns the new account's DID. Its handle is `<name>.localhost`."""
        created = run_oms(
            "account",
            "create",
            "--handle",
            name,
            "--password",
            password,
            "--role",
            role,
            data_dir=self.data_dir,
            env=self.env(),
        )
        assert created.returncode == 0, created.stderr
        return created.stdout.split("(")[-1].rstrip(")\n")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self, timeout: float = 15) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise AssertionError(f"oms serve exited {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"oms serve not healthy after {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_oms(
    data_dir: Path, *args: str, port: int | None = None, env: dict[str, str] | None = None
) -> OmsProcess:
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"oms-serve-{port}.log"
    log_file = log_path.open("w")
    process = subprocess.Popen(
        [*OMS, "serve", "--port", str(port), "--public-url", f"http://localhost:{port}", *args],
        env=env or oms_env(data_dir),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=data_dir.parent,
    )
    log_file.close()
    return OmsProcess(data_dir, port, process, log_path)


@pytest.fixture
def oms_server(tmp_path: Path) -> Iterator[OmsProcess]:
    """A running node on a fresh data dir; stopped (SIGTERM) after the test."""
    server = start_oms(tmp_path / "data")
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()
