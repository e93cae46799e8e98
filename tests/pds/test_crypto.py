"""Signing keys: the interop signature and did:key vectors, low-S signing, PEM storage, and an
independent check of what we produce by the atproto SDK."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from atproto_crypto.did import parse_did_key
from atproto_crypto.verify import verify_signature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from oms.errors import InvalidRequest
from oms.pds import crypto
from oms.pds.crypto import Curve

CURVES = [Curve.K256, Curve.P256]


def b64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def load(conformance_dir: Path, name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((conformance_dir / "crypto" / name).read_text())
    assert cases
    return cases


def same_key(a: crypto.PublicKey, b: crypto.PublicKey) -> bool:
    return a.public_numbers() == b.public_numbers()


# --- interop vectors --------------------------------------------------------------------------


def test_signature_fixtures(conformance_dir: Path) -> None:
    cases = load(conformance_dir, "signature-fixtures.json")
    tags = {tag for case in cases for tag in case["tags"]}
    assert {"high-s", "der-encoded"} <= tags
    for case in cases:
        message, signature = b64(case["messageBase64"]), b64(case["signatureBase64"])
        key = crypto.public_key_from_did_key(case["publicKeyDid"])
        assert crypto.curve_of(key).jwt_alg == case["algorithm"], case["comment"]
        assert crypto.verify(key, message, signature) is case["validSignature"], case["comment"]
        assert crypto.verify(case["publicKeyDid"], message, signature) is case["validSignature"]


def test_signature_fixtures_legacy_multibase_keys(conformance_dir: Path) -> None:
    # The fixtures' publicKeyMultibase is the pre-Multikey DID-document form: the bare
    # compressed point, with the curve known from the verification-method suite.
    suites = {
        "EcdsaSecp256k1VerificationKey2019": Curve.K256,
        "EcdsaSecp256r1VerificationKey2019": Curve.P256,
    }
    for case in load(conformance_dir, "signature-fixtures.json"):
        legacy = crypto.public_key_from_multibase(
            case["publicKeyMultibase"], suites[case["didDocSuite"]]
        )
        assert same_key(legacy, crypto.public_key_from_did_key(case["publicKeyDid"]))
        assert crypto.did_key(legacy) == case["publicKeyDid"]


def test_high_s_fixtures_are_the_low_s_signature_mirrored(conformance_dir: Path) -> None:
    # Guards the reason for rejection: the high-S fixtures are valid ECDSA, only non-canonical.
    for case in load(conformance_dir, "signature-fixtures.json"):
        if "high-s" not in case["tags"]:
            continue
        key = crypto.public_key_from_did_key(case["publicKeyDid"])
        sig = b64(case["signatureBase64"])
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        order = crypto.curve_of(key).order
        low = r.to_bytes(32, "big") + (order - s).to_bytes(32, "big")
        assert crypto.verify(key, b64(case["messageBase64"]), low)


@pytest.mark.parametrize(
    ("name", "curve"), [("w3c_didkey_K256.json", Curve.K256), ("w3c_didkey_P256.json", Curve.P256)]
)
def test_w3c_did_key_vectors(conformance_dir: Path, name: str, curve: Curve) -> None:
    for case in load(conformance_dir, name):
        if "privateKeyBytesHex" in case:
            raw = bytes.fromhex(case["privateKeyBytesHex"])
        else:
            raw = crypto.base58btc_decode(case["privateKeyBytesBase58"])
        private = crypto.private_key_from_bytes(raw, curve)
        assert crypto.did_key(private) == case["publicDidKey"]
        parsed = crypto.public_key_from_did_key(case["publicDidKey"])
        assert crypto.curve_of(parsed) is curve
        assert same_key(parsed, private.public_key())
        assert crypto.multibase_public_key(parsed) == case["publicDidKey"].removeprefix("did:key:")


# --- behaviour, cross-checked with the atproto SDK -------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
def test_sign_verify_round_trip(curve: Curve) -> None:
    key = crypto.generate_private_key(curve)
    data = b"a commit to sign"
    sig = crypto.sign(key, data)
    assert len(sig) == 64
    assert crypto.verify(key.public_key(), data, sig)
    assert crypto.verify(crypto.did_key(key), data, sig)
    assert not crypto.verify(key.public_key(), data + b"!", sig)
    assert not crypto.verify(crypto.generate_private_key(curve), data, sig)


@pytest.mark.parametrize("curve", CURVES)
def test_signatures_are_low_s_and_the_sdk_accepts_them(curve: Curve) -> None:
    key = crypto.generate_private_key(curve)
    did = crypto.did_key(key)
    for i in range(64):
        data = f"record {i}".encode()
        sig = crypto.sign(key, data)
        # Random nonces give high S half the time; 64 low ones by chance would be 2**-64.
        assert int.from_bytes(sig[32:], "big") <= curve.order // 2
        assert verify_signature(did, data, sig)


@pytest.mark.parametrize("curve", CURVES)
def test_high_s_and_der_signatures_are_rejected(curve: Curve) -> None:
    key = crypto.generate_private_key(curve)
    data = b"payload"
    sig = crypto.sign(key, data)
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    high = r.to_bytes(32, "big") + (curve.order - s).to_bytes(32, "big")
    assert not crypto.verify(key.public_key(), data, high)
    assert not crypto.verify(key.public_key(), data, encode_dss_signature(r, s))
    assert not crypto.verify(key.public_key(), data, bytes(64))


@pytest.mark.parametrize("curve", CURVES)
def test_did_key_is_what_the_sdk_parses(curve: Curve) -> None:
    key = crypto.generate_private_key(curve)
    parsed = parse_did_key(crypto.did_key(key))
    assert parsed.jwt_alg == curve.jwt_alg
    # The SDK hands back the uncompressed point it decompressed from our compressed one.
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert parsed.key_bytes == point
    prefix = {Curve.K256: "did:key:zQ3s", Curve.P256: "did:key:zDna"}[curve]
    assert crypto.did_key(key).startswith(prefix)


@pytest.mark.parametrize("curve", CURVES)
def test_pem_round_trip(curve: Curve) -> None:
    key = crypto.generate_private_key(curve)
    pem = crypto.private_key_to_pem(key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
    loaded = crypto.private_key_from_pem(pem)
    assert crypto.curve_of(loaded) is curve
    assert loaded.private_numbers() == key.private_numbers()
    assert crypto.verify(key.public_key(), b"x", crypto.sign(loaded, b"x"))


def test_pem_loading_refuses_other_keys() -> None:
    ed = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="elliptic-curve"):
        crypto.private_key_from_pem(ed)
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValueError, match="unsupported curve"):
        crypto.private_key_from_pem(crypto.private_key_to_pem(p384))
    with pytest.raises(ValueError, match="PEM"):
        crypto.private_key_from_pem(b"not a key")


@pytest.mark.parametrize(
    "bad",
    [
        "did:web:example.com",
        "did:key:Q3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",  # not base58btc multibase
        "did:key:z0OIl",  # characters outside base58btc
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",  # ed25519-pub
        "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBm",  # truncated
    ],
)
def test_unusable_did_keys_are_invalid_requests(bad: str) -> None:
    with pytest.raises(InvalidRequest):
        crypto.public_key_from_did_key(bad)


def test_base58btc_keeps_leading_zero_bytes() -> None:
    for data in [b"", b"\0", b"\0\0\x01", b"hello world", bytes(range(256))]:
        assert crypto.base58btc_decode(crypto.base58btc_encode(data)) == data
    assert crypto.base58btc_encode(b"\0\0\x01") == "112"
    assert crypto.base58btc_encode(b"hello world") == "StV1DL6CwTryKyV"
