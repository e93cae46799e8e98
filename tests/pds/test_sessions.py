from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import pytest
from atproto_server.auth.jwt import get_jwt_payload

from oms.db.database import Database
from oms.errors import AuthRequired, InvalidRequest, NotFound, OmsError, RateLimitExceeded
from oms.events import EventBus
from oms.pds import accounts, sessions, tokens
from oms.pds.identity import node_did
from oms.pds.keystore import KeyStore

pytestmark = pytest.mark.anyio

HOST = "music.example.org"
AUDIENCE = "did:web:music.example.org"
SECRET = b"k" * 32
PASSWORD = "correct horse"
HERE = "192.0.2.1"
THERE = "198.51.100.7"


async def _account(db: Database, keys: KeyStore, name: str, **extra: str) -> accounts.Account:
    return await accounts.create_account(
        db,
        keys,
        name=name,
        password=PASSWORD,
        role=extra.pop("role", "fan"),
        hostname=HOST,
        **extra,
    )


async def _sign_in(
    db: Database, keys: KeyStore, identifier: str, password: str = PASSWORD, address: str = HERE
) -> sessions.Session:
    return await sessions.create_session(
        db, keys, hostname=HOST, identifier=identifier, password=password, address=address
    )


def _segments(token: str) -> list[dict[str, object]]:
    parts = token.split(".")
    return [json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in parts[:2]]


def _b64(value: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


# --- tokens ----------------------------------------------------------------------------------


def test_the_audience_is_the_nodes_did_web_with_the_port_encoded() -> None:
    assert node_did("music.example.org") == "did:web:music.example.org"
    assert node_did("localhost:8000") == "did:web:localhost%3A8000"


def test_access_and_refresh_tokens_have_the_reference_shape() -> None:
    now = time.time()
    access = tokens.issue_access_token(
        SECRET,
        did="did:web:a.example",
        scope=tokens.ACCESS_SCOPE,
        audience=AUDIENCE,
        session_id="s1",
        now=now,
    )
    header, payload = _segments(access)
    assert header == {"alg": "HS256", "typ": "at+jwt"}
    assert payload["scope"] == "com.atproto.access"
    assert (payload["sub"], payload["aud"]) == ("did:web:a.example", AUDIENCE)
    assert payload["exp"] == payload["iat"] + 2 * 60 * 60  # type: ignore[operator]

    refresh = tokens.issue_refresh_token(
        SECRET, did="did:web:a.example", audience=AUDIENCE, jti="j1", now=now
    )
    header, payload = _segments(refresh)
    assert header == {"alg": "HS256", "typ": "refresh+jwt"}
    assert (payload["scope"], payload["jti"]) == ("com.atproto.refresh", "j1")
    assert payload["exp"] == payload["iat"] + 90 * 24 * 60 * 60  # type: ignore[operator]

    # An independent reader (the atproto SDK's) understands the claims.
    parsed = get_jwt_payload(access)
    assert (parsed.sub, parsed.aud, parsed.scope) == (
        "did:web:a.example",
        AUDIENCE,
        "com.atproto.access",
    )

    claims = tokens.verify_token(SECRET, access, typ=tokens.ACCESS_TYPE, audience=AUDIENCE)
    assert (claims.sub, claims.scope, claims.sid) == (
        "did:web:a.example",
        tokens.ACCESS_SCOPE,
        "s1",
    )


def test_hmac_matches_the_rfc_7515_hs256_example() -> None:
    # RFC 7515, appendix A.1: its signature must check out, so the failure is about the claims.
    key = base64.urlsafe_b64decode(
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow=="
    )
    token = (
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
        ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
        ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    )
    with pytest.raises(AuthRequired, match="lacks required claims"):
        tokens.verify_token(key, token, typ="JWT", audience=AUDIENCE)
    with pytest.raises(AuthRequired, match="signature does not match"):
        tokens.verify_token(key, token[:-2] + "jY", typ="JWT", audience=AUDIENCE)


def _access(now: float | None = None) -> str:
    return tokens.issue_access_token(
        SECRET,
        did="did:web:a.example",
        scope=tokens.ACCESS_SCOPE,
        audience=AUDIENCE,
        session_id="s1",
        now=now,
    )


@pytest.mark.parametrize(
    "alter",
    [
        pytest.param(
            lambda t: t[:-3] + ("AAA" if not t.endswith("AAA") else "BBB"), id="signature"
        ),
        pytest.param(
            lambda t: _b64({"alg": "none", "typ": "at+jwt"}) + "." + t.split(".")[1] + ".",
            id="alg-none",
        ),
        pytest.param(
            lambda t: _b64({"alg": "HS512", "typ": "at+jwt"}) + "." + t.split(".", 1)[1],
            id="alg-hs512",
        ),
        pytest.param(
            lambda t: (
                t.split(".")[0]
                + "."
                + _b64({**_segments(t)[1], "sub": "did:web:b.example"})
                + "."
                + t.split(".")[2]
            ),
            id="payload-changed",
        ),
        pytest.param(lambda t: "not.a.jwt", id="garbage"),
        pytest.param(lambda t: t + ".extra", id="four-parts"),
        pytest.param(lambda t: "x" * 5000, id="huge"),
    ],
)
def test_forged_or_malformed_tokens_are_refused(alter: object) -> None:
    token = alter(_access())  # type: ignore[operator]
    with pytest.raises(AuthRequired) as refused:
        tokens.verify_token(SECRET, token, typ=tokens.ACCESS_TYPE, audience=AUDIENCE)
    assert (refused.value.name, refused.value.status) == ("InvalidToken", 401)


def test_a_token_of_the_wrong_kind_audience_or_key_is_refused() -> None:
    access = _access()
    refresh = tokens.issue_refresh_token(
        SECRET, did="did:web:a.example", audience=AUDIENCE, jti="j"
    )
    cases = [
        (SECRET, access, tokens.REFRESH_TYPE, AUDIENCE),
        (SECRET, refresh, tokens.ACCESS_TYPE, AUDIENCE),
        (SECRET, access, tokens.ACCESS_TYPE, "did:web:other.example"),
        (b"z" * 32, access, tokens.ACCESS_TYPE, AUDIENCE),
    ]
    for secret, token, typ, audience in cases:
        with pytest.raises(AuthRequired) as refused:
            tokens.verify_token(secret, token, typ=typ, audience=audience)
        assert refused.value.name == "InvalidToken"
    # A token whose header claims the right type but whose scope is wrong is refused as well.
    sneaky = tokens.sign_token(
        SECRET,
        {"alg": "HS256", "typ": "at+jwt"},
        {**_segments(refresh)[1]},
    )
    with pytest.raises(AuthRequired):
        tokens.verify_token(SECRET, sneaky, typ=tokens.ACCESS_TYPE, audience=AUDIENCE)


def test_an_expired_token_is_expired_token_400() -> None:
    old = _access(now=time.time() - 3 * 60 * 60)
    with pytest.raises(InvalidRequest) as refused:
        tokens.verify_token(SECRET, old, typ=tokens.ACCESS_TYPE, audience=AUDIENCE)
    assert (refused.value.name, refused.value.status) == ("ExpiredToken", 400)


# --- sessions --------------------------------------------------------------------------------


async def test_sign_in_by_handle_did_email_or_bare_name(parts: tuple[Database, KeyStore]) -> None:
    db, keys = parts
    alice = await _account(db, keys, "alice", email="alice@example.org")
    for identifier in (
        "alice.music.example.org",
        alice.did,
        "Alice@Example.org",
        "alice",
        "@alice",
    ):
        session = await _sign_in(db, keys, identifier)
        assert session.account.did == alice.did
        assert session.scope == tokens.ACCESS_SCOPE
        grant = await sessions.verify_access(db, keys, hostname=HOST, token=session.access_jwt)
        assert (grant.did, grant.scope, grant.status) == (alice.did, tokens.ACCESS_SCOPE, "active")
    with pytest.raises(AuthRequired):
        await _sign_in(db, keys, "alice", "wrong horse")
    with pytest.raises(AuthRequired):
        await _sign_in(db, keys, "nobody", PASSWORD)


async def test_refresh_rotates_and_a_reused_refresh_token_ends_the_session(
    parts: tuple[Database, KeyStore],
) -> None:
    db, keys = parts
    await _account(db, keys, "alice")
    first = await _sign_in(db, keys, "alice")
    second = await sessions.refresh_session(db, keys, hostname=HOST, token=first.refresh_jwt)
    assert second.refresh_jwt != first.refresh_jwt
    assert _segments(second.refresh_jwt)[1]["jti"] != _segments(first.refresh_jwt)[1]["jti"]
    await sessions.verify_access(db, keys, hostname=HOST, token=second.access_jwt)

    # The old refresh token comes back: someone copied it. Both copies stop working.
    with pytest.raises(AuthRequired, match="already used"):
        await sessions.refresh_session(db, keys, hostname=HOST, token=first.refresh_jwt)
    with pytest.raises(AuthRequired, match="ended"):
        await sessions.refresh_session(db, keys, hostname=HOST, token=second.refresh_jwt)
    with pytest.raises(AuthRequired, match="ended"):
        await sessions.verify_access(db, keys, hostname=HOST, token=second.access_jwt)


async def test_sign_out_ends_the_refresh_and_access_tokens(
    parts: tuple[Database, KeyStore],
) -> None:
    db, keys = parts
    await _account(db, keys, "alice")
    kept = await _sign_in(db, keys, "alice")
    ended = await _sign_in(db, keys, "alice")
    await sessions.delete_session(db, keys, hostname=HOST, token=ended.refresh_jwt)
    with pytest.raises(AuthRequired):
        await sessions.refresh_session(db, keys, hostname=HOST, token=ended.refresh_jwt)
    with pytest.raises(AuthRequired):
        await sessions.verify_access(db, keys, hostname=HOST, token=ended.access_jwt)
    # Other sessions of the account go on.
    await sessions.verify_access(db, keys, hostname=HOST, token=kept.access_jwt)
    await sessions.refresh_session(db, keys, hostname=HOST, token=kept.refresh_jwt)


async def test_a_disabled_account_cannot_sign_in_or_refresh(
    parts: tuple[Database, KeyStore],
) -> None:
    db, keys = parts
    alice = await _account(db, keys, "alice")
    session = await _sign_in(db, keys, "alice")
    await accounts.set_status(db, alice.did, "disabled")
    with pytest.raises(AuthRequired) as refused:
        await _sign_in(db, keys, "alice")
    assert refused.value.name == "AccountTakedown"
    with pytest.raises(AuthRequired) as refused:
        await sessions.refresh_session(db, keys, hostname=HOST, token=session.refresh_jwt)
    assert refused.value.name == "AccountTakedown"
    grant = await sessions.verify_access(db, keys, hostname=HOST, token=session.access_jwt)
    assert grant.status == "disabled", "the edge refuses it by status"


# --- app passwords ---------------------------------------------------------------------------


async def test_app_passwords_sign_in_with_their_scope_and_revoking_one_ends_its_sessions(
    parts: tuple[Database, KeyStore],
) -> None:
    db, keys = parts
    alice = await _account(db, keys, "alice")
    plain = await sessions.create_app_password(db, keys, did=alice.did, name="player")
    privileged = await sessions.create_app_password(
        db, keys, did=alice.did, name="admin tool", privileged=True
    )
    assert plain.password != privileged.password
    assert re.fullmatch(r"[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}", plain.password)
    listed = await sessions.list_app_passwords(db, alice.did)
    assert [(p.name, p.privileged) for p in listed] == [("player", False), ("admin tool", True)]
    stored = await db.fetchall("SELECT password_hash FROM app_passwords")
    assert all(row[0].startswith("$argon2id$") for row in stored)
    assert plain.password not in str([tuple(r) for r in stored])

    via_app = await _sign_in(db, keys, "alice", plain.password)
    assert via_app.scope == tokens.APP_PASS_SCOPE
    assert _segments(via_app.access_jwt)[1]["scope"] == "com.atproto.appPass"
    via_privileged = await _sign_in(db, keys, alice.did, privileged.password)
    assert via_privileged.scope == tokens.APP_PASS_PRIVILEGED_SCOPE
    refreshed = await sessions.refresh_session(db, keys, hostname=HOST, token=via_app.refresh_jwt)
    assert refreshed.scope == tokens.APP_PASS_SCOPE, "rotation keeps the scope"
    main = await _sign_in(db, keys, "alice")

    with pytest.raises(InvalidRequest, match="already"):
        await sessions.create_app_password(db, keys, did=alice.did, name="player")

    await sessions.revoke_app_password(db, did=alice.did, name="player")
    with pytest.raises(AuthRequired):
        await sessions.verify_access(db, keys, hostname=HOST, token=refreshed.access_jwt)
    with pytest.raises(AuthRequired):
        await sessions.refresh_session(db, keys, hostname=HOST, token=refreshed.refresh_jwt)
    with pytest.raises(AuthRequired):
        await _sign_in(db, keys, "alice", plain.password)
    # The other app password and the main session are untouched.
    await sessions.verify_access(db, keys, hostname=HOST, token=via_privileged.access_jwt)
    await sessions.verify_access(db, keys, hostname=HOST, token=main.access_jwt)
    with pytest.raises(NotFound):
        await sessions.revoke_app_password(db, did=alice.did, name="player")


async def test_an_app_password_of_one_account_does_not_open_another(
    parts: tuple[Database, KeyStore],
) -> None:
    db, keys = parts
    alice = await _account(db, keys, "alice")
    await _account(db, keys, "bob")
    app = await sessions.create_app_password(db, keys, did=alice.did, name="player")
    with pytest.raises(AuthRequired):
        await _sign_in(db, keys, "bob", app.password)


# --- throttling ------------------------------------------------------------------------------


async def test_wrong_passwords_lock_the_account_even_across_a_restart(
    parts: tuple[Database, KeyStore], tmp_path: Path
) -> None:
    db, keys = parts
    await _account(db, keys, "alice")
    for _ in range(sessions.ACCOUNT_FAILURE_LIMIT):
        with pytest.raises(AuthRequired):
            await _sign_in(db, keys, "alice", "wrong horse", address=THERE)
    with pytest.raises(RateLimitExceeded) as limited:
        await _sign_in(db, keys, "alice", PASSWORD, address=HERE)
    assert 0 < limited.value.retry_after <= sessions.SIGN_IN_WINDOW_MS // 1000
    await db.close()

    reopened = await Database.open(tmp_path / "oms.sqlite3", bus=EventBus())
    try:
        with pytest.raises(RateLimitExceeded):
            await _sign_in(reopened, keys, "alice", PASSWORD, address=HERE)
    finally:
        await reopened.close()


async def test_an_address_is_throttled_across_accounts_and_success_clears_only_its_own(
    parts: tuple[Database, KeyStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, keys = parts
    monkeypatch.setattr(sessions, "ADDRESS_FAILURE_LIMIT", 6)
    monkeypatch.setattr(sessions, "ACCOUNT_FAILURE_LIMIT", 4)
    await _account(db, keys, "alice")
    await _account(db, keys, "bob")
    for _ in range(3):
        with pytest.raises(AuthRequired):
            await _sign_in(db, keys, "bob", "wrong horse")
    # Alice signing in from the same address clears nothing of Bob's.
    await _sign_in(db, keys, "alice")
    with pytest.raises(AuthRequired):
        await _sign_in(db, keys, "bob", "wrong horse")
    with pytest.raises(RateLimitExceeded):
        await _sign_in(db, keys, "bob", PASSWORD, address=THERE)

    # Two guesses at unknown names bring this address to its limit (4 of Bob's + 2).
    for name in ("carol", "dave"):
        with pytest.raises(AuthRequired):
            await _sign_in(db, keys, name, "whatever1")
    with pytest.raises(RateLimitExceeded):
        await _sign_in(db, keys, "alice")
    # The same account from another address is fine.
    await _sign_in(db, keys, "alice", address=THERE)


async def test_a_successful_sign_in_clears_the_accounts_failures(
    parts: tuple[Database, KeyStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, keys = parts
    monkeypatch.setattr(sessions, "ACCOUNT_FAILURE_LIMIT", 3)
    await _account(db, keys, "alice")
    for _ in range(2):
        with pytest.raises(AuthRequired):
            await _sign_in(db, keys, "alice", "wrong horse")
    await _sign_in(db, keys, "alice")
    for _ in range(2):
        with pytest.raises(AuthRequired):
            await _sign_in(db, keys, "alice", "wrong horse")
    await _sign_in(db, keys, "alice")


# --- invite codes and sign-up ----------------------------------------------------------------


async def test_invite_codes_are_used_up(parts: tuple[Database, KeyStore]) -> None:
    db, keys = parts
    [(owner, [code])] = await sessions.create_invite_codes(
        db, hostname=HOST, created_by="admin", use_count=2
    )
    assert owner == "admin"
    assert code.startswith("music-example-org-")

    async def sign_up(name: str, invite: str | None) -> accounts.Account:
        return await sessions.sign_up(
            db,
            keys,
            hostname=HOST,
            open_signup=False,
            handle=name,
            password=PASSWORD,
            invite_code=invite,
        )

    for invite in (None, "music-example-org-nope-nope"):
        with pytest.raises(InvalidRequest) as refused:
            await sign_up("eve", invite)
        assert refused.value.name == "InvalidInviteCode"
    await sign_up("ann", code)
    # A failed sign-up gives its use back.
    with pytest.raises(InvalidRequest) as taken:
        await sign_up("ann", code)
    assert taken.value.name == "HandleNotAvailable"
    await sign_up("ben", code)
    with pytest.raises(InvalidRequest, match="used up"):
        await sign_up("cat", code)
    uses = await db.fetchall(
        "SELECT used_by FROM invite_code_uses WHERE code = ? ORDER BY 1", (code,)
    )
    assert [r[0] for r in uses] == [
        "did:web:ann.music.example.org",
        "did:web:ben.music.example.org",
    ]


async def test_sign_up_names_its_problems(parts: tuple[Database, KeyStore]) -> None:
    db, keys = parts

    async def problem(handle: str, password: str = PASSWORD) -> str:
        with pytest.raises(OmsError) as refused:
            await sessions.sign_up(
                db, keys, hostname=HOST, open_signup=True, handle=handle, password=password
            )
        return refused.value.name

    assert await problem("alice.elsewhere.org") == "UnsupportedDomain"
    assert await problem("-bad-") == "InvalidHandle"
    assert await problem("alice", "short") == "InvalidPassword"
    account = await sessions.sign_up(
        db,
        keys,
        hostname=HOST,
        open_signup=True,
        handle="alice.music.example.org",
        password=PASSWORD,
    )
    assert account.role == "fan"
    assert await problem("alice") == "HandleNotAvailable"


# --- the account's status --------------------------------------------------------------------


async def test_deleting_an_account_needs_the_password_and_a_fresh_token(
    parts: tuple[Database, KeyStore], tmp_path: Path
) -> None:
    db, keys = parts
    alice = await _account(db, keys, "alice")
    session = await _sign_in(db, keys, "alice")
    changes = db.bus.subscribe(accounts.AccountChanged)

    async def delete(password: str, token: str) -> None:
        await sessions.delete_account(
            db, tmp_path / "blobs", did=alice.did, password=password, token=token, address=HERE
        )

    with pytest.raises(InvalidRequest) as refused:
        await delete(PASSWORD, "aaaaa-bbbbb")
    assert refused.value.name == "InvalidToken"
    token = await sessions.request_account_delete(db, alice.did)
    with pytest.raises(AuthRequired):
        await delete("wrong horse", token)
    async with db.transaction() as tx:
        await tx.execute("UPDATE account_deletion_tokens SET expires_at = 0")
    with pytest.raises(InvalidRequest) as refused:
        await delete(PASSWORD, token)
    assert refused.value.name == "ExpiredToken"

    token = await sessions.request_account_delete(db, alice.did)
    await delete(PASSWORD, token)
    assert (await accounts.get_account(db, alice.did)).status == "deleted"
    assert changes.queue.get_nowait() == accounts.AccountChanged(alice.did, "deleted")
    with pytest.raises(AuthRequired):
        await sessions.refresh_session(db, keys, hostname=HOST, token=session.refresh_jwt)
    with pytest.raises(AuthRequired):
        await _sign_in(db, keys, "alice")
    with pytest.raises(NotFound):
        await delete(PASSWORD, token)


async def test_deactivation_keeps_the_session_so_the_owner_can_come_back(
    parts: tuple[Database, KeyStore],
) -> None:
    db, keys = parts
    alice = await _account(db, keys, "alice")
    session = await _sign_in(db, keys, "alice")
    assert (await sessions.deactivate_account(db, alice.did)).status == "deactivated"
    grant = await sessions.verify_access(db, keys, hostname=HOST, token=session.access_jwt)
    assert grant.status == "deactivated"
    again = await _sign_in(db, keys, "alice")
    assert again.account.status == "deactivated"
    assert (await sessions.activate_account(db, alice.did)).status == "active"
    await accounts.set_status(db, alice.did, "disabled")
    with pytest.raises(InvalidRequest):
        await sessions.activate_account(db, alice.did)
