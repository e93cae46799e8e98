"""`com.atproto.repo.*` record methods: writes by the signed-in owner, reads by anyone."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from oms.errors import Forbidden, InvalidRequest
from oms.pds.accounts import Account, get_account
from oms.pds.identity import local_did_document
from oms.pds.repo import CommitResult, Write
from oms.pds.tid import next_tid
from oms.permissions import COLLECTION_CAPABILITIES, allowed
from oms.xrpc.auth import authenticated
from oms.xrpc.dispatch import XrpcCall

__all__ = [
    "apply_writes",
    "create_record",
    "delete_record",
    "describe_repo",
    "get_record",
    "list_records",
    "put_record",
]

_APPLY_WRITES = "com.atproto.repo.applyWrites"


async def _own_repo(call: XrpcCall, repo: str, collections: Iterable[str]) -> Account:
    """The caller's own repository, after checking their role may write each collection
    (only creators publish tracks and releases: oms.permissions)."""
    viewer = await authenticated(call)
    account = await get_account(call.context.db, repo)
    if account.did != viewer.did:
        raise Forbidden(f"@{viewer.did} may not write to the repository of {account.did}")
    for collection in set(collections):
        capability = COLLECTION_CAPABILITIES.get(collection)
        if capability is not None and not allowed(capability, viewer.role):
            raise Forbidden(
                f"{collection} records are published by the collective's artists; "
                f"a {viewer.role} account may not write them",
            )
    return account


def _commit_meta(result: CommitResult) -> dict[str, str]:
    return {"cid": result.cid, "rev": result.rev}


def _default_rkey(call: XrpcCall, collection: str) -> str:
    # A collection whose lexicon names one literal key (e.g. a profile's "self") uses it.
    if call.context.lexicons.has(collection):
        record = call.context.lexicons.get(collection).main or {}
        key = str(record.get("key", "tid"))
        if key.startswith("literal:"):
            return key.removeprefix("literal:")
    return next_tid()


def _written(result: CommitResult) -> dict[str, Any]:
    """The answer to a one-record write (createRecord, putRecord)."""
    written = result.results[0]
    return {
        "uri": written.uri,
        "cid": written.cid,
        "commit": _commit_meta(result),
        "validationStatus": written.validation_status,
    }


async def create_record(call: XrpcCall) -> Mapping[str, Any]:
    body = await call.json_input()
    collection = body["collection"]
    account = await _own_repo(call, body["repo"], [collection])
    write = Write(
        "create", collection, body.get("rkey") or _default_rkey(call, collection), body["record"]
    )
    result = await call.context.repos.apply_writes(
        account.did, [write], validate=body.get("validate"), swap_commit=body.get("swapCommit")
    )
    return _written(result)


async def put_record(call: XrpcCall) -> Mapping[str, Any]:
    body = await call.json_input()
    account = await _own_repo(call, body["repo"], [body["collection"]])
    write = Write(
        "update",
        body["collection"],
        body["rkey"],
        body["record"],
        check_swap="swapRecord" in body,
        swap_record=body.get("swapRecord"),
    )
    result = await call.context.repos.apply_writes(
        account.did, [write], validate=body.get("validate"), swap_commit=body.get("swapCommit")
    )
    return _written(result)


async def delete_record(call: XrpcCall) -> Mapping[str, Any]:
    body = await call.json_input()
    collection, rkey = body["collection"], body["rkey"]
    account = await _own_repo(call, body["repo"], [collection])
    swap = body.get("swapRecord")
    present = await call.context.db.fetchval(
        "SELECT cid FROM records WHERE did = ? AND collection = ? AND rkey = ?",
        (account.did, collection, rkey),
    )
    if present is None and swap is None:
        # Deleting what is not there changes nothing: no commit, as the reference PDS does.
        return {}
    write = Write("delete", collection, rkey, check_swap=swap is not None, swap_record=swap)
    result = await call.context.repos.apply_writes(
        account.did, [write], swap_commit=body.get("swapCommit")
    )
    return {"commit": _commit_meta(result)}


_ACTIONS = {
    f"{_APPLY_WRITES}#create": "create",
    f"{_APPLY_WRITES}#update": "update",
    f"{_APPLY_WRITES}#delete": "delete",
}


async def apply_writes(call: XrpcCall) -> Mapping[str, Any]:
    body = await call.json_input()
    account = await _own_repo(
        call, body["repo"], (str(item.get("collection", "")) for item in body["writes"])
    )
    writes = []
    for n, item in enumerate(body["writes"]):
        action = _ACTIONS.get(item.get("$type", ""))
        if action is None:
            raise InvalidRequest(f"Input/writes/{n} has an unknown $type {item.get('$type')!r}")
        collection = item["collection"]
        rkey = item.get("rkey") or (_default_rkey(call, collection) if action == "create" else None)
        if rkey is None:
            raise InvalidRequest(f'Input/writes/{n} must have the property "rkey"')
        writes.append(Write(action, collection, rkey, item.get("value")))  # type: ignore[arg-type]
    result = await call.context.repos.apply_writes(
        account.did, writes, validate=body.get("validate"), swap_commit=body.get("swapCommit")
    )
    results: list[dict[str, Any]] = []
    for written in result.results:
        entry: dict[str, Any] = {"$type": f"{_APPLY_WRITES}#{written.action}Result"}
        if written.action != "delete":
            entry.update(
                uri=written.uri, cid=written.cid, validationStatus=written.validation_status
            )
        results.append(entry)
    return {"commit": _commit_meta(result), "results": results}


async def describe_repo(call: XrpcCall) -> Mapping[str, Any]:
    context = call.context
    account = await get_account(context.db, call.params["repo"])
    document = await local_did_document(
        context.db, context.keys, account.did, public_url=context.settings.public_url
    )
    return {
        "handle": account.handle,
        "did": account.did,
        "didDoc": document,
        "collections": await context.repos.collections(account.did),
        # The node serves the handle's /.well-known/atproto-did itself, so it always agrees.
        "handleIsCorrect": True,
    }


async def get_record(call: XrpcCall) -> Mapping[str, Any]:
    account = await get_account(call.context.db, call.params["repo"])
    record = await call.context.repos.get_record(
        account.did, call.params["collection"], call.params["rkey"], call.params.get("cid")
    )
    return {"uri": record.uri, "cid": record.cid, "value": record.value}


async def list_records(call: XrpcCall) -> Mapping[str, Any]:
    account = await get_account(call.context.db, call.params["repo"])
    records, cursor = await call.context.repos.list_records(
        account.did,
        call.params["collection"],
        limit=int(call.params.get("limit", 50)),
        cursor=call.params.get("cursor"),
        reverse=bool(call.params.get("reverse", False)),
    )
    answer: dict[str, Any] = {
        "records": [{"uri": r.uri, "cid": r.cid, "value": r.value} for r in records]
    }
    if cursor:
        answer["cursor"] = cursor
    return answer
