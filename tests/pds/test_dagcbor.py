"""The data model: JSON <-> DAG-CBOR <-> CID byte-exact against the interop fixtures, the invalid
documents refused, and CIDs in atproto's one blessed form."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import cbrrr
import pytest
from atproto_core.cid import CID as SdkCID

from oms.errors import InvalidRequest
from oms.pds import dagcbor
from oms.pds.dagcbor import Codec


def load(conformance_dir: Path, name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(
        (conformance_dir / "data-model" / name).read_text(encoding="utf-8")
    )
    assert cases
    return cases


def b64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


# --- interop vectors --------------------------------------------------------------------------


def test_fixtures_encode_byte_exact_with_the_same_cid(conformance_dir: Path) -> None:
    for case in load(conformance_dir, "data-model-fixtures.json"):
        value = dagcbor.from_json(case["json"])
        block = dagcbor.encode(value)
        assert block == b64(case["cbor_base64"])
        assert dagcbor.cid_to_str(dagcbor.cid_for(block)) == case["cid"]
        assert dagcbor.cid_to_str(dagcbor.cid_for(value)) == case["cid"]


def test_fixtures_decode_back_to_their_json(conformance_dir: Path) -> None:
    for case in load(conformance_dir, "data-model-fixtures.json"):
        value = dagcbor.decode(b64(case["cbor_base64"]))
        dagcbor.ensure_valid_data_model(value)
        assert dagcbor.to_json(value) == case["json"]


def test_invalid_documents_are_refused(conformance_dir: Path) -> None:
    for case in load(conformance_dir, "data-model-invalid.json"):
        with pytest.raises(InvalidRequest):
            dagcbor.from_json(case["json"])


def test_valid_documents_are_accepted_and_round_trip(conformance_dir: Path) -> None:
    for case in load(conformance_dir, "data-model-valid.json"):
        value = dagcbor.from_json(case["json"])
        again = dagcbor.to_json(dagcbor.decode(dagcbor.encode(value)))
        # 123.0 in JSON is the integer 123 in the data model.
        assert json.dumps(again, sort_keys=True) == json.dumps(
            case["json"], sort_keys=True
        ).replace("123.0", "123"), case["note"]


# --- behaviour the vectors do not pin down --------------------------------------------------


def test_cid_codecs_and_string_forms() -> None:
    blob = dagcbor.cid_for(b"\xff\xd8 some audio", Codec.RAW)
    record = dagcbor.cid_for({"$type": "fm.oms.track", "title": "x"})
    assert dagcbor.cid_to_str(blob).startswith("bafkrei")
    assert dagcbor.cid_to_str(record).startswith("bafyrei")
    for cid in (blob, record):
        assert dagcbor.cid_from_str(dagcbor.cid_to_str(cid)) == cid
        assert dagcbor.cid_from_bytes(dagcbor.cid_to_bytes(cid)) == cid
        # An independent parser reads the same CID.
        sdk = SdkCID.decode(dagcbor.cid_to_str(cid))
        assert (sdk.version, sdk.hash.code, sdk.hash.size) == (1, 0x12, 32)
        assert sdk.hash.digest == dagcbor.cid_to_bytes(cid)[-32:]
    assert SdkCID.decode(dagcbor.cid_to_str(blob)).codec == Codec.RAW
    assert SdkCID.decode(dagcbor.cid_to_str(record)).codec == Codec.DAG_CBOR


def test_values_cannot_be_hashed_as_raw_blobs() -> None:
    with pytest.raises(ValueError, match="blob bytes"):
        dagcbor.cid_for({"a": 1}, Codec.RAW)


@pytest.mark.parametrize(
    "text",
    [
        "QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR",  # CIDv0
        "zdj7WWeQ43G6JJvLWQWZpyHuAMq6uYWRjkBXFad11vE2LHhQ7",  # base58 multibase
        "BAFYREIDFAYVFUWQA7QLNOPDJIQRXZS6BLMOEU4RUJCJTNCI5BELUDIRZ2A",  # upper-case base32
        "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",  # dag-pb codec
        "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2",  # truncated digest
        "b!!!!",
        ".",
    ],
)
def test_cids_outside_the_blessed_form_are_refused(text: str) -> None:
    with pytest.raises(InvalidRequest, match="invalid CID"):
        dagcbor.cid_from_str(text)


def test_decode_refuses_malformed_cbor() -> None:
    block = dagcbor.encode({"a": 1})
    with pytest.raises(InvalidRequest, match="DAG-CBOR"):
        dagcbor.decode(block + b"\x00")  # trailing data
    with pytest.raises(InvalidRequest, match="DAG-CBOR"):
        dagcbor.decode(block[:-1])
    with pytest.raises(InvalidRequest, match="DAG-CBOR"):
        dagcbor.decode(bytes.fromhex("a2616101616101"))  # duplicate map key


def test_decoded_floats_fail_validation() -> None:
    # DAG-CBOR can carry floats; the atproto data model cannot.
    value = dagcbor.decode(cbrrr.encode_dag_cbor({"a": 1.5}))
    with pytest.raises(InvalidRequest, match="/a: float"):
        dagcbor.ensure_valid_data_model(value)


LINK = "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"n": 2**63}, "64-bit"),
        ({"n": float("nan")}, "floats"),
        ({"b": {"$bytes": "not base64!"}}, "base64"),
        ({"deep": json.loads("[" * 200 + "]" * 200)}, "nested deeper"),
        ({"blb": {"$type": "blob", "ref": "bafy", "mimeType": "audio/flac", "size": 1}}, "ref"),
        ({"blb": {"$type": "blob", "ref": {"$link": LINK}, "mimeType": "a/b", "size": -1}}, "size"),
        ({"blb": {"$type": "blob", "ref": {"$link": LINK}, "size": 1}}, "mimeType"),
    ],
)
def test_more_invalid_documents(document: Any, reason: str) -> None:
    with pytest.raises(InvalidRequest, match=reason):
        dagcbor.from_json(document)


def test_bytes_and_links_convert_both_ways() -> None:
    cid = dagcbor.cid_for(b"audio", Codec.RAW)
    doc: dict[str, dagcbor.JsonValue] = {
        "$type": "fm.oms.track",
        "audio": {
            "$type": "blob",
            "ref": {"$link": dagcbor.cid_to_str(cid)},
            "size": 5,
            "mimeType": "audio/flac",
        },
        "peaks": {"$bytes": "AAEC"},
    }
    value = dagcbor.from_json(doc)
    assert value["peaks"] == b"\x00\x01\x02"
    assert isinstance(value["audio"], dict)
    assert value["audio"]["ref"] == cid
    assert dagcbor.to_json(value) == doc
    # Padded base64 is tolerated on input; output is always unpadded.
    assert dagcbor.from_json({"b": {"$bytes": "AAE="}})["b"] == b"\x00\x01"
    assert dagcbor.to_json({"b": b"\x00\x01"}) == {"b": {"$bytes": "AAE"}}


def test_map_keys_are_encoded_in_canonical_order() -> None:
    a = dagcbor.encode({"bb": 1, "a": 2, "c": 3})
    b = dagcbor.encode({"c": 3, "a": 2, "bb": 1})
    assert a == b
    decoded = dagcbor.decode(a)
    assert isinstance(decoded, dict)
    assert list(decoded) == ["a", "c", "bb"]  # length first, then bytes
