"""Passwords: changing one ends the account's other sessions, and the policy refuses short,
common and easily guessed passwords with the reason."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from oms.app import create_app
from oms.errors import InvalidRequest
from oms.pds.passwords import MIN_PASSWORD_LENGTH, check_policy
from tests.conftest import make_settings
from tests.web.test_sessions import (
    DOMAIN,
    PASSWORD,
    app_session,
    form_csrf,
    make_account,
    sign_in,
)

NEW_PASSWORD = "lanterns over the quiet harbour"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path / "data"))) as test_client:
        yield test_client


def change(
    client: TestClient, new: str, *, current: str = PASSWORD, confirm: str | None = None
) -> httpx.Response:
    csrf = form_csrf(client.get("/account/security").text)
    return client.post(
        "/account/password",
        data={
            "csrf": csrf,
            "current": current,
            "password": new,
            "confirm": new if confirm is None else confirm,
        },
        follow_redirects=False,
    )


def password_works(client: TestClient, password: str) -> bool:
    answer = client.post(
        "/xrpc/com.atproto.server.createSession",
        json={"identifier": "ada.localhost", "password": password},
    )
    return answer.status_code == 200


def test_changing_the_password_ends_every_other_session(client: TestClient) -> None:
    make_account(client, "ada")
    app = app_session(client, "ada")
    sign_in(client, "ada")
    other_browser = client.cookies["oms_session"]
    client.cookies.clear()
    sign_in(client, "ada")
    this_browser = client.cookies["oms_session"]
    assert len(re.findall(r'name="session" value=', client.get("/account/sessions").text)) == 3

    answer = change(client, NEW_PASSWORD)
    assert answer.status_code == 303
    done = client.get(answer.headers["location"])
    assert "Your password is changed. 2 other sessions (browsers and apps) signed out." in done.text

    # This browser stays signed in, in a new session (a new cookie); the other browser and
    # the app are out.
    renewed = client.cookies["oms_session"]
    assert renewed != this_browser
    assert client.get("/account/sessions", follow_redirects=False).status_code == 200
    assert len(re.findall(r'name="session" value=', client.get("/account/sessions").text)) == 1
    bearer = {"Authorization": f"Bearer {app['accessJwt']}"}
    assert client.get("/xrpc/com.atproto.server.getSession", headers=bearer).status_code == 401
    refreshed = client.post(
        "/xrpc/com.atproto.server.refreshSession",
        headers={"Authorization": f"Bearer {app['refreshJwt']}"},
    )
    assert refreshed.status_code in (400, 401)
    client.cookies.clear()
    client.cookies.set("oms_session", other_browser, domain=DOMAIN)
    assert client.get("/account/sessions", follow_redirects=False).status_code == 303
    client.cookies.set("oms_session", this_browser, domain=DOMAIN)
    assert client.get("/account/sessions", follow_redirects=False).status_code == 303
    client.cookies.set("oms_session", renewed, domain=DOMAIN)
    assert client.get("/account/sessions", follow_redirects=False).status_code == 200

    # The old password no longer signs in; the new one does.
    assert not password_works(client, PASSWORD)
    assert password_works(client, NEW_PASSWORD)
    client.cookies.clear()
    page = client.get("/signin")
    old = client.post(
        "/signin", data={"identifier": "ada", "password": PASSWORD, "csrf": form_csrf(page.text)}
    )
    assert old.status_code == 401
    sign_in(client, "ada", NEW_PASSWORD)


def test_the_current_password_must_be_right(client: TestClient) -> None:
    make_account(client, "ada")
    app = app_session(client, "ada")
    sign_in(client, "ada")
    answer = change(client, NEW_PASSWORD, current="not my password at all")
    assert answer.status_code == 401
    assert "That is not your current password." in answer.text
    assert password_works(client, PASSWORD)
    bearer = {"Authorization": f"Bearer {app['accessJwt']}"}
    assert client.get("/xrpc/com.atproto.server.getSession", headers=bearer).status_code == 200


def test_the_form_needs_the_session_csrf_token(client: TestClient) -> None:
    make_account(client, "ada")
    sign_in(client, "ada")
    forged = client.post(
        "/account/password",
        data={"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert forged.status_code == 403
    assert password_works(client, PASSWORD)


@pytest.mark.parametrize(
    ("new", "confirm", "reason"),
    [
        ("short one", None, "Password must be at least 10 characters long."),
        ("qwertyuiop", None, "Password is one of the most common passwords; choose another."),
        ("Password123", None, "Password is one of the most common passwords; choose another."),
        ("ada.localhost rocks!", None, "Password must not contain your handle."),
        ("P@ssw0rd2024", None, "Password is too easy to guess: this is similar to a commonly"),
        ("aaaaaaaaaaaaaaaa", None, "Password is too easy to guess: repeats like"),
        (NEW_PASSWORD, "lanterns over the quiet harbor", "The two new passwords differ."),
        (PASSWORD, None, "The new password is the same as the current one."),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(
    client: TestClient, new: str, confirm: str | None, reason: str
) -> None:
    make_account(client, "ada")
    sign_in(client, "ada")
    answer = change(client, new, confirm=confirm)
    assert answer.status_code == 400
    assert reason in answer.text.replace("&#34;", '"').replace("&#39;", "'")
    assert password_works(client, PASSWORD)


def test_the_minimum_length_is_a_setting(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", security__min_password_length=16)
    with TestClient(create_app(settings)) as client:
        make_account(client, "ada")
        sign_in(client, "ada")
        assert 'minlength="16"' in client.get("/account/security").text
        too_short = change(client, "lantern harbour")  # 15 characters
        assert too_short.status_code == 400
        assert "Password must be at least 16 characters long." in too_short.text
        assert change(client, "lanterns harbour").status_code == 303  # 16


def test_the_policy_without_settings_keeps_its_floor() -> None:
    with pytest.raises(InvalidRequest, match=f"at least {MIN_PASSWORD_LENGTH} characters"):
        check_policy("x7#kq2!")
    # A lower minimum than the floor is raised to it.
    with pytest.raises(InvalidRequest, match=f"at least {MIN_PASSWORD_LENGTH} characters"):
        check_policy("x7#kq2!", min_length=4)
    check_policy("x7#kq2!v")
    with pytest.raises(InvalidRequest, match="most common"):
        check_policy("iloveyou")
    # A long password is judged by its start; a very long one is refused outright.
    check_policy("lanterns over the quiet harbour " * 10)
    with pytest.raises(InvalidRequest, match="at most 1024"):
        check_policy("x" * 1025)
