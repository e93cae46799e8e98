"""The HTML surface's parsers of outside input: the sign-in form (fields, CSRF double submit,
`next`), the setup and session forms, the portal's filters and record keys, and the media
addresses (`/hls`, `/img`, `/download`, with Range headers). Never a 500; a sign-in only ever
continues to a path on this site."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from hypothesis import event, example, given
from hypothesis import strategies as st

from oms.web.session import FORM_COOKIE
from tests.fuzz.conftest import PASSWORD, Node
from tests.fuzz.known import reported_crashes
from tests.fuzz.profile import fuzz_settings
from tests.fuzz.strategies import mostly, nasty_text

_TOKEN = "f" * 32  # a form token the browser holds (double submit: cookie and field)


def _url_text(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _header(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def assert_page(answer: httpx.Response) -> None:
    event(f"HTTP {answer.status_code}")
    assert answer.status_code < 500, answer.text[:500]


_NEXT = st.one_of(
    st.sampled_from(
        ("/", "/portal", "//evil.example", "/\\evil.example", "https://evil.example/",
         "/%2F%2Fevil.example", "javascript:alert(1)", "/\x00", "\t//evil.example", "/\u3002x")
    ),
    nasty_text(),
)  # fmt: skip


@st.composite
def _sign_in_forms(draw: st.DrawFn, node: Node) -> tuple[list[tuple[str, str]], str, str]:
    """(fields, the oms_form cookie, how the body is encoded)."""
    fields = [
        ("identifier", draw(mostly(st.sampled_from((node.handle, "fuzz")), nasty_text()))),
        ("password", draw(mostly(st.just(PASSWORD), nasty_text()))),
        ("csrf", draw(mostly(st.just(_TOKEN), nasty_text()))),
        ("next", draw(_NEXT)),
    ]
    fields = (
        draw(st.permutations(fields))[: draw(st.integers(0, 4))] if draw(st.booleans()) else fields
    )
    fields += draw(st.lists(st.tuples(nasty_text(8), nasty_text()), max_size=2))
    cookie = draw(mostly(st.just(_TOKEN), nasty_text(120)))
    encoding = draw(mostly(st.just("form"), st.sampled_from(("multipart", "garbage", "json"))))
    return fields, cookie, encoding


def _post_form(node: Node, path: str, fields: list[tuple[str, str]], encoding: str,
               cookies: str) -> httpx.Response:  # fmt: skip
    headers: dict[str, str | bytes] = {"Cookie": _header(cookies)} if cookies else {}
    clean = [(_url_text(k), _url_text(v)) for k, v in fields]
    if encoding == "form":
        return node.client.post(path, data=dict(clean), headers=headers, follow_redirects=False)
    if encoding == "multipart":
        files = {k: (None, v.encode()) for k, v in clean}
        return node.client.post(path, files=files, headers=headers, follow_redirects=False)
    body = b'--x\r\nContent-Disposition: form-data; name="csrf\r\n\r\n' + _header(str(fields))
    content_type = {"garbage": "multipart/form-data; boundary=x", "json": "application/json"}
    return node.client.post(
        path, content=body, headers={**headers, "Content-Type": content_type[encoding]},
        follow_redirects=False,
    )  # fmt: skip


# Each sign-in that gets past the form verifies a memory-hard password hash: a small budget.
@fuzz_settings(40)
@given(data=st.data())
def test_sign_in_form(node: Node, data: st.DataObject) -> None:
    fields, cookie, encoding = data.draw(_sign_in_forms(node), "form")
    with reported_crashes():
        answer = _post_form(node, "/signin", fields, encoding, f"{FORM_COOKIE}={cookie}")
        assert_page(answer)
        if answer.status_code == 303:
            location = answer.headers["location"]
            assert location.startswith("/"), location
            assert not location.startswith(("//", "/\\")), location
    node.client.cookies.clear()  # a successful sign-in sets a session cookie: stay anonymous


@fuzz_settings(100)
@given(
    path=st.sampled_from(("/signout", "/account/sessions/revoke", "/account/sessions/end-all",
                          "/setup", "/signup")),
    fields=st.lists(
        st.tuples(st.sampled_from(("csrf", "session", "token", "handle", "password", "confirm",
                                   "email")) | nasty_text(8), nasty_text()),
        max_size=5,
    ),
    signed_in=st.booleans(),
)  # fmt: skip
def test_other_forms(node: Node, path: str, fields: list[tuple[str, str]], signed_in: bool) -> None:
    # The session's own CSRF token only goes to revoke, with a fuzzed session id: a fuzzed
    # sign-out must not end the session the other examples use.
    if signed_in and path == "/account/sessions/revoke":
        fields = [("csrf", node.csrf), *[(k, v) for k, v in fields if k != "csrf"]]
    cookie = node.cookie["Cookie"] if signed_in else ""
    with reported_crashes():
        assert_page(_post_form(node, path, fields, "form", cookie))


def _segment(text: str) -> str:
    return quote(_url_text(text), safe="")


_RKEYS = st.sampled_from(("3jzfcijpj2z2a", "self", "..", ".", "a" * 600)) | nasty_text()
_ACTORS = (
    st.sampled_from(("fuzz.localhost", "did:plc:abcdefghijklmnopqrstuvwx", "did:", "..", "a" * 600))
    | nasty_text()
)
_PORTAL_PATHS = st.one_of(
    st.sampled_from(("/portal", "/portal/upload", "/account/sessions", "/", "/signin", "/setup",
                     "/search", "/library", "/signup", "/manifest.webmanifest")),
    st.builds(lambda kind, rkey: f"/portal/{kind}/{quote(_url_text(rkey), safe='')}",
              st.sampled_from(("tracks", "releases")), _RKEYS),
    st.builds(lambda kind, actor, rkey: f"/{kind}/{_segment(actor)}/{_segment(rkey)}",
              st.sampled_from(("track", "release", "playlist", "embed/track", "embed/release")),
              _ACTORS, _RKEYS),
    st.builds(lambda actor: f"/artist/{_segment(actor)}", _ACTORS),
)  # fmt: skip
_PARAMS = st.lists(
    st.tuples(st.sampled_from(("status", "next", "done", "token", "q", "t", "genre", "artist",
                               "license", "duration", "sort", "cursor", "invite")) | nasty_text(8),
              st.sampled_from(("ready", "failed", "queued", "processing", "")) | nasty_text()),
    max_size=4,
)  # fmt: skip


@fuzz_settings(150)
@given(path=_PORTAL_PATHS, params=_PARAMS, signed_in=st.booleans())
@example(path="/portal", params=[("status", "failed"), ("status", "\x00")], signed_in=True)
@example(path="/artist/fuzz.localhost", params=[], signed_in=False)  # a track with no length
def test_pages_and_filters(
    node: Node, path: str, params: list[tuple[str, str]], signed_in: bool
) -> None:
    headers = dict(node.cookie) if signed_in else {}
    query = [(_url_text(k), _url_text(v)) for k, v in params]
    with reported_crashes():
        assert_page(node.client.get(path, params=query, headers=headers, follow_redirects=False))


@fuzz_settings(150)
@given(
    kind=st.sampled_from(("hls", "img", "download")),
    did=st.sampled_from(("OWN", "did:plc:abcdefghijklmnopqrstuvwx")) | nasty_text(),
    cid=st.sampled_from(("OWN", "bafkreigquo2gucczybp653j6e23yw364kzalhr7vqpjzzfk5h55i75papq"))
    | nasty_text(),
    rest=st.sampled_from(("master.m3u8", "flac/seg-000001.m4s", "cover/600.jpg", "300", "64"))
    | nasty_text(),
    range_header=st.none() | st.sampled_from(("bytes=0-", "bytes=-1", "bytes=5-2", "bytes=0-0,1-1",
                                              "bytes=99999999999999999999-", "items=0-1"))
    | nasty_text(),
    verb=st.sampled_from(("GET", "HEAD", "OPTIONS")),
)  # fmt: skip
def test_media_addresses(
    node: Node, kind: str, did: str, cid: str, rest: str, range_header: str | None, verb: str
) -> None:
    did = node.did if did == "OWN" else did
    cid = node.blob_cid if cid == "OWN" else cid
    if kind == "hls":
        path = f"/hls/{_segment(did)}/{_segment(cid)}/{quote(_url_text(rest), safe='/')}"
    elif kind == "img":
        path = f"/img/{_segment(did)}/{_segment(cid)}/{_segment(rest)}.jpg"
    else:
        path = f"/download/{_segment(did)}/{_segment(cid)}"
    headers = {"Range": _header(range_header)} if range_header is not None else {}
    with reported_crashes():
        answer = node.client.request(verb, path, headers=headers, follow_redirects=False)
        assert_page(answer)


# --- crashes the fuzzers found, fixed in oms/web/session.py ----------------------------------


def test_sign_in_form_token_that_is_not_ascii(node: Node) -> None:
    fields = [("identifier", "fuzz"), ("password", "x"), ("csrf", "é" * 24)]
    answer = _post_form(node, "/signin", fields, "form", f"{FORM_COOKIE}={'e' * 24}")
    assert answer.status_code == 403


def test_session_csrf_that_is_not_ascii(node: Node) -> None:
    answer = _post_form(node, "/account/sessions/end-all", [("csrf", "é")], "form",
                        node.cookie["Cookie"])  # fmt: skip
    assert answer.status_code == 403
