"""The XRPC route table: every method the node serves, by its exact wire name, in one place."""

from __future__ import annotations

from starlette.routing import Route, WebSocketRoute

from oms.permissions import open_to_all
from oms.xrpc import (
    analytics,
    blobs,
    catalog,
    firehose,
    identity,
    media,
    repo,
    server,
    sync,
    uploads,
)
from oms.xrpc.auth import authorize
from oms.xrpc.dispatch import Method, xrpc_endpoint

__all__ = ["METHODS", "routes"]

# Each method with the capability (oms.permissions) its caller's role must hold.
METHODS: dict[str, Method] = {
    # com.atproto.server (oms/xrpc/server.py)
    "com.atproto.server.describeServer": Method("node.view", server.describe_server),
    "com.atproto.server.createAccount": Method("account.enter", server.create_account),
    "com.atproto.server.createSession": Method("account.enter", server.create_session),
    "com.atproto.server.refreshSession": Method(
        "account.own", server.refresh_session, refresh_credential=True
    ),
    "com.atproto.server.getSession": Method("account.own", server.get_session),
    "com.atproto.server.deleteSession": Method(
        "account.own", server.delete_session, refresh_credential=True
    ),
    "com.atproto.server.createAppPassword": Method("account.own", server.create_app_password),
    "com.atproto.server.listAppPasswords": Method("account.own", server.list_app_passwords),
    "com.atproto.server.revokeAppPassword": Method("account.own", server.revoke_app_password),
    "com.atproto.server.createInviteCode": Method("invites.manage", server.create_invite_code),
    "com.atproto.server.createInviteCodes": Method("invites.manage", server.create_invite_codes),
    "com.atproto.server.deactivateAccount": Method("account.own", server.deactivate_account),
    "com.atproto.server.activateAccount": Method("account.own", server.activate_account),
    "com.atproto.server.requestAccountDelete": Method("account.own", server.request_account_delete),
    "com.atproto.server.deleteAccount": Method("account.enter", server.delete_account),
    # com.atproto.identity (oms/xrpc/identity.py)
    "com.atproto.identity.resolveHandle": Method("catalog.read", identity.resolve_handle),
    "com.atproto.identity.updateHandle": Method("account.own", identity.update_handle),
    # com.atproto.repo (oms/xrpc/repo.py)
    "com.atproto.repo.createRecord": Method("repo.write", repo.create_record),
    "com.atproto.repo.putRecord": Method("repo.write", repo.put_record),
    "com.atproto.repo.deleteRecord": Method("repo.write", repo.delete_record),
    "com.atproto.repo.applyWrites": Method("repo.write", repo.apply_writes),
    "com.atproto.repo.getRecord": Method("catalog.read", repo.get_record),
    "com.atproto.repo.listRecords": Method("catalog.read", repo.list_records),
    "com.atproto.repo.describeRepo": Method("catalog.read", repo.describe_repo),
    # com.atproto.repo blobs (oms/xrpc/blobs.py)
    "com.atproto.repo.uploadBlob": Method("blob.upload", blobs.upload_blob),
    "com.atproto.sync.getBlob": Method("catalog.read", blobs.get_blob),
    "com.atproto.sync.listBlobs": Method("catalog.read", blobs.list_blobs),
    # com.atproto.sync (oms/xrpc/sync.py)
    "com.atproto.sync.getRepo": Method("catalog.read", sync.get_repo),
    "com.atproto.sync.getLatestCommit": Method("catalog.read", sync.get_latest_commit),
    "com.atproto.sync.getRecord": Method("catalog.read", sync.get_record),
    "com.atproto.sync.getBlocks": Method("catalog.read", sync.get_blocks),
    "com.atproto.sync.getRepoStatus": Method("catalog.read", sync.get_repo_status),
    "com.atproto.sync.listRepos": Method("catalog.read", sync.list_repos),
    # fm.oms.catalog (oms/xrpc/catalog.py)
    "fm.oms.catalog.searchTracks": Method("catalog.read", catalog.search_tracks),
    "fm.oms.catalog.getTrack": Method("catalog.read", catalog.get_track),
    "fm.oms.catalog.getTracks": Method("catalog.read", catalog.get_tracks),
    "fm.oms.catalog.getRelease": Method("catalog.read", catalog.get_release),
    "fm.oms.catalog.getArtist": Method("catalog.read", catalog.get_artist),
    "fm.oms.catalog.listGenres": Method("catalog.read", catalog.list_genres),
    "fm.oms.catalog.getNewReleases": Method("catalog.read", catalog.get_new_releases),
    "fm.oms.catalog.getTrending": Method("catalog.read", catalog.get_trending),
    "fm.oms.catalog.searchArtists": Method("catalog.read", catalog.search_artists),
    "fm.oms.catalog.searchReleases": Method("catalog.read", catalog.search_releases),
    "fm.oms.catalog.getSimilarTracks": Method("catalog.read", catalog.get_similar_tracks),
    "fm.oms.catalog.getRadio": Method("catalog.read", catalog.get_radio),
    # fm.oms.analytics (oms/xrpc/analytics.py)
    "fm.oms.analytics.reportListening": Method("listening.report", analytics.report_listening),
    "fm.oms.analytics.getTrackStats": Method("analytics.own", analytics.get_track_stats),
    "fm.oms.analytics.getRetention": Method("analytics.own", analytics.get_retention),
    "fm.oms.analytics.getArtistOverview": Method("analytics.own", analytics.get_artist_overview),
    "fm.oms.analytics.exportListening": Method("analytics.own", analytics.export_listening),
    # fm.oms.media (oms/xrpc/media.py)
    "fm.oms.media.getStatus": Method("stream.listen", media.get_status),
    "fm.oms.media.describeUpload": Method(
        "catalog.publish", uploads.describe_upload
    ),  # oms/xrpc/uploads.py
}


def routes() -> list[Route | WebSocketRoute]:
    return [
        WebSocketRoute(
            "/xrpc/com.atproto.sync.subscribeRepos",
            open_to_all("catalog.read", firehose.subscribe_repos),
        ),
        Route("/xrpc/{nsid}", xrpc_endpoint(METHODS, authorize), methods=["GET", "HEAD", "POST"]),
    ]
