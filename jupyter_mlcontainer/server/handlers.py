"""REST handlers: thin wrappers that validate input, call the pipeline or engine, write JSON."""

from __future__ import annotations

import json

import tornado
from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join

from ..shared.errors import InvalidRequest
from ..shared.version import __version__
from .base import MLContainerHandler
from .deployments import DeploymentHandler, DeploymentListHandler, DeploymentRolloutHandler
from .instances import (
    InstanceDataDriftHandler,
    InstanceDriftHandler,
    InstanceHandler,
    InstanceListHandler,
    InstanceLogsHandler,
    InstancePredictHandler,
)
from .validation import read_job_request, read_options, resolve_notebook

#: Seconds between keep-alive comments on an idle event stream.
KEEPALIVE = 15


class ConfigHandler(MLContainerHandler):
    """The effective configuration, so the frontend can show the defaults it will get."""

    @tornado.web.authenticated
    @authorized
    def get(self):
        config = self.mlcontainer_config
        self.finish(
            {
                "version": __version__,
                "base_image": config.base_image,
                "default_port": config.default_port,
                "download_wheels": config.download_wheels,
            }
        )


class CandidatesHandler(MLContainerHandler):
    """Models, functions and a sample the notebook offers, to prefill the dialog."""

    @tornado.web.authenticated
    @authorized
    async def get(self):
        from ..pipeline.analyse import find_candidates

        path = self.get_query_argument("path", "")
        if not path:
            raise InvalidRequest(
                "The query argument 'path' is required.",
                "Call /mlcontainer/candidates?path=<notebook>.",
            )
        manager = self.contents_manager
        notebook = resolve_notebook(manager.root_dir, path, manager.allow_hidden)
        self.finish(await self.blocking(find_candidates, notebook))


class JobListHandler(MLContainerHandler):
    @tornado.web.authenticated
    @authorized
    def get(self):
        self.finish({"jobs": [job.to_dict(events=False) for job in self.jobs.list()]})

    @tornado.web.authenticated
    @authorized(action="execute")  # a build runs the notebook's code
    def post(self):
        body = self.json_body()
        manager = self.contents_manager
        options, kernel_id = read_job_request(body, manager.root_dir, manager.allow_hidden)
        if kernel_id is not None and kernel_id not in self.kernel_manager:
            raise InvalidRequest(
                f"No running kernel {kernel_id!r}.",
                "Start the notebook's kernel, or leave kernel_id out to run the notebook headless.",
            )
        self.accepted(self.jobs.submit(options, kernel_id, body["path"]))


class PushHandler(MLContainerHandler):
    """POST PushOptions' fields ({"source": NAME|IMAGE, "to": REGISTRY/REPOSITORY[:TAG]}) → a
    job that streams like a build (GET /mlcontainer/jobs/<id>/events)."""

    @tornado.web.authenticated
    @authorized(action="write")
    def post(self):
        from ..deploy.plan import PushOptions
        from ..deploy.push import push_image
        from ..engine import open_engine

        options = read_options(self.json_body(), PushOptions)
        self.accepted(
            self.jobs.submit_task(
                "push",
                options.to,
                lambda on_event: push_image(open_engine(), options, on_event),
                source=options.source,
            )
        )


class JobHandler(MLContainerHandler):
    @tornado.web.authenticated
    @authorized
    def get(self, job_id):
        self.finish(self.jobs.get(job_id).to_dict())

    @tornado.web.authenticated
    @authorized
    def delete(self, job_id):
        job = self.jobs.cancel(job_id)
        self.set_status(202)
        self.finish(job.to_dict(events=False))


class JobEventsHandler(MLContainerHandler):
    """Server-sent events: the job's events so far, then new ones until it ends."""

    @tornado.web.authenticated
    @authorized
    async def get(self, job_id):
        job = self.jobs.get(job_id)
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        sent = 0
        while True:
            for event in job.events[sent:]:
                self.write(f"data: {json.dumps(event)}\n\n")
            sent = len(job.events)
            if job.done:
                summary = self.reachable(job.to_dict(events=False))
                self.write(f"event: end\ndata: {json.dumps(summary)}\n\n")
                break
            try:
                await self.flush()
            except tornado.iostream.StreamClosedError:
                return  # the page went away; the job goes on
            if len(job.events) > sent or job.done:
                continue  # it changed while flushing, and a Condition does not remember that
            if not await job.wait_for_change(KEEPALIVE):
                self.write(": keep-alive\n\n")
        self.finish(set_content_type="text/event-stream")


class OpenAPIHandler(MLContainerHandler):
    """This API's OpenAPI 3.0 document, made from the routing table below and the declarations
    the handlers validate bodies with (server/openapi.py)."""

    @tornado.web.authenticated
    @authorized
    def get(self):
        from .openapi import openapi_document

        self.finish(openapi_document(ROUTES, self.base_url))


JOB = r"(?P<job_id>[0-9a-f]+)"
INSTANCE = r"(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)"
DEPLOYMENT = INSTANCE

#: The routing table under {base_url}mlcontainer/: what `setup_handlers` registers, and what
#: the OpenAPI document (GET /mlcontainer/openapi.json) describes, route by route.
ROUTES = (
    ("openapi.json", OpenAPIHandler),
    ("config", ConfigHandler),
    ("candidates", CandidatesHandler),
    ("jobs", JobListHandler),
    ("push", PushHandler),
    (f"jobs/{JOB}", JobHandler),
    (f"jobs/{JOB}/events", JobEventsHandler),
    ("deployments", DeploymentListHandler),
    (f"deployments/{DEPLOYMENT}", DeploymentHandler),
    (f"deployments/{DEPLOYMENT}/rollout", DeploymentRolloutHandler),
    ("instances", InstanceListHandler),
    (f"instances/{INSTANCE}", InstanceHandler),
    (f"instances/{INSTANCE}/logs", InstanceLogsHandler),
    (f"instances/{INSTANCE}/predict", InstancePredictHandler),
    (f"instances/{INSTANCE}/drift", InstanceDriftHandler),
    (f"instances/{INSTANCE}/data-drift", InstanceDataDriftHandler),
)


def setup_handlers(web_app) -> None:
    base = url_path_join(web_app.settings["base_url"], "mlcontainer")
    web_app.add_handlers(".*$", [(url_path_join(base, path), handler) for path, handler in ROUTES])
