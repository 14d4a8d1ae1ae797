"""What the HTTP routes of every protocol share: a bounded body, the not-ready answer, the call
into the model (inline, or on one worker thread once predictions are slow).

`App` owns one `Exchange`; the protocol adapters (MLflow, Open Inference) take it rather than the
app, so none of them imports another."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from . import fastjson
from .convert import BadRequest

JSON = b"application/json"
DRAIN_BYTES = 64 * 1024 * 1024


class Exchange:
    def __init__(self, service, max_body_bytes: int, body_timeout: float):
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        #: Set when the server drains (draining.py, handover.py): /ready answers 503 and every
        #: response closes its connection, so a front stops sending here before the server stops.
        self.draining = False
        self._executor = None

    async def body(self, scope, receive) -> bytes:
        """The request body, refused with 413 once its declared or streamed size is too large,
        and with 408 when it has not all arrived within `body_timeout` seconds."""
        limit = self.max_body_bytes
        deadline = asyncio.get_running_loop().time() + self.body_timeout
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            # A client waiting for "100 Continue" sends nothing more; any other is still sending.
            if headers.get(b"expect", b"").lower() != b"100-continue":
                await _drain(receive, deadline)
            raise BadRequest(
                413, f"request body of {int(declared)} bytes exceeds the limit of {limit} bytes"
            )
        chunks, size = [], 0
        while True:
            message = await _receive_by(receive, deadline)
            if message is None:
                raise BadRequest(
                    408, f"the request body did not arrive within {self.body_timeout:g} seconds"
                )
            if message["type"] == "http.disconnect":
                raise BadRequest(400, "client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                if message.get("more_body", False):
                    await _drain(receive, deadline)
                raise BadRequest(413, f"request body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def call_model(self, function, *args):
        """`function(*args)` inline, or on the worker thread once predictions are slow."""
        if self.service.slow:
            return await asyncio.get_running_loop().run_in_executor(self._worker(), function, *args)
        return function(*args)

    def unready(self):
        """The 503 answer of a server that should get no new traffic, or None when it should."""
        reason = self.unready_reason()
        return None if reason is None else json_response(503, *reason)

    def unready_reason(self):
        """(payload, headers) saying why no new traffic should come here, or None."""
        if self.draining:
            return {"status": "draining", "error": "the server is stopping"}, ()
        return None if self.service.ready else _not_ready_reason(self.service)

    def _worker(self):
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="mlcontainer-predict"
            )
        return self._executor

    def close(self):
        if self._executor is not None:
            self._executor.shutdown(wait=False)


async def _receive_by(receive, deadline):
    """The next ASGI message, or None once the loop's clock passes `deadline`."""
    remaining = deadline - asyncio.get_running_loop().time()
    if remaining <= 0:
        return None
    try:
        return await asyncio.wait_for(receive(), remaining)
    except asyncio.TimeoutError:
        return None


async def _drain(receive, deadline):
    """Read and drop the rest of a refused body (up to DRAIN_BYTES, until `deadline`).

    Most clients (urllib, requests) send the whole body before reading the answer: closing on them
    mid-upload gives them a broken pipe instead of the 413 that says what is wrong. One that
    declares more than it sends is answered at the deadline.
    """
    drained = 0
    while drained <= DRAIN_BYTES:
        message = await _receive_by(receive, deadline)
        if message is None or message["type"] != "http.request":
            return
        if not message.get("more_body", False):
            return
        drained += len(message.get("body", b""))


def not_ready(service):
    """The 503 answer while the model is loading, or after it failed to."""
    return json_response(503, *_not_ready_reason(service))


def _not_ready_reason(service):
    if service.status == "failed":
        return {"status": "failed", "error": f"the model failed to load: {service.error}"}, ()
    return (
        {"status": "loading", "error": "the model is still loading; retry shortly"},
        ((b"retry-after", b"1"),),
    )


def json_response(status, payload, headers=()):
    return status, fastjson.dumps(payload), JSON, list(headers)
