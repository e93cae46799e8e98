"""Two-factor sign-in in the PDS: enrolment, the sealed secret, codes used once, the throttle
on wrong codes, the pending browser sign-in, and createSession's AuthFactorTokenRequired."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from oms.db.database import Database
from oms.errors import AuthRequired, Conflict, InvalidRequest, OmsError, RateLimitExceeded
from oms.pds import accounts, second_factor, sessions, totp
from oms.pds.keystore import KeyStore
from oms.pds.tokens import ACCESS_SCOPE, APP_PASS_SCOPE

pytestmark = pytest.mark.anyio

HOST = "music.example.org"
PASSWORD = "correct horse"
HERE = "192.0.2.1"
STEP = totp.STEP_SECONDS


async def _enrolled(db: Database, keys: KeyStore, name: str = "ada") -> tuple[str, str, list[str]]:
    """An account with TOTP on (confirmed with the previous step's code, so that the current
    and the next step's codes are still unused): its DID, secret and recovery codes."""
    account = await accounts.create_account(
        db, keys, name=name, password=PASSWORD, role="artist", hostname=HOST
    )
    secret = await second_factor.begin_enrolment(db, keys, account.did)
    now = time.time()
    codes = await second_factor.confirm_enrolment(
        db, keys, account.did, totp.totp(secret, now - STEP), at=now
    )
    return account.did, secret, codes


def _wrong_code(secret: str) -> str:
    """Six digits that are no code of `secret` for a good while around now."""
    now = time.time()
    near = {totp.totp(secret, now + k * STEP) for k in range(-3, 4)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


async def test_enrolment_needs_a_matching_code_and_gives_ten_single_use_codes(
    parts: tuple[Database, KeyStore],
) -> None:
    db, keys = parts
    account = await accounts.create_account(
        db, keys, name="ada", password=PASSWORD, role="fan", hostname=HOST
    )
    secret = await second_factor.begin_enrolment(db, keys, account.did)
    # Asking again (a reload of the page) keeps the key the app may already have.
    assert await second_factor.begin_enrolment(db, keys, account.did) == secret
    assert await second_factor.state(db, account.did) is None
    with pytest.raises(InvalidRequest, match="does not match"):
        await second_factor.confirm_enrolment(db, keys, account.did, _wrong_code(secret))
    assert not await second_factor.is_enabled(db, account.did)

    codes = await second_factor.confirm_enrolment(db, keys, account.did, totp.totp(secret))
    assert len(set(codes)) == second_factor.RECOVERY_CODE_COUNT == 10
    state = await second_factor.state(db, account.did)
    assert state is not None
    assert state.recovery_codes_left == 10
    with pytest.raises(Conflict):
        await second_factor.begin_enrolment(db, keys, account.did)
    # The code that confirmed the enrolment cannot sign in afterwards.
    assert not await second_factor.use_code(db, keys, account.did, totp.totp(secret))


async def test_the_secret_is_sealed_in_the_database(
    parts: tuple[Database, KeyStore], tmp_path: Path
) -> None:
    db, keys = parts
    did, secret, codes = await _enrolled(db, keys)
    row = await db.fetchone("SELECT sealed_secret FROM totp_secrets WHERE did = ?", (did,))
    assert row is not None
    sealed = bytes(row["sealed_secret"])
    assert secret.encode() not in sealed
    await db.close()
    # A copy of the database file alone: neither the seed nor a recovery code is in it.
    content = (tmp_path / "oms.sqlite3").read_bytes()
    assert secret.encode() not in content
    assert all(code.encode() not in content for code in codes)

    # Without the node's sealing secret (another node's keys), the seed cannot be opened.
    other_keys = KeyStore(tmp_path / "other-keys")
    other_keys.prepare()
    reopened = await Database.open(tmp_path / "oms.sqlite3")
    try:
        with pytest.raises(OmsError, match="cannot be opened"):
            await second_factor.use_code(reopened, other_keys, did, totp.totp(secret))
        # Nor does a sealed secret moved to another account open there (the DID is bound in).
        other = await accounts.create_account(
            reopened, keys, name="bob", password=PASSWORD, role="fan", hostname=HOST
        )
        async with reopened.transaction() as tx:
            await tx.execute(
                "INSERT INTO totp_secrets (did, sealed_secret, created_at, enabled_at)"
                " VALUES (?, ?, 0, 0)",
                (other.did, sealed),
            )
        with pytest.raises(OmsError, match="cannot be opened"):
            await second_factor.use_code(reopened, keys, other.did, totp.totp(secret))
        assert await second_factor.use_code(reopened, keys, did, totp.totp(secret))
    finally:
        await reopened.close()


async def test_a_code_is_accepted_once_within_its_window(
    parts: tuple[Database, KeyStore],
) -> None:
    db, keys = parts
    did, secret, _ = await _enrolled(db, keys)
    now = time.time()
    code = totp.totp(secret, now)
    assert await second_factor.use_code(db, keys, did, code, at=now)
    # The same code, replayed within its 30 s window (or the drift step after it): refused.
    assert not await second_factor.use_code(db, keys, did, code, at=now)
    assert not await second_factor.use_code(db, keys, did, code, at=now + STEP)
    # An older step than the last one used is refused too, even though it is within the drift.
    assert not await second_factor.use_code(db, keys, did, totp.totp(secret, now - STEP), at=now)
    # The next step's code is new, so it works once.
    later = totp.totp(secret, now + STEP)
    assert await second_factor.use_code(db, keys, did, later, at=now + STEP)
    assert not await second_factor.use_code(db, keys, did, later, at=now + STEP)


async def test_recovery_codes_work_once_each_however_they_are_typed(
    parts: tuple[Database, KeyStore],
) -> None:
    db, keys = parts
    did, _, codes = await _enrolled(db, keys)
    assert await second_factor.use_code(db, keys, did, f" {codes[0].upper().replace('-', ' ')} ")
    assert not await second_factor.use_code(db, keys, did, codes[0])
    assert await second_factor.use_code(db, keys, did, codes[1])
    state = await second_factor.state(db, did)
    assert state is not None
    assert state.recovery_codes_left == 8
    assert not await second_factor.use_code(db, keys, did, "aaaaa-bbbbb")
    # Another account's recovery code is no good here.
    other, _, other_codes = await _enrolled(db, keys, "bob")
    assert not await second_factor.use_code(db, keys, did, other_codes[0])
    assert await second_factor.use_code(db, keys, other, other_codes[0])


async def test_turning_it_off_forgets_the_secret_and_the_codes(
    parts: tuple[Database, KeyStore],
) -> None:
    db, keys = parts
    did, secret, codes = await _enrolled(db, keys)
    await second_factor.disable(db, did)
    assert await second_factor.state(db, did) is None
    assert not await second_factor.use_code(db, keys, did, codes[2])
    assert await db.fetchval("SELECT COUNT(*) FROM recovery_codes WHERE did = ?", (did,)) == 0
    # Setting it up again gives a new key.
    assert await second_factor.begin_enrolment(db, keys, did) != secret


async def test_wrong_codes_count_against_the_sign_in_throttle(
    parts: tuple[Database, KeyStore],
) -> None:
    db, keys = parts
    did, secret, _ = await _enrolled(db, keys)
    for _ in range(sessions.ACCOUNT_FAILURE_LIMIT):
        with pytest.raises(InvalidRequest, match="wrong or was already used") as wrong:
            await sessions.check_second_factor(
                db, keys, did=did, code=_wrong_code(secret), address=HERE
            )
        assert wrong.value.name == "InvalidToken"
    # Now even the right code waits, from any address, as a password would.
    with pytest.raises(RateLimitExceeded) as limited:
        await sessions.check_second_factor(
            db, keys, did=did, code=totp.totp(secret), address="198.51.100.7"
        )
    assert limited.value.retry_after > 0
    # And so does the password: a known password does not reset the throttle on codes.
    with pytest.raises(RateLimitExceeded):
        await sessions.check_sign_in(
            db, hostname=HOST, identifier="ada", password=PASSWORD, address=HERE
        )


async def test_a_right_password_does_not_clear_failed_codes(
    parts: tuple[Database, KeyStore],
) -> None:
    db, keys = parts
    did, secret, _ = await _enrolled(db, keys)
    for _ in range(sessions.ACCOUNT_FAILURE_LIMIT - 1):
        with pytest.raises(InvalidRequest):
            await sessions.check_second_factor(
                db, keys, did=did, code=_wrong_code(secret), address=HERE
            )
        await sessions.check_sign_in(
            db, hostname=HOST, identifier="ada", password=PASSWORD, address=HERE
        )
    with pytest.raises(InvalidRequest):
        await sessions.check_second_factor(
            db, keys, did=did, code=_wrong_code(secret), address=HERE
        )
    with pytest.raises(RateLimitExceeded):
        await sessions.check_sign_in(
            db, hostname=HOST, identifier="ada", password=PASSWORD, address=HERE
        )


async def test_a_pending_sign_in_works_once_and_expires(
    parts: tuple[Database, KeyStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, keys = parts
    did, secret, codes = await _enrolled(db, keys)
    token = await second_factor.start_pending_sign_in(db, did, next_path="/portal")
    row = await db.fetchone("SELECT * FROM pending_sign_ins")
    assert row is not None
    assert token not in tuple(row)  # only its digest is stored
    assert row["expires_at"] - row["created_at"] == 5 * 60 * 1000

    with pytest.raises(InvalidRequest):
        await sessions.finish_sign_in(db, keys, token=token, code=_wrong_code(secret), address=HERE)
    account, next_path = await sessions.finish_sign_in(
        db, keys, token=token, code=codes[0], address=HERE
    )
    assert (account.did, next_path) == (did, "/portal")
    with pytest.raises(AuthRequired, match="expired"):
        await sessions.finish_sign_in(db, keys, token=token, code=codes[1], address=HERE)

    stale = await second_factor.start_pending_sign_in(db, did, next_path="/")
    later = time.time() + 5 * 60 + 1
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(AuthRequired, match="expired"):
        await sessions.finish_sign_in(
            db, keys, token=stale, code=totp.totp(secret, later), address=HERE
        )


async def test_create_session_asks_for_the_factor_but_not_of_app_passwords(
    parts: tuple[Database, KeyStore],
) -> None:
    db, keys = parts
    did, secret, codes = await _enrolled(db, keys)
    app_password = await sessions.create_app_password(db, keys, did=did, name="player")

    async def sign_in(password: str, factor: str | None = None) -> sessions.Session:
        return await sessions.create_session(
            db,
            keys,
            hostname=HOST,
            identifier="ada",
            password=password,
            address=HERE,
            auth_factor_token=factor,
        )

    with pytest.raises(AuthRequired) as required:
        await sign_in(PASSWORD)
    assert required.value.name == "AuthFactorTokenRequired"
    # A wrong password is still just that: the factor is not mentioned.
    with pytest.raises(AuthRequired) as wrong:
        await sign_in("not the password", totp.totp(secret))
    assert wrong.value.name == "AuthRequired"
    with pytest.raises(InvalidRequest) as bad_code:
        await sign_in(PASSWORD, _wrong_code(secret))
    assert bad_code.value.name == "InvalidToken"

    session = await sign_in(PASSWORD, totp.totp(secret))
    assert session.scope == ACCESS_SCOPE
    assert (await sign_in(PASSWORD, codes[3])).account.did == did
    with pytest.raises(InvalidRequest):
        await sign_in(PASSWORD, codes[3])
    app = await sign_in(app_password.password)
    assert app.scope == APP_PASS_SCOPE
