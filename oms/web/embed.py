"""The embeddable players artists put on their own sites: `/embed/track/<actor>/<rkey>` and
`/embed/release/<actor>/<rkey>`, standalone pages any site may frame (the security headers
leave `/embed/` framable)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from oms.context import AppContext
from oms.errors import NotFound
from oms.library import catalog, search
from oms.library.records import RELEASE, TRACK
from oms.web.listen import start_seconds
from oms.web.render import page
from oms.web.shelf import Shelf, actor_did, record_uri

__all__ = ["embed_release", "embed_track"]


def _context(request: Request) -> AppContext:
    context: AppContext = request.state.context
    return context


async def embed_track(request: Request) -> Response:
    context = _context(request)
    did = await actor_did(context, request.path_params["actor"])
    uri = record_uri(did, TRACK, request.path_params["rkey"])
    view = await search.get_track(context.db, uri)
    if view is None:
        raise NotFound(f"no track {uri} in the catalog", name="TrackNotFound")
    # The embed is the same for everyone: no session is looked up.
    (track,) = await Shelf(request, None).tracks([view])
    return await page(
        request,
        "embed/player.html",
        viewer=None,
        title=f"{view.title} · {context.settings['node.name']}",
        tracks=[track.data],
        page_url=f"{context.settings.public_url}{track.page_url}",
        start_seconds=start_seconds(request.query_params.get("t")),
        artwork=track.data.get("artwork"),
    )


async def embed_release(request: Request) -> Response:
    context = _context(request)
    did = await actor_did(context, request.path_params["actor"])
    found = await catalog.get_release(
        context.db, record_uri(did, RELEASE, request.path_params["rkey"])
    )
    shelf = Shelf(request, None)
    (release,) = await shelf.releases([found.release])
    return await page(
        request,
        "embed/player.html",
        viewer=None,
        title=f"{found.release.title} · {context.settings['node.name']}",
        tracks=[t.data for t in await shelf.tracks(found.tracks)],
        page_url=f"{context.settings.public_url}{release.page_url}",
        start_seconds=None,
        artwork=release.data.get("artwork"),
    )
