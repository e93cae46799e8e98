"""`com.atproto.sync.*` reads: whole repositories and slices of them as CAR, for any peer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response, StreamingResponse

from oms.errors import InvalidRequest, NotFound
from oms.pds.accounts import Account, get_account
from oms.xrpc.dispatch import XrpcCall

__all__ = [
    "get_blocks",
    "get_latest_commit",
    "get_record",
    "get_repo",
    "get_repo_status",
    "hosted_account",
    "list_repos",
]

CAR = "application/vnd.ipld.car"

# How an account's status is told to peers (the sync lexicons' names).
_STATUS = {"disabled": "takendown", "deactivated": "deactivated", "deleted": "deleted"}
_UNAVAILABLE = {
    "disabled": ("RepoTakendown", "taken down"),
    "deactivated": ("RepoDeactivated", "deactivated"),
}


async def hosted_account(call: XrpcCall, did: str) -> Account:
    """The local account whose repository is asked for, if it may be served."""
    try:
        account = await get_account(call.context.db, did)
    except NotFound:
        raise NotFound(f"could not find repo for DID: {did}", name="RepoNotFound") from None
    if account.status == "deleted":
        raise NotFound(f"could not find repo for DID: {did}", name="RepoNotFound")
    unavailable = _UNAVAILABLE.get(account.status)
    if unavailable:
        raise InvalidRequest(f"repository {did} is {unavailable[1]}", name=unavailable[0])
    return account


async def get_repo(call: XrpcCall) -> Response:
    account = await hosted_account(call, call.params["did"])
    stream = call.context.repos.export_car(account.did, call.params.get("since"))
    # Fetch the first chunk now, so that a missing repository is an XRPC error, not a
    # half-sent response.
    first = await anext(stream)

    async def body() -> Any:
        yield first
        async for chunk in stream:
            yield chunk

    return StreamingResponse(body(), media_type=CAR)


async def get_latest_commit(call: XrpcCall) -> Mapping[str, Any]:
    account = await hosted_account(call, call.params["did"])
    root = await call.context.repos.root(account.did)
    return {"cid": root.commit_cid, "rev": root.rev}


async def get_record(call: XrpcCall) -> Response:
    account = await hosted_account(call, call.params["did"])
    car = await call.context.repos.record_proof_car(
        account.did, call.params["collection"], call.params["rkey"]
    )
    return Response(car, media_type=CAR)


async def get_blocks(call: XrpcCall) -> Response:
    account = await hosted_account(call, call.params["did"])
    cids = call.params["cids"]
    car = await call.context.repos.blocks_car(
        account.did, cids if isinstance(cids, list) else [cids]
    )
    return Response(car, media_type=CAR)


async def get_repo_status(call: XrpcCall) -> Mapping[str, Any]:
    try:
        account = await get_account(call.context.db, call.params["did"])
    except NotFound:
        raise NotFound(
            f"could not find repo for DID: {call.params['did']}", name="RepoNotFound"
        ) from None
    answer: dict[str, Any] = {"did": account.did, "active": account.status == "active"}
    if account.status != "active":
        answer["status"] = _STATUS[account.status]
    if account.status != "deleted":
        answer["rev"] = (await call.context.repos.root(account.did)).rev
    return answer


async def list_repos(call: XrpcCall) -> Mapping[str, Any]:
    limit = int(call.params.get("limit", 500))
    rows = await call.context.db.fetchall(
        "SELECT a.did, a.status, r.commit_cid, r.rev FROM accounts a"
        " JOIN repo_roots r ON r.did = a.did"
        " WHERE a.status != 'deleted' AND (?1 IS NULL OR a.did > ?1) ORDER BY a.did LIMIT ?2",
        (call.params.get("cursor"), limit),
    )
    repos = []
    for row in rows:
        entry: dict[str, Any] = {
            "did": row["did"],
            "head": row["commit_cid"],
            "rev": row["rev"],
            "active": row["status"] == "active",
        }
        if row["status"] != "active":
            entry["status"] = _STATUS[row["status"]]
        repos.append(entry)
    answer: dict[str, Any] = {"repos": repos}
    if len(rows) == limit:
        answer["cursor"] = rows[-1]["did"]
    return answer
