"""`com.atproto.sync.subscribeRepos`: the firehose over a websocket, with cursor replay."""

from __future__ import annotations

import contextlib

import anyio
from starlette.websockets import WebSocket, WebSocketDisconnect

from oms.context import AppContext
from oms.pds.firehose import FirehoseError, encode_error_frame

__all__ = ["subscribe_repos"]


async def subscribe_repos(websocket: WebSocket) -> None:
    context: AppContext = websocket.state.context
    raw = websocket.query_params.get("cursor")
    await websocket.accept()
    try:
        cursor = int(raw) if raw is not None else None
        if cursor is not None and cursor < 0:
            raise ValueError
    except ValueError:
        await websocket.send_bytes(
            encode_error_frame("InvalidRequest", f"cursor must be a sequence number, not {raw!r}")
        )
        await websocket.close(code=1008)
        return
    # An idle subscriber only hears of a closed connection by reading from it; without the
    # watcher its handler would wait for the next event forever (and hold up shutdown). The
    # task group ends both together, also when the handler itself is cancelled.
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            await _until_disconnected(websocket)
            group.cancel_scope.cancel()

        group.start_soon(watch)
        await _send(websocket, context, cursor)
        group.cancel_scope.cancel()


async def _send(websocket: WebSocket, context: AppContext, cursor: int | None) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        try:
            async for frame in context.firehose.subscribe(cursor):
                await websocket.send_bytes(frame)
        except FirehoseError as e:
            await websocket.send_bytes(encode_error_frame(e.name, e.message))
            await websocket.close(code=1008 if e.name == "FutureCursor" else 1013)
            return
        await websocket.close(code=1001)  # the node is stopping


async def _until_disconnected(websocket: WebSocket) -> None:
    # Subscribers send nothing meaningful; anything they send is ignored.
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass
