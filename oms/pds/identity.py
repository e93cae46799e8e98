"""Identities: the DID documents this node serves (its accounts' and its own), handle changes,
and resolving other nodes' DIDs and handles (DNS, HTTPS, PLC). did:plc genesis lives in
`oms.pds.plc` (which `accounts` uses) and is re-exported here.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import unquote, urlsplit

import dns.asyncresolver
import dns.exception
import dns.resolver
import httpx

from oms.db.database import Database
from oms.errors import InvalidRequest, NotFound, OmsError
from oms.events import Event
from oms.pds import store
from oms.pds.accounts import Account, get_account, handle_for
from oms.pds.crypto import (
    Curve,
    PrivateKey,
    PublicKey,
    did_key,
    multibase_public_key,
    public_key_from_did_key,
    public_key_from_multibase,
)
from oms.pds.keystore import KeyStore
from oms.pds.plc import PlcDirectoryError, PlcGenesis, create_plc_identity, plc_genesis
from oms.pds.sequencer import sequence_identity
from oms.pds.syntax import is_valid_did, is_valid_handle

__all__ = [
    "DEFAULT_PLC_DIRECTORY",
    "DID_CONTEXT",
    "MAX_DID_DOCUMENT_BYTES",
    "DidDocument",
    "DidNotFound",
    "HandleChanged",
    "HandleNotFound",
    "IdentityResolver",
    "InvalidDidDocument",
    "PlcDirectoryError",
    "PlcGenesis",
    "account_did_document",
    "create_plc_identity",
    "did_document_for_host",
    "did_for_host",
    "did_web_for_host",
    "host_for_did_web",
    "is_loopback_host",
    "local_did_document",
    "local_did_for_handle",
    "node_did",
    "node_did_document",
    "parse_did_document",
    "pds_endpoint_of",
    "plc_genesis",
    "signing_key_of",
    "update_handle",
]

# As the reference PDS and the PLC directory write them.
DID_CONTEXT = (
    "https://www.w3.org/ns/did/v1",
    "https://w3id.org/security/multikey/v1",
    "https://w3id.org/security/suites/secp256k1-2019/v1",
)
DEFAULT_PLC_DIRECTORY = "https://plc.directory"
# Real documents are about 1 KB; a PLC document with many services stays far below this.
MAX_DID_DOCUMENT_BYTES = 64 * 1024
# `/.well-known/atproto-did` holds one DID (at most 2 KB) and maybe a newline.
_MAX_ATPROTO_DID_BYTES = 4 * 1024

_ATPROTO_KEY = "#atproto"
_ATPROTO_PDS = "#atproto_pds"
_PDS_TYPE = "AtprotoPersonalDataServer"
_LEGACY_KEY_TYPES = {
    "EcdsaSecp256k1VerificationKey2019": Curve.K256,
    "EcdsaSecp256r1VerificationKey2019": Curve.P256,
}
_PLC_DID_LENGTH = len("did:plc:") + 24


class DidNotFound(NotFound):
    """A DID's document could not be fetched: unknown, unreachable or timed out."""

    name = "DidNotFound"


class InvalidDidDocument(InvalidRequest):
    """A DID document was fetched but is not a usable atproto identity."""

    name = "InvalidDidDocument"


class HandleNotFound(InvalidRequest):
    """No DID could be found for a handle (the XRPC error `resolveHandle` declares)."""

    name = "HandleNotFound"


@dataclass(frozen=True)
class HandleChanged(Event):
    did: str
    handle: str


@dataclass(frozen=True)
class DidDocument:
    """A resolved atproto identity: the parts of a DID document atproto uses, and the whole."""

    did: str
    handle: str | None  # the first at:// alias, unverified; see IdentityResolver.verify_handle
    signing_key: str  # did:key of the #atproto verification method
    pds_endpoint: str  # the #atproto_pds service, without a trailing slash
    document: Mapping[str, Any]

    def public_key(self) -> PublicKey:
        return public_key_from_did_key(self.signing_key)


# --- hosts and did:web ------------------------------------------------------------------------


def _split_port(host: str) -> tuple[str, int | None]:
    name, _, port = host.partition(":")
    return name, int(port) if port.isdigit() else None


def is_loopback_host(host: str) -> bool:
    """`localhost`, `*.localhost` and 127.0.0.1, with or without a port: names that only mean
    this machine (RFC 6761), so never looked up in DNS and reached over plain http."""
    name = _split_port(host.lower())[0]
    return name in ("localhost", "127.0.0.1") or name.endswith(".localhost")


def did_web_for_host(host: str) -> str:
    """`alice.localhost:8000` → `did:web:alice.localhost%3A8000` (did:web encodes the port)."""
    return "did:web:" + host.strip().rstrip(".").lower().replace(":", "%3A")


def host_for_did_web(did: str) -> str:
    """`did:web:alice.localhost%3A8000` → `alice.localhost:8000`; raises InvalidRequest for
    anything else, including did:web with a path, which atproto does not allow."""
    if not did.startswith("did:web:") or not is_valid_did(did):
        raise InvalidRequest(f"{did!r} is not a did:web")
    ident = did[len("did:web:") :]
    if ":" in ident:
        raise InvalidRequest(f"{did} has a path; atproto allows only a hostname in did:web")
    host = unquote(ident).lower()
    name, port = _split_port(host)
    if not (is_valid_handle(name) or name in ("localhost", "127.0.0.1")):
        raise InvalidRequest(f"{did} does not name a host")
    if ":" in host and (port is None or not is_loopback_host(host)):
        raise InvalidRequest(f"{did}: only localhost identities may carry a port")
    return host


def node_did(hostname: str) -> str:
    """The node's own service identity: did:web of its hostname."""
    return did_web_for_host(hostname)


# --- documents this node serves ---------------------------------------------------------------


def _verification_method(did: str, key: PublicKey | PrivateKey) -> dict[str, str]:
    return {
        "id": did + _ATPROTO_KEY,
        "type": "Multikey",
        "controller": did,
        "publicKeyMultibase": multibase_public_key(key),
    }


def account_did_document(
    did: str, handle: str, signing_key: PublicKey | PrivateKey, pds_endpoint: str
) -> dict[str, Any]:
    """The DID document of an account this node hosts."""
    return {
        "@context": list(DID_CONTEXT),
        "id": did,
        "alsoKnownAs": [f"at://{handle}"],
        "verificationMethod": [_verification_method(did, signing_key)],
        "service": [
            {"id": _ATPROTO_PDS, "type": _PDS_TYPE, "serviceEndpoint": pds_endpoint},
        ],
    }


def node_did_document(
    hostname: str, node_key: PublicKey | PrivateKey, public_url: str
) -> dict[str, Any]:
    """The node's service DID document: its key, its PDS, and the OMS node API."""
    did = node_did(hostname)
    return {
        "@context": list(DID_CONTEXT),
        "id": did,
        "verificationMethod": [_verification_method(did, node_key)],
        "service": [
            {"id": _ATPROTO_PDS, "type": _PDS_TYPE, "serviceEndpoint": public_url},
            {"id": "#oms_node", "type": "OmsNode", "serviceEndpoint": public_url},
        ],
    }


async def _served_account(db: Database, did_or_handle: str) -> sqlite3.Row | None:
    row = await store.fetch_account(db, did_or_handle)
    # A deleted account's identity is gone; a disabled or deactivated one still resolves.
    return None if row is None or row["status"] == "deleted" else row


async def local_did_document(
    db: Database, keys: KeyStore, did: str, *, public_url: str
) -> dict[str, Any]:
    """The DID document of a local account, did:web or did:plc (for did:plc, the document as
    the node registered it: the directory is the authority); raises DidNotFound if there is
    none."""
    row = await _served_account(db, did)
    if row is None:
        raise DidNotFound(f"no account {did} on this node")
    key = await asyncio.to_thread(keys.account_key, did)
    return account_did_document(did, row["handle"], key, public_url)


async def local_did_for_handle(db: Database, handle: str) -> str | None:
    row = await _served_account(db, handle.strip().lower())
    return None if row is None else str(row["did"])


async def did_document_for_host(
    db: Database, keys: KeyStore, host: str, *, hostname: str, public_url: str
) -> dict[str, Any]:
    """What `/.well-known/did.json` answers on `host` (a request's Host header): the node's
    own document on its hostname, else the account whose did:web names that host (a did:plc
    account's document is served by its PLC directory, not here)."""
    host = host.strip().rstrip(".").lower()
    if host == hostname.lower():
        node_key = await asyncio.to_thread(keys.node_key)
        return node_did_document(hostname, node_key, public_url)
    if not is_valid_handle(_split_port(host)[0]):
        raise DidNotFound(f"no identity at host {host[:300]!r}")
    return await local_did_document(db, keys, did_web_for_host(host), public_url=public_url)


async def did_for_host(db: Database, host: str) -> str:
    """What `/.well-known/atproto-did` answers on `host`: the DID of the account whose handle
    is the host's name (any port); raises HandleNotFound otherwise."""
    handle = _split_port(host.strip().rstrip(".").lower())[0]
    did = await local_did_for_handle(db, handle) if is_valid_handle(handle) else None
    if did is None:
        raise HandleNotFound(f"no account with the handle {handle[:300]!r} on this node")
    return did


async def update_handle(db: Database, did: str, new_handle: str, *, hostname: str) -> Account:
    """Give a local account a new handle under the node's hostname, and announce it (an
    `#identity` event on the firehose, `HandleChanged` on the bus)."""
    if not is_valid_handle(new_handle):
        raise InvalidRequest(f"{new_handle!r} is not a valid handle", name="InvalidHandle")
    try:
        handle = handle_for(new_handle, hostname)
    except InvalidRequest as e:
        raise InvalidRequest(e.message, name="UnsupportedDomain") from e
    account = await get_account(db, did)
    if not account.did.startswith("did:web:"):
        # A did:plc document lives in the directory: its alias needs a signed PLC update.
        raise InvalidRequest(
            f"the handle of {account.did} cannot be changed yet: a did:plc identity's handle "
            "is recorded in its PLC directory, and changing it needs a signed PLC update "
            "operation, which this node does not make yet"
        )
    async with db.transaction() as tx:
        holder = await store.fetch_account(tx, handle)
        if holder is not None and holder["did"] != account.did:
            raise InvalidRequest(f"handle {handle} is already taken", name="HandleNotAvailable")
        await store.update_account(tx, account.did, handle=handle)
        await sequence_identity(tx, account.did, handle)
        tx.publish(HandleChanged(account.did, handle))
    return await get_account(db, account.did)


# --- reading DID documents --------------------------------------------------------------------


def _entry_for(entries: object, did: str, fragment: str) -> Mapping[str, Any] | None:
    if not isinstance(entries, list):
        return None
    for entry in entries:
        if isinstance(entry, dict) and entry.get("id") in (fragment, did + fragment):
            return entry
    return None


def signing_key_of(document: Mapping[str, Any]) -> PublicKey:
    """The public key of the `#atproto` verification method (Multikey or the 2019 suites)."""
    did = str(document.get("id", ""))
    method = _entry_for(document.get("verificationMethod"), did, _ATPROTO_KEY)
    if method is None:
        raise InvalidDidDocument(f"the DID document of {did} has no #atproto key")
    value = method.get("publicKeyMultibase")
    kind = method.get("type")
    if not isinstance(value, str):
        raise InvalidDidDocument(f"the #atproto key of {did} has no publicKeyMultibase")
    if kind == "Multikey":
        curve = None
    elif kind in _LEGACY_KEY_TYPES:
        curve = _LEGACY_KEY_TYPES[str(kind)]
    else:
        raise InvalidDidDocument(f"the #atproto key of {did} has an unknown type {kind!r}")
    try:
        return public_key_from_multibase(value, curve)
    except InvalidRequest as e:
        raise InvalidDidDocument(f"the #atproto key of {did} is unusable: {e.message}") from e


def pds_endpoint_of(document: Mapping[str, Any]) -> str:
    """The http(s) origin of the `#atproto_pds` service, without a trailing slash."""
    did = str(document.get("id", ""))
    service = _entry_for(document.get("service"), did, _ATPROTO_PDS)
    if service is None or service.get("type") != _PDS_TYPE:
        raise InvalidDidDocument(f"the DID document of {did} names no #atproto_pds service")
    endpoint = service.get("serviceEndpoint")
    try:
        parts = urlsplit(endpoint) if isinstance(endpoint, str) else None
        if parts is not None:
            parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:  # an unclosed IPv6 bracket, a port out of range
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidDidDocument(f"the PDS endpoint of {did} is not an http(s) URL: {endpoint!r}")
    return str(endpoint).rstrip("/")


def _handle_of(document: Mapping[str, Any]) -> str | None:
    aliases = document.get("alsoKnownAs")
    if not isinstance(aliases, list):
        return None
    for alias in aliases:
        if isinstance(alias, str) and alias.startswith("at://"):
            handle = alias[len("at://") :].lower()
            return handle if is_valid_handle(handle) else None
    return None


def parse_did_document(did: str, value: object) -> DidDocument:
    """Check a fetched document is `did`'s atproto identity; raises InvalidDidDocument."""
    if not isinstance(value, dict):
        raise InvalidDidDocument(f"the DID document of {did} is not a JSON object")
    if value.get("id") != did:
        raise InvalidDidDocument(f"the document fetched for {did} is for {value.get('id')!r}")
    key = signing_key_of(value)
    return DidDocument(did, _handle_of(value), did_key(key), pds_endpoint_of(value), value)


# --- resolving other identities ---------------------------------------------------------------

T = TypeVar("T")


class _TtlCache(Generic[T]):
    """Recent answers, each kept `ttl` seconds; the oldest go first beyond `size` entries."""

    def __init__(self, ttl: float, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[str, tuple[float, T]] = OrderedDict()

    def get(self, key: str) -> T | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: str, value: T) -> None:
        self._entries[key] = (time.monotonic() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def discard(self, key: str) -> None:
        self._entries.pop(key, None)

    def discard_prefix(self, prefix: str) -> None:
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]


class _Unreachable(Exception):
    """A fetch got no usable answer (connection, timeout, status); the text says which."""


@dataclass(frozen=True)
class _Target:
    url: str
    host_header: str | None  # sent instead of the URL's host (loopback names, see _target)
    loopback: bool


class IdentityResolver:
    """Resolves DIDs (did:web, did:plc) to documents and handles (DNS TXT, then HTTPS) to DIDs,
    with timeouts, size limits and a small in-memory TTL cache.

    `loopback` allows identities on `localhost`, `*.localhost` and 127.0.0.1 (development nodes
    on this machine): their documents are fetched over plain http from 127.0.0.1 with the
    identity's host in the Host header, so `*.localhost` needs no DNS. The atproto SDK's
    resolver cannot do this (it asks https://alice.localhost%3A8000/...). A public node keeps
    `loopback` off, so a remote identity cannot point it at its own loopback services.
    """

    def __init__(
        self,
        *,
        plc_directory: str = DEFAULT_PLC_DIRECTORY,
        loopback: bool = False,
        timeout: float = 5.0,
        cache_ttl: float = 300.0,
        dns_nameservers: Sequence[str] | None = None,
        dns_port: int = 53,
    ) -> None:
        self.plc_directory = plc_directory.rstrip("/")
        self.loopback = loopback
        self.timeout = timeout
        self._documents: _TtlCache[DidDocument] = _TtlCache(cache_ttl)
        self._handles: _TtlCache[str] = _TtlCache(cache_ttl)
        self._dns_nameservers = list(dns_nameservers) if dns_nameservers is not None else None
        self._dns_port = dns_port
        self._dns: dns.asyncresolver.Resolver | None = None

    def forget(self, did_or_handle: str) -> None:
        """Drop a cached answer (e.g. after an `#identity` event from the firehose)."""
        self._documents.discard(did_or_handle)
        self._handles.discard_prefix(did_or_handle.strip().lower() + "|")

    # --- DIDs ---

    async def resolve_did(self, did: str, *, fresh: bool = False) -> DidDocument:
        """The validated document of `did`; raises DidNotFound, InvalidDidDocument, or
        InvalidRequest for a DID method or form atproto does not use."""
        cached = None if fresh else self._documents.get(did)
        if cached is not None:
            return cached
        if did.startswith("did:web:"):
            target = self._target(host_for_did_web(did), "/.well-known/did.json")
        elif did.startswith("did:plc:"):
            if len(did) != _PLC_DID_LENGTH or not did[8:].isalnum() or did != did.lower():
                raise InvalidRequest(f"{did!r} is not a did:plc")
            target = _Target(f"{self.plc_directory}/{did}", None, False)
        else:
            raise InvalidRequest(f"{did[:100]!r}: only did:web and did:plc identities are used")
        try:
            body = await self._get(target, MAX_DID_DOCUMENT_BYTES)
        except _Unreachable as e:
            raise DidNotFound(f"could not resolve {did}: {e}") from e
        try:
            value = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InvalidDidDocument(f"the DID document of {did} is not JSON: {e}") from e
        except RecursionError as e:
            raise InvalidDidDocument(f"the DID document of {did} is nested too deeply") from e
        document = parse_did_document(did, value)
        self._documents.put(did, document)
        return document

    # --- handles ---

    async def resolve_handle(self, handle: str, *, localhost_port: int | None = None) -> str:
        """The DID a handle claims, from `_atproto.<handle>` TXT or its `/.well-known/
        atproto-did`; not yet verified against the DID's document (see verify_handle).

        A `*.localhost` handle is never looked up in DNS; its well-known is asked of
        127.0.0.1 on `localhost_port` (default 80), since a handle carries no port.
        """
        handle = handle.strip().lower()
        if not is_valid_handle(handle):
            raise InvalidRequest(f"{handle[:300]!r} is not a valid handle")
        key = f"{handle}|{localhost_port or ''}"
        cached = self._handles.get(key)
        if cached is not None:
            return cached
        did = None if is_loopback_host(handle) else await self._resolve_dns(handle)
        if did is None:
            host = f"{handle}:{localhost_port}" if localhost_port else handle
            did = await self._resolve_well_known(host)
        if did is None:
            raise HandleNotFound(
                f"{handle} does not resolve: no _atproto.{handle} TXT record with a DID and "
                f"no DID at {handle}/.well-known/atproto-did"
            )
        self._handles.put(key, did)
        return did

    async def verify_handle(self, handle: str, did: str) -> bool:
        """Bidirectional check: `did`'s document claims `handle` and `handle` resolves to `did`.
        An identity that cannot be resolved is not verified."""
        handle = handle.strip().lower()
        try:
            document = await self.resolve_did(did)
            if document.handle != handle:
                return False
            # A localhost handle is served by the node its PDS endpoint names.
            port = urlsplit(document.pds_endpoint).port if is_loopback_host(handle) else None
            return await self.resolve_handle(handle, localhost_port=port) == did
        except OmsError:
            return False

    async def verified_handle(self, did: str) -> str | None:
        """The handle `did` claims, if it verifies both ways; None otherwise."""
        document = await self.resolve_did(did)
        if document.handle is None or not await self.verify_handle(document.handle, did):
            return None
        return document.handle

    async def _resolve_dns(self, handle: str) -> str | None:
        resolver = self._dns_resolver()
        try:
            answer = await resolver.resolve(f"_atproto.{handle}", "TXT", lifetime=self.timeout)
        except (dns.exception.DNSException, OSError):
            return None
        found = set()
        for record in answer:
            text = b"".join(getattr(record, "strings", ())).decode("utf-8", "replace")
            if text.startswith("did="):
                found.add(text[len("did=") :].strip())
        # Several different DIDs make the handle ambiguous, which the spec treats as invalid.
        if len(found) != 1:
            return None
        did = found.pop()
        return did if is_valid_did(did) else None

    def _dns_resolver(self) -> dns.asyncresolver.Resolver:
        if self._dns is None:
            if self._dns_nameservers is None:
                try:
                    resolver = dns.asyncresolver.Resolver()
                except dns.resolver.NoResolverConfiguration:
                    resolver = dns.asyncresolver.Resolver(configure=False)
            else:
                resolver = dns.asyncresolver.Resolver(configure=False)
                resolver.port = self._dns_port
                resolver.nameservers = list(self._dns_nameservers)
            self._dns = resolver
        return self._dns

    async def _resolve_well_known(self, host: str) -> str | None:
        try:
            body = await self._get(
                self._target(host, "/.well-known/atproto-did"), _MAX_ATPROTO_DID_BYTES
            )
        except (_Unreachable, InvalidDidDocument, InvalidRequest):
            return None
        lines = body.decode("utf-8", "replace").strip().splitlines()
        did = lines[0].strip() if lines else ""
        return did if did.startswith("did:") and is_valid_did(did) else None

    # --- HTTP ---

    def _target(self, host: str, path: str) -> _Target:
        if not is_loopback_host(host):
            return _Target(f"https://{host}{path}", None, False)
        if not self.loopback:
            raise InvalidRequest(
                f"{host} is a localhost identity, which this node does not resolve"
            )
        port = _split_port(host)[1] or 80
        return _Target(f"http://127.0.0.1:{port}{path}", host, True)

    async def _get(self, target: _Target, limit: int) -> bytes:
        headers = {"Accept": "application/json, text/plain", "User-Agent": "oms-identity"}
        if target.host_header is not None:
            headers["Host"] = target.host_header
        # Loopback requests must not go through a proxy from the environment.
        try:
            async with (
                asyncio.timeout(self.timeout),
                httpx.AsyncClient(
                    timeout=self.timeout, follow_redirects=False, trust_env=not target.loopback
                ) as client,
                client.stream("GET", target.url, headers=headers) as response,
            ):
                if response.status_code != 200:
                    raise _Unreachable(f"{target.url} answered HTTP {response.status_code}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise InvalidDidDocument(f"{target.url} is larger than {limit} bytes")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise InvalidDidDocument(f"{target.url} is larger than {limit} bytes")
                return bytes(body)
        except TimeoutError as e:
            raise _Unreachable(f"{target.url} did not answer within {self.timeout:g}s") from e
        except httpx.HTTPError as e:
            raise _Unreachable(f"{target.url}: {type(e).__name__} {e}".strip()) from e
