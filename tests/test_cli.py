from __future__ import annotations

import socket

from oms.cli import _bind


def test_the_listening_socket_lets_asyncio_disable_nagle() -> None:
    # asyncio turns on TCP_NODELAY only for sockets whose proto is TCP; without it every
    # response waited ~40 ms for a delayed ACK.
    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.type == socket.SOCK_STREAM
    finally:
        sock.close()
