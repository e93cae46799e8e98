"""Signing keys and node secrets in `<data>/keys`: created once, readable only by the service user.

Files are written whole and atomically with mode 0600 in a 0700 folder; a key is never
rewritten once it exists, since identities and signatures depend on it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import quote

from oms.errors import StartupError
from oms.pds.crypto import (
    Curve,
    PrivateKey,
    generate_private_key,
    private_key_from_pem,
    private_key_to_pem,
)

__all__ = ["KeyStore"]


class KeyStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        # Parsed keys by DID: every repository write signs, and parsing PEM costs more than
        # the signature. Keys never change once written, so the cache cannot go stale.
        self._account_keys: dict[str, PrivateKey] = {}
        # Secrets by name, read once: token checks and signed stream addresses use them on
        # every request, and a secret never changes once written.
        self._secrets: dict[str, bytes] = {}

    def prepare(self) -> None:
        """Create the folder (0700), or refuse to go on when others can read it."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = self.folder.stat().st_mode & 0o777
        if mode & 0o077:
            self.folder.chmod(0o700)

    def node_key(self) -> PrivateKey:
        """The node's own signing key (service identity, inter-service auth)."""
        return self._key(self.folder / "node.pem", Curve.K256)

    def account_key_path(self, did: str) -> Path:
        return self.folder / "accounts" / (quote(did, safe="") + ".pem")

    def create_account_key(self, did: str, curve: Curve = Curve.K256) -> PrivateKey:
        """A new signing key for `did`, stored (see `store_account_key`)."""
        key = self.generate_account_key(curve)
        self.store_account_key(did, key)
        return key

    @staticmethod
    def generate_account_key(curve: Curve = Curve.K256) -> PrivateKey:
        """A new account key, not stored yet: for an identity whose DID depends on its key
        (did:plc), stored with `store_account_key` once the DID exists."""
        return generate_private_key(curve)

    def store_account_key(self, did: str, key: PrivateKey) -> None:
        """Keep `key` as the signing key of `did`: written whole and atomically (0600), and
        never over an existing key (raises StartupError, and the old key stays)."""
        path = self.account_key_path(did)
        if not _write_new_private(path, private_key_to_pem(key)):
            raise StartupError(f"a signing key for {did} already exists at {path}")
        self._account_keys[did] = key

    def account_key(self, did: str) -> PrivateKey:
        key = self._account_keys.get(did)
        if key is None:
            path = self.account_key_path(did)
            if not path.exists():
                raise StartupError(f"the signing key of {did} is missing ({path})")
            key = self._account_keys[did] = private_key_from_pem(path.read_bytes())
        return key

    def secret(self, name: str) -> bytes:
        """A random 32-byte secret (e.g. for signing tokens), created on first use."""
        cached = self._secrets.get(name)
        if cached is not None:
            return cached
        path = self.folder / f"{name}.secret"
        if not path.exists():
            _write_private(path, secrets.token_bytes(32))
        value = self._secrets[name] = path.read_bytes()
        return value

    def _key(self, path: Path, curve: Curve) -> PrivateKey:
        if not path.exists():
            _write_private(path, private_key_to_pem(generate_private_key(curve)))
        return private_key_from_pem(path.read_bytes())


def _write_partial(partial: Path, content: bytes) -> None:
    partial.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_private(path: Path, content: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    _write_partial(partial, content)
    os.replace(partial, path)


def _write_new_private(path: Path, content: bytes) -> bool:
    """Like `_write_private`, but only where no file is: False (and nothing written) if one is.
    A hard link appears whole and fails if the name is taken, so two writers cannot both win."""
    partial = path.with_name(f"{path.name}.{secrets.token_hex(8)}.partial")
    _write_partial(partial, content)
    try:
        os.link(partial, path)
    except FileExistsError:
        return False
    except OSError:
        # A file system without hard links: still whole, though no longer race-free.
        if path.exists():
            return False
        os.replace(partial, path)
        return True
    finally:
        partial.unlink(missing_ok=True)
    return True
