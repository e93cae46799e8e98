"""Two-factor sign-in in the browser and over XRPC: setting it up, signing in with a code or a
recovery code, codes refused a second time, the throttle, turning it off, and admins who must
set it up before anything else."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from oms.app import create_app
from oms.pds import sessions, totp
from tests.conftest import make_settings
from tests.web.test_sessions import DOMAIN, PASSWORD, form_csrf, make_account, sign_in

STEP = totp.STEP_SECONDS


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path / "data"))) as test_client:
        yield test_client


def enrol(client: TestClient) -> tuple[str, list[str]]:
    """Set up TOTP for the signed-in account through its pages: the key and recovery codes.
    The enrolment uses the previous step's code, so the current and next ones stay unused."""
    setup = client.get("/account/totp/setup")
    assert setup.status_code == 200, setup.text
    match = re.search(r"<code>((?:[A-Z2-7]{4} )+[A-Z2-7]{1,4})</code>", setup.text)
    assert match, "the setup page shows the key in groups of four"
    secret = match[1].replace(" ", "")
    done = client.post(
        "/account/totp/setup",
        data={"csrf": form_csrf(setup.text), "code": totp.totp(secret, time.time() - STEP)},
    )
    assert done.status_code == 200, done.text
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", done.text)
    assert len(codes) == 10
    return secret, codes


def password_step(client: TestClient, name: str, next_path: str = "/") -> httpx.Response:
    page = client.get("/signin")
    return client.post(
        "/signin",
        data={
            "identifier": name,
            "password": PASSWORD,
            "csrf": form_csrf(page.text),
            "next": next_path,
        },
        follow_redirects=False,
    )


def pending_token(page: str) -> str:
    match = re.search(r'name="pending" value="([^"]+)"', page)
    assert match, "the code step carries its pending sign-in"
    return match[1]


def code_step(client: TestClient, name: str, code: str, next_path: str = "/") -> httpx.Response:
    """Password, then `code` on the second step, as a browser does."""
    first = password_step(client, name, next_path)
    assert first.status_code == 200, first.text
    return client.post(
        "/signin/verify",
        data={"csrf": form_csrf(first.text), "pending": pending_token(first.text), "code": code},
        follow_redirects=False,
    )


def sign_out(client: TestClient) -> None:
    csrf = form_csrf(client.get("/account/security").text)
    assert client.post("/signout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    client.cookies.clear()


def signed_in_as(client: TestClient) -> str | None:
    page = client.get("/account/security", follow_redirects=False)
    if page.status_code != 200:
        return None
    match = re.search(r'<a href="/account/security">@([^<]+)</a>', page.text)
    return match[1] if match else None


def wrong_code(secret: str) -> str:
    now = time.time()
    near = {totp.totp(secret, now + k * STEP) for k in range(-3, 4)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


def test_setting_it_up_shows_the_key_then_the_recovery_codes_once(client: TestClient) -> None:
    make_account(client, "ada", role="fan")
    sign_in(client, "ada")
    security = client.get("/account/security")
    assert "Off: your password alone signs you in." in security.text
    assert 'href="/account/totp/setup"' in security.text

    setup = client.get("/account/totp/setup")
    assert setup.headers["cache-control"] == "no-store"
    grouped = re.search(r"<code>((?:[A-Z2-7]{4} )+[A-Z2-7]{1,4})</code>", setup.text)
    assert grouped
    secret = grouped[1].replace(" ", "")
    assert len(secret) == 32  # 160 bits
    uri = html.unescape(re.findall(r'href="(otpauth://[^"]+)"', setup.text)[0])
    parts = urlsplit(uri)
    assert (parts.netloc, unquote(parts.path)) == ("totp", "/Open Music Streaming:ada.localhost")
    query = parse_qs(parts.query)
    assert query["secret"] == [secret]
    assert query["digits"] == ["6"]
    assert query["period"] == ["30"]
    # A reload shows the same key: one already added to an app stays good.
    assert secret.encode() in client.get("/account/totp/setup").text.replace(" ", "").encode()

    refused = client.post(
        "/account/totp/setup", data={"csrf": form_csrf(setup.text), "code": wrong_code(secret)}
    )
    assert refused.status_code == 400
    assert "That code does not match" in refused.text
    assert "Off:" in client.get("/account/security").text

    done = client.post(
        "/account/totp/setup", data={"csrf": form_csrf(setup.text), "code": totp.totp(secret)}
    )
    assert done.status_code == 200
    assert done.headers["cache-control"] == "no-store"
    assert "shown only this once" in done.text
    assert len(re.findall(r"<li><code>[a-z2-9]{5}-[a-z2-9]{5}</code></li>", done.text)) == 10
    security = client.get("/account/security").text
    assert "On since" in security
    assert "10 unused recovery codes left." in security
    # Once on, the setup page sends the person back to the security page.
    again = client.get("/account/totp/setup", follow_redirects=False)
    assert again.headers["location"] == "/account/security"


def test_setting_it_up_needs_the_session_csrf_token(client: TestClient) -> None:
    make_account(client, "ada")
    sign_in(client, "ada")
    setup = client.get("/account/totp/setup").text
    secret = re.findall(r"<code>((?:[A-Z2-7]{4} )+[A-Z2-7]{1,4})</code>", setup)[0]
    forged = client.post("/account/totp/setup", data={"code": totp.totp(secret.replace(" ", ""))})
    assert forged.status_code == 403
    assert "Off:" in client.get("/account/security").text


def test_sign_in_asks_for_a_code_before_any_session_starts(client: TestClient) -> None:
    make_account(client, "ada")
    sign_in(client, "ada")
    secret, _ = enrol(client)
    sign_out(client)
    # A cookie planted before sign-in is never promoted (session fixation).
    client.cookies.set("oms_session", "planted-by-an-attacker-0123456789", domain=DOMAIN)

    first = password_step(client, "ada", "/account/sessions")
    assert first.status_code == 200
    assert "Enter your sign-in code" in first.text
    assert first.headers["cache-control"] == "no-store"
    assert "oms_session=" not in first.headers.get("set-cookie", "")
    assert signed_in_as(client) is None  # the password alone did not sign in

    answer = client.post(
        "/signin/verify",
        data={
            "csrf": form_csrf(first.text),
            "pending": pending_token(first.text),
            "code": totp.totp(secret),
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/account/sessions"
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("oms_session="))
    assert "HttpOnly" in cookie
    assert client.cookies["oms_session"] != "planted-by-an-attacker-0123456789"
    assert signed_in_as(client) == "ada.localhost"


def test_the_code_step_needs_its_form_token_and_works_once(client: TestClient) -> None:
    make_account(client, "ada")
    sign_in(client, "ada")
    secret, codes = enrol(client)
    sign_out(client)
    first = password_step(client, "ada")
    pending = pending_token(first.text)
    forged = client.post("/signin/verify", data={"pending": pending, "code": totp.totp(secret)})
    assert forged.status_code == 403
    ok = client.post(
        "/signin/verify",
        data={"csrf": form_csrf(first.text), "pending": pending, "code": codes[0]},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    sign_out(client)
    # The same pending sign-in, sent again with another good code: it is used up.
    again = client.post(
        "/signin/verify",
        data={"csrf": form_csrf(client.get("/signin").text), "pending": pending, "code": codes[1]},
        follow_redirects=False,
    )
    assert again.status_code == 401
    assert "This sign-in has expired; enter your password again." in again.text
    assert signed_in_as(client) is None


def test_a_recovery_code_signs_in_once(client: TestClient) -> None:
    make_account(client, "ada")
    sign_in(client, "ada")
    _, codes = enrol(client)
    sign_out(client)
    assert code_step(client, "ada", codes[4].upper()).status_code == 303
    assert signed_in_as(client) == "ada.localhost"
    assert "9 unused recovery codes left." in client.get("/account/security").text
    sign_out(client)
    second = code_step(client, "ada", codes[4])
    assert second.status_code == 400
    assert "That code is wrong or was already used" in second.text
    assert signed_in_as(client) is None


def test_a_code_reused_within_its_window_is_refused(client: TestClient) -> None:
    make_account(client, "ada")
    sign_in(client, "ada")
    secret, _ = enrol(client)
    sign_out(client)
    code = totp.totp(secret)
    assert code_step(client, "ada", code).status_code == 303
    sign_out(client)
    replayed = code_step(client, "ada", code)  # seen over a shoulder, within its 30 s
    assert replayed.status_code == 400
    assert "was already used" in replayed.text
    assert signed_in_as(client) is None
    # The next step's code is a new one.
    assert code_step(client, "ada", totp.totp(secret, time.time() + STEP)).status_code == 303


def test_wrong_codes_count_against_the_sign_in_throttle(client: TestClient) -> None:
    make_account(client, "ada")
    sign_in(client, "ada")
    secret, _ = enrol(client)
    sign_out(client)
    first = password_step(client, "ada")
    form = {"csrf": form_csrf(first.text), "pending": pending_token(first.text)}
    for _ in range(sessions.ACCOUNT_FAILURE_LIMIT):
        wrong = client.post("/signin/verify", data={**form, "code": wrong_code(secret)})
        assert wrong.status_code == 400
    limited = client.post("/signin/verify", data={**form, "code": totp.totp(secret)})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in limited.text
    assert signed_in_as(client) is None
    # Starting again with the password does not reset the count.
    again = password_step(client, "ada")
    assert again.status_code == 429


def test_create_session_needs_the_factor_but_app_passwords_do_not(client: TestClient) -> None:
    make_account(client, "ada")
    sign_in(client, "ada")
    secret, codes = enrol(client)
    url = "/xrpc/com.atproto.server.createSession"
    identity = {"identifier": "ada.localhost", "password": PASSWORD}
    required = client.post(url, json=identity)
    assert required.status_code == 401
    assert required.json()["error"] == "AuthFactorTokenRequired"
    wrong = client.post(url, json={**identity, "authFactorToken": wrong_code(secret)})
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "InvalidToken"
    ok = client.post(url, json={**identity, "authFactorToken": totp.totp(secret)})
    assert ok.status_code == 200, ok.text
    bearer = {"Authorization": f"Bearer {ok.json()['accessJwt']}"}
    assert client.get("/xrpc/com.atproto.server.getSession", headers=bearer).status_code == 200
    with_recovery = client.post(url, json={**identity, "authFactorToken": codes[0]})
    assert with_recovery.status_code == 200
    assert client.post(url, json={**identity, "authFactorToken": codes[0]}).status_code == 400

    app_password = client.post(
        "/xrpc/com.atproto.server.createAppPassword", json={"name": "player"}, headers=bearer
    ).json()["password"]
    app = client.post(url, json={"identifier": "ada.localhost", "password": app_password})
    assert app.status_code == 200, app.text


def test_turning_it_off_needs_the_password_and_a_code(client: TestClient) -> None:
    make_account(client, "ada")
    sign_in(client, "ada")
    secret, _ = enrol(client)
    csrf = form_csrf(client.get("/account/security").text)
    bad_password = client.post(
        "/account/totp/disable",
        data={"csrf": csrf, "password": "not my password", "code": totp.totp(secret)},
    )
    assert bad_password.status_code == 401
    assert "That is not your current password." in bad_password.text
    bad_code = client.post(
        "/account/totp/disable",
        data={"csrf": csrf, "password": PASSWORD, "code": wrong_code(secret)},
    )
    assert bad_code.status_code == 400
    assert "On since" in bad_code.text
    off = client.post(
        "/account/totp/disable",
        data={"csrf": csrf, "password": PASSWORD, "code": totp.totp(secret)},
        follow_redirects=False,
    )
    assert off.headers["location"] == "/account/security?done=totp-off"
    assert "Two-factor sign-in is off" in client.get(off.headers["location"]).text
    sign_out(client)
    assert password_step(client, "ada").status_code == 303  # the password alone again


def test_admins_must_set_it_up_when_the_node_requires_it(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", security__admin_totp_required=True)
    with TestClient(create_app(settings)) as client:
        make_account(client, "root", role="admin")
        make_account(client, "ada", role="artist")
        sign_in(client, "root")
        for path in ("/", "/portal"):
            sent = client.get(path, follow_redirects=False)
            assert sent.status_code == 303, path
            assert sent.headers["location"] == "/account/totp/setup"
        # The account's own pages, sign-out and static files stay open.
        assert client.get("/account/security").status_code == 200
        assert client.get("/account/sessions").status_code == 200
        assert client.get("/static/css/oms.css").status_code == 200
        assert "requires its admins" in client.get("/account/totp/setup").text
        enrol(client)
        assert client.get("/", follow_redirects=False).status_code == 200
        sign_out(client)
        # Other roles are not asked.
        sign_in(client, "ada")
        assert client.get("/portal", follow_redirects=False).status_code == 200


def test_admins_are_not_sent_to_set_it_up_by_default(client: TestClient) -> None:
    make_account(client, "root", role="admin")
    sign_in(client, "root")
    assert client.get("/", follow_redirects=False).status_code == 200
    assert "requires its admins" not in client.get("/account/security").text
