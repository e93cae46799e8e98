from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from oms import audit
from oms.app import create_app
from oms.context import SETUP_ORIGIN, AppContext
from tests.conftest import make_settings


def _client(tmp_path: Path, **overrides: object) -> TestClient:
    return TestClient(create_app(make_settings(tmp_path / "data", **overrides)))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with _client(tmp_path) as test_client:
        yield test_client


def _setup_token(capsys: pytest.CaptureFixture[str]) -> str:
    match = re.search(r"/setup\?token=([\w-]+)", capsys.readouterr().out)
    assert match, "the first start prints a setup link"
    return match[1]


def test_health_readiness_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert {name: c["ok"] for name, c in ready.json()["checks"].items()} == {
        "database": True,
        "ffmpeg": True,
        "disk": True,
    }
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
    requests = families["oms_http_requests"]
    assert any(s.labels.get("route") == "/readyz" for s in requests.samples)
    assert "oms_db_write_transaction_seconds" in families
    assert "oms_jobs_pending" in families


def test_readiness_fails_when_the_disk_is_nearly_full(tmp_path: Path) -> None:
    with _client(tmp_path, data__min_free_mb=10**9) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["disk"]["ok"] is False


def test_metrics_can_require_a_token(tmp_path: Path) -> None:
    with _client(tmp_path, metrics__token="s3cret") as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200


def test_html_pages_carry_the_security_headers(client: TestClient) -> None:
    page = client.get("/")
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "strict-transport-security" not in page.headers
    assert re.fullmatch(r"[0-9a-f]{16}", page.headers["x-request-id"])
    echoed = client.get("/healthz", headers={"X-Request-ID": "abc-123-def"})
    assert echoed.headers["x-request-id"] == "abc-123-def"
    hostile = client.get("/healthz", headers={"X-Request-ID": "<script>"})
    assert hostile.headers["x-request-id"] != "<script>"


def test_https_requests_get_hsts(client: TestClient) -> None:
    secure = client.get("https://testserver/healthz")
    assert "max-age" in secure.headers["strict-transport-security"]


def test_unknown_pages_are_404_in_the_format_asked_for(client: TestClient) -> None:
    page = client.get("/no/such/page", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert "nothing at /no/such/page" in page.text
    assert "content-security-policy" in page.headers
    api = client.get("/no/such/page")
    assert api.status_code == 404
    assert api.json()["error"] == "NotFound"


def test_static_files_are_served(client: TestClient) -> None:
    css = client.get("/static/css/oms.css")
    assert css.status_code == 200
    assert "prefers-color-scheme: dark" in css.text


def test_first_run_setup_creates_one_admin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _client(tmp_path) as client:
        token = _setup_token(capsys)
        home = client.get("/")
        assert "waiting for its first admin" in home.text
        assert client.get("/setup?token=wrong").status_code == 403
        form = client.get(f"/setup?token={token}")
        assert form.status_code == 200
        assert 'name="password"' in form.text

        fields = {"token": token, "handle": "ada", "email": "", "password": "correct horse"}
        differ = client.post("/setup", data={**fields, "confirm": "other horse"})
        assert differ.status_code == 400
        assert "The two passwords differ" in differ.text
        weak = client.post("/setup", data={**fields, "password": "short", "confirm": "short"})
        assert weak.status_code == 400
        assert "at least 10 characters" in weak.text
        assert 'value="ada"' in weak.text, "the form keeps what was typed"

        done = client.post("/setup", data={**fields, "confirm": "correct horse"})
        assert done.status_code == 200
        assert "@ada.localhost" in done.text
        assert "did:web:ada.localhost%3A8000" in done.text

        again = client.post("/setup", data={**fields, "handle": "eve", "confirm": "correct horse"})
        assert again.status_code == 403
        assert client.get(f"/setup?token={token}", follow_redirects=False).status_code == 303
        assert "waiting for its first admin" not in client.get("/").text

    with _client(tmp_path):
        assert "/setup?token=" not in capsys.readouterr().out


def test_setup_names_the_node_and_its_address_once_and_they_stay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fields = {
        "handle": "ada",
        "password": "a long and unusual admin secret",
        "confirm": "a long and unusual admin secret",
        "node_name": "Riverside Collective",
    }
    with _client(tmp_path) as client:
        token = _setup_token(capsys)
        form = client.get(f"/setup?token={token}")
        assert 'value="http://localhost:8000"' in form.text  # the address it runs at now
        bad = client.post(
            "/setup", data={**fields, "token": token, "public_url": "ftp://music.example.org"}
        )
        assert bad.status_code == 400
        assert "server.public_url" in bad.text
        done = client.post(
            "/setup", data={**fields, "token": token, "public_url": "https://music.example.org/"}
        )
        assert done.status_code == 200, done.text
        assert "did:web:ada.music.example.org" in done.text
        assert "Riverside Collective" in client.get("/").text
        context: AppContext = client.app_state["context"]
        assert context.settings.public_url == "https://music.example.org"
        entries = client.portal.call(lambda: audit.entries(context.db, action="setup"))
        assert entries[0].actor == "setup"
        assert entries[0].after["node.name"] == "Riverside Collective"

    with _client(tmp_path) as client:
        context = client.app_state["context"]
        assert context.settings["node.name"] == "Riverside Collective"
        assert context.settings.origins["server.public_url"] == SETUP_ORIGIN
        assert "Riverside Collective" in client.get("/").text
