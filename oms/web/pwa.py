"""What makes the player an installable app: the web app manifest (named after the node) and
the service worker, served from the root so that its scope is the whole site."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from oms.context import AppContext
from oms.resources import static_dir

__all__ = ["THEME_COLOR", "manifest", "service_worker"]

THEME_COLOR = "#0b57d0"
_ICONS = (
    ("/static/icons/icon-192.png", "192x192", "image/png", "any"),
    ("/static/icons/icon-512.png", "512x512", "image/png", "any"),
    ("/static/icons/maskable-512.png", "512x512", "image/png", "maskable"),
    ("/static/icons/icon.svg", "any", "image/svg+xml", "any"),
)


async def manifest(request: Request) -> Response:
    context: AppContext = request.state.context
    name = str(context.settings["node.name"])
    body = {
        "name": name,
        "short_name": name[:12],
        "description": f"Music from {name}, an Open Music Streaming node",
        "id": "/",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#121212",
        "theme_color": THEME_COLOR,
        "icons": [
            {"src": src, "sizes": sizes, "type": kind, "purpose": purpose}
            for src, sizes, kind, purpose in _ICONS
        ],
        "shortcuts": [
            {"name": "Search", "url": "/search"},
            {"name": "Your library", "url": "/library"},
        ],
    }
    return JSONResponse(
        body, media_type="application/manifest+json", headers={"Cache-Control": "no-cache"}
    )


async def service_worker(request: Request) -> Response:
    # Always revalidated: a new release's worker must reach browsers on their next visit.
    return FileResponse(
        static_dir() / "sw.js",
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )
