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

from .admission import blamed_on_input
from .auth import OPEN_PATHS, authorized, load_token
from .batching import batcher_for
from .contract import response
from .convert import BadRequest, decode, extract
from .exchange import JSON, Exchange, json_response, not_ready
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
CLOSE_CONNECTION = ((b"connection", b"close"),)


class Unauthorized(BadRequest):
    """A request without the instance's token."""

    headers = ((b"www-authenticate", b'Bearer realm="mlcontainer"'),)

    def __init__(self):
        super().__init__(
            401,
            "this instance needs its token: send `Authorization: Bearer <token>` (the token "
            "`run --auth token` or `deploy --auth token` showed)",
        )


class App:
    def __init__(
        self,
        service,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        body_timeout: float = DEFAULT_BODY_TIMEOUT_SECONDS,
        load_before_listening: bool = False,
    ):
        self.service = service
        self.exchange = Exchange(service, max_body_bytes, body_timeout)
        #: Load (and check) the model before the server listens (handover.py), rather than
        #: listening at once and loading in the background.
        self.load_before_listening = load_before_listening
        self.metrics = Metrics()
        self.token = load_token()  # None: the API is open
        self._cached = {}
        self.batcher = batcher_for(service, self.exchange.call_model)
        self.mlflow = MLflowScoring(self.exchange, self.batcher)
        self.v2 = OpenInference(self.exchange)  # its paths hold the model's name: matched in _http
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
            "/drift": {"GET": self.drift},
            "/requests": {"GET": self.requests},
        }

    @property
    def draining(self) -> bool:
        return self.exchange.draining

    @draining.setter
    def draining(self, value: bool):
        self.exchange.draining = value

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
                self.exchange.close()
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
            if (
                self.token
                and path not in OPEN_PATHS
                and not authorized(scope["headers"], self.token)
            ):
                raise Unauthorized()
            if methods is None:
                raise BadRequest(404, f"no route {path}; routes are {sorted(self.routes)}")
            handler = methods.get(method)
            if handler is None:
                allowed = ", ".join(methods)
                status, body, content_type, headers = json_response(
                    405,
                    {"error": f"{method} {path} is not allowed; use {allowed}"},
                    [(b"allow", allowed.encode())],
                )
            else:
                status, body, content_type, headers = await handler(scope, receive)
        except BadRequest as error:
            status, body, content_type, headers = json_response(
                error.status, {"error": error.message}, getattr(error, "headers", ())
            )
        except Exception as error:  # the model's or ours: the client still gets JSON
            log.exception("%s %s raised", method, path)
            status, body, content_type, headers = json_response(
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
                    *(CLOSE_CONNECTION if self.exchange.draining else ()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self.metrics.observe(route, status, time.perf_counter() - started)

    async def predict(self, scope, receive):
        service = self.service
        if not service.ready:
            return not_ready(service)
        form, value = extract(decode(await self.exchange.body(scope, receive)))
        admitted = service.watch.admit(form, value)
        with blamed_on_input(admitted):
            if self.batcher is not None and self.batcher.accepts(form, value):
                predictions = await self.batcher.predict(form, value)
            else:
                predictions = await self.exchange.call_model(service.predict_value, form, value)
        headers = service.watch.answered(admitted, form, value, predictions)
        return json_response(200, response(predictions), headers)

    async def drift(self, scope, receive):
        """PSI of each input feature and of the predictions against training, over the last rows."""
        report = self.service.watch.drift_report()
        if report is None:
            raise BadRequest(
                404,
                "this image has no data contract to measure drift against (built without one, "
                "or its input has no columns); build it again with this version",
            )
        return json_response(200, report)

    async def requests(self, scope, receive):
        """The captured requests, oldest first (request capture is opt-in)."""
        captured = self.service.watch.captured
        if captured is None:
            raise BadRequest(
                404,
                "request capture is off; start the instance with --capture-requests N "
                "(MLCONTAINER_CAPTURE_REQUESTS=N) to keep the last N rows in memory",
            )
        return json_response(200, {"requests": list(captured), "limit": captured.maxlen})

    async def health(self, scope, receive):
        return json_response(200, {"status": "ok"})

    async def ready(self, scope, receive):
        return self.exchange.unready() or json_response(
            200, {"status": "ready", "load_seconds": self.service.load_seconds}
        )

    async def metadata(self, scope, receive):
        return 200, self._cache("metadata", self._metadata), JSON, []

    async def openapi(self, scope, receive):
        return (
            200,
            self._cache(
                "openapi",
                lambda: build_openapi(
                    self.service.serving, self.service.sample, self.service.watch.mode
                ),
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
        body = self.metrics.render(gauges, service.watch.metric_families()).encode()
        return 200, body, b"text/plain; version=0.0.4; charset=utf-8", []

    def _metadata(self):
        sample = self.service.sample
        return {
            **self.service.serving.metadata(),
            "contract_mode": self.service.watch.mode,
            "python": platform.python_version(),
            "sample": sample.get("request") if sample else None,
            "server": {**serving_stack(), "batching": self.batcher is not None},
        }

    def _cache(self, key, build):
        if key not in self._cached:
            self._cached[key] = json.dumps(build()).encode()
        return self._cached[key]
