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
        path = self.account_key_path(did)
        if path.exists():
            raise StartupError(f"a signing key for {did} already exists at {path}")
        return self._key(path, curve)

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
        path = self.folder / f"{name}.secret"
        if not path.exists():
            _write_private(path, secrets.token_bytes(32))
        return path.read_bytes()

    def _key(self, path: Path, curve: Curve) -> PrivateKey:
        if not path.exists():
            _write_private(path, private_key_to_pem(generate_private_key(curve)))
        return private_key_from_pem(path.read_bytes())


def _write_private(path: Path, content: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, path)
