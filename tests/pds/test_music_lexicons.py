"""The fm.* music lexicons: well formed, documented by README examples that validate, and
strict where the catalog index relies on them."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from oms.errors import InvalidRequest
from oms.pds.lexicons import Lexicons

LEXICON_DIR = Path(__file__).resolve().parents[2] / "lexicons"
README = LEXICON_DIR / "README.md"
MUSIC_DIR = LEXICON_DIR / "fm"

RECORDS = {
    "fm.oms.track": "tid",
    "fm.oms.release": "tid",
    "fm.oms.artist.profile": "literal:self",
    "fm.oms.playlist": "tid",
    "fm.oms.like": "tid",
    "fm.oms.graph.follow": "tid",
    "fm.oms.comment": "tid",
    "fm.oms.royalty.statement": "tid",
    "fm.teal.feed.play": "tid",
}
# The XRPC methods of the catalog (oms/xrpc/catalog.py) and the views they answer with.
CATALOG = [
    f"fm.oms.catalog.{name}"
    for name in (
        "defs", "searchTracks", "getTrack", "getTracks", "getRelease", "getArtist", "listGenres",
        "getNewReleases", "getTrending", "searchArtists", "searchReleases", "getSimilarTracks",
        "getRadio",
    )
]  # fmt: skip
ANALYTICS = [
    f"fm.oms.analytics.{name}"
    for name in (
        "defs",
        "reportListening",
        "getTrackStats",
        "getRetention",
        "getArtistOverview",
        "exportListening",
    )
]
MUSIC_NSIDS = sorted(
    [
        *RECORDS,
        "fm.oms.defs",
        *CATALOG,
        *ANALYTICS,
        "fm.oms.media.getStatus",
        "fm.oms.media.describeUpload",
    ]
)

TID = "3lbq2x4ymkc2a"
DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
CID = "bafyreihsn2shv7ocmmxieeklaaabrradfishailqnoitwd5w32juis5y4y"
CID_RAW = "bafkreihwpxnuxn64dsq24ybxxpoxkpejgsa37i6afgxsesbbf7vcw5b3na"


def music_files() -> list[Path]:
    return sorted(MUSIC_DIR.rglob("*.json"))


def load_json(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def fails(call: Callable[..., object], *args: object) -> str:
    with pytest.raises(InvalidRequest) as info:
        call(*args)
    return info.value.message


@pytest.fixture(scope="module")
def ours() -> Lexicons:
    return Lexicons.load(LEXICON_DIR)


# -- the documents -----------------------------------------------------------------------------


def test_every_music_lexicon_is_shipped_and_sits_at_its_nsid_path() -> None:
    nsids = []
    for path in music_files():
        doc = Lexicons.parse(load_json(path), str(path))
        assert doc.nsid == ".".join(path.relative_to(LEXICON_DIR).with_suffix("").parts)
        nsids.append(doc.nsid)
    assert sorted(nsids) == MUSIC_NSIDS


@pytest.mark.parametrize("path", music_files(), ids=lambda p: p.stem)
def test_music_lexicon_files_are_two_space_indented_json(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert "\t" not in text
    depth = 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip(" ")
        if stripped[:1] in ("}", "]"):
            depth -= 1
        assert len(line) - len(stripped) == 2 * depth, f"{path.name}:{number}"
        if stripped.rstrip(",")[-1:] in ("{", "["):
            depth += 1
    assert depth == 0


def test_records_have_their_key_type_and_descriptions_everywhere(ours: Lexicons) -> None:
    for nsid, key in RECORDS.items():
        main = ours.get(nsid).main
        assert main is not None
        assert (main["type"], main["key"]) == ("record", key)
    for nsid in MUSIC_NSIDS:
        document = ours.get(nsid).document
        assert document.get("description"), nsid
        for name, definition in document["defs"].items():
            assert definition.get("description"), f"{nsid}#{name}"
            for path, prop in _properties(definition, f"{nsid}#{name}"):
                assert prop.get("description"), path


def _properties(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property of every object in a definition, with a readable path."""
    if not isinstance(node, dict):
        return
    for name, prop in node.get("properties", {}).items():
        yield f"{path}.{name}", prop
        yield from _properties(prop, f"{path}.{name}")
    for key in ("record", "items"):
        yield from _properties(node.get(key), path)


def test_music_lexicons_resolve_among_themselves(ours: Lexicons) -> None:
    """Our set alone (plus the strongRef it points at) leaves no reference dangling."""
    strong_ref = LEXICON_DIR / "com" / "atproto" / "repo" / "strongRef.json"
    docs = [Lexicons.parse(load_json(p), str(p)) for p in [*music_files(), strong_ref]]
    assert Lexicons(docs).unresolved_refs() == []
    without_defs = [d for d in docs if d.nsid != "fm.oms.defs"]
    dangling = Lexicons(without_defs).unresolved_refs()
    assert any("refers to missing fm.oms.defs#credit" in line for line in dangling)
    assert ours.unresolved_refs() == []


# Keys the Lexicon language defines that the interop catalog happens not to demonstrate.
# The spec gives procedures `errors` as it gives queries; the catalog's procedures name none.
SPEC_ONLY_KEYS = {
    "string": {"const", "default"},
    "boolean": {"const", "default"},
    "procedure": {"errors"},
}


def _typed_nodes(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if isinstance(node.get("type"), str):
            yield path, node
        for key, child in node.items():
            yield from _typed_nodes(child, f"{path}.{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _typed_nodes(child, f"{path}[{i}]")


def test_music_lexicons_use_the_shape_of_the_interop_catalog(conformance_dir: Path) -> None:
    catalog_dir = conformance_dir / "lexicon" / "catalog"
    catalog = [Lexicons.parse(load_json(p), str(p)) for p in sorted(catalog_dir.glob("*.json"))]
    vocabulary: dict[str, set[str]] = {}
    for doc in catalog:
        for _, node in _typed_nodes(doc.document["defs"], doc.nsid):
            vocabulary.setdefault(node["type"], {"description"}).update(node)
    # A main definition (record or query) has the keys of the catalog's of the same type.
    catalog_mains = {d.main["type"]: set(d.main) for d in catalog if d.main}
    ours = [Lexicons.parse(load_json(p), str(p)) for p in music_files()]
    for doc in ours:
        assert set(doc.document) <= {"lexicon", "id", "description", "defs"}
        if doc.main is not None:
            kind = doc.main["type"]
            allowed_main = catalog_mains[kind] | SPEC_ONLY_KEYS.get(kind, set())
            assert set(doc.main) <= allowed_main, doc.nsid
            if doc.main["type"] == "record":
                assert set(doc.main) == catalog_mains["record"], doc.nsid
        for path, node in _typed_nodes(doc.document["defs"], doc.nsid):
            allowed = vocabulary.get(node["type"], set()) | SPEC_ONLY_KEYS.get(node["type"], set())
            assert set(node) <= allowed, f"{path} uses {set(node) - allowed}"
    # Both sets load side by side and validate their own records.
    both = Lexicons([*catalog, *ours])
    both.validate_record(
        "example.lexicon.record", {"$type": "example.lexicon.record", "integer": 1}
    )
    both.validate_record("fm.oms.graph.follow", EXAMPLES["fm.oms.graph.follow"])


# -- the README examples -----------------------------------------------------------------------


def readme_examples() -> list[dict[str, Any]]:
    """Every ```json block of lexicons/README.md, parsed."""
    blocks = re.findall(r"^```json\n(.*?)^```$", README.read_text(encoding="utf-8"), re.S | re.M)
    return [json.loads(block) for block in blocks]


EXAMPLES: dict[str, dict[str, Any]] = {}
for _example in readme_examples():
    EXAMPLES.setdefault(_example["$type"], _example)


def test_every_record_lexicon_has_a_readme_example() -> None:
    assert sorted(EXAMPLES) == sorted(RECORDS)


@pytest.mark.parametrize(
    "example", readme_examples(), ids=lambda e: f"{e['$type']}-{len(json.dumps(e))}"
)
def test_readme_example_validates(ours: Lexicons, example: dict[str, Any]) -> None:
    ours.validate_record(example["$type"], example)


# -- invalid records name the failing path -----------------------------------------------------


def blob(mime: str, size: int = 1000) -> dict[str, Any]:
    return {"$type": "blob", "ref": {"$link": CID_RAW}, "mimeType": mime, "size": size}


def strong_ref(uri: str = f"at://{DID}/fm.oms.track/{TID}") -> dict[str, Any]:
    return {"uri": uri, "cid": CID}


def changed(collection: str, edit: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    record = copy.deepcopy(EXAMPLES[collection])
    edit(record)
    return record


def put(**fields: object) -> Callable[[dict[str, Any]], object]:
    return lambda record: record.update(fields)


def drop(*path: str | int) -> Callable[[dict[str, Any]], object]:
    def edit(record: dict[str, Any]) -> None:
        node: Any = record
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return edit


INVALID: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("fm.oms.track", drop("title"), 'Record must have the property "title"'),
    ("fm.oms.track", put(title=""), "Record/title must not be shorter than 1 bytes"),
    ("fm.oms.track", put(title="x" * 301), "Record/title must not be longer than 300 graphemes"),
    ("fm.oms.track", put(artists=[]), "Record/artists must not have fewer than 1 elements"),
    (
        "fm.oms.track",
        put(artists=[{"name": "A", "role": "primary"}] * 51),
        "Record/artists must not have more than 50 elements",
    ),
    ("fm.oms.track", drop("artists", 0, "role"), 'Record/artists/0 must have the property "role"'),
    (
        "fm.oms.track",
        put(artists=[{"name": "A", "role": "primary", "did": "alice.example"}]),
        "Record/artists/0/did must be a valid did",
    ),
    (
        "fm.oms.track",
        put(artists=[{"name": "x" * 201, "role": "primary"}]),
        "Record/artists/0/name must not be longer than 200 graphemes",
    ),
    ("fm.oms.track", drop("audio"), 'Record must have the property "audio"'),
    (
        "fm.oms.track",
        put(audio=blob("image/png")),
        "Record/audio has mimeType image/png, not one of audio/*",
    ),
    (
        "fm.oms.track",
        put(audio=blob("audio/flac", 2**31 + 1)),
        "Record/audio is larger than 2147483648 bytes",
    ),
    ("fm.oms.track", put(artwork=blob("image/gif")), "Record/artwork has mimeType image/gif"),
    ("fm.oms.track", drop("license"), 'Record must have the property "license"'),
    ("fm.oms.track", put(trackNumber=0), "Record/trackNumber can not be less than 1"),
    ("fm.oms.track", put(durationMs=-1), "Record/durationMs can not be less than 0"),
    ("fm.oms.track", put(genres=["a"] * 9), "Record/genres must not have more than 8 elements"),
    ("fm.oms.track", put(tags=["x" * 65]), "Record/tags/0 must not be longer than 64 graphemes"),
    ("fm.oms.track", put(isrc="PTA0124000"), "Record/isrc must not be shorter than 12 bytes"),
    ("fm.oms.track", put(releaseDate="2024-11-08"), "Record/releaseDate must be a valid datetime"),
    ("fm.oms.track", put(explicit="no"), "Record/explicit must be a boolean"),
    (
        "fm.oms.track",
        put(splits=[{"did": DID, "shareBps": 0}]),
        "Record/splits/0/shareBps can not be less than 1",
    ),
    (
        "fm.oms.track",
        put(splits=[{"did": DID, "shareBps": 10001}]),
        "Record/splits/0/shareBps can not be greater than 10000",
    ),
    (
        "fm.oms.track",
        put(splits=[{"shareBps": 10000}]),
        'Record/splits/0 must have the property "did"',
    ),
    (
        "fm.oms.track",
        put(lyrics={"synced": [{"timeMs": -5, "text": "la"}]}),
        "Record/lyrics/synced/0/timeMs can not be less than 0",
    ),
    ("fm.oms.track", drop("createdAt"), 'Record must have the property "createdAt"'),
    ("fm.oms.release", drop("kind"), 'Record must have the property "kind"'),
    ("fm.oms.release", put(artists=[]), "Record/artists must not have fewer than 1 elements"),
    (
        "fm.oms.release",
        put(tracks=[strong_ref()] * 501),
        "Record/tracks must not have more than 500 elements",
    ),
    (
        "fm.oms.release",
        put(tracks=[{"uri": f"at://{DID}/fm.oms.track/{TID}"}]),
        'Record/tracks/0 must have the property "cid"',
    ),
    ("fm.oms.release", put(upc="12345678901"), "Record/upc must not be shorter than 12 bytes"),
    ("fm.oms.release", put(artwork=blob("audio/mpeg")), "Record/artwork has mimeType audio/mpeg"),
    ("fm.oms.artist.profile", drop("displayName"), 'Record must have the property "displayName"'),
    (
        "fm.oms.artist.profile",
        put(displayName="x" * 101),
        "Record/displayName must not be longer than 100 graphemes",
    ),
    (
        "fm.oms.artist.profile",
        put(links=[{"label": "Site", "uri": "mare-alta.example"}]),
        "Record/links/0/uri must be a valid uri",
    ),
    (
        "fm.oms.artist.profile",
        put(supportLinks=[{"label": "x", "uri": "https://a.example"}] * 21),
        "Record/supportLinks must not have more than 20 elements",
    ),
    ("fm.oms.playlist", put(items=[{}]), 'Record/items/0 must have the property "track"'),
    (
        "fm.oms.playlist",
        put(items=[{"track": strong_ref(), "addedAt": "yesterday"}]),
        "Record/items/0/addedAt must be a valid datetime",
    ),
    (
        "fm.oms.like",
        put(subject={"uri": "https://oms.example/t/1", "cid": CID}),
        "Record/subject/uri must be a valid at-uri",
    ),
    ("fm.oms.like", drop("subject"), 'Record must have the property "subject"'),
    ("fm.oms.graph.follow", put(subject="alice.oms.example"), "Record/subject must be a valid did"),
    ("fm.oms.comment", put(positionMs=-1), "Record/positionMs can not be less than 0"),
    ("fm.oms.comment", put(text=""), "Record/text must not be shorter than 1 bytes"),
    ("fm.oms.comment", put(text="x" * 3001), "Record/text must not be longer than 3000 graphemes"),
    ("fm.oms.comment", drop("reply", "parent"), 'Record/reply must have the property "parent"'),
    (
        "fm.oms.royalty.statement",
        drop("period", "end"),
        'Record/period must have the property "end"',
    ),
    (
        "fm.oms.royalty.statement",
        put(currency="EURO"),
        "Record/currency must not be longer than 3 bytes",
    ),
    (
        "fm.oms.royalty.statement",
        put(totalMinor=12.5),
        "Record/totalMinor must not be a float",
    ),
    (
        "fm.oms.royalty.statement",
        put(payees=[{"did": DID, "amountMinor": -1}]),
        "Record/payees/0/amountMinor can not be less than 0",
    ),
    (
        "fm.oms.royalty.statement",
        put(sources=[{"$type": "com.atproto.repo.strongRef", "uri": f"at://{DID}/x.y.z/{TID}"}]),
        'Record/sources/0 must have the property "cid"',
    ),
    ("fm.teal.feed.play", drop("trackName"), 'Record must have the property "trackName"'),
    ("fm.teal.feed.play", put(trackName=""), "Record/trackName must not be shorter than 1 bytes"),
    (
        "fm.teal.feed.play",
        put(artists=[{"artistMbId": "mbid:1"}]),
        'Record/artists/0 must have the property "artistName"',
    ),
    ("fm.teal.feed.play", put(playedTime="1731182400"), "Record/playedTime must be a valid"),
    ("fm.teal.feed.play", put(duration="241"), "Record/duration must be an integer"),
]


@pytest.mark.parametrize(("collection", "edit", "message"), INVALID, ids=[m for _, _, m in INVALID])
def test_invalid_music_records_name_the_failing_path(
    ours: Lexicons, collection: str, edit: Callable[[dict[str, Any]], object], message: str
) -> None:
    record = changed(collection, edit)
    assert fails(ours.validate_record, collection, record).startswith(message)


def test_what_the_lexicons_leave_to_the_node_or_to_newer_clients(ours: Lexicons) -> None:
    # Split totals other than 10,000 are the node's business, not the lexicon's.
    half = [{"did": DID, "shareBps": 2500}, {"did": DID, "shareBps": 2500}]
    ours.validate_record("fm.oms.track", changed("fm.oms.track", put(splits=half)))
    # knownValues are informational, and unknown fields are kept for forward compatibility.
    newer = put(
        license="cc-by-4.0-int",
        visibility="followers",
        artists=[{"name": "B", "role": "mastering"}],
        mood="calm",
    )
    ours.validate_record("fm.oms.track", changed("fm.oms.track", newer))
    statement = changed(
        "fm.oms.royalty.statement",
        put(
            model="hybrid",
            sources=[
                {
                    "$type": "com.atproto.repo.strongRef",
                    "uri": f"at://{DID}/x.y.z/{TID}",
                    "cid": CID,
                },
                {"$type": "fm.oms.royalty.ledger#entry", "anything": 1},
            ],
        ),
    )
    ours.validate_record("fm.oms.royalty.statement", statement)


def test_record_keys(ours: Lexicons) -> None:
    ours.validate_record_key("fm.oms.artist.profile", "self")
    assert (
        fails(ours.validate_record_key, "fm.oms.artist.profile", TID)
        == "Record key must be self for fm.oms.artist.profile"
    )
    for collection, key in RECORDS.items():
        if key == "tid":
            ours.validate_record_key(collection, TID)
            assert "valid tid" in fails(ours.validate_record_key, collection, "self")


def test_the_catalog_contract_holds(ours: Lexicons) -> None:
    """Names, types and required fields the catalog index is written against."""

    def record_schema(nsid: str) -> Any:
        main = ours.get(nsid).main
        assert main is not None
        return main["record"]

    track = record_schema("fm.oms.track")
    assert track["required"] == ["title", "artists", "audio", "license", "createdAt"]
    props = track["properties"]
    assert props["artists"]["items"]["ref"] == "fm.oms.defs#credit"
    assert props["splits"]["items"]["ref"] == "fm.oms.defs#split"
    assert props["release"]["ref"] == "com.atproto.repo.strongRef"
    assert props["audio"]["accept"] == ["audio/*"]
    assert props["visibility"]["default"] == "public"
    assert props["downloadable"]["default"] is False
    assert props["license"]["knownValues"] == [
        "all-rights-reserved",
        "cc0-1.0",
        "cc-by-4.0",
        "cc-by-sa-4.0",
        "cc-by-nc-4.0",
        "cc-by-nc-sa-4.0",
        "cc-by-nd-4.0",
        "cc-by-nc-nd-4.0",
    ]
    credit = ours.get("fm.oms.defs").document["defs"]["credit"]
    assert credit["required"] == ["name", "role"]
    assert credit["properties"]["role"]["knownValues"] == [
        "primary",
        "featured",
        "composer",
        "lyricist",
        "producer",
        "performer",
        "remixer",
        "engineer",
    ]
    assert set(record_schema("fm.oms.release")["required"]) == {
        "title",
        "kind",
        "artists",
        "tracks",
        "createdAt",
    }
    assert record_schema("fm.oms.artist.profile")["required"] == ["displayName"]
    assert record_schema("fm.teal.feed.play")["required"] == ["trackName"]
