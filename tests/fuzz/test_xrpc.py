"""Every XRPC method over HTTP, on one running node: fuzzed JSON bodies (any shape, wrong
types, huge strings, deep nesting, invalid UTF-8), content types, credentials and query
params. The node answers, or refuses with an XRPC error `{"error", "message"}`; never 500."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms.pds.lexicons import Lexicons
from oms.xrpc.routes import METHODS
from tests.fuzz.conftest import Node, assert_xrpc_answer
from tests.fuzz.known import reported_crashes
from tests.fuzz.profile import fuzz_settings
from tests.fuzz.shapes import Shapes
from tests.fuzz.strategies import json_bytes, mostly, nasty_text

_DEACTIVATE = "com.atproto.server.deactivateAccount"
_JSON = "application/json"
_CONTENT_TYPES = (
    "application/json; charset=utf-8", "APPLICATION/JSON", "text/plain",
    "", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "audio/flac",
    "application/json\x00", "image/png; x=\u00e9",
)  # fmt: skip
_AUTH = ("none", "cookie", "junk")


def _kinds(lexicons: Lexicons, kind: str) -> list[str]:
    return sorted(n for n in METHODS if lexicons.method_kind(n) == kind)


@pytest.fixture(scope="module")
def shapes(node: Node) -> Shapes:
    return Shapes(
        node.context.lexicons,
        dids=[node.did],
        handles=[node.handle],
        rkeys=[node.rkey],
        cids=[node.blob_cid, node.track_cid],
    )


def _raw(text: str) -> bytes:
    """A header value as a client may send it: any bytes (lone surrogates as UTF-8 would)."""
    return text.encode("utf-8", "surrogatepass")


def _url_text(text: str) -> str:
    """Text a URL can carry (percent-encoded UTF-8): lone surrogates become U+FFFD."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _headers(node: Node, auth: str, csrf: str | None) -> dict[str, str | bytes]:
    if auth == "bearer":
        return dict(node.bearer)
    if auth == "cookie":
        return {**node.cookie, "X-CSRF-Token": node.csrf if csrf is None else _raw(csrf)}
    if auth == "junk":
        return {"Authorization": _raw(csrf) if csrf else "Bearer x.y.z"}
    return {}


def _encode(value: Any) -> bytes:
    return json.dumps(value).encode()


def _post(
    node: Node, nsid: str, body: bytes, content_type: str, headers: dict[str, str | bytes]
) -> None:
    headers = {**headers, "Content-Type": _raw(content_type)} if content_type else headers
    with reported_crashes():
        answer = node.client.post(f"/xrpc/{nsid}", content=body, headers=headers)
        assert_xrpc_answer(answer)
    if nsid == _DEACTIVATE and answer.status_code == 200:
        # Keep the account usable for the examples that follow.
        again = node.client.post("/xrpc/com.atproto.server.activateAccount", headers=headers)
        assert again.status_code == 200, again.text


_CSRF = st.one_of(st.none(), nasty_text(), st.text(alphabet="\u00e9\u00ff", min_size=1))


@pytest.mark.parametrize("depth", [200, 400])
def test_deeply_nested_bodies(node: Node, depth: int) -> None:
    """Nesting past MAX_DEPTH, within what Python's JSON parser takes: refused as data."""
    for nsid in _kinds(node.context.lexicons, "procedure"):
        _post(node, nsid, b"[" * depth + b"]" * depth, _JSON, node.bearer)
        record = b'{"a":[' * depth + b"]}" * depth
        body = b'{"repo":"%s","collection":"a.b.c","record":%s}' % (node.did.encode(), record)
        _post(node, nsid, body, _JSON, node.bearer)


@pytest.mark.parametrize(
    ("collection", "record"),
    [
        # Each answered 500 before (tests/fuzz found them): cbrrr cannot encode a lone
        # surrogate, the lexicon's length check could not either, base32 refused non-ASCII
        # with a ValueError.
        ("com.example.note", {"text": "\ud800"}),
        ("com.example.note", {"\udfff": 1}),
        ("fm.oms.track", {"title": "\ud800"}),
        ("com.example.note", {"link": {"$link": "bà"}}),
        ("com.example.note", {"data": {"$bytes": "é"}}),
    ],
)
def test_records_the_data_model_cannot_hold(
    node: Node, collection: str, record: dict[str, Any]
) -> None:
    body = {"repo": node.did, "collection": collection, "record": {"$type": collection, **record}}
    answer = node.client.post(
        "/xrpc/com.atproto.repo.createRecord", content=_encode(body),
        headers={**node.bearer, "Content-Type": _JSON},
    )  # fmt: skip
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "InvalidRequest"


def test_json_nested_deeper_than_the_parser_takes(node: Node) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    answer = node.client.post("/xrpc/com.atproto.repo.createRecord", content=body,
                              headers={**node.bearer, "Content-Type": _JSON})  # fmt: skip
    assert answer.status_code == 400


@fuzz_settings(250)
@given(data=st.data())
def test_procedure_bodies(node: Node, shapes: Shapes, data: st.DataObject) -> None:
    procedures = _kinds(node.context.lexicons, "procedure")
    nsid = data.draw(st.sampled_from(procedures), "nsid")
    body = data.draw(mostly(shapes.body(nsid).map(_encode), json_bytes()), "body")
    content_type = data.draw(mostly(st.just(_JSON), st.sampled_from(_CONTENT_TYPES)), "type")
    auth = data.draw(mostly(st.just("bearer"), st.sampled_from(_AUTH)), "auth")
    csrf = data.draw(_CSRF, "csrf") if auth in ("cookie", "junk") else None
    _post(node, nsid, body, content_type, _headers(node, auth, csrf))


@fuzz_settings(250)
@given(data=st.data())
def test_query_params(node: Node, shapes: Shapes, data: st.DataObject) -> None:
    queries = _kinds(node.context.lexicons, "query")
    nsid = data.draw(st.sampled_from(queries), "nsid")
    pairs = data.draw(shapes.params(nsid), "params")
    auth = data.draw(mostly(st.just("none"), st.sampled_from(("bearer", "cookie", "junk"))), "auth")
    csrf = data.draw(_CSRF, "csrf") if auth in ("cookie", "junk") else None
    params = [(_url_text(k), _url_text(v)) for k, v in pairs]
    with reported_crashes():
        answer = node.client.get(f"/xrpc/{nsid}", params=params, headers=_headers(node, auth, csrf))
        assert_xrpc_answer(answer)


@fuzz_settings(100)
@given(
    nsid=st.one_of(nasty_text(), st.sampled_from(sorted(METHODS))),
    verb=st.sampled_from(("GET", "POST", "PUT", "DELETE", "OPTIONS")),
    query=st.lists(st.tuples(nasty_text(8), nasty_text()), max_size=3),
)
def test_any_name_and_verb(node: Node, nsid: str, verb: str, query: list[tuple[str, str]]) -> None:
    params = [(_url_text(k), _url_text(v)) for k, v in query]
    path = f"/xrpc/{quote(_url_text(nsid), safe='')}"
    with reported_crashes():
        answer = node.client.request(verb, path, params=params, headers=node.bearer)
        assert_xrpc_answer(answer)  # a "/" in the name: no XRPC path, a JSON 404
