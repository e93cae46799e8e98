"""The ASGI application: every surface's routes, the middleware, and the node's lifespan."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from oms.config import Settings
from oms.context import AppContext, open_context
from oms.errors import NotFound, OmsError
from oms.jobs.relays import RelayCrawls
from oms.jobs.schedule import start_schedule
from oms.jobs.worker import JobWorker
from oms.middleware import RequestMiddleware, SecurityHeadersMiddleware
from oms.pds.bootstrap import issue_setup_token
from oms.resources import static_dir
from oms.web import account, media, operations, pages, portal, wellknown
from oms.web.render import render_error
from oms.xrpc import routes as xrpc

__all__ = ["create_app", "routes", "signal_stopping"]

log = logging.getLogger(__name__)


def routes() -> list[BaseRoute]:
    """Every route of every surface, in one table."""
    return [
        Route("/healthz", operations.healthz, methods=["GET"]),
        Route("/readyz", operations.readyz, methods=["GET"]),
        Route("/metrics", operations.metrics, methods=["GET"]),
        Route("/.well-known/atproto-did", wellknown.atproto_did, methods=["GET"]),
        Route("/.well-known/did.json", wellknown.did_json, methods=["GET"]),
        Route("/", pages.home, methods=["GET"]),
        Route("/setup", pages.setup_form, methods=["GET"]),
        Route("/setup", pages.setup_submit, methods=["POST"]),
        Route("/signin", account.sign_in_form, methods=["GET"]),
        Route("/signin", account.sign_in_submit, methods=["POST"]),
        Route("/signout", account.sign_out, methods=["POST"]),
        Route("/account/sessions", account.sessions_page, methods=["GET"]),
        Route("/account/sessions/revoke", account.revoke, methods=["POST"]),
        Route("/account/sessions/end-all", account.sign_out_everywhere, methods=["POST"]),
        Route("/portal", portal.dashboard, methods=["GET"]),
        Route("/portal/upload", portal.upload_page, methods=["GET"]),
        Route("/portal/tracks/{rkey}", portal.track_editor, methods=["GET"]),
        Route("/portal/releases/{rkey}", portal.release_editor, methods=["GET"]),
        Route("/portal/events", portal.events, methods=["GET"]),
        Mount("/static", StaticFiles(directory=static_dir()), name="static"),
        Route("/hls/{did}/{cid}/{path:path}", media.hls_file, methods=["GET", "HEAD"]),
        Route("/hls/{did}/{cid}/{path:path}", media.hls_preflight, methods=["OPTIONS"]),
        Route("/img/{did}/{cid}/{size}.jpg", media.image, methods=["GET", "HEAD"]),
        Route("/download/{did}/{cid}", media.download, methods=["GET", "HEAD"]),
        *xrpc.routes(),
    ]


def _announce_setup(context: AppContext, token: str) -> None:
    link = f"{context.settings.public_url}/setup?token={token}"
    # Printed rather than only logged: the operator must see it even with JSON logs shipped away.
    print(
        "\n"
        "  This node has no admin yet. Create the first admin, once, at:\n"
        f"    {link}\n"
        "  (a restart prints a new link and the old one stops working)\n",
        flush=True,
    )
    log.info("first-run setup link issued", extra={"setup_url_printed": True})


async def _on_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, OmsError)
    return render_error(request, error)


async def _on_http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 404 and "text/html" in request.headers.get("accept", ""):
        return render_error(request, NotFound(f"nothing at {request.url.path}"))
    return JSONResponse(
        {
            "error": "NotFound" if error.status_code == 404 else "InvalidRequest",
            "message": error.detail,
        },
        status_code=error.status_code,
        headers=error.headers,
    )


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        context = await open_context(settings, serving=True)
        token = await issue_setup_token(context.db)
        if token:
            _announce_setup(context, token)
        # pds.relays: registers its job handler, so before the worker is made.
        relay_crawls = RelayCrawls(context)
        concurrency = int(settings["jobs.concurrency"]) or (os.cpu_count() or 1)
        worker = JobWorker(context.db, context.job_handlers, concurrency)
        worker.start()
        await relay_crawls.start()
        await context.firehose.start()
        if context.catalog_indexer is not None:
            await context.catalog_indexer.start()
        schedule = start_schedule(context)
        log.info(
            "OMS serving %s from %s with %s",
            settings.public_url,
            context.data_dir,
            context.ffmpeg.describe(),
        )
        try:
            yield {"context": context}
        finally:
            await schedule.stop()
            await relay_crawls.stop()
            await context.firehose.stop()
            if context.catalog_indexer is not None:
                await context.catalog_indexer.stop()
            await worker.stop(float(settings["server.shutdown_timeout"]))
            await context.close()
            log.info("OMS stopped cleanly")

    app = Starlette(
        routes=routes(),
        lifespan=lifespan,
        middleware=[Middleware(RequestMiddleware), Middleware(SecurityHeadersMiddleware)],
        exception_handlers={OmsError: _on_error, HTTPException: _on_http_error},
    )
    # Set when the node starts to stop: responses that would stream forever (server-sent
    # events) end, so that the server is not kept waiting for them.
    app.state.stopping = asyncio.Event()
    return app


def signal_stopping(app: Starlette) -> None:
    app.state.stopping.set()
