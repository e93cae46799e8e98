"""How catalog entries appear on the fan pages: each carries its lexicon JSON (what the player
reads from `data-track`, the same object XRPC answers with) and the addresses of its pages.

Pages are addressed by handle for the node's own accounts (`/track/ada.example.org/3k…`,
links people share) and by DID otherwise; both resolve (`actor_did`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.requests import Request

from oms.context import AppContext
from oms.errors import NotFound
from oms.library.lexicon_json import CatalogJson, JsonObject, in_path
from oms.library.listener import likes_among
from oms.library.views import ArtistView, ReleaseView, TrackView
from oms.pds.accounts import get_account, handles_of
from oms.pds.dagcbor import JsonValue
from oms.pds.web_sessions import WebSession
from oms.web.session import signed_in

__all__ = [
    "ArtistItem",
    "ReleaseItem",
    "Shelf",
    "TrackItem",
    "actor_did",
    "field",
    "record_uri",
]


@dataclass(frozen=True)
class TrackItem:
    data: JsonObject  # fm.oms.catalog.defs#trackView
    page_url: str
    artist_url: str
    liked: str | None  # the viewer's fm.oms.like record, when they like it


@dataclass(frozen=True)
class ReleaseItem:
    data: JsonObject  # fm.oms.catalog.defs#releaseView
    page_url: str
    artist_url: str


@dataclass(frozen=True)
class ArtistItem:
    data: JsonObject  # fm.oms.catalog.defs#artistView
    page_url: str


def _rkey(uri: str) -> str:
    return uri.rsplit("/", 1)[1]


def field(value: JsonValue, name: str) -> JsonValue:
    """A field of a record's value (None when the value is not an object or lacks it)."""
    return value.get(name) if isinstance(value, dict) else None


def record_uri(did: str, collection: str, rkey: str) -> str:
    return f"at://{did}/{collection}/{rkey}"


async def actor_did(context: AppContext, actor: str) -> str:
    """The DID a page address names: a DID as it is, a handle of this node's accounts."""
    if actor.startswith("did:"):
        return actor
    try:
        return (await get_account(context.db, actor)).did
    except NotFound as e:
        raise NotFound(f"nobody called {actor} on this node", name="ActorNotFound") from e


class Shelf:
    """Turns catalog views into what one request's pages show (the viewer's likes marked)."""

    @classmethod
    async def of(cls, request: Request) -> Shelf:
        """The shelf of a page for whoever is signed in."""
        return cls(request, await signed_in(request))

    def __init__(self, request: Request, viewer: WebSession | None) -> None:
        self.context: AppContext = request.state.context
        self.json = CatalogJson(self.context.settings.public_url, self.context.keys)
        self.viewer = viewer
        self._handles: dict[str, str] = {}

    async def learn_handles(self, dids: Sequence[str]) -> None:
        unknown = [did for did in dids if did not in self._handles]
        if unknown:
            self._handles.update(await handles_of(self.context.db, unknown))

    def _actor(self, did: str) -> str:
        return self._handles.get(did) or in_path(did)

    def artist_url(self, did: str) -> str:
        return f"/artist/{self._actor(did)}"

    def page_url(self, kind: str, did: str, uri: str) -> str:
        return f"/{kind}/{self._actor(did)}/{_rkey(uri)}"

    async def tracks(self, views: Sequence[TrackView]) -> list[TrackItem]:
        await self.learn_handles([t.did for t in views])
        liked = (
            await likes_among(self.context.db, self.viewer.did, [t.uri for t in views])
            if self.viewer is not None
            else {}
        )
        return [
            TrackItem(
                self.json.track(t),
                self.page_url("track", t.did, t.uri),
                self.artist_url(t.did),
                liked.get(t.uri),
            )
            for t in views
        ]

    async def releases(self, views: Sequence[ReleaseView]) -> list[ReleaseItem]:
        await self.learn_handles([r.did for r in views])
        return [
            ReleaseItem(
                self.json.release(r), self.page_url("release", r.did, r.uri), self.artist_url(r.did)
            )
            for r in views
        ]

    async def artists(self, views: Sequence[ArtistView]) -> list[ArtistItem]:
        await self.learn_handles([a.did for a in views])
        return [ArtistItem(self.json.artist(a), self.artist_url(a.did)) for a in views]
