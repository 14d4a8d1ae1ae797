"""The HTTP surface: a plain ASGI application (no framework), served by uvicorn.

Small models predict inline on the event loop, which is fastest for sub-millisecond predictions;
once predictions average more than INLINE_BUDGET_SECONDS they run on one worker thread instead,
so probes keep answering while the model computes.
"""

import asyncio
import json
import logging
import platform
import time
from concurrent.futures import ThreadPoolExecutor

from . import fastjson
from .batching import batcher_for
from .contract import response
from .convert import BadRequest, decode, extract
from .metrics import Metrics
from .mlflow import MLflowScoring
from .openapi import build_openapi
from .stack import serving_stack
from .v2 import OpenInference

log = logging.getLogger("mlcontainer")

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
#: Seconds a client gets to send a whole request body: a body that trickles in (slow-loris)
#: is answered 408 and its connection closed, instead of holding a connection for ever.
DEFAULT_BODY_TIMEOUT_SECONDS = 30.0
DRAIN_BYTES = 64 * 1024 * 1024
JSON = b"application/json"
CLOSE_CONNECTION = ((b"connection", b"close"),)


class App:
    def __init__(
        self,
        service,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        body_timeout: float = DEFAULT_BODY_TIMEOUT_SECONDS,
        load_before_listening: bool = False,
    ):
        self.service = service
        #: Load (and check) the model before the server listens (handover.py), rather than
        #: listening at once and loading in the background.
        self.load_before_listening = load_before_listening
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        #: Set on SIGTERM when the server drains (draining.py): /ready answers 503 and every
        #: response closes its connection, so a front stops sending here before the server stops.
        self.draining = False
        self.metrics = Metrics()
        self._executor = None
        self._cached = {}
        self.batcher = batcher_for(service, self.call_model)
        self.mlflow = MLflowScoring(self)
        self.v2 = OpenInference(self)  # its paths hold the model's name: matched in _http
        self.routes = {
            "/predict": {"POST": self.predict},
            "/invocations": {"POST": self.mlflow.invocations},
            "/version": {"GET": self.mlflow.version},
            "/health": {"GET": self.health},
            "/ping": {"GET": self.health},
            "/ready": {"GET": self.ready},
            "/metadata": {"GET": self.metadata},
            "/openapi.json": {"GET": self.openapi},
            "/metrics": {"GET": self.prometheus},
        }

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.load_before_listening:  # uvicorn listens once startup completes
                    await asyncio.get_running_loop().run_in_executor(
                        None, self.service.load_or_exit
                    )
                else:
                    self.service.start_loading()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._executor is not None:
                    self._executor.shutdown(wait=False)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope, receive, send):
        started = time.perf_counter()
        path, method = scope["path"], scope["method"]
        methods = self.routes.get(path)
        route = path
        if methods is None:
            route, methods = self.v2.match(path) or ("other", None)
        try:
            if methods is None:
                raise BadRequest(404, f"no route {path}; routes are {sorted(self.routes)}")
            handler = methods.get(method)
            if handler is None:
                allowed = ", ".join(methods)
                status, body, content_type, headers = _json_response(
                    405,
                    {"error": f"{method} {path} is not allowed; use {allowed}"},
                    [(b"allow", allowed.encode())],
                )
            else:
                status, body, content_type, headers = await handler(scope, receive)
        except BadRequest as error:
            status, body, content_type, headers = _json_response(
                error.status, {"error": error.message}
            )
        except Exception as error:  # the model's or ours: the client still gets JSON
            log.exception("%s %s raised", method, path)
            status, body, content_type, headers = _json_response(
                500, {"error": f"{type(error).__name__}: {error}"}
            )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                    *headers,
                    *(CLOSE_CONNECTION if self.draining else ()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self.metrics.observe(route, status, time.perf_counter() - started)

    async def _body(self, scope, receive) -> bytes:
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

    async def predict(self, scope, receive, mlflow=False):
        service = self.service
        if not service.ready:
            return _not_ready(service)
        payload = decode(await self._body(scope, receive))
        if self.batcher is not None and not mlflow:
            form, value = extract(payload)
            if self.batcher.accepts(form, value):
                return _json_response(200, response(await self.batcher.predict(form, value)))
        if service.slow:
            result = await asyncio.get_running_loop().run_in_executor(
                self._worker(), service.predict, payload, mlflow
            )
        else:
            result = service.predict(payload, mlflow)
        return _json_response(200, result)

    async def call_model(self, function, *args):
        """`function(*args)` inline, or on the worker thread once predictions are slow."""
        if self.service.slow:
            return await asyncio.get_running_loop().run_in_executor(self._worker(), function, *args)
        return function(*args)

    async def health(self, scope, receive):
        return _json_response(200, {"status": "ok"})

    def unready(self):
        """The 503 answer of a server that should get no new traffic, or None when it should."""
        if self.draining:
            return _json_response(503, {"status": "draining", "error": "the server is stopping"})
        return None if self.service.ready else _not_ready(self.service)

    async def ready(self, scope, receive):
        return self.unready() or _json_response(
            200, {"status": "ready", "load_seconds": self.service.load_seconds}
        )

    async def metadata(self, scope, receive):
        return 200, self._cache("metadata", self._metadata), JSON, []

    async def openapi(self, scope, receive):
        return (
            200,
            self._cache(
                "openapi", lambda: build_openapi(self.service.serving, self.service.sample)
            ),
            JSON,
            [],
        )

    async def prometheus(self, scope, receive):
        service = self.service
        gauges = {
            "mlcontainer_model_ready": ("1 once the model is loaded.", int(service.ready)),
            "mlcontainer_model_load_seconds": (
                "Seconds spent loading the model.",
                service.load_seconds or 0,
            ),
        }
        body = self.metrics.render(gauges).encode()
        return 200, body, b"text/plain; version=0.0.4; charset=utf-8", []

    def _metadata(self):
        serving, sample = self.service.serving, self.service.sample
        return {
            "input": serving.get("input"),
            "entry": serving.get("entry"),
            "packages": serving.get("packages", {}),
            "python": platform.python_version(),
            "notebook": serving.get("notebook"),
            "sample": sample.get("request") if sample else None,
            "server": {**serving_stack(), "batching": self.batcher is not None},
        }

    def _cache(self, key, build):
        if key not in self._cached:
            self._cached[key] = json.dumps(build()).encode()
        return self._cached[key]

    def _worker(self):
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="mlcontainer-predict"
            )
        return self._executor


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


def _not_ready(service):
    if service.status == "failed":
        return _json_response(
            503, {"status": "failed", "error": f"the model failed to load: {service.error}"}
        )
    return _json_response(
        503,
        {"status": "loading", "error": "the model is still loading; retry shortly"},
        [(b"retry-after", b"1")],
    )


def _json_response(status, payload, headers=()):
    return status, fastjson.dumps(payload), JSON, list(headers)
