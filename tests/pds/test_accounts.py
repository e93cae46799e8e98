from __future__ import annotations

import asyncio

import pytest

from oms.db.database import Database
from oms.errors import Conflict, Forbidden, InvalidRequest, NotFound
from oms.pds import accounts
from oms.pds.bootstrap import (
    issue_setup_token,
    needs_first_admin,
    redeem_setup_token,
    setup_token_valid,
)
from oms.pds.crypto import sign, verify
from oms.pds.keystore import KeyStore

pytestmark = pytest.mark.anyio

HOST = "music.example.org"


async def test_a_bare_name_becomes_a_handle_and_did_web_under_the_node(
    parts: tuple[Database, KeyStore],
) -> None:
    db, keys = parts
    seen = db.bus.subscribe(accounts.AccountCreated)
    account = await accounts.create_account(
        db, keys, name="Alice", password="correct horse", role="artist", hostname=HOST
    )
    assert account.handle == "alice.music.example.org"
    assert account.did == "did:web:alice.music.example.org"
    assert (account.role, account.status) == ("artist", "active")
    assert seen.queue.get_nowait() == accounts.AccountCreated(account.did, account.handle, "artist")
    key_file = keys.account_key_path(account.did)
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = keys.account_key(account.did)
    assert verify(key.public_key(), b"hello", sign(key, b"hello"))
    await db.close()


async def test_a_port_is_kept_in_the_did(parts: tuple[Database, KeyStore]) -> None:
    db, keys = parts
    account = await accounts.create_account(
        db, keys, name="bob", password="correct horse", role="fan", hostname="localhost:8000"
    )
    assert (account.handle, account.did) == ("bob.localhost", "did:web:bob.localhost%3A8000")
    await db.close()


@pytest.mark.parametrize(
    ("name", "password", "role", "problem"),
    [
        ("bad handle!", "correct horse", "fan", "not a valid handle"),
        ("carol.elsewhere.org", "correct horse", "fan", "not under this node's hostname"),
        ("carol", "short", "fan", "at least 8 characters"),
        ("carol", "correct horse", "emperor", "role must be one of admin, artist, fan"),
    ],
)
async def test_invalid_accounts_are_refused_with_the_reason(
    parts: tuple[Database, KeyStore], name: str, password: str, role: str, problem: str
) -> None:
    db, keys = parts
    with pytest.raises(InvalidRequest, match=problem):
        await accounts.create_account(
            db, keys, name=name, password=password, role=role, hostname=HOST
        )
    assert await accounts.list_accounts(db) == []
    await db.close()


async def test_a_handle_or_email_is_taken_once(parts: tuple[Database, KeyStore]) -> None:
    db, keys = parts
    await accounts.create_account(
        db,
        keys,
        name="dana",
        password="correct horse",
        role="fan",
        hostname=HOST,
        email="d@example.org",
    )
    with pytest.raises(Conflict, match="already taken"):
        await accounts.create_account(
            db, keys, name="DANA", password="correct horse", role="fan", hostname=HOST
        )
    with pytest.raises(Conflict, match="already in use"):
        await accounts.create_account(
            db,
            keys,
            name="dana2",
            password="correct horse",
            role="fan",
            hostname=HOST,
            email="D@example.org",
        )
    assert len(await accounts.list_accounts(db)) == 1
    await db.close()


async def test_passwords_status_and_reset(parts: tuple[Database, KeyStore]) -> None:
    db, keys = parts
    account = await accounts.create_account(
        db, keys, name="erin", password="correct horse", role="fan", hostname=HOST
    )
    assert await accounts.authenticate(db, "erin.music.example.org", "correct horse") == account
    assert await accounts.authenticate(db, account.did, "wrong horse") is None
    assert await accounts.authenticate(db, "nobody.music.example.org", "x" * 9) is None
    await accounts.set_status(db, account.handle, "disabled")
    assert await accounts.authenticate(db, account.did, "correct horse") is None
    await accounts.set_status(db, account.handle, "active")
    await accounts.reset_password(db, account.did, "battery staple")
    assert await accounts.authenticate(db, account.did, "correct horse") is None
    assert await accounts.authenticate(db, account.did, "battery staple") is not None
    with pytest.raises(NotFound):
        await accounts.get_account(db, "ghost.music.example.org")
    await db.close()


async def test_the_setup_token_makes_exactly_one_first_admin(
    parts: tuple[Database, KeyStore],
) -> None:
    db, keys = parts
    assert await needs_first_admin(db)
    old = await issue_setup_token(db)
    token = await issue_setup_token(db)
    assert old is not None
    assert token is not None
    assert not await setup_token_valid(db, old)
    assert await setup_token_valid(db, token)

    # Bad input does not spend the token.
    with pytest.raises(InvalidRequest):
        await redeem_setup_token(db, keys, token, name="ad min", password="pw", hostname=HOST)
    assert await setup_token_valid(db, token)

    results = await asyncio.gather(
        *(
            redeem_setup_token(
                db, keys, token, name=f"admin{n}", password="correct horse", hostname=HOST
            )
            for n in range(3)
        ),
        return_exceptions=True,
    )
    created = [r for r in results if isinstance(r, accounts.Account)]
    assert len(created) == 1
    assert all(isinstance(r, Forbidden) for r in results if r not in created)
    assert created[0].role == "admin"
    assert not await needs_first_admin(db)
    assert await issue_setup_token(db) is None
    await db.close()
