"""Signing keys and node secrets in `<data>/keys`: created once, readable only by the service user,
and sealed (AES-256-GCM) with a key from `OMS_SECRETS_KEY` when the operator sets one.

Files are written whole and atomically with mode 0600 in a 0700 folder; a key is never
rewritten once it exists, since identities and signatures depend on it (sealing rewrites the
same key in another form).
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
import stat
import string
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import quote

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from oms.errors import StartupError
from oms.pds.crypto import (
    Curve,
    PrivateKey,
    generate_private_key,
    private_key_from_pem,
    private_key_to_pem,
)

__all__ = [
    "SEALED_MAGIC",
    "SECRETS_KEY_ENV",
    "KeyStore",
    "Sealer",
    "check_key_folder",
    "is_sealed",
    "parse_secrets_key",
]

log = logging.getLogger(__name__)

SECRETS_KEY_ENV = "OMS_SECRETS_KEY"
# A sealed file: magic, format version (1 byte), 12-byte nonce, then AES-256-GCM ciphertext
# and tag. The magic cannot begin a PEM file, and a plain 32-byte secret starts with it only
# by a 2^-56 chance. The header and the file's path inside keys/ are the associated data, so
# a sealed file moved to another name (one account's key posing as another's) does not open.
SEALED_MAGIC = b"OMSSEAL"
_VERSION = 1
_NONCE_BYTES = 12
_KEY_BYTES = 32
_HOW_TO_MAKE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
# Left behind by a write cut short; never read as a key.
_PARTIAL = ".partial"


def parse_secrets_key(text: str) -> bytes:
    """The 32 bytes `OMS_SECRETS_KEY` holds: 64 hex digits, or base64 (standard or URL-safe,
    padding optional) of exactly 32 bytes. StartupError naming the variable otherwise; the
    message never repeats the value."""
    value = text.strip()
    if len(value) == 2 * _KEY_BYTES:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass  # 64 characters of base64 are 48 bytes: the length check below says so
    elif value and len(value) % 2 == 0 and all(c in string.hexdigits for c in value):
        # Surely meant as hex (base64 of 32 bytes has 43 or 44 characters).
        raise StartupError(
            f"{SECRETS_KEY_ENV} has {len(value)} hex digits ({len(value) // 2} bytes); it must "
            f"be exactly {_KEY_BYTES} random bytes, 64 hex digits, e.g. the output of: "
            f"{_HOW_TO_MAKE}"
        )
    try:
        raw = base64.b64decode(
            value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4), validate=True
        )
    except (binascii.Error, ValueError):
        raise StartupError(
            f"{SECRETS_KEY_ENV} is neither hex nor base64; it must be 32 random bytes as 64 hex "
            f"digits or base64, e.g. the output of: {_HOW_TO_MAKE}"
        ) from None
    if len(raw) != _KEY_BYTES:
        raise StartupError(
            f"{SECRETS_KEY_ENV} decodes to {len(raw)} bytes; it must be exactly {_KEY_BYTES} "
            f"random bytes (64 hex digits or base64), e.g. the output of: {_HOW_TO_MAKE}"
        )
    return raw


def is_sealed(content: bytes) -> bool:
    return content.startswith(SEALED_MAGIC)


class Sealer:
    """AES-256-GCM with the operator's key, for files in keys/ named by their relative path."""

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise StartupError(f"{SECRETS_KEY_ENV} must be {_KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    def seal(self, name: str, plain: bytes) -> bytes:
        header = SEALED_MAGIC + bytes([_VERSION])
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return header + nonce + self._aead.encrypt(nonce, plain, header + name.encode())

    def open(self, name: str, sealed: bytes) -> bytes:
        """The plain content of a sealed file; StartupError naming OMS_SECRETS_KEY when this
        key did not seal it (or the file was changed or renamed)."""
        header = sealed[: len(SEALED_MAGIC) + 1]
        version = header[len(SEALED_MAGIC) :]
        if version != bytes([_VERSION]):
            found = version[0] if version else "none"
            raise StartupError(
                f"keys/{name} is sealed in format version {found}; this OMS reads version "
                f"{_VERSION} (a newer OMS sealed it?)"
            )
        nonce = sealed[len(header) : len(header) + _NONCE_BYTES]
        try:
            return self._aead.decrypt(
                nonce, sealed[len(header) + _NONCE_BYTES :], header + name.encode()
            )
        except (InvalidTag, ValueError):
            raise StartupError(
                f"{SECRETS_KEY_ENV} does not open keys/{name}: it is not the key the node's keys "
                "were sealed with (or the file was damaged or renamed)"
            ) from None


def _sealer_from(environ: Mapping[str, str] | None) -> Sealer | None:
    raw = (os.environ if environ is None else environ).get(SECRETS_KEY_ENV, "")
    return Sealer(parse_secrets_key(raw)) if raw.strip() else None


def _locked(folder: Path) -> StartupError:
    return StartupError(
        f"the keys in {folder} are encrypted; set {SECRETS_KEY_ENV} to the key they were "
        "sealed with"
    )


class KeyStore:
    """The keys folder. `environ` (default: the process environment) may hold
    `OMS_SECRETS_KEY`; with it, everything written is sealed and `prepare` seals what is not."""

    def __init__(self, folder: Path, *, environ: Mapping[str, str] | None = None) -> None:
        self.folder = folder
        self._sealer = _sealer_from(environ)
        # Parsed keys by DID: every repository write signs, and parsing PEM costs more than
        # the signature. Keys never change once written, so the cache cannot go stale.
        self._account_keys: dict[str, PrivateKey] = {}
        # Secrets by name, read once: token checks and signed stream addresses use them on
        # every request, and a secret never changes once written.
        self._secrets: dict[str, bytes] = {}

    def prepare(self) -> None:
        """Create the folder (0700, tightened if others could read it), then with a key seal
        every plain file in place and check the key opens the sealed ones; without one, refuse
        sealed files (StartupError), since nothing in them could be read."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = self.folder.stat().st_mode & 0o777
        if mode & 0o077:
            self.folder.chmod(0o700)
        newly_sealed = 0
        for path in _key_files(self.folder):
            content = path.read_bytes()
            name = self._name(path)
            if is_sealed(content):
                if self._sealer is None:
                    raise _locked(self.folder)
                self._sealer.open(name, content)
            elif self._sealer is not None:
                _write_private(path, self._sealer.seal(name, content))
                newly_sealed += 1
        if newly_sealed:
            log.info(
                "sealed %d plain files in %s with %s", newly_sealed, self.folder, SECRETS_KEY_ENV
            )

    def node_key(self) -> PrivateKey:
        """The node's own signing key (service identity, inter-service auth)."""
        path = self.folder / "node.pem"
        if not path.exists():
            # Only where none is: two processes starting at once read the same key.
            self._write_new(path, private_key_to_pem(generate_private_key(Curve.K256)))
        return private_key_from_pem(self._read(path))

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
        if not _write_new_private(path, self._encode(path, private_key_to_pem(key))):
            raise StartupError(f"a signing key for {did} already exists at {path}")
        self._account_keys[did] = key

    def account_key(self, did: str) -> PrivateKey:
        key = self._account_keys.get(did)
        if key is None:
            path = self.account_key_path(did)
            if not path.exists():
                raise StartupError(f"the signing key of {did} is missing ({path})")
            key = self._account_keys[did] = private_key_from_pem(self._read(path))
        return key

    def secret(self, name: str) -> bytes:
        """A random 32-byte secret (e.g. for signing tokens), created on first use."""
        cached = self._secrets.get(name)
        if cached is not None:
            return cached
        path = self.folder / f"{name}.secret"
        if not path.exists():
            self._write_new(path, secrets.token_bytes(32))
        value = self._secrets[name] = self._read(path)
        return value

    def _name(self, path: Path) -> str:
        return path.relative_to(self.folder).as_posix()

    def _encode(self, path: Path, content: bytes) -> bytes:
        return content if self._sealer is None else self._sealer.seal(self._name(path), content)

    def _write_new(self, path: Path, content: bytes) -> None:
        _write_new_private(path, self._encode(path, content))

    def _read(self, path: Path) -> bytes:
        content = path.read_bytes()
        if not is_sealed(content):
            return content
        if self._sealer is None:
            raise _locked(self.folder)
        return self._sealer.open(self._name(path), content)


def _key_files(folder: Path) -> Iterator[Path]:
    for root, _, names in os.walk(folder):
        for name in sorted(names):
            if not name.endswith(_PARTIAL):
                yield Path(root) / name


def check_key_folder(folder: Path, *, environ: Mapping[str, str] | None = None) -> str:
    """What `oms doctor` says of the keys folder: folders 0700 and files 0600, all owned by
    the user running the check, and whether the files are sealed (with a key that opens them).
    Raises StartupError naming the first problem."""
    if not folder.exists():
        return f"{folder} not created yet ('oms init' or 'oms serve' creates it)"
    sealer = _sealer_from(environ)
    uid = os.geteuid()
    sealed = plain = 0
    for root, dirs, names in os.walk(folder):
        for entry in [Path(root), *(Path(root) / d for d in dirs)]:
            _check_owner_and_mode(entry, uid, 0o700)
        for name in names:
            path = Path(root) / name
            _check_owner_and_mode(path, uid, 0o600)
            if name.endswith(_PARTIAL):
                continue
            content = path.read_bytes()
            if not is_sealed(content):
                plain += 1
                continue
            sealed += 1
            if sealer is None:
                raise _locked(folder)
            sealer.open(path.relative_to(folder).as_posix(), content)
    private = f"{sealed + plain} files private to uid {uid}"
    if sealer is None:
        return f"{private}; not sealed (set {SECRETS_KEY_ENV} to encrypt them at rest)"
    if plain:
        return f"{private}; {sealed} sealed, {plain} still plain (sealed at the next start)"
    return f"{private}; all sealed with {SECRETS_KEY_ENV} (AES-256-GCM)"


def _check_owner_and_mode(path: Path, uid: int, wanted: int) -> None:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        raise StartupError(f"{path} is a symbolic link; keys must be plain files in the folder")
    if info.st_uid != uid:
        raise StartupError(
            f"{path} belongs to uid {info.st_uid}, not to uid {uid} running OMS; chown it"
        )
    mode = info.st_mode & 0o777
    if mode != wanted:
        raise StartupError(f"{path} has mode {mode:04o}; chmod {wanted:o} it")


def _write_partial(partial: Path, content: bytes) -> None:
    partial.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_private(path: Path, content: bytes) -> None:
    # A name of its own: two processes sealing the same file must not share a partial file.
    partial = path.with_name(f"{path.name}.{secrets.token_hex(8)}{_PARTIAL}")
    _write_partial(partial, content)
    os.replace(partial, path)


def _write_new_private(path: Path, content: bytes) -> bool:
    """Like `_write_private`, but only where no file is: False (and nothing written) if one is.
    A hard link appears whole and fails if the name is taken, so two writers cannot both win."""
    partial = path.with_name(f"{path.name}.{secrets.token_hex(8)}{_PARTIAL}")
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
