"""The lexicon loader and validator: our own documents, the interop catalog, and each rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from oms.errors import InvalidRequest
from oms.pds.graphemes import count_graphemes
from oms.pds.lexicons import LexiconError, Lexicons

LEXICON_DIR = Path(__file__).resolve().parents[2] / "lexicons"

CID = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
CID_RAW = "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"
DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"


def write(directory: Path, doc: dict[str, Any], name: str | None = None) -> Path:
    path = directory / (name or f"{doc['id']}.json")
    path.write_text(json.dumps(doc))
    return path


def fails(call: Any, *args: Any) -> str:
    with pytest.raises(InvalidRequest) as info:
        call(*args)
    return info.value.message


# -- (a) the node's own lexicons ---------------------------------------------------------------

REQUIRED_NSIDS = [
    "com.atproto.server.describeServer",
    "com.atproto.server.createAccount",
    "com.atproto.server.createSession",
    "com.atproto.server.refreshSession",
    "com.atproto.server.getSession",
    "com.atproto.server.deleteSession",
    "com.atproto.server.createAppPassword",
    "com.atproto.server.listAppPasswords",
    "com.atproto.server.revokeAppPassword",
    "com.atproto.server.createInviteCode",
    "com.atproto.server.createInviteCodes",
    "com.atproto.server.deactivateAccount",
    "com.atproto.server.activateAccount",
    "com.atproto.server.deleteAccount",
    "com.atproto.identity.resolveHandle",
    "com.atproto.identity.updateHandle",
    "com.atproto.repo.createRecord",
    "com.atproto.repo.putRecord",
    "com.atproto.repo.deleteRecord",
    "com.atproto.repo.applyWrites",
    "com.atproto.repo.getRecord",
    "com.atproto.repo.listRecords",
    "com.atproto.repo.describeRepo",
    "com.atproto.repo.uploadBlob",
    "com.atproto.repo.strongRef",
    "com.atproto.repo.defs",
    "com.atproto.sync.getRepo",
    "com.atproto.sync.getLatestCommit",
    "com.atproto.sync.getRecord",
    "com.atproto.sync.getBlocks",
    "com.atproto.sync.listRepos",
    "com.atproto.sync.getRepoStatus",
    "com.atproto.sync.getBlob",
    "com.atproto.sync.listBlobs",
    "com.atproto.sync.subscribeRepos",
    "com.atproto.sync.requestCrawl",
]


@pytest.fixture(scope="module")
def ours() -> Lexicons:
    return Lexicons.load(LEXICON_DIR)


def test_every_file_in_lexicons_loads_and_sits_at_its_nsid_path(ours: Lexicons) -> None:
    files = sorted(LEXICON_DIR.rglob("*.json"))
    assert len(ours) == len(files)
    for path in files:
        nsid = ".".join(path.relative_to(LEXICON_DIR).with_suffix("").parts)
        assert ours.get(nsid).source == str(path)
    assert not (LEXICON_DIR / ".keep").exists()


def test_our_lexicons_cover_the_pds_methods_and_resolve_every_ref(ours: Lexicons) -> None:
    assert set(REQUIRED_NSIDS) <= set(ours.nsids())
    assert ours.unresolved_refs() == []


def test_method_kinds_errors_and_encodings_of_our_lexicons(ours: Lexicons) -> None:
    assert ours.method_kind("com.atproto.repo.createRecord") == "procedure"
    assert ours.method_kind("com.atproto.repo.getRecord") == "query"
    assert ours.method_kind("com.atproto.sync.subscribeRepos") == "subscription"
    assert ours.method_kind("com.atproto.repo.strongRef") is None
    assert ours.method_kind("fm.oms.nothing") is None
    assert "InvalidSwap" in ours.error_names("com.atproto.repo.applyWrites")
    assert "RepoNotFound" in ours.error_names("com.atproto.sync.getRepo")
    assert ours.input_encoding("com.atproto.repo.uploadBlob") == "*/*"
    assert ours.output_encoding("com.atproto.sync.getRepo") == "application/vnd.ipld.car"
    assert ours.input_encoding("com.atproto.server.activateAccount") is None


def test_our_lexicons_validate_pds_traffic(ours: Lexicons) -> None:
    assert ours.validate_params(
        "com.atproto.repo.listRecords", {"repo": DID, "collection": "fm.oms.track"}
    ) == {"repo": DID, "collection": "fm.oms.track", "limit": 50}
    assert (
        fails(ours.validate_params, "com.atproto.repo.listRecords", {"repo": DID, "limit": "5"})
        == 'Params must have the property "collection"'
    )
    body = {"repo": "alice.example.com", "collection": "fm.oms", "record": {"$type": "x"}}
    message = fails(ours.validate_input, "com.atproto.repo.createRecord", body)
    assert message == "Input/collection must be a valid nsid"
    writes = {"repo": DID, "writes": [{"$type": "com.atproto.repo.applyWrites#move"}]}
    message = fails(ours.validate_input, "com.atproto.repo.applyWrites", writes)
    assert message.startswith("Input/writes/0 $type must be one of")
    commit = {"cid": CID, "rev": "3jzfcijpj2z2a"}
    assert ours.validate_output("com.atproto.repo.deleteRecord", {"commit": commit})
    event = {"$type": "com.atproto.sync.subscribeRepos#identity", "seq": 1, "did": DID}
    assert (
        fails(ours.validate_message, "com.atproto.sync.subscribeRepos", event)
        == 'Message must have the property "time"'
    )


# -- (b) the public conformance catalog --------------------------------------------------------


def test_the_interop_catalog_loads_as_valid_lexicons(conformance_dir: Path) -> None:
    catalog = Lexicons.load(conformance_dir / "lexicon" / "catalog")
    assert catalog.nsids() == [
        "example.lexicon.procedure",
        "example.lexicon.query",
        "example.lexicon.record",
        "example.lexicon.subscription",
    ]
    assert catalog.method_kind("example.lexicon.subscription") == "subscription"
    assert catalog.error_names("example.lexicon.query") == ("DemoError", "AnotherDemoError")
    # The catalog refers to app.bsky.actor.defs, which it does not ship: reported, not fatal.
    assert len(catalog.unresolved_refs()) == 1
    catalog.validate_record(
        "example.lexicon.record",
        {"$type": "example.lexicon.record", "integer": 3, "formats": {"did": DID}},
    )
    assert (
        fails(
            catalog.validate_record,
            "example.lexicon.record",
            {"$type": "example.lexicon.record", "integer": 3, "rangeInteger": 30},
        )
        == "Record/rangeInteger can not be greater than 20"
    )


def test_data_model_vectors_inside_records(conformance_dir: Path, tmp_path: Path) -> None:
    lexicons = make_lexicons(tmp_path)
    base = song()
    cases = conformance_dir / "data-model"
    for case in json.loads((cases / "data-model-valid.json").read_text()):
        lexicons.validate_record("com.example.song", {**base, "extra": case["json"]})
    for case in json.loads((cases / "data-model-invalid.json").read_text()):
        value = case["json"]
        record = {**base, "extra": value} if isinstance(value, dict) else value
        with pytest.raises(InvalidRequest):
            lexicons.validate_record("com.example.song", record)


# -- (c) record validation, rule by rule -------------------------------------------------------

SONG: dict[str, Any] = {
    "lexicon": 1,
    "id": "com.example.song",
    "defs": {
        "main": {
            "type": "record",
            "key": "tid",
            "record": {
                "type": "object",
                "required": ["title", "artists"],
                "nullable": ["subtitle"],
                "properties": {
                    "title": {"type": "string", "minLength": 2, "maxLength": 12},
                    "short": {"type": "string", "minGraphemes": 2, "maxGraphemes": 3},
                    "subtitle": {"type": "string"},
                    "genre": {"type": "string", "enum": ["rock", "jazz"]},
                    "kind": {"type": "string", "const": "song"},
                    "mood": {"type": "string", "knownValues": ["happy", "sad"]},
                    "artists": {
                        "type": "array",
                        "minLength": 1,
                        "maxLength": 2,
                        "items": {"type": "ref", "ref": "com.example.defs#artist"},
                    },
                    "rating": {"type": "integer", "minimum": 1, "maximum": 5},
                    "track": {"type": "integer", "enum": [1, 2, 3]},
                    "version": {"type": "integer", "const": 2},
                    "explicit": {"type": "boolean"},
                    "audio": {"type": "blob", "accept": ["audio/*"], "maxSize": 1000},
                    "cover": {"type": "blob", "accept": ["image/png"]},
                    "digest": {"type": "bytes", "minLength": 2, "maxLength": 4},
                    "source": {"type": "cid-link"},
                    "embed": {"type": "union", "refs": ["#link", "com.example.defs#artist"]},
                    "pin": {"type": "union", "refs": ["#link"], "closed": True},
                    "link": {"type": "ref", "ref": "#link"},
                    "badge": {"type": "ref", "ref": "com.example.defs#featured"},
                    "meta": {"type": "unknown"},
                    "formats": {"type": "ref", "ref": "#formats"},
                    "plays": {"type": "integer", "default": 0},
                },
            },
        },
        "link": {
            "type": "object",
            "required": ["url"],
            "properties": {"url": {"type": "string", "format": "uri"}},
        },
        "formats": {
            "type": "object",
            "properties": {
                name: {"type": "string", "format": name}
                for name in (
                    "at-identifier",
                    "at-uri",
                    "cid",
                    "datetime",
                    "did",
                    "handle",
                    "nsid",
                    "tid",
                    "record-key",
                    "uri",
                    "language",
                )
            },
        },
    },
}
DEFS: dict[str, Any] = {
    "lexicon": 1,
    "id": "com.example.defs",
    "defs": {
        "artist": {
            "type": "object",
            "required": ["did"],
            "properties": {"did": {"type": "string", "format": "did"}, "role": {"type": "string"}},
        },
        "featured": {"type": "token", "description": "a featured artist"},
    },
}
SEARCH: dict[str, Any] = {
    "lexicon": 1,
    "id": "com.example.search",
    "defs": {
        "main": {
            "type": "query",
            "parameters": {
                "type": "params",
                "required": ["q"],
                "properties": {
                    "q": {"type": "string", "maxLength": 10},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 25},
                    "reverse": {"type": "boolean", "default": False},
                    "tags": {"type": "array", "maxLength": 3, "items": {"type": "string"}},
                    "years": {"type": "array", "items": {"type": "integer"}},
                    "since": {"type": "string", "format": "datetime"},
                },
            },
            "output": {
                "encoding": "application/json",
                "schema": {
                    "type": "object",
                    "required": ["hits"],
                    "properties": {"hits": {"type": "array", "items": {"type": "integer"}}},
                },
            },
        }
    },
}
SUBMIT: dict[str, Any] = {
    "lexicon": 1,
    "id": "com.example.submit",
    "defs": {
        "main": {
            "type": "procedure",
            "input": {
                "encoding": "application/json",
                "schema": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string"},
                        "count": {"type": "integer", "default": 1},
                    },
                },
            },
        }
    },
}
PING: dict[str, Any] = {
    "lexicon": 1,
    "id": "com.example.ping",
    "defs": {"main": {"type": "procedure"}},
}


def make_lexicons(directory: Path) -> Lexicons:
    for doc in (SONG, DEFS, SEARCH, SUBMIT, PING):
        write(directory, doc)
    return Lexicons.load(directory)


@pytest.fixture
def lexicons(tmp_path: Path) -> Lexicons:
    return make_lexicons(tmp_path)


def song(**fields: Any) -> dict[str, Any]:
    return {"$type": "com.example.song", "title": "Intro", "artists": [{"did": DID}], **fields}


def blob(mime: str = "audio/flac", size: int = 500, link: str = CID_RAW) -> dict[str, Any]:
    return {"$type": "blob", "ref": {"$link": link}, "mimeType": mime, "size": size}


VALID_FIELDS: list[dict[str, Any]] = [
    {"title": "ab"},
    {"title": "ééééé"},  # 10 UTF-8 bytes
    {"short": "ab"},
    {"short": "e\u0301e\u0301e\u0301"},  # three graphemes in six code points
    {"short": "👍🏽🇫🇷"},
    {"subtitle": None},
    {"subtitle": "live"},
    {"genre": "jazz"},
    {"kind": "song"},
    {"mood": "wistful"},  # knownValues is informational
    {"artists": [{"did": DID, "role": "bass", "unknownField": [1, 2]}, {"did": "did:web:a.b"}]},
    {"rating": 1},
    {"rating": 5},
    {"track": 3},
    {"version": 2},
    {"explicit": False},
    {"audio": blob()},
    {"audio": blob(size=1000)},
    {"cover": blob("image/png")},
    {"digest": {"$bytes": "AQID"}},
    {"digest": {"$bytes": "AQIDBA=="}},
    {"source": {"$link": CID}},
    {"embed": {"$type": "com.example.song#link", "url": "https://oms.fm"}},
    {"embed": {"$type": "com.example.defs#artist", "did": DID}},
    {"embed": {"$type": "com.example.unknown#thing", "anything": True}},  # open union
    {"pin": {"$type": "com.example.song#link", "url": "at://did:web:a.b"}},
    {"link": {"url": "https://oms.fm", "extra": "ok"}},
    {"badge": "com.example.defs#featured"},
    {"meta": {"$type": "anything", "x": 1}},
    {"unknown_top_level_field": "allowed"},
    {"rating": 3.0},  # JSON has one number type: 3.0 is the integer 3
    {
        "formats": {
            "at-identifier": "alice.oms.fm",
            "at-uri": f"at://{DID}/fm.oms.track/3jzfcijpj2z2a",
            "cid": CID,
            "datetime": "2024-05-01T12:00:00.000Z",
            "did": DID,
            "handle": "alice.oms.fm",
            "nsid": "fm.oms.track",
            "tid": "3jzfcijpj2z2a",
            "record-key": "self",
            "uri": "https://oms.fm/a?b=c",
            "language": "pt-BR",
        }
    },
    {"formats": {"at-identifier": DID}},
]


@pytest.mark.parametrize("fields", VALID_FIELDS, ids=lambda f: next(iter(f)))
def test_valid_records_pass(lexicons: Lexicons, fields: dict[str, Any]) -> None:
    lexicons.validate_record("com.example.song", song(**fields))


INVALID_FIELDS: list[tuple[dict[str, Any], str]] = [
    ({"title": None}, "Record/title must be a string"),
    ({"title": 7}, "Record/title must be a string"),
    ({"title": "a"}, "Record/title must not be shorter than 2 bytes (UTF-8)"),
    ({"title": "éééééé🎵"}, "Record/title must not be longer than 12 bytes (UTF-8)"),
    ({"short": "a"}, "Record/short must not be shorter than 2 graphemes"),
    ({"short": "abcd"}, "Record/short must not be longer than 3 graphemes"),
    ({"short": "👍🏽🇫🇷🇩🇪e\u0301"}, "Record/short must not be longer than 3 graphemes"),
    ({"genre": None}, "Record/genre must be a string"),
    ({"genre": "pop"}, "Record/genre must be one of (rock|jazz)"),
    ({"kind": "album"}, "Record/kind must be song"),
    ({"artists": []}, "Record/artists must not have fewer than 1 elements"),
    ({"artists": [{"did": DID}] * 3}, "Record/artists must not have more than 2 elements"),
    ({"artists": {"did": DID}}, "Record/artists must be an array"),
    ({"artists": [{"did": DID}, {"did": "alice"}]}, "Record/artists/1/did must be a valid did"),
    ({"artists": [{"role": "bass"}]}, 'Record/artists/0 must have the property "did"'),
    ({"artists": [{"did": DID, "role": 1}]}, "Record/artists/0/role must be a string"),
    ({"rating": 0}, "Record/rating can not be less than 1"),
    ({"rating": 6}, "Record/rating can not be greater than 5"),
    ({"rating": "3"}, "Record/rating must be an integer"),
    ({"rating": True}, "Record/rating must be an integer"),
    ({"rating": 2.5}, "Record/rating must not be a float (the data model has integers only)"),
    ({"track": 4}, "Record/track must be one of (1|2|3)"),
    ({"version": 3}, "Record/version must be 2"),
    ({"explicit": "yes"}, "Record/explicit must be a boolean"),
    ({"audio": blob("image/png")}, "Record/audio has mimeType image/png, not one of audio/*"),
    ({"audio": blob(size=1001)}, "Record/audio is larger than 1000 bytes"),
    ({"audio": {"$type": "blob", "mimeType": "audio/flac", "size": 5}}, "Record/audio must be"),
    ({"audio": {"cid": CID_RAW, "mimeType": "audio/flac"}}, "Record/audio should be a blob ref"),
    ({"cover": blob("image/jpeg")}, "Record/cover has mimeType image/jpeg"),
    ({"digest": {"$bytes": "AQ"}}, "Record/digest must not be smaller than 2 bytes"),
    ({"digest": {"$bytes": "AQIDBAU"}}, "Record/digest must not be larger than 4 bytes"),
    ({"digest": "AQID"}, "Record/digest must be bytes"),
    ({"digest": {"$bytes": "!!"}}, "Record/digest must be bytes"),
    ({"source": CID}, "Record/source must be a CID link"),
    ({"source": {"$link": "nope"}}, "Record/source must be a CID link"),
    (
        {"embed": {"url": "https://oms.fm"}},
        'Record/embed must be an object which includes the "$type"',
    ),
    (
        {"embed": {"$type": "com.example.song#link", "url": 5}},
        "Record/embed/url must be a string",
    ),
    (
        {"embed": {"$type": "com.example.defs#artist", "did": "x"}},
        "Record/embed/did must be a valid did",
    ),
    (
        {"pin": {"$type": "com.example.defs#artist", "did": DID}},
        "Record/pin $type must be one of com.example.song#link",
    ),
    ({"link": {"url": "not a uri"}}, "Record/link/url must be a valid uri"),
    ({"link": {}}, 'Record/link must have the property "url"'),
    ({"badge": "com.example.defs#other"}, "Record/badge must be com.example.defs#featured"),
    ({"meta": "text"}, "Record/meta must be an object"),
    ({"formats": {"at-identifier": "not an id"}}, "Record/formats/at-identifier must be a valid"),
    ({"formats": {"at-uri": "https://a.b"}}, "Record/formats/at-uri must be a valid at-uri"),
    ({"formats": {"cid": "Qm!"}}, "Record/formats/cid must be a valid cid"),
    ({"formats": {"datetime": "2024-05-01"}}, "Record/formats/datetime must be a valid datetime"),
    ({"formats": {"handle": "-bad-.com"}}, "Record/formats/handle must be a valid handle"),
    ({"formats": {"nsid": "fm"}}, "Record/formats/nsid must be a valid nsid"),
    ({"formats": {"tid": "3jzfcijpj2z2"}}, "Record/formats/tid must be a valid tid"),
    ({"formats": {"record-key": ".."}}, "Record/formats/record-key must be a valid record key"),
    ({"formats": {"uri": "no scheme"}}, "Record/formats/uri must be a valid uri"),
    ({"formats": {"language": "123"}}, "Record/formats/language must be a valid language code"),
    ({"$type": "com.example.other"}, "Record/$type must be com.example.song"),
]


@pytest.mark.parametrize(("fields", "message"), INVALID_FIELDS)
def test_invalid_records_name_the_failing_path(
    lexicons: Lexicons, fields: dict[str, Any], message: str
) -> None:
    assert fails(lexicons.validate_record, "com.example.song", song(**fields)).startswith(message)


def test_required_fields_type_and_lexicon_of_records(lexicons: Lexicons) -> None:
    record = song()
    del record["title"]
    assert fails(lexicons.validate_record, "com.example.song", record) == (
        'Record must have the property "title"'
    )
    untyped = song()
    del untyped["$type"]
    assert fails(lexicons.validate_record, "com.example.song", untyped) == (
        'Record must have the property "$type"'
    )
    assert fails(lexicons.validate_record, "com.example.song", ["x"]) == "Record must be an object"
    assert fails(lexicons.validate_record, "com.example.nothing", song()).startswith(
        "Lexicon not found"
    )
    assert "does not describe a record" in fails(
        lexicons.validate_record, "com.example.search", song()
    )


def test_record_validation_does_not_fill_in_defaults(lexicons: Lexicons) -> None:
    record = song()
    lexicons.validate_record("com.example.song", record)
    assert "plays" not in record


def test_record_keys_follow_the_record_key_type(lexicons: Lexicons) -> None:
    lexicons.validate_record_key("com.example.song", "3jzfcijpj2z2a")
    assert "valid tid" in fails(lexicons.validate_record_key, "com.example.song", "self")


@pytest.mark.parametrize(
    ("text", "graphemes"),
    [
        ("", 0),
        ("abc", 3),
        ("e\u0301", 1),  # combining acute accent
        ("👨\u200d👩\u200d👧", 1),  # ZWJ family
        ("❤\ufe0f", 1),  # variation selector
        ("👍🏽", 1),  # skin-tone modifier
        ("🇫🇷🇩🇪", 2),  # two regional-indicator pairs
        ("🇫🇷🇩", 2),  # a lone regional indicator is its own cluster
        ("\r\n", 1),
        ("\u1112\u1161\u11ab", 1),  # Hangul syllable as conjoining jamo
    ],
)
def test_grapheme_approximation(text: str, graphemes: int) -> None:
    assert count_graphemes(text) == graphemes


# -- (d) params coercion, defaults, bodies -----------------------------------------------------


def test_params_are_coerced_and_defaulted(lexicons: Lexicons) -> None:
    assert lexicons.validate_params("com.example.search", {"q": "jazz"}) == {
        "q": "jazz",
        "limit": 25,
        "reverse": False,
    }
    assert lexicons.validate_params(
        "com.example.search",
        {
            "q": ["jazz"],
            "limit": "7",
            "reverse": "true",
            "tags": "one",
            "years": ["1999", "-5"],
            "since": "2024-05-01T12:00:00Z",
            "ignored": "x",
        },
    ) == {
        "q": "jazz",
        "limit": 7,
        "reverse": True,
        "tags": ["one"],
        "years": [1999, -5],
        "since": "2024-05-01T12:00:00Z",
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, 'Params must have the property "q"'),
        ({"q": "x", "limit": "ten"}, "Params/limit must be an integer"),
        ({"q": "x", "limit": "1.5"}, "Params/limit must be an integer"),
        ({"q": "x", "limit": "0"}, "Params/limit can not be less than 1"),
        ({"q": "x", "limit": "101"}, "Params/limit can not be greater than 100"),
        ({"q": "x", "reverse": "yes"}, "Params/reverse must be a boolean (true or false)"),
        ({"q": "x", "tags": ["a", "b", "c", "d"]}, "Params/tags must not have more than 3"),
        ({"q": "x", "years": ["1", "x"]}, "Params/years/1 must be an integer"),
        ({"q": ["a", "b"]}, "Params/q must be a single value"),
        ({"q": "this is too long"}, "Params/q must not be longer than 10 bytes (UTF-8)"),
        ({"q": "x", "since": "yesterday"}, "Params/since must be a valid datetime"),
    ],
)
def test_bad_params_are_rejected(
    lexicons: Lexicons, params: dict[str, str | list[str]], message: str
) -> None:
    assert fails(lexicons.validate_params, "com.example.search", params).startswith(message)


def test_input_and_output_bodies(lexicons: Lexicons) -> None:
    body = {"name": "a"}
    assert lexicons.validate_input("com.example.submit", body) == {"name": "a", "count": 1}
    assert body == {"name": "a"}  # defaults never mutate the caller's body
    assert fails(lexicons.validate_input, "com.example.submit", {"count": 2}) == (
        'Input must have the property "name"'
    )
    assert fails(lexicons.validate_input, "com.example.submit", None).startswith("Input: a body")
    assert lexicons.validate_input("com.example.ping", None) is None
    assert "none was expected" in fails(lexicons.validate_input, "com.example.ping", {"a": 1})
    assert "takes no request body" in fails(lexicons.validate_input, "com.example.search", {})
    assert lexicons.validate_output("com.example.search", {"hits": [1, 2]}) == {"hits": [1, 2]}
    assert fails(lexicons.validate_output, "com.example.search", {"hits": ["a"]}) == (
        "Output/hits/0 must be an integer"
    )
    assert lexicons.method_kind("com.example.submit") == "procedure"
    assert lexicons.method_kind("com.example.song") is None


# -- (e) malformed lexicon documents -----------------------------------------------------------


def song_with(**changes: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(SONG))
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = doc
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return doc


PROPS = "defs__main__record__properties"

MALFORMED: list[tuple[object, str]] = [
    ("[1, 2", "$ is not valid JSON"),
    ([1, 2], "$ must be a JSON object"),
    (song_with(lexicon=2), "$.lexicon must be 1"),
    (song_with(id="song"), "$.id must be a valid NSID"),
    (song_with(defs={}), "$.defs must be a non-empty object"),
    (song_with(extra=1), "$.extra is not a known field here"),
    (song_with(defs__link__type="record"), "$.defs.link.type"),
    (song_with(defs__main__key="serial"), "$.defs.main.key must be"),
    (song_with(defs__main__record__requried=["x"]), "$.defs.main.record.requried is not a known"),
    (
        song_with(defs__main__record__required=["nope"]),
        '$.defs.main.record.required[0] names "nope"',
    ),
    (
        song_with(**{f"{PROPS}__title__format": "email"}),
        '$.defs.main.record.properties.title.format "email" is not a known string format',
    ),
    (
        song_with(**{f"{PROPS}__title__maxLength": "12"}),
        "$.defs.main.record.properties.title.maxLength must be an integer",
    ),
    (
        song_with(**{f"{PROPS}__title__minLength": 50}),
        "$.defs.main.record.properties.title.minLength must not exceed maxLength",
    ),
    (
        song_with(**{f"{PROPS}__genre__enum": [1]}),
        "$.defs.main.record.properties.genre.enum must be an array of strings",
    ),
    (
        song_with(**{f"{PROPS}__link__ref": "#missing"}),
        '$.defs.main.record.properties.link.ref "#missing" refers to a definition missing',
    ),
    (
        song_with(**{f"{PROPS}__embed__refs": "#link"}),
        "$.defs.main.record.properties.embed.refs must be an array",
    ),
    (
        song_with(**{f"{PROPS}__artists__items": None}),
        "$.defs.main.record.properties.artists.items is required",
    ),
    (
        song_with(**{f"{PROPS}__title__type": "text"}),
        '$.defs.main.record.properties.title.type "text" is not allowed here',
    ),
    (
        song_with(**{f"{PROPS}__audio__accept": ["audio"]}),
        "$.defs.main.record.properties.audio.accept[0] must be a MIME type",
    ),
    (
        song_with(**{f"{PROPS}__badge__ref": "com..bad"}),
        '$.defs.main.record.properties.badge.ref "com..bad" is not a valid reference',
    ),
]


@pytest.mark.parametrize(("document", "message"), MALFORMED)
def test_malformed_documents_are_rejected_naming_file_and_path(
    tmp_path: Path, document: object, message: str
) -> None:
    path = tmp_path / "broken.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    with pytest.raises(LexiconError) as info:
        Lexicons.load(tmp_path)
    assert str(info.value).startswith(f"{path}: {message}")


@pytest.mark.parametrize(
    ("main", "message"),
    [
        (
            {
                "type": "query",
                "parameters": {
                    "type": "params",
                    "properties": {"o": {"type": "object", "properties": {}}},
                },
            },
            '$.defs.main.parameters.properties.o.type "object" is not allowed here',
        ),
        (
            {"type": "query", "output": {"schema": {"type": "object", "properties": {}}}},
            "$.defs.main.output.encoding must be a MIME type such as application/json",
        ),
        (
            {"type": "procedure", "errors": [{"name": "Oops"}, {"name": "Oops"}]},
            '$.defs.main.errors[1].name repeats the error "Oops"',
        ),
        (
            {"type": "subscription", "message": {}},
            "$.defs.main.message.schema is required",
        ),
    ],
)
def test_malformed_methods_are_rejected(tmp_path: Path, main: dict[str, Any], message: str) -> None:
    path = write(tmp_path, {"lexicon": 1, "id": "com.example.method", "defs": {"main": main}})
    with pytest.raises(LexiconError) as info:
        Lexicons.load(tmp_path)
    assert str(info.value) == f"{path}: {message}"


def test_a_second_document_with_the_same_nsid_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, DEFS, "a.json")
    second = write(tmp_path, DEFS, "b.json")
    with pytest.raises(LexiconError) as info:
        Lexicons.load(tmp_path)
    assert (
        str(info.value)
        == f"{second}: $.id com.example.defs is also defined by {tmp_path / 'a.json'}"
    )
