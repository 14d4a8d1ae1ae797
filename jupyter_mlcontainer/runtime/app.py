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

from .convert import BadRequest, decode
from .metrics import Metrics
from .openapi import build_openapi

log = logging.getLogger("mlcontainer")

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DRAIN_BYTES = 64 * 1024 * 1024
JSON = b"application/json"


class App:
    def __init__(self, service, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES):
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.metrics = Metrics()
        self._executor = None
        self._cached = {}
        self.routes = {
            "/predict": {"POST": self.predict},
            "/invocations": {"POST": self.invocations},
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
        route = path if methods is not None else "other"
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
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self.metrics.observe(route, status, time.perf_counter() - started)

    async def _body(self, scope, receive) -> bytes:
        """The request body, refused with 413 once its declared or streamed size is too large."""
        limit = self.max_body_bytes
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            # A client waiting for "100 Continue" sends nothing more; any other is still sending.
            if headers.get(b"expect", b"").lower() != b"100-continue":
                await _drain(receive)
            raise BadRequest(
                413, f"request body of {int(declared)} bytes exceeds the limit of {limit} bytes"
            )
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BadRequest(400, "client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                if message.get("more_body", False):
                    await _drain(receive)
                raise BadRequest(413, f"request body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def predict(self, scope, receive, mlflow=False):
        service = self.service
        if not service.ready:
            return _not_ready(service)
        payload = decode(await self._body(scope, receive))
        if service.slow:
            result = await asyncio.get_running_loop().run_in_executor(
                self._worker(), service.predict, payload, mlflow
            )
        else:
            result = service.predict(payload, mlflow)
        return _json_response(200, result)

    async def invocations(self, scope, receive):
        return await self.predict(scope, receive, mlflow=True)

    async def health(self, scope, receive):
        return _json_response(200, {"status": "ok"})

    async def ready(self, scope, receive):
        service = self.service
        if service.ready:
            return _json_response(200, {"status": "ready", "load_seconds": service.load_seconds})
        return _not_ready(service)

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


async def _drain(receive):
    """Read and drop the rest of a refused body (up to DRAIN_BYTES).

    Most clients (urllib, requests) send the whole body before reading the answer: closing on them
    mid-upload gives them a broken pipe instead of the 413 that says what is wrong.
    """
    drained = 0
    while drained <= DRAIN_BYTES:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
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
    return status, json.dumps(payload, separators=(",", ":")).encode(), JSON, list(headers)
