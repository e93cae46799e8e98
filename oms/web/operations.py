"""Operations endpoints: liveness, readiness of each dependency, Prometheus metrics."""

from __future__ import annotations

import hmac
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from oms import __version__
from oms.context import AppContext, free_megabytes
from oms.db.queue import pending_counts
from oms.metrics import JOBS_QUEUED, REGISTRY

__all__ = ["healthz", "metrics", "readyz"]


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


async def readyz(request: Request) -> Response:
    context: AppContext = request.state.context
    checks: dict[str, dict[str, Any]] = {}
    try:
        version = await context.db.fetchval("SELECT max(version) FROM schema_migrations")
        checks["database"] = {"ok": True, "detail": f"schema version {version}"}
    except Exception as e:
        checks["database"] = {"ok": False, "detail": f"{type(e).__name__}: {e}"}
    ffmpeg = context.ffmpeg
    checks["ffmpeg"] = {"ok": ffmpeg.path.is_file(), "detail": ffmpeg.describe()}
    minimum = int(context.settings["data.min_free_mb"])
    free = free_megabytes(context.data_dir)
    checks["disk"] = {
        "ok": free >= minimum,
        "detail": f"{free} MB free under {context.data_dir} (minimum {minimum} MB)",
    }
    ready = all(check["ok"] for check in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


async def metrics(request: Request) -> Response:
    context: AppContext = request.state.context
    token = str(context.settings["metrics.token"])
    if token:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return JSONResponse(
                {
                    "error": "AuthRequired",
                    "message": "metrics need 'Authorization: Bearer <token>'",
                },
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    JOBS_QUEUED.clear()
    for (kind, state), count in (await pending_counts(context.db)).items():
        JOBS_QUEUED.labels(kind, state).set(count)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
