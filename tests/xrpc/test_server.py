"""com.atproto.server over HTTP: the in-process app, and the atproto SDK against `oms serve`."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from oms.app import create_app
from oms.config import Settings
from oms.context import prepare_data_dir
from oms.db.backup import DATABASE_FILE
from oms.db.database import Database
from oms.pds import accounts, sessions, tokens
from oms.pds.keystore import KeyStore
from tests.conftest import free_port, make_settings, oms_env, run_oms, start_oms

PASSWORD = "correct horse"
X = "/xrpc/com.atproto.server."


def _create(settings: Settings, name: str, role: str = "fan") -> accounts.Account:
    async def run() -> accounts.Account:
        prepare_data_dir(settings.data_dir)
        keys = KeyStore(settings.data_dir / "keys")
        keys.prepare()
        db = await Database.open(settings.data_dir / DATABASE_FILE)
        try:
            return await accounts.create_account(
                db, keys, name=name, password=PASSWORD, role=role, hostname=settings.hostname
            )
        finally:
            await db.close()

    return asyncio.run(run())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = make_settings(tmp_path / "data")
    _create(settings, "root", "admin")
    _create(settings, "alice")
    return settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _sign_in(client: TestClient, identifier: str, password: str = PASSWORD) -> dict[str, Any]:
    answer = client.post(X + "createSession", json={"identifier": identifier, "password": password})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value


def _error(answer: Any) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]


def test_describe_server(client: TestClient) -> None:
    answer = client.get(X + "describeServer")
    assert answer.status_code == 200
    assert answer.json() == {
        "did": "did:web:localhost%3A8000",
        "availableUserDomains": [".localhost"],
        "inviteCodeRequired": True,
        "phoneVerificationRequired": False,
    }


def test_sign_up_with_an_invite_then_sessions_app_passwords_and_sign_out(
    client: TestClient,
) -> None:
    admin = _sign_in(client, "root.localhost")
    code = client.post(
        X + "createInviteCode", json={"useCount": 1}, headers=_bearer(admin["accessJwt"])
    ).json()["code"]

    created = client.post(
        X + "createAccount",
        json={"handle": "fan1.localhost", "password": PASSWORD, "inviteCode": code},
    )
    assert created.status_code == 200, created.text
    fan = created.json()
    assert (fan["handle"], fan["did"]) == ("fan1.localhost", "did:web:fan1.localhost%3A8000")
    assert fan["didDoc"]["id"] == fan["did"]
    assert _claims(fan["accessJwt"])["aud"] == "did:web:localhost%3A8000"
    again = client.post(
        X + "createAccount",
        json={"handle": "fan2.localhost", "password": PASSWORD, "inviteCode": code},
    )
    assert _error(again) == (400, "InvalidInviteCode")

    me = client.get(X + "getSession", headers=_bearer(fan["accessJwt"])).json()
    assert (me["did"], me["handle"], me["active"]) == (fan["did"], "fan1.localhost", True)

    # Refresh takes the refresh token as the bearer token and rotates it.
    refreshed = client.post(X + "refreshSession", headers=_bearer(fan["refreshJwt"]))
    assert refreshed.status_code == 200, refreshed.text
    pair = refreshed.json()
    assert pair["refreshJwt"] != fan["refreshJwt"]
    assert client.get(X + "getSession", headers=_bearer(pair["accessJwt"])).status_code == 200

    # An app password: shown once, signs in with a narrower scope.
    made = client.post(
        X + "createAppPassword", json={"name": "my player"}, headers=_bearer(pair["accessJwt"])
    ).json()
    assert made["name"] == "my player"
    assert re.fullmatch(r"(?:[a-z2-7]{4}-){3}[a-z2-7]{4}", made["password"])
    listed = client.get(X + "listAppPasswords", headers=_bearer(pair["accessJwt"])).json()
    assert [p["name"] for p in listed["passwords"]] == ["my player"]
    assert "password" not in listed["passwords"][0]
    app = _sign_in(client, "fan1.localhost", made["password"])
    assert _claims(app["accessJwt"])["scope"] == "com.atproto.appPass"
    assert client.get(X + "getSession", headers=_bearer(app["accessJwt"])).status_code == 200
    # ...which cannot manage the account.
    escalate = client.post(
        X + "createAppPassword", json={"name": "more"}, headers=_bearer(app["accessJwt"])
    )
    assert _error(escalate) == (401, "InvalidToken")
    revoked = client.post(
        X + "revokeAppPassword", json={"name": "my player"}, headers=_bearer(pair["accessJwt"])
    )
    assert revoked.status_code == 200
    gone = client.get(X + "getSession", headers=_bearer(app["accessJwt"]))
    assert _error(gone) == (401, "InvalidToken")

    # Signing out ends both tokens; a stolen copy of the refresh token is worthless after it.
    assert client.post(X + "deleteSession", headers=_bearer(pair["refreshJwt"])).status_code == 200
    stolen = client.post(X + "refreshSession", headers=_bearer(pair["refreshJwt"]))
    assert _error(stolen) == (401, "InvalidToken")
    after = client.get(X + "getSession", headers=_bearer(pair["accessJwt"]))
    assert _error(after) == (401, "InvalidToken")


def test_a_reused_refresh_token_is_refused(client: TestClient) -> None:
    first = _sign_in(client, "alice")
    assert (
        client.post(X + "refreshSession", headers=_bearer(first["refreshJwt"])).status_code == 200
    )
    reused = client.post(X + "refreshSession", headers=_bearer(first["refreshJwt"]))
    assert _error(reused) == (401, "InvalidToken")


def test_invite_codes_are_for_admins(client: TestClient) -> None:
    alice = _sign_in(client, "alice")
    refused = client.post(
        X + "createInviteCode", json={"useCount": 1}, headers=_bearer(alice["accessJwt"])
    )
    assert _error(refused) == (403, "Forbidden")
    admin = _sign_in(client, "root")
    many = client.post(
        X + "createInviteCodes",
        json={"codeCount": 3, "useCount": 2, "forAccounts": [alice["did"]]},
        headers=_bearer(admin["accessJwt"]),
    )
    assert many.status_code == 200, many.text
    [entry] = many.json()["codes"]
    assert entry["account"] == alice["did"]
    assert len(set(entry["codes"])) == 3
    no_invite = client.post(
        X + "createAccount", json={"handle": "x.localhost", "password": PASSWORD}
    )
    assert _error(no_invite) == (400, "InvalidInviteCode")


def test_open_sign_up_needs_no_invite(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", pds__open_signup=True)
    with TestClient(create_app(settings)) as client:
        assert client.get(X + "describeServer").json()["inviteCodeRequired"] is False
        created = client.post(
            X + "createAccount", json={"handle": "bo.localhost", "password": PASSWORD}
        )
        assert created.status_code == 200, created.text
        taken = client.post(
            X + "createAccount", json={"handle": "bo.localhost", "password": PASSWORD}
        )
        assert _error(taken) == (400, "HandleNotAvailable")
        elsewhere = client.post(
            X + "createAccount", json={"handle": "bo.example.org", "password": PASSWORD}
        )
        assert _error(elsewhere) == (400, "UnsupportedDomain")
        weak = client.post(
            X + "createAccount", json={"handle": "cy.localhost", "password": "short"}
        )
        assert _error(weak) == (400, "InvalidPassword")


def test_bad_requests_and_bad_tokens(client: TestClient, settings: Settings) -> None:
    malformed = client.post(
        X + "createSession",
        content=b'{"identifier": ',
        headers={"Content-Type": "application/json"},
    )
    assert _error(malformed) == (400, "InvalidRequest")
    missing = client.post(X + "createSession", json={"identifier": "alice"})
    assert _error(missing) == (400, "InvalidRequest")
    assert _error(client.get(X + "getSession")) == (401, "AuthRequired")
    assert client.get(X + "getSession").headers["www-authenticate"].startswith("Bearer")

    session = _sign_in(client, "alice")
    access, refresh = session["accessJwt"], session["refreshJwt"]
    head, body, signature = access.split(".")
    forged = f"{head}.{body}.{signature[:-4]}{'AAAA' if not signature.endswith('AAAA') else 'BBBB'}"
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"at+jwt"}').rstrip(b"=").decode()
    for token in (forged, f"{none_header}.{body}.", refresh, "nonsense"):
        refused = client.get(X + "getSession", headers=_bearer(token))
        assert _error(refused) == (401, "InvalidToken"), token
    # An access token is not a refresh token either.
    assert _error(client.post(X + "refreshSession", headers=_bearer(access))) == (
        401,
        "InvalidToken",
    )
    assert _error(client.post(X + "deleteSession", headers=_bearer(access))) == (
        401,
        "InvalidToken",
    )

    # A genuine token past its expiry: 400 ExpiredToken, as the reference PDS answers.
    secret = KeyStore(settings.data_dir / "keys").secret("jwt")
    expired = tokens.issue_access_token(
        secret,
        did=session["did"],
        scope=tokens.ACCESS_SCOPE,
        audience="did:web:localhost%3A8000",
        session_id=_claims(access)["sid"],
        now=time.time() - 3 * 60 * 60,
    )
    assert _error(client.get(X + "getSession", headers=_bearer(expired))) == (400, "ExpiredToken")


def test_wrong_passwords_are_throttled(client: TestClient) -> None:
    for _ in range(sessions.ACCOUNT_FAILURE_LIMIT):
        wrong = client.post(
            X + "createSession", json={"identifier": "alice", "password": "nope nope"}
        )
        assert _error(wrong) == (401, "AuthRequired")
    limited = client.post(X + "createSession", json={"identifier": "alice", "password": PASSWORD})
    assert _error(limited) == (429, "RateLimitExceeded")
    assert 0 < int(limited.headers["retry-after"]) <= 15 * 60


def test_deactivate_activate_and_delete(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    session = _sign_in(client, "alice")
    auth = _bearer(session["accessJwt"])
    assert client.post(X + "deactivateAccount", json={}, headers=auth).status_code == 200
    me = client.get(X + "getSession", headers=auth).json()
    assert (me["active"], me["status"]) == (False, "deactivated")
    refused = client.get(X + "listAppPasswords", headers=auth)
    assert _error(refused) == (401, "AccountDeactivated")
    assert client.post(X + "activateAccount", headers=auth).status_code == 200
    assert client.get(X + "listAppPasswords", headers=auth).status_code == 200

    with caplog.at_level(logging.WARNING, logger="oms.pds.sessions"):
        assert client.post(X + "requestAccountDelete", headers=auth).status_code == 200
    match = re.search(r"confirmation token ([a-z2-7]{5}-[a-z2-7]{5})", caplog.text)
    assert match, caplog.text
    delete = {"did": session["did"], "password": PASSWORD, "token": "aaaaa-aaaaa"}
    assert _error(client.post(X + "deleteAccount", json=delete)) == (400, "InvalidToken")
    wrong = {**delete, "token": match[1], "password": "wrong horse"}
    assert _error(client.post(X + "deleteAccount", json=wrong)) == (401, "AuthRequired")
    assert client.post(X + "deleteAccount", json={**delete, "token": match[1]}).status_code == 200
    assert _error(client.get(X + "getSession", headers=auth)) == (401, "InvalidToken")
    gone = client.post(X + "createSession", json={"identifier": "alice", "password": PASSWORD})
    assert _error(gone) == (401, "AuthRequired")


@pytest.mark.slow
def test_the_operator_makes_invite_codes_with_the_cli(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    made = run_oms("account", "invite", "--uses", "2", data_dir=data_dir)
    assert made.returncode == 0, made.stderr
    code = made.stdout.strip()
    assert re.fullmatch(r"localhost-8000-[a-z2-7]{5}-[a-z2-7]{5}", code)
    with TestClient(create_app(make_settings(data_dir))) as client:
        for name in ("one", "two", "three"):
            answer = client.post(
                X + "createAccount",
                json={"handle": f"{name}.localhost", "password": PASSWORD, "inviteCode": code},
            )
            assert answer.status_code == (400 if name == "three" else 200), answer.text


@pytest.mark.slow
def test_the_atproto_sdk_signs_in_and_refreshes(tmp_path: Path) -> None:
    from atproto import Client
    from atproto_client.exceptions import AtProtocolError

    port = free_port()
    data_dir = tmp_path / "data"
    # Handles live under the node's host name; 127.0.0.1 cannot carry handles, localhost can.
    env = oms_env(data_dir, OMS_SERVER_PUBLIC_URL=f"http://localhost:{port}")
    data_dir.mkdir(parents=True)
    made = run_oms(
        "account", "create", "--handle", "sdk", "--password", PASSWORD, data_dir=data_dir, env=env
    )
    assert made.returncode == 0, made.stderr
    server = start_oms(data_dir, "--public-url", f"http://localhost:{port}", port=port, env=env)
    try:
        server.wait_healthy()

        class Later(Client):
            """A client whose clock runs two hours ahead, so it must refresh before each call."""

            def get_current_time(self) -> datetime:
                return super().get_current_time() + timedelta(hours=2)

        client = Client(base_url=server.url)
        later = Later(base_url=server.url)
        stale = Client(base_url=server.url)
        try:
            client.login("sdk.localhost", PASSWORD, fetch_bsky_profile=False)
            me = client.com.atproto.server.get_session()
            assert me.did == f"did:web:sdk.localhost%3A{port}"

            later.login("sdk", PASSWORD, fetch_bsky_profile=False)
            first_refresh = later._session.refresh_jwt  # type: ignore[union-attr]
            assert later.com.atproto.server.get_session().handle == "sdk.localhost"
            assert later._session.refresh_jwt != first_refresh  # type: ignore[union-attr]
            assert later.com.atproto.server.get_session().handle == "sdk.localhost"

            with pytest.raises(AtProtocolError):
                stale.com.atproto.server.refresh_session(headers=_bearer(first_refresh))
        finally:
            for sdk in (client, later, stale):
                sdk.request.close()
    finally:
        server.stop()
