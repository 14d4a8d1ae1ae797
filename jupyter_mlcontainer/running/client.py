"""HTTP client for a running instance, shared by the CLI, the server extension and the widget.

Standard library only (no Jupyter imports), and no proxy: instances answer on the caller's
own machine, where an `http_proxy` meant for the internet would only get in the way.
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from ..shared.errors import InstanceUnreachable
from .certificates import https_connection
from .tokens import token_for

UNREACHABLE_HINT = (
    "Check that the instance is running (`jupyter mlcontainer ls`) and read its logs "
    "(`jupyter mlcontainer logs NAME`)."
)


@dataclass
class Response:
    """One answer from an instance; 4xx and 5xx are answers too, with `error` saying why."""

    status: int
    body: Any  # parsed JSON, or the text when it is not JSON
    latency_ms: float
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def to_dict(self) -> dict:
        return asdict(self)


class ServingClient:
    def __init__(self, url: str, timeout: float = 10, token: str | None = None):
        """`token`: the instance's bearer token; by default the one this user locked the
        instance at `url` with, if any (running/tokens.py)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._parts = parts
        self.token = token if token is not None else token_for(self.url)

    def health(self) -> Response:
        return self.request("GET", "/health")

    def ready(self) -> Response:
        return self.request("GET", "/ready")

    def metadata(self) -> Response:
        return self.request("GET", "/metadata")

    def predict(self, payload: dict) -> Response:
        return self.request("POST", "/predict", payload)

    def drift(self) -> Response:
        return self.request("GET", "/drift")

    def captured(self) -> Response:
        return self.request("GET", "/requests")

    def connect(self) -> http.client.HTTPConnection:
        """A connection to the instance, not yet opened; it opens on its first request."""
        host, port = self._parts.hostname, self._parts.port
        if self._parts.scheme == "https":
            return https_connection(self.url, host, port, self.timeout)
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def path(self, route: str) -> str:
        """The request path of `route` under the instance's URL (which may have a prefix)."""
        return self._parts.path.rstrip("/") + route

    def request(self, method: str, path: str, payload: Any = None) -> Response:
        """Send one request; raise InstanceUnreachable only when nothing answers."""
        connection = self.connect()
        body = None if payload is None else json.dumps(payload).encode()
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            connection.request(method, self.path(path), body, headers)
            answer = connection.getresponse()
            raw = answer.read()
        except TimeoutError as error:
            raise InstanceUnreachable(
                f"{self.url}{path} did not answer within {self.timeout:g} s.", UNREACHABLE_HINT
            ) from error
        except (OSError, http.client.HTTPException) as error:
            raise InstanceUnreachable(
                f"Nothing answers at {self.url}{path}: {error or type(error).__name__}",
                UNREACHABLE_HINT,
            ) from error
        finally:
            connection.close()
        latency_ms = (time.perf_counter() - started) * 1000
        parsed = _parse(raw)
        error = "" if 200 <= answer.status < 300 else _error_text(answer, parsed)
        return Response(answer.status, parsed, round(latency_ms, 3), error)


def _parse(raw: bytes) -> Any:
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _error_text(answer: http.client.HTTPResponse, body: Any) -> str:
    """The server's own explanation when it gave one, else the status line."""
    if isinstance(body, dict):
        for key in ("error", "detail", "message"):
            if body.get(key):
                value = body[key]
                return value if isinstance(value, str) else json.dumps(value)
    if isinstance(body, str) and body.strip():
        return body.strip()
    return f"{answer.status} {answer.reason}"
