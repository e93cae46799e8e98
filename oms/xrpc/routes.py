"""The XRPC route table: every method the node serves, by its exact wire name, in one place."""

from __future__ import annotations

from starlette.routing import Route, WebSocketRoute

from oms.xrpc import blobs, catalog, firehose, identity, media, repo, server, sync, uploads
from oms.xrpc.dispatch import Handler, xrpc_endpoint

__all__ = ["METHODS", "routes"]

METHODS: dict[str, Handler] = {
    # com.atproto.server (oms/xrpc/server.py)
    "com.atproto.server.describeServer": server.describe_server,
    "com.atproto.server.createAccount": server.create_account,
    "com.atproto.server.createSession": server.create_session,
    "com.atproto.server.refreshSession": server.refresh_session,
    "com.atproto.server.getSession": server.get_session,
    "com.atproto.server.deleteSession": server.delete_session,
    "com.atproto.server.createAppPassword": server.create_app_password,
    "com.atproto.server.listAppPasswords": server.list_app_passwords,
    "com.atproto.server.revokeAppPassword": server.revoke_app_password,
    "com.atproto.server.createInviteCode": server.create_invite_code,
    "com.atproto.server.createInviteCodes": server.create_invite_codes,
    "com.atproto.server.deactivateAccount": server.deactivate_account,
    "com.atproto.server.activateAccount": server.activate_account,
    "com.atproto.server.requestAccountDelete": server.request_account_delete,
    "com.atproto.server.deleteAccount": server.delete_account,
    # com.atproto.identity (oms/xrpc/identity.py)
    "com.atproto.identity.resolveHandle": identity.resolve_handle,
    "com.atproto.identity.updateHandle": identity.update_handle,
    # com.atproto.repo (oms/xrpc/repo.py)
    "com.atproto.repo.createRecord": repo.create_record,
    "com.atproto.repo.putRecord": repo.put_record,
    "com.atproto.repo.deleteRecord": repo.delete_record,
    "com.atproto.repo.applyWrites": repo.apply_writes,
    "com.atproto.repo.getRecord": repo.get_record,
    "com.atproto.repo.listRecords": repo.list_records,
    "com.atproto.repo.describeRepo": repo.describe_repo,
    # com.atproto.repo blobs (oms/xrpc/blobs.py)
    "com.atproto.repo.uploadBlob": blobs.upload_blob,
    "com.atproto.sync.getBlob": blobs.get_blob,
    "com.atproto.sync.listBlobs": blobs.list_blobs,
    # com.atproto.sync (oms/xrpc/sync.py)
    "com.atproto.sync.getRepo": sync.get_repo,
    "com.atproto.sync.getLatestCommit": sync.get_latest_commit,
    "com.atproto.sync.getRecord": sync.get_record,
    "com.atproto.sync.getBlocks": sync.get_blocks,
    "com.atproto.sync.getRepoStatus": sync.get_repo_status,
    "com.atproto.sync.listRepos": sync.list_repos,
    # fm.oms.catalog (oms/xrpc/catalog.py)
    "fm.oms.catalog.searchTracks": catalog.search_tracks,
    "fm.oms.catalog.getTrack": catalog.get_track,
    "fm.oms.catalog.getTracks": catalog.get_tracks,
    "fm.oms.catalog.getRelease": catalog.get_release,
    "fm.oms.catalog.getArtist": catalog.get_artist,
    "fm.oms.catalog.listGenres": catalog.list_genres,
    "fm.oms.catalog.getNewReleases": catalog.get_new_releases,
    "fm.oms.catalog.getTrending": catalog.get_trending,
    "fm.oms.catalog.searchArtists": catalog.search_artists,
    "fm.oms.catalog.searchReleases": catalog.search_releases,
    "fm.oms.catalog.getSimilarTracks": catalog.get_similar_tracks,
    "fm.oms.catalog.getRadio": catalog.get_radio,
    # fm.oms.media (oms/xrpc/media.py)
    "fm.oms.media.getStatus": media.get_status,
    "fm.oms.media.describeUpload": uploads.describe_upload,  # oms/xrpc/uploads.py
}


def routes() -> list[Route | WebSocketRoute]:
    return [
        WebSocketRoute("/xrpc/com.atproto.sync.subscribeRepos", firehose.subscribe_repos),
        Route("/xrpc/{nsid}", xrpc_endpoint(METHODS), methods=["GET", "HEAD", "POST"]),
    ]
