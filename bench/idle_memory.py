"""Idle memory and start-up time of `oms serve`, against a bare Starlette app on uvicorn.

Run: .venv/bin/python bench/idle_memory.py
Both servers are started the same way, warmed with the same requests, then left idle for two
seconds before their resident memory (VmRSS) is read.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BARE_APP = """
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def ok(request):
    return JSONResponse({"status": "ok"})

app = Starlette(routes=[Route("/healthz", ok), Route("/", ok), Route("/readyz", ok),
                        Route("/metrics", ok)])
uvicorn.run(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def measure(command: list[str], port: int, env: dict[str, str], cwd: str) -> tuple[float, float]:
    started = time.monotonic()
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(timeout=2) as client:
            while True:
                try:
                    if client.get(f"{url}/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.02)
                if time.monotonic() - started > 30:
                    raise RuntimeError("server did not start")
            ready = time.monotonic() - started
            for _ in range(10):
                for path in ("/", "/healthz", "/readyz", "/metrics"):
                    client.get(url + path)
        time.sleep(2)
        return ready, rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_")}
        env["OMS_DATA_DIR"] = str(Path(scratch) / "data")
        (Path(scratch) / "oms.toml").write_text("")
        env["OMS_CONFIG"] = str(Path(scratch) / "oms.toml")
        port = free_port()
        oms_ready, oms_rss = measure(
            [sys.executable, "-m", "oms", "serve", "--port", str(port)], port, env, scratch
        )
        port = free_port()
        bare_ready, bare_rss = measure(
            [sys.executable, "-c", BARE_APP, str(port)], port, env, scratch
        )
    print(f"oms serve:      healthz after {oms_ready:.2f} s, idle RSS {oms_rss:.1f} MB")
    print(f"bare starlette: healthz after {bare_ready:.2f} s, idle RSS {bare_rss:.1f} MB")
    print(
        f"ratio (oms / bare starlette): RSS {oms_rss / bare_rss:.2f}x, "
        f"start {oms_ready / bare_ready:.2f}x; target: RSS < 150 MB, healthz < 3 s"
    )


if __name__ == "__main__":
    main()
