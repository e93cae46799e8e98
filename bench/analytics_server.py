"""`oms serve` plus one route for bench/analytics.py: `POST /xrpc/bench.bare` reads the body
and answers 204, behind the same middleware and route table, in the same process.

Run: python bench/analytics_server.py serve --port N [any other `oms serve` argument]
Nothing else differs from `oms serve`: the same settings, start-up and uvicorn configuration
(this calls the `oms` command itself, with `create_app` wrapped to add the route).
"""

from __future__ import annotations

import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import oms.app
from oms.cli import main
from oms.config import Settings

BARE_PATH = "/xrpc/bench.bare"
_create_app = oms.app.create_app


async def bare(request: Request) -> Response:
    await request.body()
    return Response(status_code=204)


def create_app(settings: Settings) -> Starlette:
    app = _create_app(settings)
    routes = app.router.routes
    # Just before the XRPC route, so a bare request is routed past the same table.
    xrpc = next(i for i, r in enumerate(routes) if getattr(r, "path", "") == "/xrpc/{nsid}")
    routes.insert(xrpc, Route(BARE_PATH, bare, methods=["POST"]))
    return app


if __name__ == "__main__":
    oms.app.create_app = create_app  # cmd_serve imports it when it runs
    raise SystemExit(main(sys.argv[1:]))
