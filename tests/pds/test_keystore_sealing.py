"""Secrets at rest: everything in keys/ sealed with AES-256-GCM under OMS_SECRETS_KEY, plain
files sealed in place at start, and clear refusals for a missing, malformed or wrong key."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest

from oms.db.backup import create_backup, restore_backup
from oms.db.database import Database
from oms.errors import StartupError
from oms.pds.crypto import did_key
from oms.pds.keystore import (
    SEALED_MAGIC,
    SECRETS_KEY_ENV,
    KeyStore,
    check_key_folder,
    parse_secrets_key,
)
from tests.conftest import oms_env, run_oms

ADA = "did:web:ada.localhost"
BEA = "did:web:bea.localhost"


def _env(key: bytes | None = None) -> dict[str, str]:
    return {} if key is None else {SECRETS_KEY_ENV: key.hex()}


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _populate(keys: KeyStore) -> tuple[str, str, bytes]:
    """An account key, the node key and a secret; their did:keys and the secret."""
    keys.prepare()
    account = did_key(keys.create_account_key(ADA))
    node = did_key(keys.node_key())
    return account, node, keys.secret("jwt")


# --- the key itself ------------------------------------------------------------------------


def test_the_key_is_64_hex_digits_or_base64_of_32_bytes() -> None:
    raw = secrets.token_bytes(32)
    assert parse_secrets_key(raw.hex()) == raw
    assert parse_secrets_key(raw.hex().upper()) == raw
    assert parse_secrets_key(base64.b64encode(raw).decode()) == raw
    unpadded = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert parse_secrets_key(f"  {unpadded}\n") == raw
    # What the README tells operators to run.
    assert len(parse_secrets_key(secrets.token_urlsafe(32))) == 32


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (secrets.token_bytes(16).hex(), "has 32 hex digits (16 bytes)"),
        (base64.b64encode(secrets.token_bytes(31)).decode(), "decodes to 31 bytes"),
        (secrets.token_urlsafe(48), "decodes to 48 bytes"),
        ("not a key at all!", "neither hex nor base64"),
    ],
)
def test_a_malformed_key_is_refused_by_name_without_echoing_it(value: str, says: str) -> None:
    with pytest.raises(StartupError) as refused:
        KeyStore(Path("/nonexistent"), environ={SECRETS_KEY_ENV: value})
    assert SECRETS_KEY_ENV in refused.value.message
    assert says in refused.value.message
    assert "token_urlsafe(32)" in refused.value.message
    assert value not in refused.value.message


# --- sealing -------------------------------------------------------------------------------


def test_with_a_key_every_file_is_sealed_and_reads_back(tmp_path: Path) -> None:
    key = secrets.token_bytes(32)
    folder = tmp_path / "keys"
    account, node, secret = _populate(KeyStore(folder, environ=_env(key)))
    files = _files(folder)
    assert sorted(files) == ["accounts/did%3Aweb%3Aada.localhost.pem", "jwt.secret", "node.pem"]
    for content in files.values():
        assert content.startswith(SEALED_MAGIC + b"\x01")
        assert b"PRIVATE KEY" not in content
    assert secret not in files["jwt.secret"]
    assert folder.stat().st_mode & 0o777 == 0o700
    assert (folder / "accounts").stat().st_mode & 0o777 == 0o700
    assert {(p.stat().st_mode & 0o777) for p in folder.rglob("*.*")} == {0o600}

    again = KeyStore(folder, environ=_env(key))
    again.prepare()
    assert did_key(again.account_key(ADA)) == account
    assert did_key(again.node_key()) == node
    assert again.secret("jwt") == secret
    assert _files(folder) == files  # sealed files are left as they are


def test_plain_keys_are_sealed_in_place_at_start(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    account, node, secret = _populate(KeyStore(folder, environ={}))
    plain = _files(folder)
    assert plain["node.pem"].startswith(b"-----BEGIN")

    key = secrets.token_bytes(32)
    sealing = KeyStore(folder, environ=_env(key))
    sealing.prepare()
    sealed = _files(folder)
    assert sorted(sealed) == sorted(plain)  # nothing left beside them (no .partial files)
    assert all(content.startswith(SEALED_MAGIC) for content in sealed.values())
    assert {(p.stat().st_mode & 0o777) for p in folder.rglob("*.*")} == {0o600}
    assert did_key(sealing.account_key(ADA)) == account
    assert did_key(sealing.node_key()) == node
    assert sealing.secret("jwt") == secret
    # A new account's key is sealed as it is written.
    sealing.create_account_key(BEA)
    assert (
        (folder / "accounts" / "did%3Aweb%3Abea.localhost.pem")
        .read_bytes()
        .startswith(SEALED_MAGIC)
    )


def test_sealed_keys_without_the_key_stop_the_node(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    _populate(KeyStore(folder, environ=_env(secrets.token_bytes(32))))
    locked = KeyStore(folder, environ={})
    with pytest.raises(StartupError, match=f"keys in .* are encrypted; set {SECRETS_KEY_ENV}"):
        locked.prepare()
    with pytest.raises(StartupError, match=f"set {SECRETS_KEY_ENV}"):
        locked.account_key(ADA)  # even where nothing called prepare() first
    with pytest.raises(StartupError, match=f"set {SECRETS_KEY_ENV}"):
        locked.secret("jwt")


def test_a_wrong_key_stops_the_node_by_name(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    _populate(KeyStore(folder, environ=_env(secrets.token_bytes(32))))
    before = _files(folder)
    wrong = KeyStore(folder, environ=_env(secrets.token_bytes(32)))
    with pytest.raises(StartupError, match=f"{SECRETS_KEY_ENV} does not open keys/"):
        wrong.prepare()
    with pytest.raises(StartupError, match=SECRETS_KEY_ENV):
        wrong.account_key(ADA)
    assert _files(folder) == before  # nothing rewritten with the wrong key


def test_a_sealed_key_moved_to_another_name_does_not_open(tmp_path: Path) -> None:
    key = secrets.token_bytes(32)
    folder = tmp_path / "keys"
    keys = KeyStore(folder, environ=_env(key))
    keys.prepare()
    keys.create_account_key(ADA)
    accounts = folder / "accounts"
    (accounts / "did%3Aweb%3Aada.localhost.pem").rename(accounts / "did%3Aweb%3Abea.localhost.pem")
    with pytest.raises(StartupError, match="does not open keys/accounts/did%3Aweb%3Abea"):
        KeyStore(folder, environ=_env(key)).account_key(BEA)


def test_a_newer_sealing_format_is_named(tmp_path: Path) -> None:
    key = secrets.token_bytes(32)
    folder = tmp_path / "keys"
    _populate(KeyStore(folder, environ=_env(key)))
    node = folder / "node.pem"
    node.write_bytes(SEALED_MAGIC + b"\x02" + node.read_bytes()[len(SEALED_MAGIC) + 1 :])
    with pytest.raises(StartupError, match="format version 2; this OMS reads version 1"):
        KeyStore(folder, environ=_env(key)).prepare()


# --- backups and doctor --------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_backup_of_sealed_keys_restores_and_opens_with_the_key(tmp_path: Path) -> None:
    key = secrets.token_bytes(32)
    data = tmp_path / "data"
    account, node, secret = _populate(KeyStore(data / "keys", environ=_env(key)))
    db = await Database.open(data / "oms.sqlite3")
    await db.close()
    create_backup(data, tmp_path / "backup.tar")
    restored = tmp_path / "restored"
    restore_backup(tmp_path / "backup.tar", restored)
    assert _files(restored / "keys") == _files(data / "keys")  # copied as they are
    keys = KeyStore(restored / "keys", environ=_env(key))
    keys.prepare()
    assert did_key(keys.account_key(ADA)) == account
    assert did_key(keys.node_key()) == node
    assert keys.secret("jwt") == secret


def test_doctor_reports_private_and_sealed_keys(tmp_path: Path) -> None:
    key = secrets.token_bytes(32)
    folder = tmp_path / "keys"
    assert "not created yet" in check_key_folder(folder, environ={})
    _populate(KeyStore(folder, environ={}))
    assert "3 files private to uid" in check_key_folder(folder, environ={})
    assert "not sealed (set OMS_SECRETS_KEY" in check_key_folder(folder, environ={})
    assert "3 still plain" in check_key_folder(folder, environ=_env(key))
    KeyStore(folder, environ=_env(key)).prepare()
    assert "all sealed with OMS_SECRETS_KEY" in check_key_folder(folder, environ=_env(key))
    with pytest.raises(StartupError, match="encrypted; set OMS_SECRETS_KEY"):
        check_key_folder(folder, environ={})
    with pytest.raises(StartupError, match="OMS_SECRETS_KEY does not open"):
        check_key_folder(folder, environ=_env(secrets.token_bytes(32)))


@pytest.mark.parametrize(
    ("where", "mode", "says"),
    [("jwt.secret", 0o644, "has mode 0644; chmod 600"), ("accounts", 0o755, "chmod 700")],
)
def test_doctor_fails_on_keys_others_can_read(
    tmp_path: Path, where: str, mode: int, says: str
) -> None:
    folder = tmp_path / "keys"
    _populate(KeyStore(folder, environ={}))
    (folder / where).chmod(mode)
    with pytest.raises(StartupError, match=says):
        check_key_folder(folder, environ={})


@pytest.mark.slow
def test_oms_commands_seal_and_doctor_checks_the_keys(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = secrets.token_urlsafe(32)
    sealed_env = oms_env(data, **{SECRETS_KEY_ENV: key})
    init = run_oms("init", data_dir=data, env=sealed_env)
    assert init.returncode == 0, init.stderr
    assert (data / "keys" / "node.pem").read_bytes().startswith(SEALED_MAGIC)
    doctor = run_oms("doctor", "--only", "data-dir", data_dir=data, env=sealed_env)
    assert doctor.returncode == 0, doctor.stdout
    assert "ok    data-dir:" in doctor.stdout
    assert "all sealed" in doctor.stdout

    locked = run_oms("doctor", "--only", "data-dir", data_dir=data)
    assert locked.returncode == 1
    assert f"FAIL  data-dir: the keys in {data / 'keys'} are encrypted" in locked.stdout
    refused = run_oms("init", data_dir=data)
    assert refused.returncode != 0
    assert f"set {SECRETS_KEY_ENV}" in refused.stderr
    short = run_oms("init", data_dir=data, env=oms_env(data, **{SECRETS_KEY_ENV: "c2hvcnQ"}))
    assert short.returncode != 0
    assert f"{SECRETS_KEY_ENV} decodes to 5 bytes" in short.stderr
