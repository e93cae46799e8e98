"""The authorization matrix: every route of every surface, called as each role and as an
anonymous client, gets exactly what the permission table (oms.permissions) says.

The rows come from the route tables themselves (`oms.app.routes()`, `oms.xrpc.routes.METHODS`),
so a new route fails here until it names a capability and this file knows how to call it
(`WEB_CALLS` / `XRPC_CALLS`). "Allowed" means the permission layer let the call through: no 401
or 403 and no detour to the sign-in page; the calls are well-formed enough that nothing else
refuses them. "Refused" means one of those.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient

from oms.app import create_app, routes
from oms.audit import CLI
from oms.context import AppContext
from oms.pds.accounts import Account, create_account
from oms.pds.password_resets import issue_reset_link
from oms.pds.web_sessions import COOKIE_NAME, start_web_session
from oms.permissions import ANONYMOUS, CAPABILITIES, COLLECTION_CAPABILITIES, ROLES, allowed
from oms.web.session import FORM_COOKIE
from oms.xrpc.routes import METHODS
from tests.conftest import make_settings, publish_track, tone_flac, upload_blob

PASSWORD = "matrix of correct horses"
METRICS_TOKEN = "scrape-me-please-0123456789"
FORM_TOKEN = "f" * 32
CALLERS = (ANONYMOUS, *ROLES)
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@dataclass
class Caller:
    """One role's credentials: a browser session (cookie + CSRF) and an app session."""

    role: str
    account: Account | None = None
    cookie: str | None = None
    csrf: str = FORM_TOKEN
    access: str | None = None
    refresh: str | None = None

    @property
    def did(self) -> str:
        # An anonymous caller names a repository that is not there (and is refused anyway).
        return self.account.did if self.account else "did:web:nobody.localhost"


class Node:
    """The node under test, with a way to make throwaway callers for calls that change or end
    the caller's own account (sign out everywhere, delete, deactivate)."""

    artist_blob = ""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.context: AppContext = client.app_state["context"]
        self._names = itertools.count()
        self.callers = {role: self.caller(role) for role in CALLERS}
        self.artist = self.callers["artist"]

    def caller(self, role: str) -> Caller:
        if role == ANONYMOUS:
            return Caller(role)
        context = self.context
        name = f"{role}{next(self._names)}"
        account = self.client.portal.call(
            lambda: create_account(
                context.db,
                context.keys,
                name=name,
                password=PASSWORD,
                role=role,
                hostname=context.settings.hostname,
            )
        )
        token, session = self.client.portal.call(
            lambda: start_web_session(context.db, account, user_agent="matrix", lifetime_days=1)
        )
        tokens = self.client.post(
            "/xrpc/com.atproto.server.createSession",
            json={"identifier": account.handle, "password": PASSWORD},
        ).json()
        return Caller(
            role, account, token, session.csrf_token, tokens["accessJwt"], tokens["refreshJwt"]
        )

    def reset_token(self, did: str) -> str:
        context = self.context
        link = self.client.portal.call(
            lambda: issue_reset_link(context.db, did, actor=CLI, hours=1)
        )
        return link.token


@dataclass(frozen=True)
class Call:
    """How to call a route: path (with sample parameters), form or JSON body, extra headers;
    `fresh` asks for a throwaway caller of the same role."""

    path: str
    data: dict[str, str] | None = None
    json: dict[str, Any] | None = None
    content: bytes | None = None
    headers: dict[str, str] | None = None
    fresh: bool = False


Sample = Callable[[Node, Caller], Call]


def _get(path: str) -> Sample:
    return lambda node, caller: Call(path)


def _form(path: str, fresh: bool = False, **fields: str) -> Sample:
    return lambda node, caller: Call(path, data={"csrf": caller.csrf, **fields}, fresh=fresh)


def _pre_sign_in_form(path: str, **fields: str) -> Sample:
    # Forms shown before a session exists carry the double-submit form token instead.
    return lambda node, caller: Call(path, data={"csrf": FORM_TOKEN, **fields})


def _target(node: Node) -> str:
    """A throwaway fan for admin actions to act on (its handle)."""
    account = node.caller("fan").account
    assert account is not None
    return account.handle


NO_RKEY = "3jzfcijpj2z2a"
_SIGN_UPS = itertools.count()

WEB_CALLS: dict[tuple[str, str], Sample] = {
    ("GET", "/healthz"): _get("/healthz"),
    ("GET", "/readyz"): _get("/readyz"),
    ("GET", "/metrics"): lambda node, caller: Call(
        "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    ),
    ("GET", "/.well-known/atproto-did"): _get("/.well-known/atproto-did"),
    ("GET", "/.well-known/did.json"): _get("/.well-known/did.json"),
    ("GET", "/"): _get("/"),
    ("GET", "/search"): _get("/search?q=anything&sort=newest"),
    ("GET", "/artist/{actor}"): lambda node, caller: Call(f"/artist/{node.artist.did}"),
    ("GET", "/release/{actor}/{rkey}"): _get(f"/release/nobody.localhost/{NO_RKEY}"),
    ("GET", "/track/{actor}/{rkey}"): _get(f"/track/nobody.localhost/{NO_RKEY}?t=1m"),
    ("GET", "/playlist/{actor}/{rkey}"): _get(f"/playlist/nobody.localhost/{NO_RKEY}"),
    ("GET", "/library"): _get("/library"),
    ("GET", "/embed/track/{actor}/{rkey}"): _get(f"/embed/track/nobody.localhost/{NO_RKEY}"),
    ("GET", "/embed/release/{actor}/{rkey}"): _get(f"/embed/release/nobody.localhost/{NO_RKEY}"),
    ("GET", "/manifest.webmanifest"): _get("/manifest.webmanifest"),
    ("GET", "/sw.js"): _get("/sw.js"),
    ("GET", "/signup"): _get("/signup"),
    ("POST", "/signup"): _pre_sign_in_form(
        "/signup", handle="someone", password=PASSWORD, confirm="not the same"
    ),
    ("GET", "/setup"): _get("/setup?token=whatever"),
    ("POST", "/setup"): lambda node, caller: Call("/setup", data={"token": "x", "handle": "x"}),
    ("GET", "/signin"): _get("/signin"),
    ("POST", "/signin"): _pre_sign_in_form("/signin", identifier="", password=""),
    ("POST", "/signin/verify"): _pre_sign_in_form("/signin/verify", pending="gone", code=""),
    ("POST", "/signout"): _form("/signout", fresh=True),
    ("GET", "/reset"): lambda node, caller: Call(
        f"/reset?token={node.reset_token(node.artist.did)}"
    ),
    ("POST", "/reset"): lambda node, caller: Call(
        "/reset",
        data={
            "csrf": FORM_TOKEN,
            "token": node.reset_token(node.artist.did),
            "password": "one new password",
            "confirm": "another new password",
        },
    ),
    ("GET", "/account/sessions"): _get("/account/sessions"),
    ("POST", "/account/sessions/revoke"): _form("/account/sessions/revoke", session="none"),
    ("POST", "/account/sessions/end-all"): _form("/account/sessions/end-all", fresh=True),
    ("GET", "/account/security"): _get("/account/security"),
    ("POST", "/account/password"): _form(
        "/account/password", fresh=True, current=PASSWORD, new="", confirm=""
    ),
    ("GET", "/account/totp/setup"): _get("/account/totp/setup"),
    ("POST", "/account/totp/setup"): _form("/account/totp/setup", fresh=True, code="000000"),
    ("POST", "/account/totp/disable"): _form(
        "/account/totp/disable", fresh=True, password=PASSWORD, code="000000"
    ),
    ("GET", "/account/data"): _get("/account/data"),
    ("POST", "/account/export"): _form("/account/export", fresh=True),
    ("POST", "/account/listening/delete"): _form("/account/listening/delete", fresh=True),
    ("POST", "/account/delete"): _form(
        "/account/delete", fresh=True, handle="not-the-handle", password=PASSWORD
    ),
    ("GET", "/admin"): _get("/admin"),
    ("GET", "/admin/accounts"): _get("/admin/accounts?role=fan"),
    ("GET", "/admin/accounts/{handle}"): lambda node, caller: Call(
        f"/admin/accounts/{_target(node)}"
    ),
    ("POST", "/admin/accounts/{handle}/role"): lambda node, caller: _form(
        f"/admin/accounts/{_target(node)}/role", role="artist"
    )(node, caller),
    ("POST", "/admin/accounts/{handle}/status"): lambda node, caller: _form(
        f"/admin/accounts/{_target(node)}/status", status="disabled"
    )(node, caller),
    ("POST", "/admin/accounts/{handle}/reset-link"): lambda node, caller: _form(
        f"/admin/accounts/{_target(node)}/reset-link"
    )(node, caller),
    ("GET", "/admin/invites"): _get("/admin/invites"),
    ("POST", "/admin/invites"): _form("/admin/invites", role="artist", count="1", uses="1"),
    ("GET", "/admin/plans"): _get("/admin/plans"),
    ("POST", "/admin/plans"): _form(
        "/admin/plans",
        **{
            f"{role}.{field}": value
            for role in ROLES
            for field, value in (("storage_mb", "0"), ("uploads_per_month", "0"))
        },
        **{f"{role}.max_file_mb": "0" for role in ROLES},
    ),
    ("GET", "/admin/audit"): _get("/admin/audit?action=account"),
    ("GET", "/admin/audit/export.{format}"): _get("/admin/audit/export.csv"),
    ("GET", "/admin/listening"): _get("/admin/listening?since=2024-01-01&until=2024-01-31"),
    ("GET", "/portal"): _get("/portal"),
    ("GET", "/portal/upload"): _get("/portal/upload"),
    ("GET", "/portal/tracks/{rkey}"): _get(f"/portal/tracks/{NO_RKEY}"),
    ("GET", "/portal/releases/{rkey}"): _get(f"/portal/releases/{NO_RKEY}"),
    ("GET", "/portal/events"): _get("/portal/events"),
    ("GET", "/portal/analytics"): _get("/portal/analytics?since=2024-01-01&until=2024-01-31"),
    ("GET", "/portal/analytics/tracks/{rkey}"): _get(f"/portal/analytics/tracks/{NO_RKEY}"),
    ("GET", "/portal/analytics/export.{format}"): _get("/portal/analytics/export.csv"),
    ("GET", "/hls/{did}/{cid}/{path:path}"): lambda node, caller: Call(
        f"/hls/{node.artist.did}/bafkreinone/master.m3u8"
    ),
    ("OPTIONS", "/hls/{did}/{cid}/{path:path}"): lambda node, caller: Call(
        f"/hls/{node.artist.did}/bafkreinone/master.m3u8",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"},
    ),
    ("GET", "/img/{did}/{cid}/{size}.jpg"): lambda node, caller: Call(
        f"/img/{node.artist.did}/bafkreinone/256.jpg"
    ),
    ("GET", "/download/{did}/{cid}"): lambda node, caller: Call(
        f"/download/{node.artist.did}/bafkreinone"
    ),
}


def _xrpc_get(**params: str) -> Callable[[Node, Caller], dict[str, str]]:
    return lambda node, caller: params


def _artist_repo(node: Node, caller: Caller) -> dict[str, str]:
    return {"repo": node.artist.did}


def _note(did: str, **fields: Any) -> dict[str, Any]:
    return {
        "repo": did,
        "collection": "com.example.note",
        "record": {"$type": "com.example.note", "text": "hi"},
        **fields,
    }


def _fresh_sign_in(node: Node, caller: Caller) -> dict[str, Any]:
    account = node.caller("fan")
    assert account.account is not None
    return {"identifier": account.account.handle, "password": PASSWORD}


# Each XRPC method: (query parameters or JSON body) as a function of the node and caller;
# `"fresh"` methods run as a throwaway caller of the same role, `"refresh"` ones present the
# caller's refresh token instead of the access token.
XrpcSample = Callable[[Node, Caller], dict[str, Any]]
XRPC_CALLS: dict[str, tuple[XrpcSample, str]] = {
    "com.atproto.server.describeServer": (_xrpc_get(), ""),
    "com.atproto.server.createAccount": (
        lambda node, caller: {"handle": f"new{next(_SIGN_UPS)}.localhost", "password": PASSWORD},
        "",
    ),
    "com.atproto.server.createSession": (_fresh_sign_in, ""),
    "com.atproto.server.refreshSession": (lambda node, caller: {}, "fresh refresh"),
    "com.atproto.server.getSession": (_xrpc_get(), ""),
    "com.atproto.server.deleteSession": (lambda node, caller: {}, "fresh refresh"),
    "com.atproto.server.createAppPassword": (
        lambda node, caller: {"name": f"app {caller.role}"},
        "fresh",
    ),
    "com.atproto.server.listAppPasswords": (_xrpc_get(), ""),
    "com.atproto.server.revokeAppPassword": (lambda node, caller: {"name": "none"}, ""),
    "com.atproto.server.createInviteCode": (lambda node, caller: {"useCount": 1}, ""),
    "com.atproto.server.createInviteCodes": (
        lambda node, caller: {"useCount": 1, "codeCount": 1},
        "",
    ),
    "com.atproto.server.deactivateAccount": (lambda node, caller: {}, "fresh"),
    "com.atproto.server.activateAccount": (lambda node, caller: {}, "fresh"),
    "com.atproto.server.requestAccountDelete": (lambda node, caller: {}, "fresh"),
    "com.atproto.server.deleteAccount": (
        lambda node, caller: {"did": node.artist.did, "password": PASSWORD, "token": "wrong"},
        "",
    ),
    "com.atproto.identity.resolveHandle": (
        lambda node, caller: {"handle": node.artist.account.handle},  # type: ignore[union-attr]
        "",
    ),
    "com.atproto.identity.updateHandle": (
        lambda node, caller: {"handle": f"renamed{next(_SIGN_UPS)}.localhost"},
        "fresh",
    ),
    "com.atproto.repo.createRecord": (lambda node, caller: _note(caller.did), ""),
    "com.atproto.repo.putRecord": (lambda node, caller: _note(caller.did, rkey="self"), ""),
    "com.atproto.repo.deleteRecord": (
        lambda node, caller: {"repo": caller.did, "collection": "com.example.note", "rkey": "x"},
        "",
    ),
    "com.atproto.repo.applyWrites": (
        lambda node, caller: {
            "repo": caller.did,
            "writes": [
                {
                    "$type": "com.atproto.repo.applyWrites#create",
                    "collection": "com.example.note",
                    "value": {"$type": "com.example.note", "text": "hi"},
                }
            ],
        },
        "",
    ),
    "com.atproto.repo.getRecord": (
        lambda node, caller: {
            "repo": node.artist.did,
            "collection": "com.example.note",
            "rkey": "none",
        },
        "",
    ),
    "com.atproto.repo.listRecords": (
        lambda node, caller: {"repo": node.artist.did, "collection": "com.example.note"},
        "",
    ),
    "com.atproto.repo.describeRepo": (_artist_repo, ""),
    "com.atproto.repo.uploadBlob": (lambda node, caller: {}, "png"),
    "com.atproto.sync.getBlob": (
        lambda node, caller: {"did": node.artist.did, "cid": node.artist_blob},
        "",
    ),
    "com.atproto.sync.listBlobs": (lambda node, caller: {"did": node.artist.did}, ""),
    "com.atproto.sync.getRepo": (lambda node, caller: {"did": node.artist.did}, ""),
    "com.atproto.sync.getLatestCommit": (lambda node, caller: {"did": node.artist.did}, ""),
    "com.atproto.sync.getRecord": (
        lambda node, caller: {
            "did": node.artist.did,
            "collection": "com.example.note",
            "rkey": "none",
        },
        "",
    ),
    "com.atproto.sync.getBlocks": (
        lambda node, caller: {"did": node.artist.did, "cids": []},
        "",
    ),
    "com.atproto.sync.getRepoStatus": (lambda node, caller: {"did": node.artist.did}, ""),
    "com.atproto.sync.listRepos": (_xrpc_get(), ""),
    "fm.oms.catalog.searchTracks": (_xrpc_get(q="anything"), ""),
    "fm.oms.catalog.getTrack": (
        lambda node, caller: {"uri": f"at://{node.artist.did}/fm.oms.track/{NO_RKEY}"},
        "",
    ),
    "fm.oms.catalog.getTracks": (
        lambda node, caller: {"uris": [f"at://{node.artist.did}/fm.oms.track/{NO_RKEY}"]},
        "",
    ),
    "fm.oms.catalog.getRelease": (
        lambda node, caller: {"uri": f"at://{node.artist.did}/fm.oms.release/{NO_RKEY}"},
        "",
    ),
    "fm.oms.catalog.getArtist": (lambda node, caller: {"actor": node.artist.did}, ""),
    "fm.oms.catalog.listGenres": (_xrpc_get(), ""),
    "fm.oms.catalog.getNewReleases": (_xrpc_get(), ""),
    "fm.oms.catalog.getTrending": (_xrpc_get(), ""),
    "fm.oms.catalog.searchArtists": (_xrpc_get(q="anything"), ""),
    "fm.oms.catalog.searchReleases": (_xrpc_get(q="anything"), ""),
    "fm.oms.catalog.getSimilarTracks": (
        lambda node, caller: {"uri": f"at://{node.artist.did}/fm.oms.track/{NO_RKEY}"},
        "",
    ),
    "fm.oms.catalog.getRadio": (_xrpc_get(), ""),
    "fm.oms.media.getStatus": (
        lambda node, caller: {"uri": f"at://{node.artist.did}/fm.oms.track/{NO_RKEY}"},
        "",
    ),
    "fm.oms.media.describeUpload": (
        lambda node, caller: {"cid": node.artist_blob},
        "",
    ),
    "fm.oms.analytics.reportListening": (
        lambda node, caller: {
            "sessionId": f"session-{caller.role}",
            "track": {
                "uri": f"at://{node.artist.did}/fm.oms.track/{NO_RKEY}",
                "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm",
            },
            "ranges": [{"startMs": 0, "endMs": 1000}],
            "client": "web",
            "sentAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "",
    ),
    "fm.oms.analytics.getTrackStats": (
        lambda node, caller: {"uri": f"at://{node.artist.did}/fm.oms.track/{NO_RKEY}"},
        "",
    ),
    "fm.oms.analytics.getRetention": (
        lambda node, caller: {"uri": f"at://{node.artist.did}/fm.oms.track/{NO_RKEY}"},
        "",
    ),
    "fm.oms.analytics.getArtistOverview": (_xrpc_get(), ""),
    "fm.oms.analytics.exportListening": (_xrpc_get(), ""),
}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    data = tmp_path_factory.mktemp("matrix") / "data"
    settings = make_settings(data, pds__open_signup=True, metrics__token=METRICS_TOKEN)
    with TestClient(create_app(settings)) as client:
        built = Node(client)
        artist = built.artist
        blob = upload_blob(client, {"Authorization": f"Bearer {artist.access}"}, PNG, "image/png")
        built.artist_blob = blob["ref"]["$link"]
        yield built


def _refused(status: int, location: str) -> bool:
    return status in (401, 403) or (status in (302, 303, 307) and location.startswith("/signin"))


def _web_rows() -> Iterator[tuple[str, str, str]]:
    for route in routes():
        if isinstance(route, Route) and not route.path.startswith("/xrpc/"):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                yield method, route.path, getattr(route.endpoint, "capability", "")


WEB_ROWS = list(_web_rows())


def test_every_route_of_every_surface_names_a_capability_and_has_a_call_here() -> None:
    for route in routes():
        if isinstance(route, Mount):
            assert getattr(route.app, "capability", None) in CAPABILITIES, route.path
        elif isinstance(route, WebSocketRoute):
            assert getattr(route.endpoint, "capability", None) in CAPABILITIES, route.path
        elif isinstance(route, Route) and route.path.startswith("/xrpc/"):
            served = getattr(route.endpoint, "capabilities", {})
            assert set(served) == set(METHODS)
        else:
            assert isinstance(route, Route), route
            capability = getattr(route.endpoint, "capability", None)
            assert capability in CAPABILITIES, f"{route.path} is not guarded by a capability"
    for method, path, _ in WEB_ROWS:
        assert (method, path) in WEB_CALLS, (
            f"{method} {path} has no sample call in tests/test_authorization.py WEB_CALLS"
        )
    for nsid in METHODS:
        assert nsid in XRPC_CALLS, f"{nsid} has no sample call in XRPC_CALLS"


def _cookies(caller: Caller) -> str:
    jar = {FORM_COOKIE: FORM_TOKEN}
    if caller.cookie:
        jar[COOKIE_NAME] = caller.cookie
    return "; ".join(f"{k}={v}" for k, v in jar.items())


@pytest.mark.parametrize(("method", "path", "capability"), WEB_ROWS)
def test_web_routes_follow_the_permission_table(
    node: Node, method: str, path: str, capability: str
) -> None:
    client = node.client
    for role in CALLERS:
        caller = node.callers[role]
        call = WEB_CALLS[(method, path)](node, caller)
        if call.fresh and role != ANONYMOUS:
            caller = node.caller(role)
            call = WEB_CALLS[(method, path)](node, caller)
        client.cookies.clear()
        headers = {"Cookie": _cookies(caller), "Accept": "text/html", **(call.headers or {})}
        stopping = path == "/portal/events"
        if stopping:  # the event stream ends at once when the node is stopping
            client.app.state.stopping.set()  # type: ignore[attr-defined]
        try:
            answer = client.request(
                method, call.path, data=call.data, headers=headers, follow_redirects=False
            )
        finally:
            if stopping:
                client.app.state.stopping.clear()  # type: ignore[attr-defined]
        refused = _refused(answer.status_code, answer.headers.get("location", ""))
        expected = not allowed(capability, role)
        assert refused == expected, (
            f"{method} {path} as {role}: {answer.status_code} "
            f"({'refused' if refused else 'let through'}), but {capability} "
            f"{'excludes' if expected else 'includes'} {role}: {answer.text[:300]}"
        )


@pytest.mark.parametrize("nsid", sorted(METHODS))
def test_xrpc_methods_follow_the_permission_table(node: Node, nsid: str) -> None:
    client = node.client
    method = METHODS[nsid]
    kind = node.context.lexicons.method_kind(nsid)
    sample, mode = XRPC_CALLS[nsid]
    for role in CALLERS:
        caller = node.callers[role]
        if "fresh" in mode and role != ANONYMOUS:
            caller = node.caller(role)
        payload = sample(node, caller)
        token = caller.refresh if "refresh" in mode else caller.access
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client.cookies.clear()
        if mode == "png":
            answer = client.post(
                f"/xrpc/{nsid}", content=PNG, headers={**headers, "Content-Type": "image/png"}
            )
        elif kind == "procedure":
            answer = client.post(f"/xrpc/{nsid}", json=payload, headers=headers)
        else:
            answer = client.get(f"/xrpc/{nsid}", params=payload, headers=headers)
        refused = answer.status_code in (401, 403)
        expected = not allowed(method.capability, role)
        assert refused == expected, (
            f"{nsid} as {role}: {answer.status_code} {answer.text[:300]}, but "
            f"{method.capability} {'excludes' if expected else 'includes'} {role}"
        )


@pytest.mark.parametrize("collection", sorted(COLLECTION_CAPABILITIES))
def test_record_collections_follow_the_permission_table(node: Node, collection: str) -> None:
    """Only roles holding a collection's capability may write it, even to their own repository
    (fans do not publish tracks)."""
    capability = COLLECTION_CAPABILITIES[collection]
    for role in ROLES:
        caller = node.callers[role]
        answer = node.client.post(
            "/xrpc/com.atproto.repo.createRecord",
            json={
                "repo": caller.did,
                "collection": collection,
                "record": {"$type": collection},
                "validate": False,
            },
            headers={"Authorization": f"Bearer {caller.access}"},
        )
        refused = answer.status_code == 403
        assert refused == (not allowed(capability, role)), (role, answer.text)


def test_metrics_need_the_token_when_one_is_set(node: Node) -> None:
    for caller in node.callers.values():
        node.client.cookies.clear()
        cookie = {"Cookie": _cookies(caller)}
        assert node.client.get("/metrics", headers=cookie).status_code == 401
        assert (
            node.client.get(
                "/metrics", headers={**cookie, "Authorization": "Bearer wrong"}
            ).status_code
            == 401
        )


@pytest.mark.slow
def test_an_unlisted_stream_answers_only_its_signed_address_whoever_asks(
    node: Node, tmp_path: Path
) -> None:
    """HLS of unlisted tracks: every role, the artist included, needs the signed address the
    artist shares; with it, anyone may listen (that is what sharing an unlisted link means)."""
    client, artist = node.client, node.artist
    bearer = {"Authorization": f"Bearer {artist.access}"}
    blob = upload_blob(client, bearer, tone_flac(tmp_path / "secret.flac", 2.0))
    uri = publish_track(client, bearer, artist.did, blob, "Unlisted Tone", visibility="unlisted")
    deadline = time.monotonic() + 60
    while True:
        status = client.get(
            "/xrpc/fm.oms.media.getStatus", params={"uri": uri}, headers=bearer
        ).json()
        if status.get("status") in ("ready", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status["status"] == "ready", status
    view = client.get("/xrpc/fm.oms.catalog.getTrack", params={"uri": uri}, headers=bearer).json()[
        "track"
    ]
    signed = view["streamUrl"].removeprefix(node.context.settings.public_url)
    bare = signed.partition("?t=")[0]
    for caller in node.callers.values():
        client.cookies.clear()
        cookie = {"Cookie": _cookies(caller)}
        assert client.get(bare, headers=cookie).status_code == 403, caller.role
        assert client.get(signed, headers=cookie).status_code == 200, caller.role
