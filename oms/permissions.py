"""Who may do what: the one permission table every surface consults (web, XRPC, Subsonic).

A capability names something a person can do; the table says which roles have it. Each
surface's route table names the capability of every route, and the surface refuses a caller
whose role lacks it before the route's own code runs. What a capability cannot say (whose
track this is, whether an unlisted stream's link is signed) is checked by the room that owns
the thing: artists manage only their own catalog because a repository takes writes only from
its own account.

`anonymous` is the role of a caller who is not signed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

_T = TypeVar("_T")

__all__ = [
    "ANONYMOUS",
    "CAPABILITIES",
    "COLLECTION_CAPABILITIES",
    "CREATOR_ROLES",
    "MEMBER_ROLES",
    "ROLES",
    "allowed",
    "check_capability",
    "open_to_all",
    "roles_with",
]

ROLES = ("admin", "artist", "fan")
ANONYMOUS = "anonymous"

_EVERYONE = frozenset((ANONYMOUS, *ROLES))
MEMBER_ROLES = frozenset(ROLES)
CREATOR_ROLES = frozenset(("artist", "admin"))
_ADMINS = frozenset(("admin",))

CAPABILITIES: Mapping[str, frozenset[str]] = {
    # Open to everyone, signed in or not.
    "node.view": _EVERYONE,  # pages about the node, static files, identity documents, health
    # Metrics: anyone, unless `metrics.token` is set; then only callers with the token (a
    # credential of the scraper, not of an account, so no role grants it).
    "node.metrics": _EVERYONE,
    "catalog.read": _EVERYONE,  # browse and search the catalog; public records and repositories
    "stream.listen": _EVERYONE,  # HLS, artwork, downloads (as far as each artist allows)
    "account.enter": _EVERYONE,  # sign in, sign up, first-run setup, password reset links
    "listening.report": _EVERYONE,  # tell the node what was heard (as an account or a device)
    # Any signed-in account, for what is its own.
    "account.own": MEMBER_ROLES,  # sessions, password, two-factor, app passwords, data rights
    "repo.write": MEMBER_ROLES,  # records in one's own repository (likes, playlists, profile)
    "blob.upload": MEMBER_ROLES,  # files into one's own repository, within the role's quota
    # Artists (and admins, who may publish as the collective's own artist).
    "catalog.publish": CREATOR_ROLES,  # tracks and releases, the portal, upload inspection
    "analytics.own": CREATOR_ROLES,  # listening analytics of one's own tracks
    "statements.own": CREATOR_ROLES,  # royalty statements of one's own tracks
    # The collective's admins.
    "accounts.manage": _ADMINS,  # create, disable, change roles, issue password-reset links
    "invites.manage": _ADMINS,
    "plans.manage": _ADMINS,  # per-role quotas
    "audit.read": _ADMINS,
    "federation.manage": _ADMINS,
    "payouts.manage": _ADMINS,
    "settings.manage": _ADMINS,
}

# Record collections a role must hold a capability to write into its own repository.
COLLECTION_CAPABILITIES: Mapping[str, str] = {
    "fm.oms.track": "catalog.publish",
    "fm.oms.release": "catalog.publish",
}


def allowed(capability: str, role: str) -> bool:
    """Whether `role` (or ANONYMOUS) holds `capability`; an unknown capability is a bug."""
    return role in CAPABILITIES[capability]


def roles_with(capability: str) -> frozenset[str]:
    return CAPABILITIES[capability]


def check_capability(capability: str) -> str:
    """`capability`, after checking the table has it: route tables call this when built, so a
    misspelt capability fails at start, not on the first request."""
    if capability not in CAPABILITIES:
        raise KeyError(f"{capability!r} is not a capability in oms.permissions")
    return capability


def open_to_all(capability: str, endpoint: _T) -> _T:
    """Mark `endpoint` (a route whose protocol has no sign-in, such as a websocket or static
    files) with a capability every caller holds; refuses any other capability."""
    if not allowed(capability, ANONYMOUS):
        raise ValueError(f"{capability!r} is not open to anonymous callers")
    endpoint.capability = capability  # type: ignore[attr-defined]
    return endpoint
