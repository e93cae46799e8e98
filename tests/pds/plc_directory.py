"""A fake web on 127.0.0.1 for identity tests: pages answered by (Host header, path), and a PLC
directory that checks each genesis operation with the atproto SDK and libipld, not our code."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import libipld
from atproto_crypto.verify import verify_signature

from oms.pds.identity import DID_CONTEXT

__all__ = ["FakeWeb", "serve_fake_web"]


@dataclass
class FakeWeb:
    """Answers GET by (Host header, path); POST /did:plc:… and GET /did:plc:… as a PLC directory
    that checks each genesis operation with the atproto SDK and libipld, not with our code."""

    port: int = 0
    pages: dict[tuple[str, str], tuple[int, bytes]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    plc: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    refusal: str | None = None

    def page(self, host: str, path: str, body: object, status: int = 200) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.pages[(host, path)] = (status, data)

    def check_genesis(self, did: str, op: dict[str, Any]) -> str | None:
        """What is wrong with a genesis operation for `did`, or None."""
        unsigned = {k: v for k, v in op.items() if k != "sig"}
        if unsigned.get("type") != "plc_operation" or unsigned.get("prev", "missing") is not None:
            return "not a genesis plc_operation"
        sig = op["sig"]
        if "=" in sig:
            return "the signature must be unpadded base64url"
        signature = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
        signed_by = [
            key
            for key in unsigned["rotationKeys"]
            if verify_signature(key, libipld.encode_dag_cbor(unsigned), signature)
        ]
        if not signed_by:
            return "no rotation key made the signature"
        digest = hashlib.sha256(libipld.encode_dag_cbor(op)).digest()
        expected = "did:plc:" + base64.b32encode(digest).decode().lower()[:24]
        if did != expected:
            return f"the DID of this operation is {expected}, not {did}"
        return None

    def plc_document(self, did: str) -> dict[str, Any]:
        op = self.plc[did]
        signing_key = op["verificationMethods"]["atproto"].removeprefix("did:key:")
        pds = op["services"]["atproto_pds"]
        return {
            "@context": list(DID_CONTEXT),
            "id": did,
            "alsoKnownAs": op["alsoKnownAs"],
            "verificationMethod": [
                {
                    "id": f"{did}#atproto",
                    "type": "Multikey",
                    "controller": did,
                    "publicKeyMultibase": signing_key,
                }
            ],
            "service": [
                {"id": "#atproto_pds", "type": pds["type"], "serviceEndpoint": pds["endpoint"]}
            ],
        }


def _handler(fake: FakeWeb) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            # The client may stop reading: a size limit or a timeout under test.
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def do_GET(self) -> None:
            host = self.headers.get("Host", "")
            fake.requests.append(("GET", host, self.path))
            time.sleep(fake.delays.get(self.path, 0))
            did = self.path.lstrip("/")
            if did in fake.plc:
                self._send(200, json.dumps(fake.plc_document(did)).encode())
                return
            status, body = fake.pages.get((host, self.path), (404, b"not here"))
            self._send(status, body)

        def do_POST(self) -> None:
            fake.requests.append(("POST", self.headers.get("Host", ""), self.path))
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            did = self.path.lstrip("/")
            problem = fake.refusal or fake.check_genesis(did, body)
            if problem is not None:
                self._send(400, json.dumps({"message": problem}).encode())
                return
            fake.plc[did] = body
            self._send(200, b"")

    return Handler


@contextmanager
def serve_fake_web() -> Iterator[FakeWeb]:
    fake = FakeWeb()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
