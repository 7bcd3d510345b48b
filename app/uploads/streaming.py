"""Receive a request body into a file in constant memory without blocking the event loop.

Chunks from the ASGI server are gathered into a bounded buffer and each buffer is written from a
worker thread; uvicorn's flow control pauses the socket while we write, so memory stays flat
whatever the file size.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio
from starlette.requests import ClientDisconnect, Request

BUFFER_BYTES = 2 << 20


class BodyTooLong(Exception):
    """The body carried more bytes than allowed; nothing past the limit was written."""


class Locked(Exception):
    """Another request is writing to this upload right now."""


@dataclass
class Received:
    written: int
    disconnected: bool


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


async def receive_into(request: Request, fd: int, *, limit: int) -> Received:
    """Append the body to `fd`; at most `limit` bytes. A dropped connection keeps what arrived."""
    buf: list[bytes] = []
    buffered = 0
    written = 0

    async def flush() -> None:
        nonlocal buf, buffered, written
        if buffered:
            data = b"".join(buf)
            buf, buffered = [], 0
            await anyio.to_thread.run_sync(_write_all, fd, data)
            written += len(data)

    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            if written + buffered + len(chunk) > limit:
                raise BodyTooLong
            buf.append(chunk)
            buffered += len(chunk)
            if buffered >= BUFFER_BYTES:
                await flush()
    except ClientDisconnect:
        await flush()
        await anyio.to_thread.run_sync(os.fsync, fd)
        return Received(written, True)
    await flush()
    await anyio.to_thread.run_sync(os.fsync, fd)
    return Received(written, False)


@contextlib.asynccontextmanager
async def locked_append(path: Path) -> AsyncIterator[int]:
    """Open `path` for appending under an exclusive, non-blocking lock (cross-process: flock).

    Non-blocking on purpose: a resumed PATCH that races the still-draining old one gets 423 and
    the tus client retries, instead of a worker waiting on a lock.
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Locked from None
        yield fd
    finally:
        os.close(fd)  # closing releases the flock
