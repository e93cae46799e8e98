"""One running node per fuzz module (a module-scoped TestClient: lifespan, database, worker),
with an admin account signed in both ways (bearer token and browser cookie) and a published
track, so that fuzzed calls can reach past authentication into the handlers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import currently_in_test_context, event
from starlette.testclient import TestClient

from oms.app import create_app
from oms.context import AppContext
from oms.pds.accounts import create_account
from oms.pds.identity import DidDocument, DidNotFound, HandleNotFound
from oms.pds.web_sessions import COOKIE_NAME
from tests.conftest import make_settings, publish_track, upload_blob

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Node:
    client: TestClient
    context: AppContext
    did: str
    handle: str
    bearer: dict[str, str]  # Authorization header of the admin's XRPC session
    cookie: dict[str, str]  # Cookie header of the admin's browser session
    csrf: str  # that browser session's CSRF token
    track_uri: str
    track_cid: str
    blob_cid: str

    @property
    def rkey(self) -> str:
        return self.track_uri.rsplit("/", 1)[1]


class OfflineResolver:
    """Other nodes' identities, while fuzzing: never looked up over the network (a valid but
    foreign handle would otherwise wait for DNS). `test_identity` fuzzes what they answer."""

    async def resolve_handle(self, handle: str, **_: object) -> str:
        raise HandleNotFound(f"{handle} is not resolved while fuzzing")

    async def resolve_did(self, did: str, **_: object) -> DidDocument:
        raise DidNotFound(f"{did} is not resolved while fuzzing")


def assert_xrpc_answer(answer: httpx.Response) -> None:
    """Not a server error; a refusal is an XRPC error body."""
    if currently_in_test_context():
        event(f"HTTP {answer.status_code}")  # --hypothesis-show-statistics: how deep calls get
    assert answer.status_code < 500 or answer.status_code == 501, answer.text[:500]
    if answer.status_code >= 400:
        body = answer.json()
        assert isinstance(body, dict), body
        assert isinstance(body.get("error"), str), body
        assert isinstance(body.get("message"), str), body


def _form_csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has a form with a CSRF token"
    return match[1]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    data_dir = Path(tmp_path_factory.mktemp("fuzz-node")) / "data"
    settings = make_settings(
        data_dir,
        pds__open_signup=True,
        limits__sign_ups_per_hour=0,
        limits__uploads_per_hour=0,
        jobs__concurrency=1,
        # Media jobs the fuzzed writes queued are cut short at the end of the module.
        server__shutdown_timeout=1,
    )
    # Server exceptions are raised into the test: hypothesis then reports the traceback.
    with TestClient(create_app(settings)) as client:
        client.app.state.identity_resolver = OfflineResolver()  # type: ignore[attr-defined]
        context: AppContext = client.app_state["context"]
        account = client.portal.call(
            lambda: create_account(
                context.db,
                context.keys,
                name="fuzz",
                password=PASSWORD,
                role="admin",
                hostname=context.settings.hostname,
            )
        )
        session = client.post(
            "/xrpc/com.atproto.server.createSession",
            json={"identifier": account.handle, "password": PASSWORD},
        )
        assert session.status_code == 200, session.text
        bearer = {"Authorization": f"Bearer {session.json()['accessJwt']}"}
        blob = upload_blob(client, bearer, b"fLaC" + bytes(64))
        track = publish_track(client, bearer, account.did, blob, "Fuzz Song")
        record = client.get(
            "/xrpc/com.atproto.repo.getRecord",
            params={
                "repo": account.did,
                "collection": "fm.oms.track",
                "rkey": track.rsplit("/")[-1],
            },
        )
        assert record.status_code == 200, record.text
        signin = client.get("/signin")
        signed = client.post(
            "/signin",
            data={
                "identifier": account.handle,
                "password": PASSWORD,
                "csrf": _form_csrf(signin.text),
            },
            follow_redirects=False,
        )
        assert signed.status_code == 303, signed.text
        cookie = {"Cookie": f"{COOKIE_NAME}={client.cookies[COOKIE_NAME]}"}
        csrf = _form_csrf(client.get("/account/sessions").text)
        # Each request says who it is itself: anonymous unless it sends one of the above.
        client.cookies.clear()
        yield Node(
            client, context, account.did, account.handle, bearer, cookie, csrf, track,
            record.json()["cid"], blob["ref"]["$link"],
        )  # fmt: skip
