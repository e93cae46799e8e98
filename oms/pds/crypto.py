"""Signing keys as atproto uses them: secp256k1 (K-256) and P-256 ECDSA over SHA-256, 64-byte
low-S r||s signatures, PKCS#8 PEM storage, and did:key / multibase public key encoding.

Everything here is CPU-bound plain `def`; async callers wrap it in `asyncio.to_thread`.
"""

from __future__ import annotations

import enum

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from oms.errors import InvalidRequest
from oms.pds.dagcbor import encode_varint

__all__ = [
    "Curve",
    "PrivateKey",
    "PublicKey",
    "base58btc_decode",
    "base58btc_encode",
    "curve_of",
    "did_key",
    "generate_private_key",
    "multibase_public_key",
    "private_key_from_bytes",
    "private_key_from_pem",
    "private_key_to_pem",
    "public_key_from_did_key",
    "public_key_from_multibase",
    "sign",
    "verify",
]

PrivateKey = ec.EllipticCurvePrivateKey
PublicKey = ec.EllipticCurvePublicKey


class Curve(enum.Enum):
    """The two curves atproto signs with. The value is the JWT `alg` name."""

    K256 = "ES256K"
    P256 = "ES256"

    @property
    def jwt_alg(self) -> str:
        return self.value

    @property
    def multicodec(self) -> int:
        return _MULTICODEC[self]

    @property
    def order(self) -> int:
        return _ORDER[self]


def _ec_curve(curve: Curve) -> ec.EllipticCurve:
    return ec.SECP256K1() if curve is Curve.K256 else ec.SECP256R1()


# Multicodec codes of compressed public keys (secp256k1-pub, p256-pub).
_MULTICODEC = {Curve.K256: 0xE7, Curve.P256: 0x1200}
# Group orders, for the low-S rule (s <= n/2).
_ORDER = {
    Curve.K256: 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    Curve.P256: 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
}
_CURVE_NAMES = {"secp256k1": Curve.K256, "secp256r1": Curve.P256}
_DID_KEY_PREFIX = "did:key:"


def curve_of(key: PrivateKey | PublicKey) -> Curve:
    curve = _CURVE_NAMES.get(key.curve.name)
    if curve is None:
        raise ValueError(f"unsupported curve {key.curve.name}; atproto uses secp256k1 or P-256")
    return curve


def _public(key: PrivateKey | PublicKey) -> PublicKey:
    return key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key


# --- private keys -----------------------------------------------------------------------------


def generate_private_key(curve: Curve = Curve.K256) -> PrivateKey:
    return ec.generate_private_key(_ec_curve(curve))


def private_key_from_bytes(raw: bytes, curve: Curve) -> PrivateKey:
    """A private key from its 32-byte big-endian scalar (the form key-export tools use)."""
    if len(raw) != 32:
        raise ValueError(f"a {curve.name} private key is 32 bytes, not {len(raw)}")
    return ec.derive_private_key(int.from_bytes(raw, "big"), _ec_curve(curve))


def private_key_to_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM; the key file's permissions are what protect it."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def private_key_from_pem(pem: bytes) -> PrivateKey:
    """Raises ValueError if `pem` is not an unencrypted secp256k1 or P-256 private key."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("not an elliptic-curve private key")
    curve_of(key)
    return key


# --- signatures -------------------------------------------------------------------------------


def sign(key: PrivateKey, data: bytes) -> bytes:
    """ECDSA over SHA-256(data), as 64 bytes r||s with s in the lower half of the group order."""
    order = curve_of(key).order
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    if s > order // 2:
        # (r, n - s) is the same signature; atproto accepts only the low-S form so that a
        # signature cannot be altered into a second valid one.
        s = order - s
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify(key: PublicKey | PrivateKey | str, data: bytes, signature: bytes) -> bool:
    """Whether `signature` is a valid low-S 64-byte r||s signature of `data` by `key`.

    `key` may be a did:key string; one that cannot be parsed raises InvalidRequest. DER-encoded
    and high-S signatures are rejected, as atproto requires.
    """
    public = public_key_from_did_key(key) if isinstance(key, str) else _public(key)
    if len(signature) != 64:
        return False
    order = curve_of(public).order
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if not (0 < r < order and 0 < s <= order // 2):
        return False
    try:
        public.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


# --- did:key and multibase --------------------------------------------------------------------


def _compressed_point(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)


def _public_key_from_point(curve: Curve, point: bytes) -> PublicKey:
    if len(point) != 33 or point[0] not in (2, 3):
        raise InvalidRequest(f"a {curve.name} public key must be a 33-byte compressed point")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_ec_curve(curve), point)
    except ValueError as exc:
        raise InvalidRequest(f"not a point on {curve.name}") from exc


def multibase_public_key(key: PublicKey | PrivateKey) -> str:
    """The `publicKeyMultibase` of a `Multikey` verification method in a DID document:
    base58btc multibase of the multicodec-prefixed compressed point (a did:key without "did:key:").
    """
    public = _public(key)
    prefixed = encode_varint(curve_of(public).multicodec) + _compressed_point(public)
    return "z" + base58btc_encode(prefixed)


def did_key(key: PublicKey | PrivateKey) -> str:
    return _DID_KEY_PREFIX + multibase_public_key(key)


def public_key_from_multibase(value: str, curve: Curve | None = None) -> PublicKey:
    """Parse a `publicKeyMultibase`.

    Without `curve`, the value is a Multikey: the curve comes from its multicodec prefix. With
    `curve`, it is the legacy form of the `EcdsaSecp256k1VerificationKey2019` and
    `EcdsaSecp256r1VerificationKey2019` suites: the bare compressed point.
    """
    if not value.startswith("z"):
        raise InvalidRequest('a public key multibase must be base58btc (start with "z")')
    try:
        raw = base58btc_decode(value[1:])
    except ValueError as exc:
        raise InvalidRequest(f"invalid base58btc public key: {exc}") from exc
    if curve is not None:
        return _public_key_from_point(curve, raw)
    for candidate in Curve:
        prefix = encode_varint(candidate.multicodec)
        if raw.startswith(prefix):
            return _public_key_from_point(candidate, raw[len(prefix) :])
    raise InvalidRequest("public key is neither secp256k1-pub nor p256-pub multicodec")


def public_key_from_did_key(value: str) -> PublicKey:
    if not value.startswith(_DID_KEY_PREFIX):
        raise InvalidRequest(f'a did:key must start with "{_DID_KEY_PREFIX}"')
    return public_key_from_multibase(value[len(_DID_KEY_PREFIX) :])


# --- base58btc (the Bitcoin alphabet), small enough not to need a dependency --------------------

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_VALUE = {c: i for i, c in enumerate(_B58_ALPHABET)}


def base58btc_encode(data: bytes) -> str:
    zeros = len(data) - len(data.lstrip(b"\0"))
    n = int.from_bytes(data, "big")
    digits = []
    while n:
        n, rem = divmod(n, 58)
        digits.append(_B58_ALPHABET[rem])
    return "1" * zeros + "".join(reversed(digits))


def base58btc_decode(text: str) -> bytes:
    """Raises ValueError on a character outside the base58btc alphabet."""
    zeros = len(text) - len(text.lstrip("1"))
    n = 0
    for c in text:
        digit = _B58_VALUE.get(c)
        if digit is None:
            raise ValueError(f"{c!r} is not a base58btc character")
        n = n * 58 + digit
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\0" * zeros + body
