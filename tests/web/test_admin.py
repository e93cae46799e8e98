"""The admin pages: accounts, invite codes, plans (quotas enforced at upload), password-reset
links, and the append-only audit log with its exports; and the rate limits."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from oms.app import create_app
from oms.audit import CLI
from oms.context import AppContext
from oms.pds.accounts import get_account
from oms.pds.password_resets import issue_reset_link
from oms.pds.store import now_ms
from tests.conftest import make_settings, upload_blob
from tests.web.test_second_factor import enrol
from tests.web.test_sessions import PASSWORD, app_session, form_csrf, make_account, sign_in

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path / "data", pds__open_signup=True)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _context(client: TestClient) -> AppContext:
    context: AppContext = client.app_state["context"]
    return context


def _page(client: TestClient, did: str) -> str:
    handle = client.portal.call(lambda: get_account(_context(client).db, did)).handle
    return f"/admin/accounts/{handle}"


def _execute(client: TestClient, sql: str, params: tuple[object, ...]) -> None:
    """A write behind the node's back (to age a link, or fill an account's storage)."""
    db = _context(client).db

    async def run() -> None:
        async with db.transaction() as tx:
            await tx.execute(sql, params)

    client.portal.call(run)


def test_an_admin_changes_roles_and_status_and_each_change_is_audited(
    client: TestClient,
) -> None:
    admin = make_account(client, "root", "admin")
    fan = make_account(client, "bea", "fan")
    csrf = sign_in(client, "root")
    listing = client.get("/admin/accounts?role=fan")
    assert ">@bea.localhost</a></td>" in listing.text
    assert ">@root.localhost</a></td>" not in listing.text
    changed = client.post(
        f"{_page(client, fan)}/role", data={"csrf": csrf, "role": "artist"}, follow_redirects=False
    )
    assert changed.status_code == 303
    assert "The role was changed." in client.get(changed.headers["location"]).text
    client.post(f"{_page(client, fan)}/status", data={"csrf": csrf, "status": "disabled"})
    bea = client.post(
        "/xrpc/com.atproto.server.createSession",
        json={"identifier": "bea.localhost", "password": PASSWORD},
    )
    assert bea.status_code == 401  # taken down
    log = client.get(f"/admin/audit?target={quote(fan)}").text
    assert "account.role" in log
    assert "account.status" in log
    entries = [
        json.loads(line)
        for line in client.get("/admin/audit/export.jsonl?action=account").text.splitlines()
    ]
    role_change = next(e for e in entries if e["action"] == "account.role")
    assert role_change["actor"] == admin
    assert role_change["target"] == fan
    assert (role_change["before"], role_change["after"]) == ({"role": "fan"}, {"role": "artist"})
    assert role_change["address"] == "testclient"
    # A form without the session's CSRF token changes nothing.
    forged = client.post(f"{_page(client, fan)}/role", data={"role": "admin"})
    assert forged.status_code == 403


def test_the_last_admin_keeps_the_role(client: TestClient) -> None:
    admin = make_account(client, "root", "admin")
    csrf = sign_in(client, "root")
    refused = client.post(f"{_page(client, admin)}/role", data={"csrf": csrf, "role": "fan"})
    assert refused.status_code == 409
    assert "last active admin" in refused.text
    refused = client.post(
        f"{_page(client, admin)}/status", data={"csrf": csrf, "status": "disabled"}
    )
    assert refused.status_code == 409


def test_the_audit_log_is_append_only_and_exports_as_csv(client: TestClient) -> None:
    make_account(client, "root", "admin")
    fan = make_account(client, "bea", "fan")
    csrf = sign_in(client, "root")
    client.post(f"{_page(client, fan)}/role", data={"csrf": csrf, "role": "artist"})
    database = _context(client).data_dir / "oms.sqlite3"
    with sqlite3.connect(database) as raw:
        for statement in ("UPDATE audit_log SET actor = 'nobody'", "DELETE FROM audit_log"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                raw.execute(statement)
    exported = client.get("/admin/audit/export.csv")
    assert exported.headers["content-disposition"] == 'attachment; filename="oms-audit.csv"'
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["action"] for r in rows] == ["account.role"]
    assert json.loads(rows[0]["after"]) == {"role": "artist"}
    assert client.get("/admin/audit/export.xml").status_code == 400


def test_invite_codes_made_on_the_admin_page_open_artist_accounts(client: TestClient) -> None:
    make_account(client, "root", "admin")
    csrf = sign_in(client, "root")
    page = client.post(
        "/admin/invites", data={"csrf": csrf, "role": "artist", "count": "2", "uses": "1"}
    )
    assert page.status_code == 200
    codes = [line.split("</code>")[0] for line in page.text.split('<code class="secret">')[1:]]
    assert len(codes) == 2
    created = client.post(
        "/xrpc/com.atproto.server.createAccount",
        json={"handle": "cleo.localhost", "password": PASSWORD, "inviteCode": codes[0]},
    )
    assert created.status_code == 200, created.text
    bearer = {"Authorization": f"Bearer {created.json()['accessJwt']}"}
    track = client.post(
        "/xrpc/com.atproto.repo.createRecord",
        headers=bearer,
        json={
            "repo": created.json()["did"],
            "collection": "fm.oms.track",
            "record": {"$type": "fm.oms.track"},
            "validate": False,
        },
    )
    assert track.status_code == 200, track.text  # an artist publishes
    bad = client.post(
        "/admin/invites", data={"csrf": csrf, "role": "artist", "count": "x", "uses": "1"}
    )
    assert bad.status_code == 400
    assert "whole number" in bad.text
    audit = client.get("/admin/audit/export.jsonl?action=invite").text.splitlines()
    assert json.loads(audit[0])["after"] == {"codes": 2, "role": "artist", "uses": 1}


def test_a_reset_link_works_once_ends_every_session_and_expires(client: TestClient) -> None:
    make_account(client, "root", "admin")
    bea = make_account(client, "bea", "fan")
    app = app_session(client, "bea")
    csrf = sign_in(client, "root")
    shown = client.post(f"{_page(client, bea)}/reset-link", data={"csrf": csrf})
    link = shown.text.split('<code class="secret">')[1].split("</code>")[0].replace("&amp;", "&")
    path = link.removeprefix("http://localhost:8000")
    client.cookies.clear()  # bea's own browser
    form = client.get(path)
    assert form.status_code == 200
    assert "@bea.localhost" in form.text
    token = path.split("token=")[1]
    mismatch = client.post(
        "/reset",
        data={"csrf": form_csrf(form.text), "token": token, "password": "a", "confirm": "b"},
    )
    assert mismatch.status_code == 400
    assert "The two passwords differ." in mismatch.text
    done = client.post(
        "/reset",
        data={
            "csrf": form_csrf(form.text),
            "token": token,
            "password": "bea's brand new secret",
            "confirm": "bea's brand new secret",
        },
    )
    assert done.status_code == 200
    assert "signed out everywhere" in done.text
    refreshed = client.post(
        "/xrpc/com.atproto.server.refreshSession",
        headers={"Authorization": f"Bearer {app['refreshJwt']}"},
    )
    assert refreshed.status_code in (400, 401)  # the app signed in before is out
    again = client.get(path)
    assert again.status_code == 403
    assert "already used" in again.text
    assert sign_in(client, "bea", "bea's brand new secret")

    # An expired link is refused, however well-formed.
    context = _context(client)
    expired = client.portal.call(lambda: issue_reset_link(context.db, bea, actor=CLI, hours=1))
    _execute(
        client,
        "UPDATE password_resets SET expires_at = ? WHERE did = ? AND used_at IS NULL",
        (now_ms() - 1, bea),
    )
    stale = client.get(f"/reset?token={expired.token}")
    assert stale.status_code == 403
    assert "expired" in stale.text


def test_a_newer_reset_link_replaces_the_older(client: TestClient) -> None:
    bea = make_account(client, "bea", "fan")
    context = _context(client)
    first = client.portal.call(lambda: issue_reset_link(context.db, bea, actor=CLI, hours=1))
    second = client.portal.call(lambda: issue_reset_link(context.db, bea, actor=CLI, hours=1))
    assert client.get(f"/reset?token={first.token}").status_code == 403
    assert client.get(f"/reset?token={second.token}").status_code == 200


def test_plans_limit_uploads_with_a_clear_message(client: TestClient) -> None:
    make_account(client, "root", "admin")
    fan = make_account(client, "bea", "fan")
    csrf = sign_in(client, "root")
    plans = {
        f"{role}.{field}": "0"
        for role in ("admin", "artist", "fan")
        for field in ("storage_mb", "uploads_per_month", "max_file_mb")
    }
    saved = client.post(
        "/admin/plans",
        data={**plans, "csrf": csrf, "fan.max_file_mb": "1", "fan.uploads_per_month": "2"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    bearer = {"Authorization": f"Bearer {app_session(client, 'bea')['accessJwt']}"}
    big = PNG + b"\0" * (1024 * 1024)
    refused = client.post(
        "/xrpc/com.atproto.repo.uploadBlob",
        content=big,
        headers={**bearer, "Content-Type": "image/png"},
    )
    assert refused.status_code == 413
    assert "the fan plan's limit of 1 MB a file" in refused.json()["message"]
    upload_blob(client, bearer, PNG, "image/png")
    upload_blob(client, bearer, PNG + b"\0", "image/png")
    third = client.post(
        "/xrpc/com.atproto.repo.uploadBlob",
        content=PNG + b"\0\0",
        headers={**bearer, "Content-Type": "image/png"},
    )
    assert third.status_code == 429
    assert third.json()["error"] == "UploadQuotaExceeded"
    assert int(third.headers["retry-after"]) > 0
    # Storage: the plan's room runs out.
    client.post("/admin/plans", data={**plans, "csrf": csrf, "fan.storage_mb": "1"})
    _execute(client, "UPDATE blobs SET size = ? WHERE did = ?", (2 * 1024 * 1024, fan))
    full = client.post(
        "/xrpc/com.atproto.repo.uploadBlob",
        content=PNG + b"\0\0\0",
        headers={**bearer, "Content-Type": "image/png"},
    )
    assert full.status_code == 413
    assert full.json()["error"] == "StorageQuotaExceeded"
    invalid = client.post("/admin/plans", data={**plans, "csrf": csrf, "fan.storage_mb": "-1"})
    assert invalid.status_code == 400
    assert "whole number" in invalid.text
    log = [
        json.loads(x)
        for x in client.get("/admin/audit/export.jsonl?action=plan&target=fan").text.split("\n")
        if x
    ]
    assert log[0]["target"] == "fan"
    assert log[0]["after"]["max_file_mb"] == 1


def test_sign_ups_and_uploads_are_rate_limited(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "data",
        pds__open_signup=True,
        limits__sign_ups_per_hour=2,
        limits__uploads_per_hour=1,
    )
    with TestClient(create_app(settings)) as client:
        answers = [
            client.post(
                "/xrpc/com.atproto.server.createAccount",
                json={"handle": f"user{n}.localhost", "password": PASSWORD},
            )
            for n in range(3)
        ]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[2].json()["error"] == "RateLimitExceeded"
        assert "too many sign-ups from this address" in answers[2].json()["message"]
        assert 0 < int(answers[2].headers["retry-after"]) <= 3600
        bearer = {"Authorization": f"Bearer {answers[0].json()['accessJwt']}"}
        upload_blob(client, bearer, PNG, "image/png")
        again = client.post(
            "/xrpc/com.atproto.repo.uploadBlob",
            content=PNG,
            headers={**bearer, "Content-Type": "image/png"},
        )
        assert again.status_code == 429
        assert "too many uploads" in again.json()["message"]


def test_admin_methods_over_xrpc_wait_for_two_factor_when_the_node_requires_it(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path / "data", security__admin_totp_required=True)
    with TestClient(create_app(settings)) as client:
        make_account(client, "root", "admin")
        bearer = {"Authorization": f"Bearer {app_session(client, 'root')['accessJwt']}"}
        refused = client.post(
            "/xrpc/com.atproto.server.createInviteCode", json={"useCount": 1}, headers=bearer
        )
        assert refused.status_code == 403
        assert "two-factor" in refused.json()["message"]
        sign_in(client, "root")
        enrol(client)
        allowed = client.post(
            "/xrpc/com.atproto.server.createInviteCode", json={"useCount": 1}, headers=bearer
        )
        assert allowed.status_code == 200, allowed.text
