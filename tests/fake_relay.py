"""A relay stand-in for tests: a real HTTP server on 127.0.0.1 that records what it is asked."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeRelay:
    """Answers `requestCrawl` with `status` (and an XRPC error body when it is not 200) after
    `delay` seconds; `requests` holds each request's path and JSON body, in order."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.status = 200
        self.delay = 0.0
        self._lock = threading.Lock()
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with relay._lock:
                    relay.requests.append((self.path, json.loads(body or b"null")))
                if relay.delay:
                    time.sleep(relay.delay)
                status = relay.status
                answer = {} if status == 200 else {"error": "Busy", "message": "try later"}
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the caller gave up waiting (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def bodies(self) -> list[Any]:
        with self._lock:
            return [body for _, body in self.requests]

    def wait_for(self, count: int, timeout: float = 10) -> list[Any]:
        """The bodies received, once there are at least `count` of them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            bodies = self.bodies()
            if len(bodies) >= count:
                return bodies
            time.sleep(0.02)
        raise AssertionError(f"the relay got {len(self.bodies())} requests, not {count}")


@contextmanager
def fake_relay() -> Iterator[FakeRelay]:
    relay = FakeRelay()
    thread = threading.Thread(target=relay.server.serve_forever, name="fake-relay", daemon=True)
    thread.start()
    try:
        yield relay
    finally:
        relay.server.shutdown()
        relay.server.server_close()
        thread.join()
