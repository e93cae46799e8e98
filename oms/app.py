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
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
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
from oms.permissions import open_to_all
from oms.resources import static_dir
from oms.web import (
    account,
    admin,
    analytics,
    collection,
    data_rights,
    embed,
    listen,
    media,
    operations,
    pages,
    portal,
    pwa,
    reset,
    second_factor,
    wellknown,
)
from oms.web.guard import guarded
from oms.web.render import render_error
from oms.xrpc import routes as xrpc

__all__ = ["create_app", "routes", "signal_stopping"]

log = logging.getLogger(__name__)


def routes() -> list[BaseRoute]:
    """Every route of every surface, in one table."""
    return [
        Route("/healthz", guarded("node.view", operations.healthz), methods=["GET"]),
        Route("/readyz", guarded("node.view", operations.readyz), methods=["GET"]),
        Route("/metrics", guarded("node.metrics", operations.metrics), methods=["GET"]),
        Route(
            "/.well-known/atproto-did", guarded("node.view", wellknown.atproto_did), methods=["GET"]
        ),
        Route("/.well-known/did.json", guarded("node.view", wellknown.did_json), methods=["GET"]),
        Route("/", guarded("node.view", listen.home), methods=["GET"]),
        Route("/search", guarded("catalog.read", listen.search_page), methods=["GET"]),
        Route("/artist/{actor}", guarded("catalog.read", listen.artist_page), methods=["GET"]),
        Route(
            "/release/{actor}/{rkey}", guarded("catalog.read", listen.release_page), methods=["GET"]
        ),
        Route("/track/{actor}/{rkey}", guarded("catalog.read", listen.track_page), methods=["GET"]),
        Route(
            "/playlist/{actor}/{rkey}",
            guarded("catalog.read", collection.playlist_page),
            methods=["GET"],
        ),
        Route("/library", guarded("catalog.read", collection.library_page), methods=["GET"]),
        Route(
            "/embed/track/{actor}/{rkey}",
            guarded("catalog.read", embed.embed_track),
            methods=["GET"],
        ),
        Route(
            "/embed/release/{actor}/{rkey}",
            guarded("catalog.read", embed.embed_release),
            methods=["GET"],
        ),
        Route("/manifest.webmanifest", guarded("node.view", pwa.manifest), methods=["GET"]),
        Route("/sw.js", guarded("node.view", pwa.service_worker), methods=["GET"]),
        Route("/signup", guarded("account.enter", account.sign_up_form), methods=["GET"]),
        Route("/signup", guarded("account.enter", account.sign_up_submit), methods=["POST"]),
        Route("/setup", guarded("account.enter", pages.setup_form), methods=["GET"]),
        Route("/setup", guarded("account.enter", pages.setup_submit), methods=["POST"]),
        Route("/signin", guarded("account.enter", account.sign_in_form), methods=["GET"]),
        Route("/signin", guarded("account.enter", account.sign_in_submit), methods=["POST"]),
        Route("/signin/verify", guarded("account.enter", account.sign_in_verify), methods=["POST"]),
        Route("/signout", guarded("account.enter", account.sign_out), methods=["POST"]),
        Route("/account/sessions", guarded("account.own", account.sessions_page), methods=["GET"]),
        Route("/account/sessions/revoke", guarded("account.own", account.revoke), methods=["POST"]),
        Route(
            "/account/sessions/end-all",
            guarded("account.own", account.sign_out_everywhere),
            methods=["POST"],
        ),
        Route("/account/data", guarded("account.own", data_rights.data_page), methods=["GET"]),
        Route(
            "/account/export", guarded("account.own", data_rights.export_archive), methods=["POST"]
        ),
        Route(
            "/account/delete", guarded("account.own", data_rights.delete_account), methods=["POST"]
        ),
        Route(
            "/account/listening/delete",
            guarded("account.own", data_rights.delete_listening),
            methods=["POST"],
        ),
        Route(
            "/account/security",
            guarded("account.own", second_factor.security_page),
            methods=["GET"],
        ),
        Route(
            "/account/password",
            guarded("account.own", second_factor.change_password),
            methods=["POST"],
        ),
        Route(
            "/account/totp/setup",
            guarded("account.own", second_factor.totp_setup_form),
            methods=["GET"],
        ),
        Route(
            "/account/totp/setup",
            guarded("account.own", second_factor.totp_setup_submit),
            methods=["POST"],
        ),
        Route(
            "/account/totp/disable",
            guarded("account.own", second_factor.totp_disable),
            methods=["POST"],
        ),
        Route("/reset", guarded("account.enter", reset.reset_form), methods=["GET"]),
        Route("/reset", guarded("account.enter", reset.reset_submit), methods=["POST"]),
        Route("/admin", guarded("accounts.manage", admin.home), methods=["GET"]),
        Route("/admin/accounts", guarded("accounts.manage", admin.accounts_page), methods=["GET"]),
        Route(
            "/admin/accounts/{handle}",
            guarded("accounts.manage", admin.account_page),
            methods=["GET"],
        ),
        Route(
            "/admin/accounts/{handle}/role",
            guarded("accounts.manage", admin.change_role),
            methods=["POST"],
        ),
        Route(
            "/admin/accounts/{handle}/status",
            guarded("accounts.manage", admin.change_status),
            methods=["POST"],
        ),
        Route(
            "/admin/accounts/{handle}/reset-link",
            guarded("accounts.manage", admin.reset_link),
            methods=["POST"],
        ),
        Route("/admin/invites", guarded("invites.manage", admin.invites_page), methods=["GET"]),
        Route("/admin/invites", guarded("invites.manage", admin.create_invites), methods=["POST"]),
        Route("/admin/plans", guarded("plans.manage", admin.plans_page), methods=["GET"]),
        Route("/admin/plans", guarded("plans.manage", admin.save_plans), methods=["POST"]),
        Route("/admin/audit", guarded("audit.read", admin.audit_page), methods=["GET"]),
        Route(
            "/admin/audit/export.{format}",
            guarded("audit.read", admin.audit_export),
            methods=["GET"],
        ),
        Route(
            "/admin/listening", guarded("audit.read", analytics.admin_listening), methods=["GET"]
        ),
        Route("/portal", guarded("catalog.publish", portal.dashboard), methods=["GET"]),
        Route("/portal/upload", guarded("catalog.publish", portal.upload_page), methods=["GET"]),
        Route(
            "/portal/tracks/{rkey}",
            guarded("catalog.publish", portal.track_editor),
            methods=["GET"],
        ),
        Route(
            "/portal/releases/{rkey}",
            guarded("catalog.publish", portal.release_editor),
            methods=["GET"],
        ),
        Route("/portal/events", guarded("catalog.publish", portal.events), methods=["GET"]),
        Route("/portal/analytics", guarded("analytics.own", analytics.overview), methods=["GET"]),
        Route(
            "/portal/analytics/tracks/{rkey}",
            guarded("analytics.own", analytics.track_page),
            methods=["GET"],
        ),
        Route(
            "/portal/analytics/export.{format}",
            guarded("analytics.own", analytics.export),
            methods=["GET"],
        ),
        Mount(
            "/static", open_to_all("node.view", StaticFiles(directory=static_dir())), name="static"
        ),
        Route(
            "/hls/{did}/{cid}/{path:path}",
            guarded("stream.listen", media.hls_file),
            methods=["GET", "HEAD"],
        ),
        Route(
            "/hls/{did}/{cid}/{path:path}",
            guarded("stream.listen", media.hls_preflight),
            methods=["OPTIONS"],
        ),
        Route(
            "/img/{did}/{cid}/{size}.jpg",
            guarded("stream.listen", media.image),
            methods=["GET", "HEAD"],
        ),
        Route(
            "/download/{did}/{cid}",
            guarded("stream.listen", media.download),
            methods=["GET", "HEAD"],
        ),
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
        middleware=[
            Middleware(RequestMiddleware),
            Middleware(SecurityHeadersMiddleware),
            # Pages, scripts, styles and JSON travel compressed; media, archives and
            # repositories (already compressed, or read by byte range) do not.
            Middleware(
                GZipMiddleware,
                minimum_size=1024,
                exclude_content_types=(
                    *DEFAULT_EXCLUDED_CONTENT_TYPES,
                    "application/vnd.ipld.car",
                    "application/octet-stream",
                ),
            ),
        ],
        exception_handlers={OmsError: _on_error, HTTPException: _on_http_error},
    )
    # Set when the node starts to stop: responses that would stream forever (server-sent
    # events) end, so that the server is not kept waiting for them.
    app.state.stopping = asyncio.Event()
    return app


def signal_stopping(app: Starlette) -> None:
    app.state.stopping.set()
