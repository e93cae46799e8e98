"""End to end: `oms serve` as an operator runs it — start-up, probes, headers, first run,
restarts, graceful shutdown, start-up failures and idle memory. Real processes on loopback.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import OMS, OmsProcess, free_port, oms_env, run_oms, start_oms

pytestmark = pytest.mark.slow

SETUP_LINK = re.compile(r"https?://[^\s/]+/setup\?token=[A-Za-z0-9_-]+")
STARTUP_FAILURE_SECONDS = 8.0


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def setup_links(text: str) -> list[str]:
    return SETUP_LINK.findall(text)


def local(server: OmsProcess, link: str) -> str:
    """The printed link, aimed at the node's loopback address (the link names localhost)."""
    parts = urlsplit(link)
    return f"{server.url}{parts.path}?{parts.query}"


def start_named(data_dir: Path, **env: str) -> OmsProcess:
    """A node whose public origin is http://localhost:<port>, so bare names make valid handles."""
    port = free_port()
    return start_oms(
        data_dir,
        "--public-url",
        f"http://localhost:{port}",
        port=port,
        env=oms_env(data_dir, **env),
    )


def restart(server: OmsProcess) -> OmsProcess:
    """Stop `server` (SIGTERM) and start a node on its data dir again."""
    server.stop(timeout=15)
    return start_named(server.data_dir)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OmsProcess]:
    """One node with default settings, shared by the read-only checks of this module."""
    data_dir = tmp_path_factory.mktemp("node") / "data"
    server = start_oms(data_dir)
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(node: OmsProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, timeout=10) as http:
        yield http


# --- first start --------------------------------------------------------------------------------


def test_first_start_is_quick_prints_the_setup_link_and_creates_private_keys(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    port = free_port()
    stdout_path, stderr_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with stdout_path.open("w") as out, stderr_path.open("w") as err:
        started = time.monotonic()
        process = subprocess.Popen(
            [*OMS, "serve", "--port", str(port)],
            env=oms_env(data_dir),
            stdout=out,
            stderr=err,
            text=True,
            cwd=tmp_path,
        )
    server = OmsProcess(data_dir, port, process, stdout_path)
    try:
        server.wait_healthy(timeout=15)
        elapsed = time.monotonic() - started
        print(f"\n/healthz answered 200 {elapsed:.2f}s after the process started")
        assert elapsed < 3.0, f"/healthz took {elapsed:.2f}s after start"

        links = setup_links(stdout_path.read_text())
        assert len(links) == 1, f"no setup link on stdout:\n{stdout_path.read_text()}"
        assert links[0].startswith(f"http://localhost:{port}/setup?token=")
        assert "/setup?token=" not in stderr_path.read_text()

        assert (data_dir / "oms.sqlite3").is_file()
        keys = data_dir / "keys"
        assert stat.S_IMODE(keys.stat().st_mode) == 0o700
        assert stat.S_IMODE((keys / "node.pem").stat().st_mode) == 0o600
        assert (keys / "node.pem").read_bytes().startswith(b"-----BEGIN")
    finally:
        server.stop()


# --- probes and metrics -------------------------------------------------------------------------


def test_readyz_reports_each_dependency_ready(client: httpx.Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    for name in ("database", "ffmpeg", "disk"):
        assert checks[name]["ok"] is True, checks


def test_readyz_is_unavailable_when_the_disk_is_short(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_oms(data_dir, env=oms_env(data_dir, OMS_DATA_MIN_FREE_MB="100000000"))
    try:
        server.wait_healthy()
        with httpx.Client(base_url=server.url, timeout=10) as http:
            response = http.get("/readyz")
            # Liveness is not readiness: the node is up, it just should not take traffic.
            assert http.get("/healthz").status_code == 200
        assert response.status_code == 503, response.text
        checks = response.json()["checks"]
        assert checks["disk"]["ok"] is False
        assert "100000000" in checks["disk"]["detail"]
        assert checks["database"]["ok"] is True
    finally:
        server.stop()


def test_metrics_parse_and_count_requests_by_route(client: httpx.Client) -> None:
    assert client.get("/healthz").status_code == 200
    response = client.get("/metrics")
    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert "oms_http_requests" in families, sorted(families)
    healthz = [
        s
        for s in families["oms_http_requests"].samples
        if s.name == "oms_http_requests_total" and s.labels.get("route") == "/healthz"
    ]
    assert healthz, families["oms_http_requests"].samples
    assert healthz[0].labels["method"] == "GET"
    assert healthz[0].labels["status"] == "200"
    assert healthz[0].value >= 1
    assert "oms_db_write_transaction_seconds" in families


def test_metrics_token_is_required_when_set(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_oms(data_dir, env=oms_env(data_dir, OMS_METRICS_TOKEN="s3cret"))
    try:
        server.wait_healthy()
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.get("/metrics").status_code == 401
            wrong = http.get("/metrics", headers={"Authorization": "Bearer wrong"})
            assert wrong.status_code == 401
            right = http.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200
        names = {f.name for f in text_string_to_metric_families(right.text)}
        assert "oms_http_requests" in names
        assert "s3cret" not in server.log()
    finally:
        server.stop()


# --- headers ------------------------------------------------------------------------------------


def test_html_pages_carry_security_headers(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"]
    assert "strict-transport-security" not in response.headers  # plain http, no proxy


def test_every_response_has_a_request_id_and_a_sane_one_is_echoed(client: httpx.Client) -> None:
    for path in ("/", "/healthz", "/readyz", "/metrics", "/setup?token=nope", "/no-such-page"):
        response = client.get(path)
        assert re.fullmatch(r"[A-Za-z0-9._-]{8,64}", response.headers.get("x-request-id", "")), (
            path,
            response.headers,
        )
    first, second = client.get("/healthz"), client.get("/healthz")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]

    echoed = client.get("/healthz", headers={"X-Request-ID": "e2e-trace-0001"})
    assert echoed.headers["x-request-id"] == "e2e-trace-0001"
    hostile = client.get("/healthz", headers={"X-Request-ID": "evil id\twith spaces"})
    assert hostile.headers["x-request-id"] != "evil id\twith spaces"


def test_https_behind_a_trusted_proxy_gets_hsts(client: httpx.Client) -> None:
    response = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert "max-age=" in response.headers["strict-transport-security"]


# --- first run and restarts ---------------------------------------------------------------------


def test_first_run_setup_creates_the_admin_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_named(data_dir)
    try:
        server.wait_healthy()
        links = setup_links(server.log())
        assert len(links) == 1, server.log()
        link = local(server, links[0])
        token = links[0].split("token=", 1)[1]
        with httpx.Client(timeout=15) as http:
            form = http.get(link)
            assert form.status_code == 200
            assert '<form method="post" action="/setup"' in form.text
            assert f'value="{token}"' in form.text

            fields = {
                "token": token,
                "handle": "ada",
                "email": "ada@example.org",
                "password": "correct horse battery",
                "confirm": "correct horse battery",
            }
            done = http.post(f"{server.url}/setup", data=fields)
            assert done.status_code == 200, done.text
            assert "@ada.localhost" in done.text
            assert f"did:web:ada.localhost%3A{server.port}" in done.text

            again = http.post(f"{server.url}/setup", data={**fields, "handle": "mallory"})
            assert again.status_code == 403, again.text
            # Following the used link again never offers the form: refused or sent home.
            revisit = http.get(link)
            assert "mallory" not in revisit.text
            assert revisit.status_code in (403, 303), revisit.status_code
            if revisit.status_code == 303:
                assert revisit.headers["location"] == "/"
        server = restart(server)
        server.wait_healthy()
        assert setup_links(server.log()) == [], server.log()
        listing = run_oms("account", "list", data_dir=data_dir)
        assert listing.returncode == 0, listing.stderr
        rows = [line.split() for line in listing.stdout.splitlines()]
        assert ["ada.localhost", "admin", "active"] in [row[:3] for row in rows], listing.stdout
        assert "mallory" not in listing.stdout
    finally:
        server.stop()


def test_restart_keeps_data_and_replaces_the_setup_link(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_named(data_dir)
    try:
        server.wait_healthy()
        (first,) = setup_links(server.log())
        node_key = (data_dir / "keys" / "node.pem").read_bytes()
        server = restart(server)
        server.wait_healthy()
        (second,) = setup_links(server.log())
        assert second.split("token=")[1] != first.split("token=")[1]
        assert (data_dir / "keys" / "node.pem").read_bytes() == node_key
        with httpx.Client(timeout=10) as http:
            old = http.get(local(server, first))
            assert old.status_code == 403
            assert "not valid" in old.text
            new = http.get(local(server, second))
            assert new.status_code == 200
            assert "<form" in new.text
    finally:
        server.stop()


# --- shutdown -----------------------------------------------------------------------------------


def test_sigterm_stops_the_node_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_oms(data_dir)
    try:
        server.wait_healthy()
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(timeout=10)
        took = time.monotonic() - started
    finally:
        server.stop()
    assert code == 0, server.log()
    assert took < 5, f"SIGTERM took {took:.1f}s"
    assert "OMS stopped cleanly" in server.log()
    assert "Traceback" not in server.log()


def _refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


def _read_response(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_request_in_flight_completes_across_sigterm(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_oms(data_dir)
    try:
        server.wait_healthy()
        body = urlencode(
            {
                "token": "not-the-token",
                "handle": "ada",
                "email": "",
                "password": "long enough",
                "confirm": "long enough",
            }
        ).encode()
        head = (
            "POST /setup HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n"
            "\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
            sock.sendall(head + body[:12])
            time.sleep(0.5)  # the node has read the headers and waits for the body
            server.process.send_signal(signal.SIGTERM)
            # The node is stopping: it no longer accepts connections, but has not exited.
            wait_for(lambda: _refuses_connections(server.port), 5, "the listener to close")
            assert server.process.poll() is None, server.log()
            sock.sendall(body[12:])
            response = _read_response(sock)
        head_bytes, _, content = response.partition(b"\r\n\r\n")
        status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
        assert re.fullmatch(r"HTTP/1\.1 \d{3} .*", status_line), response[:200]
        headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        assert len(content) == int(headers["content-length"]), "response cut short"
        assert server.process.wait(timeout=10) == 0, server.log()
        assert "OMS stopped cleanly" in server.log()
    finally:
        server.stop()


# --- start-up failures --------------------------------------------------------------------------


def _fails_to_start(
    tmp_path: Path, *args: str, data_dir: Path | None = None, **env: str
) -> tuple[str, float]:
    """Run `oms serve` expecting it to refuse; returns its one line of output and the time."""
    environment = oms_env(tmp_path / "data", **env)
    if data_dir is not None:
        environment["OMS_DATA_DIR"] = str(data_dir)
    started = time.monotonic()
    result = subprocess.run(
        [*OMS, "serve", "--port", str(free_port()), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        check=False,
    )
    took = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert took < STARTUP_FAILURE_SECONDS, f"took {took:.1f}s to fail"
    return lines[0], took


def test_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line, _ = _fails_to_start(tmp_path, "--port", str(port))
    assert str(port) in line
    assert "in use" in line


def test_unwritable_data_dir_is_one_clear_line(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # Permissions do not stop root; a path under a regular file fails for everyone.
        blocker = tmp_path / "some_file"
        blocker.write_text("not a directory\n")
        data_dir = blocker / "data"
        line, _ = _fails_to_start(tmp_path, data_dir=data_dir)
    else:
        data_dir = tmp_path / "read-only"
        data_dir.mkdir(mode=0o500)
        try:
            line, _ = _fails_to_start(tmp_path, data_dir=data_dir)
        finally:
            data_dir.chmod(0o700)
    assert str(data_dir) in line
    assert "writable" in line


def test_non_numeric_port_names_the_setting(tmp_path: Path) -> None:
    line, _ = _fails_to_start(tmp_path, OMS_SERVER_PORT="abc")
    assert "server.port" in line
    assert "abc" in line


def test_unknown_key_in_the_config_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "oms.toml"
    config.write_text('[server]\nhost = "127.0.0.1"\nprot = 8080\n')
    line, _ = _fails_to_start(tmp_path, "--config", str(config))
    assert "prot" in line
    assert str(config) in line


def test_misspelt_environment_variable_gets_a_suggestion(tmp_path: Path) -> None:
    line, _ = _fails_to_start(tmp_path, OMS_SERVER_PORTT="1")
    assert "OMS_SERVER_PORTT" in line
    assert "OMS_SERVER_PORT" in line.replace("OMS_SERVER_PORTT", "")


def test_missing_ffmpeg_is_one_clear_line(tmp_path: Path) -> None:
    line, _ = _fails_to_start(tmp_path, OMS_MEDIA_FFMPEG="/nonexistent/ffmpeg")
    assert "/nonexistent/ffmpeg" in line


def test_second_node_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_oms(data_dir)
    try:
        first.wait_healthy()
        line, _ = _fails_to_start(tmp_path, data_dir=data_dir)
        assert str(data_dir) in line
        with httpx.Client(timeout=5) as http:
            assert http.get(f"{first.url}/healthz").status_code == 200
    finally:
        first.stop()


# --- memory -------------------------------------------------------------------------------------


def test_idle_memory_stays_small(node: OmsProcess, client: httpx.Client) -> None:
    for path in ("/", "/healthz", "/readyz", "/metrics", "/static/css/oms.css"):
        assert client.get(path).status_code == 200, path
    status = Path(f"/proc/{node.process.pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    assert match, status
    rss_mb = int(match[1]) / 1024
    print(f"\nidle oms serve RSS: {rss_mb:.1f} MB")
    assert rss_mb < 150
