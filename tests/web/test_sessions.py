"""Browser sessions: sign in and out, CSRF on every form, session fixation, the session list,
and XRPC calls made with the cookie by the node's own pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from oms.app import create_app
from oms.context import AppContext
from oms.pds.accounts import create_account
from tests.conftest import make_settings

PASSWORD = "correct horse battery"
DOMAIN = "testserver.local"  # where httpx keeps the test client's cookies


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path / "data"))) as test_client:
        yield test_client


def make_account(client: TestClient, name: str, role: str = "artist") -> str:
    """An account made the way `oms account create` makes it; its DID."""
    context: AppContext = client.app_state["context"]
    account = client.portal.call(
        lambda: create_account(
            context.db,
            context.keys,
            name=name,
            password=PASSWORD,
            role=role,
            hostname=context.settings.hostname,
        )
    )
    return account.did


def app_session(client: TestClient, name: str) -> dict[str, str]:
    """An app's sign-in over XRPC (`createSession`): its tokens and DID."""
    answer = client.post(
        "/xrpc/com.atproto.server.createSession",
        json={"identifier": f"{name}.localhost", "password": PASSWORD},
    )
    assert answer.status_code == 200, answer.text
    session: dict[str, str] = answer.json()
    return session


def form_csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has a form with a CSRF token"
    return match[1]


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign in through the form like a browser; the session's CSRF token from the next page."""
    page = client.get("/signin")
    answer = client.post(
        "/signin",
        data={"identifier": name, "password": password, "csrf": form_csrf(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return form_csrf(client.get("/account/sessions").text)


def test_sign_in_sets_a_hardened_cookie_and_shows_who_is_signed_in(client: TestClient) -> None:
    make_account(client, "ada")
    page = client.get("/signin")
    assert page.status_code == 200
    assert 'autocomplete="current-password"' in page.text
    answer = client.post(
        "/signin",
        data={
            "identifier": "ada",
            "password": PASSWORD,
            "csrf": form_csrf(page.text),
            "next": "/account/sessions",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/account/sessions"
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("oms_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # http://localhost: a Secure cookie would never come back
    home = client.get("/")
    assert "@ada.localhost" in home.text
    assert 'href="/portal"' in home.text  # an artist sees the portal link


def test_the_cookie_is_secure_behind_tls(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", server__public_url="https://music.example")
    with TestClient(create_app(settings), base_url="https://music.example") as client:
        make_account(client, "ada")
        page = client.get("/signin")
        answer = client.post(
            "/signin",
            data={"identifier": "ada", "password": PASSWORD, "csrf": form_csrf(page.text)},
            follow_redirects=False,
        )
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("oms_session="))
    assert "Secure" in cookie


def test_wrong_password_and_unknown_account_read_the_same(client: TestClient) -> None:
    make_account(client, "ada")
    for identifier in ("ada", "nobody"):
        page = client.get("/signin")
        answer = client.post(
            "/signin",
            data={
                "identifier": identifier,
                "password": "wrong password!",
                "csrf": form_csrf(page.text),
            },
        )
        assert answer.status_code == 401
        assert "Wrong identifier or password." in answer.text
        assert "oms_session" not in answer.headers.get("set-cookie", "")


def test_app_passwords_do_not_sign_in_a_browser(client: TestClient) -> None:
    make_account(client, "ada")
    session = app_session(client, "ada")
    app_password = client.post(
        "/xrpc/com.atproto.server.createAppPassword",
        json={"name": "phone"},
        headers={"Authorization": f"Bearer {session['accessJwt']}"},
    ).json()["password"]
    page = client.get("/signin")
    answer = client.post(
        "/signin",
        data={"identifier": "ada", "password": app_password, "csrf": form_csrf(page.text)},
    )
    assert answer.status_code == 401


def test_sign_in_form_without_its_token_is_refused(client: TestClient) -> None:
    """Login CSRF: another site cannot sign a visitor in to an account of its choosing."""
    make_account(client, "mallory")
    answer = client.post("/signin", data={"identifier": "mallory", "password": PASSWORD})
    assert answer.status_code == 403
    assert "expired or was sent from another site" in answer.text
    forged = client.post(
        "/signin", data={"identifier": "mallory", "password": PASSWORD, "csrf": "x" * 32}
    )
    assert forged.status_code == 403
    assert "oms_session" not in client.cookies


def test_session_fixation_a_planted_cookie_is_never_promoted(client: TestClient) -> None:
    make_account(client, "ada")
    client.cookies.set("oms_session", "planted-by-an-attacker-0123456789", domain=DOMAIN)
    sign_in(client, "ada")
    assert client.cookies["oms_session"] != "planted-by-an-attacker-0123456789"
    # and the attacker's value opens nothing
    client.cookies.clear()
    client.cookies.set("oms_session", "planted-by-an-attacker-0123456789", domain=DOMAIN)
    assert client.get("/account/sessions", follow_redirects=False).status_code == 303


def test_signed_in_forms_need_the_session_csrf_token(client: TestClient) -> None:
    make_account(client, "ada")
    csrf = sign_in(client, "ada")
    refused = client.post("/signout", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/account/sessions", follow_redirects=False).status_code == 200
    wrong = client.post("/account/sessions/end-all", data={"csrf": "nope"})
    assert wrong.status_code == 403
    assert client.get("/account/sessions", follow_redirects=False).status_code == 200
    ok = client.post("/signout", data={"csrf": csrf}, follow_redirects=False)
    assert ok.status_code == 303
    assert client.get("/account/sessions", follow_redirects=False).status_code == 303


def test_a_signed_out_cookie_stays_dead(client: TestClient) -> None:
    make_account(client, "ada")
    csrf = sign_in(client, "ada")
    stolen = client.cookies["oms_session"]
    client.post("/signout", data={"csrf": csrf})
    client.cookies.clear()
    client.cookies.set("oms_session", stolen, domain=DOMAIN)
    assert client.get("/account/sessions", follow_redirects=False).status_code == 303


def test_session_list_shows_browsers_and_apps_and_revokes_one(client: TestClient) -> None:
    make_account(client, "ada")
    app = app_session(client, "ada")
    csrf = sign_in(client, "ada")
    listing = client.get("/account/sessions").text
    assert "(this browser)" in listing
    assert "App: signed in with password" in listing
    assert len(re.findall(r'name="session" value="([^"]+)"', listing)) == 2
    context: AppContext = client.app_state["context"]
    app_session_id = client.portal.call(
        context.db.fetchval,
        "SELECT id FROM sessions WHERE id NOT IN (SELECT session_id FROM web_sessions)",
    )
    bearer = {"Authorization": f"Bearer {app['accessJwt']}"}
    assert client.get("/xrpc/com.atproto.server.getSession", headers=bearer).status_code == 200
    answer = client.post("/account/sessions/revoke", data={"csrf": csrf, "session": app_session_id})
    assert answer.status_code == 200
    assert "That session has ended." in answer.text
    assert "App: signed in with password" not in answer.text
    # the app's tokens stop working at once; this browser stays signed in
    assert client.get("/xrpc/com.atproto.server.getSession", headers=bearer).status_code == 401
    assert client.get("/account/sessions", follow_redirects=False).status_code == 200


def test_sign_out_everywhere_ends_apps_too(client: TestClient) -> None:
    make_account(client, "ada")
    app = app_session(client, "ada")
    csrf = sign_in(client, "ada")
    client.post("/account/sessions/end-all", data={"csrf": csrf})
    refreshed = client.post(
        "/xrpc/com.atproto.server.refreshSession",
        headers={"Authorization": f"Bearer {app['refreshJwt']}"},
    )
    assert refreshed.status_code in (400, 401)
    assert client.get("/account/sessions", follow_redirects=False).status_code == 303


def test_another_accounts_session_cannot_be_revoked(client: TestClient) -> None:
    make_account(client, "ada")
    make_account(client, "bob")
    bob = app_session(client, "bob")
    context: AppContext = client.app_state["context"]
    bob_session = client.portal.call(
        context.db.fetchval, "SELECT id FROM sessions WHERE did = ?", (bob["did"],)
    )
    csrf = sign_in(client, "ada")
    answer = client.post("/account/sessions/revoke", data={"csrf": csrf, "session": bob_session})
    assert answer.status_code == 404
    bearer = {"Authorization": f"Bearer {bob['accessJwt']}"}
    assert client.get("/xrpc/com.atproto.server.getSession", headers=bearer).status_code == 200


def test_next_never_leaves_the_site(client: TestClient) -> None:
    make_account(client, "ada")
    for target in ("https://evil.example/", "//evil.example", "/\\evil.example", "javascript:x"):
        page = client.get("/signin")
        answer = client.post(
            "/signin",
            data={
                "identifier": "ada",
                "password": PASSWORD,
                "csrf": form_csrf(page.text),
                "next": target,
            },
            follow_redirects=False,
        )
        assert answer.headers["location"] == "/", target
        client.cookies.clear()


def test_xrpc_with_the_cookie_needs_the_csrf_header(client: TestClient) -> None:
    did = make_account(client, "ada")
    csrf = sign_in(client, "ada")
    record = {
        "repo": did,
        "collection": "fm.oms.artist.profile",
        "rkey": "self",
        "record": {
            "$type": "fm.oms.artist.profile",
            "displayName": "Ada",
            "createdAt": "2026-01-01T00:00:00Z",
        },
    }
    # the cookie alone, as a cross-site form or script would send it: anonymous
    bare = client.post("/xrpc/com.atproto.repo.putRecord", json=record)
    assert bare.status_code == 401
    wrong = client.post(
        "/xrpc/com.atproto.repo.putRecord", json=record, headers={"X-CSRF-Token": "nope"}
    )
    assert wrong.status_code == 401
    assert "does not match" in wrong.json()["message"]
    ok = client.post(
        "/xrpc/com.atproto.repo.putRecord", json=record, headers={"X-CSRF-Token": csrf}
    )
    assert ok.status_code == 200, ok.text
    session = client.get("/xrpc/com.atproto.server.getSession", headers={"X-CSRF-Token": csrf})
    assert session.json()["did"] == did
