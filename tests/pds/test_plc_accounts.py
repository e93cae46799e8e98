"""Accounts with a did:plc identity, where `pds.plc_directory` is set: the genesis operation a
directory checks with the atproto SDK, keys and repositories that match it, and nothing left
behind when the directory says no.

The directory is the fake of `tests/pds/plc_directory.py` on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import libipld
import pytest
from atproto_core.did_doc import DidDocument as SdkDidDocument
from atproto_crypto.verify import verify_signature
from atproto_identity.did.atproto_data import ensure_atproto_document
from starlette.testclient import TestClient

from oms.app import create_app
from oms.db.database import Database
from oms.errors import Conflict, InvalidRequest, StartupError
from oms.pds import accounts, identity, sessions
from oms.pds.bootstrap import issue_setup_token, redeem_setup_token, setup_token_valid
from oms.pds.car import read_car
from oms.pds.crypto import Curve, did_key, private_key_from_pem, verify
from oms.pds.dagcbor import decode, encode
from oms.pds.identity import DidNotFound, IdentityResolver, PlcDirectoryError
from oms.pds.keystore import KeyStore
from oms.pds.plc import PlcRegistration
from oms.pds.sequencer import events_after, last_seq
from tests.conftest import free_port, make_settings, oms_env, run_oms, start_oms
from tests.pds.plc_directory import FakeWeb, serve_fake_web

pytestmark = pytest.mark.anyio

HOSTNAME = "localhost:8000"
PUBLIC_URL = "http://localhost:8000"
PASSWORD = "correct horse"
PLC_DID = re.compile(r"did:plc:[a-z2-7]{24}")


@pytest.fixture
def directory() -> Iterator[FakeWeb]:
    with serve_fake_web() as fake:
        yield fake


def _url(directory: FakeWeb) -> str:
    return f"http://127.0.0.1:{directory.port}"


async def _create(
    db: Database, keys: KeyStore, directory_url: str, name: str = "alice"
) -> accounts.Account:
    return await accounts.create_account(
        db,
        keys,
        name=name,
        password=PASSWORD,
        role="artist",
        hostname=HOSTNAME,
        plc=PlcRegistration(directory_url, keys.node_key(), PUBLIC_URL),
    )


def _key_files(keys: KeyStore) -> list[str]:
    return sorted(str(p.relative_to(keys.folder)) for p in keys.folder.rglob("*") if p.is_file())


# --- the identity, the key and the repository --------------------------------------------------


async def test_an_account_gets_the_did_plc_its_directory_accepted(
    parts: tuple[Database, KeyStore], directory: FakeWeb
) -> None:
    db, keys = parts
    account = await _create(db, keys, _url(directory))
    assert PLC_DID.fullmatch(account.did), account.did
    assert account.handle == "alice.localhost"
    # The directory took the operation only after checking it with the SDK and libipld.
    assert directory.requests == [("POST", f"127.0.0.1:{directory.port}", f"/{account.did}")]
    op = directory.plc[account.did]
    digest = hashlib.sha256(libipld.encode_dag_cbor(op)).digest()
    assert account.did == "did:plc:" + base64.b32encode(digest).decode().lower()[:24]
    unsigned = libipld.encode_dag_cbor({k: v for k, v in op.items() if k != "sig"})
    sig = base64.urlsafe_b64decode(op["sig"] + "=" * (-len(op["sig"]) % 4))
    node_key = did_key(keys.node_key())
    assert verify_signature(node_key, unsigned, sig), "the node key signs the genesis"
    assert op["alsoKnownAs"] == ["at://alice.localhost"]
    assert op["services"]["atproto_pds"]["endpoint"] == PUBLIC_URL
    # The key on disk, read afresh, is the one the directory recorded, and it is private.
    key_file = keys.account_key_path(account.did)
    assert key_file.stat().st_mode & 0o777 == 0o600
    stored = private_key_from_pem(key_file.read_bytes())
    assert op["verificationMethods"] == {"atproto": did_key(stored)}
    assert op["rotationKeys"] == [node_key, did_key(stored)]
    assert _key_files(keys) == ["accounts/" + key_file.name, "node.pem"]


async def test_the_genesis_commit_verifies_with_the_key_the_directory_recorded(
    parts: tuple[Database, KeyStore], directory: FakeWeb
) -> None:
    db, keys = parts
    account = await _create(db, keys, _url(directory))
    events = await events_after(db, 0)
    assert [(e.kind, e.did) for e in events] == [
        ("identity", account.did),
        ("account", account.did),
        ("commit", account.did),
    ]
    assert events[0].body["handle"] == "alice.localhost"
    car = events[2].body["blocks"]
    assert isinstance(car, bytes)
    roots, blocks = read_car(car)
    commit = decode(blocks[roots[0]])
    assert isinstance(commit, dict)
    assert commit["did"] == account.did
    signature = commit.pop("sig")
    assert isinstance(signature, bytes)
    recorded = directory.plc[account.did]["verificationMethods"]["atproto"]
    assert verify_signature(recorded, encode(commit), signature)
    assert verify(recorded, encode(commit), signature)


async def test_the_node_describes_a_did_plc_account_as_its_directory_does(
    parts: tuple[Database, KeyStore], directory: FakeWeb
) -> None:
    db, keys = parts
    account = await _create(db, keys, _url(directory))
    document = await identity.local_did_document(db, keys, account.did, public_url=PUBLIC_URL)
    assert document == directory.plc_document(account.did)
    sdk = ensure_atproto_document(SdkDidDocument.from_dict(document))
    assert (sdk.did, sdk.handle, sdk.pds) == (account.did, "alice.localhost", PUBLIC_URL)
    # Others find it at the directory; the handle host names it; no did:web is served for it.
    resolver = IdentityResolver(plc_directory=_url(directory), loopback=True, timeout=2)
    resolved = await resolver.resolve_did(account.did)
    assert resolved.signing_key == did_key(keys.account_key(account.did))
    assert await identity.did_for_host(db, "alice.localhost:8000") == account.did
    with pytest.raises(DidNotFound):
        await identity.did_document_for_host(
            db, keys, "alice.localhost:8000", hostname=HOSTNAME, public_url=PUBLIC_URL
        )


async def test_a_did_plc_handle_cannot_be_changed_yet_and_says_why(
    parts: tuple[Database, KeyStore], directory: FakeWeb
) -> None:
    db, keys = parts
    account = await _create(db, keys, _url(directory))
    before = await last_seq(db)
    with pytest.raises(InvalidRequest, match="signed PLC update operation") as refused:
        await identity.update_handle(db, account.did, "alicia.localhost", hostname=HOSTNAME)
    assert account.did in refused.value.message
    assert (await accounts.get_account(db, account.did)).handle == "alice.localhost"
    assert await last_seq(db) == before


# --- when the directory says no ------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["refused", "down"])
async def test_a_failing_directory_leaves_no_account_key_or_event(
    parts: tuple[Database, KeyStore], directory: FakeWeb, failure: str
) -> None:
    db, keys = parts
    created = db.bus.subscribe(accounts.AccountCreated)
    keys.node_key()
    files = _key_files(keys)
    if failure == "refused":
        directory.refusal = "rate limit exceeded"
        url, problem = _url(directory), r"refused did:plc:\w+: HTTP 400 .*rate limit exceeded"
    else:
        url, problem = f"http://127.0.0.1:{free_port()}", "unreachable"
    with pytest.raises(PlcDirectoryError, match=problem) as error:
        await _create(db, keys, url)
    assert (error.value.status, error.value.name) == (503, "PlcDirectoryError")
    assert await accounts.list_accounts(db) == []
    assert _key_files(keys) == files
    assert await last_seq(db) == 0
    assert created.queue.empty()
    assert directory.plc == {}
    # Once the directory takes it, the same handle is still free.
    directory.refusal = None
    account = await _create(db, keys, _url(directory))
    assert PLC_DID.fullmatch(account.did)


async def test_a_taken_handle_or_email_is_refused_before_the_directory_is_asked(
    parts: tuple[Database, KeyStore], directory: FakeWeb
) -> None:
    db, keys = parts
    await accounts.create_account(
        db, keys, name="bob", password=PASSWORD, role="fan", hostname=HOSTNAME, email="b@x.org"
    )
    with pytest.raises(InvalidRequest) as taken:
        await sessions.sign_up(
            db,
            keys,
            hostname=HOSTNAME,
            open_signup=True,
            handle="bob",
            password=PASSWORD,
            plc=PlcRegistration(_url(directory), keys.node_key(), PUBLIC_URL),
        )
    assert taken.value.name == "HandleNotAvailable"
    with pytest.raises(Conflict, match="already in use"):
        await accounts.create_account(
            db,
            keys,
            name="carol",
            password=PASSWORD,
            role="fan",
            hostname=HOSTNAME,
            email="B@x.org",
            plc=PlcRegistration(_url(directory), keys.node_key(), PUBLIC_URL),
        )
    assert directory.requests == []


async def test_an_invite_is_given_back_when_the_directory_fails_and_then_names_the_did(
    parts: tuple[Database, KeyStore], directory: FakeWeb
) -> None:
    db, keys = parts
    [(_, [code])] = await sessions.create_invite_codes(
        db, hostname=HOSTNAME, created_by="admin", use_count=1
    )

    async def sign_up(name: str) -> accounts.Account:
        return await sessions.sign_up(
            db,
            keys,
            hostname=HOSTNAME,
            open_signup=False,
            handle=name,
            password=PASSWORD,
            invite_code=code,
            plc=PlcRegistration(_url(directory), keys.node_key(), PUBLIC_URL),
        )

    directory.refusal = "down for maintenance"
    with pytest.raises(PlcDirectoryError):
        await sign_up("dora")
    assert await db.fetchall("SELECT used_by FROM invite_code_uses") == []
    directory.refusal = None
    account = await sign_up("dora")
    assert PLC_DID.fullmatch(account.did)
    uses = await db.fetchall("SELECT used_by FROM invite_code_uses WHERE code = ?", (code,))
    assert [row[0] for row in uses] == [account.did]
    with pytest.raises(InvalidRequest, match="used up"):
        await sign_up("eli")


async def test_the_first_admin_gets_a_did_plc_and_keeps_the_token_if_the_directory_fails(
    parts: tuple[Database, KeyStore], directory: FakeWeb
) -> None:
    db, keys = parts
    token = await issue_setup_token(db)
    assert token is not None

    async def redeem() -> accounts.Account:
        assert token is not None
        return await redeem_setup_token(
            db,
            keys,
            token,
            name="ada",
            password=PASSWORD,
            hostname=HOSTNAME,
            plc=PlcRegistration(_url(directory), keys.node_key(), PUBLIC_URL),
        )

    directory.refusal = "no"
    with pytest.raises(PlcDirectoryError):
        await redeem()
    assert await setup_token_valid(db, token)
    directory.refusal = None
    admin = await redeem()
    assert (admin.role, admin.handle) == ("admin", "ada.localhost")
    assert PLC_DID.fullmatch(admin.did)
    assert admin.did in directory.plc


# --- the key store -----------------------------------------------------------------------------


def test_a_stored_key_is_private_and_never_overwritten(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys")
    keys.prepare()
    first = keys.generate_account_key(Curve.P256)
    assert not (keys.folder / "accounts").exists(), "generating writes nothing"
    keys.store_account_key("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", first)
    path = keys.account_key_path("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
    assert path.stat().st_mode & 0o777 == 0o600
    assert (keys.folder / "accounts").stat().st_mode & 0o777 == 0o700
    with pytest.raises(StartupError, match="already exists"):
        keys.store_account_key("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", keys.generate_account_key())
    fresh = KeyStore(keys.folder)
    assert did_key(fresh.account_key("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")) == did_key(first)
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no partial file is left"
    # The older API still creates and refuses the same way.
    created = keys.create_account_key("did:web:bob.localhost")
    assert did_key(fresh.account_key("did:web:bob.localhost")) == did_key(created)
    with pytest.raises(StartupError, match="already exists"):
        keys.create_account_key("did:web:bob.localhost")


def test_keys_are_stored_where_the_file_system_has_no_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(source: object, target: object) -> None:
        raise PermissionError("hard links are not supported here")

    monkeypatch.setattr("os.link", no_links)
    did = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"
    keys = KeyStore(tmp_path / "keys")
    key = keys.generate_account_key()
    keys.store_account_key(did, key)
    with pytest.raises(StartupError, match="already exists"):
        keys.store_account_key(did, keys.generate_account_key())
    path = keys.account_key_path(did)
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    assert path.stat().st_mode & 0o777 == 0o600
    assert did_key(KeyStore(keys.folder).account_key(did)) == did_key(key)


# --- over XRPC and the setup page ---------------------------------------------------------------


def _sign_up(client: TestClient, name: str) -> tuple[int, dict[str, object]]:
    answer = client.post(
        "/xrpc/com.atproto.server.createAccount",
        json={"handle": f"{name}.localhost", "password": PASSWORD},
    )
    body: dict[str, object] = answer.json()
    return answer.status_code, body


def test_create_account_over_xrpc_answers_with_the_did_plc(
    tmp_path: Path, directory: FakeWeb
) -> None:
    settings = make_settings(
        tmp_path / "data", pds__plc_directory=_url(directory), pds__open_signup=True
    )
    with TestClient(create_app(settings)) as client:
        status, session = _sign_up(client, "alice")
        assert status == 200, session
        did = str(session["did"])
        assert PLC_DID.fullmatch(did)
        assert did in directory.plc
        assert session["didDoc"] == directory.plc_document(did)
        auth = {"Authorization": f"Bearer {session['accessJwt']}"}
        again = client.get("/xrpc/com.atproto.server.getSession", headers=auth)
        assert again.json()["didDoc"]["id"] == did
        host = {"Host": "alice.localhost:8000"}
        assert client.get("/.well-known/atproto-did", headers=host).text == did
        assert client.get("/.well-known/did.json", headers=host).status_code == 404
        renamed = client.post(
            "/xrpc/com.atproto.identity.updateHandle",
            json={"handle": "alicia.localhost"},
            headers=auth,
        )
        assert renamed.status_code == 400
        assert "PLC" in renamed.json()["message"]

        directory.refusal = "rate limit exceeded"
        status, refused = _sign_up(client, "bob")
        assert (status, refused["error"]) == (503, "PlcDirectoryError")
        assert "rate limit exceeded" in str(refused["message"])
        resolved = client.get(
            "/xrpc/com.atproto.identity.resolveHandle", params={"handle": "bob.localhost"}
        )
        assert resolved.json()["error"] == "HandleNotFound"


def test_did_web_stays_the_default_without_a_directory(tmp_path: Path, directory: FakeWeb) -> None:
    with TestClient(create_app(make_settings(tmp_path / "data", pds__open_signup=True))) as client:
        status, session = _sign_up(client, "alice")
    assert status == 200, session
    assert session["did"] == "did:web:alice.localhost%3A8000"
    assert directory.requests == []


def test_the_setup_page_creates_a_did_plc_admin(
    tmp_path: Path, directory: FakeWeb, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path / "data", pds__plc_directory=_url(directory))
    with TestClient(create_app(settings)) as client:
        match = re.search(r"/setup\?token=([\w-]+)", capsys.readouterr().out)
        assert match
        fields = {"token": match[1], "handle": "ada", "email": "", "password": PASSWORD}
        directory.refusal = "try later"
        refused = client.post("/setup", data={**fields, "confirm": PASSWORD})
        assert refused.status_code == 503
        assert "try later" in refused.text
        directory.refusal = None
        done = client.post("/setup", data={**fields, "confirm": PASSWORD})
        assert done.status_code == 200
        [did] = directory.plc
        assert did in done.text


# --- a real node -------------------------------------------------------------------------------


@pytest.mark.slow
async def test_a_real_node_serves_a_did_plc_handle_that_verifies_both_ways(
    tmp_path: Path, directory: FakeWeb
) -> None:
    port = free_port()
    public_url = f"http://localhost:{port}"
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = oms_env(data_dir, OMS_SERVER_PUBLIC_URL=public_url, OMS_PDS_PLC_DIRECTORY=_url(directory))
    created = run_oms(
        "account", "create", "--handle", "alice", "--password", PASSWORD, "--role", "artist",
        data_dir=data_dir, env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    found = PLC_DID.search(created.stdout)
    assert found, created.stdout
    did = found[0]
    assert did in directory.plc
    server = start_oms(data_dir, "--public-url", public_url, port=port, env=env)
    try:
        server.wait_healthy()
        resolver = IdentityResolver(plc_directory=_url(directory), loopback=True, timeout=5)
        document = await resolver.resolve_did(did)
        assert (document.handle, document.pds_endpoint) == ("alice.localhost", public_url)
        assert await resolver.verify_handle("alice.localhost", did)
        assert await resolver.verified_handle(did) == "alice.localhost"
    finally:
        assert server.stop() == 0, server.log()
