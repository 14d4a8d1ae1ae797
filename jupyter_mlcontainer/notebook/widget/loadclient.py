"""The load test's client: keep-alive connections on one asyncio loop, wrk-like.

Threads that each send through `http.client` spend their time waiting for the GIL and parsing
headers, so they measure themselves more than the instance. One event loop with `concurrency`
open connections sends the same pre-encoded request bytes and reads only the status line and
the body's length.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

HEAD_LIMIT = 64 * 1024


def run_clients(
    host: str,
    port: int,
    path: str,
    body: bytes,
    concurrency: int,
    claim: Callable[[], bool],
    record: Callable[[int, float], None],
    timeout: float,
    tls: bool = False,
) -> None:
    """Run `concurrency` clients until `claim()` is False; `record(status, latency_ms)` each
    answer (status 0: nothing answered). Runs its own loop in its own thread, so it works
    from a kernel's cell where a loop is already running."""
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    async def clients() -> None:
        await asyncio.gather(
            *(
                _client((host, port, tls or None), request, claim, record, timeout)
                for _ in range(concurrency)
            )
        )

    failure: list = []

    def target() -> None:
        try:
            asyncio.run(clients())
        except BaseException as error:  # handed to the caller's thread below
            failure.append(error)

    thread = threading.Thread(target=target, name="mlcontainer-load")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


async def _client(address, request, claim, record, timeout) -> None:
    loop = asyncio.get_running_loop()
    reader = writer = None
    try:
        while claim():
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(*address[:2], ssl=address[2]), timeout
                    )
                # A timer rather than wait_for: no task per request; aborting ends the read.
                timer = loop.call_later(timeout, writer.transport.abort)
                try:
                    writer.write(request)
                    status, keep_alive = await _read_answer(reader)
                finally:
                    timer.cancel()
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
                status, keep_alive = 0, False
            record(status, (time.perf_counter() - started) * 1000)
            if not keep_alive and writer is not None:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one HTTP/1.x answer; return its status and whether the connection stays open."""
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > HEAD_LIMIT:
        raise ValueError("answer head too long")
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    keep_alive = headers.get("connection") != "close" and (
        version == "HTTP/1.1" or headers.get("connection") == "keep-alive"
    )
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        while await reader.readuntil(b"\r\n") != b"\r\n":
            pass  # trailers
    else:
        await reader.read()  # the body ends where the connection does
        keep_alive = False
    return int(status), keep_alive
