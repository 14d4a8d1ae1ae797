"""What every handler shares: errors as JSON {"message", "hint"}, JSON bodies, blocking calls off the loop."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado.web import HTTPError, RequestHandler

from ..shared.errors import (
    DeploymentNotFound,
    EngineUnavailable,
    InstanceNotFound,
    InstanceUnreachable,
    InvalidRequest,
    JobNotFound,
    MLContainerError,
    NotebookError,
    NotebookNotFound,
    PathOutsideRoot,
    SwarmNotActive,
)
from .proxy import reachable
from .validation import parse_json_body

#: HTTP status per error type, most specific first; other MLContainerErrors are 500.
STATUS = (
    (InvalidRequest, 400),
    (PathOutsideRoot, 403),
    (NotebookNotFound, 404),
    (InstanceNotFound, 404),
    (JobNotFound, 404),
    (DeploymentNotFound, 404),
    (SwarmNotActive, 409),
    (NotebookError, 422),
    (InstanceUnreachable, 502),
    (EngineUnavailable, 503),
)


def status_for(error: MLContainerError) -> int:
    return next((status for kind, status in STATUS if isinstance(error, kind)), 500)


#: The HTTP methods a handler may define; a route answers only those its handler does (405 else).
METHODS = ("get", "post", "put", "patch", "delete")


def route_methods(handler: type) -> list[str]:
    """The HTTP methods `handler` answers: those it defines over tornado's."""
    return [m for m in METHODS if getattr(handler, m) is not getattr(RequestHandler, m)]


class MLContainerHandler(APIHandler):
    #: What an Authorizer is asked about: read (GET), write (DELETE, POST), execute (a build).
    auth_resource = "mlcontainer"

    @property
    def mlcontainer_config(self):
        return self.settings["mlcontainer_config"]

    @property
    def jobs(self):
        return self.settings["mlcontainer_jobs"]

    def accepted(self, job) -> None:
        """202 with the job's id; its events stream at /mlcontainer/jobs/<id>/events."""
        self.set_status(202)
        self.set_header("Location", url_path_join(self.base_url, "mlcontainer", "jobs", job.id))
        self.finish({"id": job.id})

    def reachable(self, answer):
        """`answer` with its instances' URLs as the browser reaches them (proxy.reachable)."""
        return reachable(answer, self.settings.get("mlcontainer_proxy_base", ""))

    def finish(self, chunk=None, **kwargs):
        """Every JSON answer goes out with reachable URLs, whichever handler wrote it."""
        return super().finish(self.reachable(chunk) if isinstance(chunk, dict) else chunk, **kwargs)

    def json_body(self) -> dict:
        return parse_json_body(self.request.body)

    async def blocking(self, function: Callable, *args: Any) -> Any:
        """Run a blocking call (Docker, notebook parsing, HTTP to an instance) in a thread."""
        return await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(function, *args)
        )

    async def engine(self, method: str, *args: Any) -> Any:
        """Call an engine method in a thread; the engine is found anew each time so a
        daemon that went away (or came back) is noticed."""
        from ..engine import open_engine

        return await self.blocking(lambda: getattr(open_engine(), method)(*args))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, MLContainerError):
            # send_error set 500 before calling here; the error's type decides the real status.
            self.set_status(status_for(error))
            reply = {"message": error.message, "hint": error.hint}
        elif isinstance(error, HTTPError):
            reply = {"message": error.log_message or self._reason, "hint": ""}
            if status_code == 405:  # RFC 9110: a 405 says which methods the route takes
                self.set_header("Allow", ", ".join(m.upper() for m in route_methods(type(self))))
        else:
            reply = {
                "message": "Internal server error.",
                "hint": "The Jupyter server's log has the traceback.",
            }
        self.finish(reply)

    def log_exception(self, typ, value, tb) -> None:
        if isinstance(value, MLContainerError):
            self.log.warning(
                "mlcontainer: %s %s: %s", self.request.method, self.request.path, value.message
            )
        else:
            super().log_exception(typ, value, tb)
