"""Running instances, found by label in the engine: list, logs, stop, and a predict proxy so the
browser never needs to reach a container's port itself."""

from __future__ import annotations

from pathlib import Path

import tornado
from jupyter_server.auth.decorator import authorized

from ..engine.base import NOTEBOOK_LABEL
from ..running.client import ServingClient
from ..shared.errors import InstanceUnreachable, InvalidRequest
from .base import MLContainerHandler
from .validation import check_fields

PREDICT_FIELDS = {"payload": (dict, 'the request for the instance, e.g. {"instances": [...]}')}


def describe(instance, root_dir: str) -> dict:
    """The instance, with its notebook relative to the server root when it lies inside it."""
    notebook = instance.labels.get(NOTEBOOK_LABEL, "")
    root = Path(root_dir).resolve()
    if notebook and Path(notebook).is_relative_to(root):
        notebook = Path(notebook).relative_to(root).as_posix()
    return {**instance.to_dict(), "notebook": notebook}


class InstanceListHandler(MLContainerHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self):
        instances = await self.engine("list_instances")
        self.finish(
            {
                "instances": [
                    describe(instance, self.contents_manager.root_dir) for instance in instances
                ]
            }
        )


class InstanceHandler(MLContainerHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self, name):
        self.finish(
            describe(await self.engine("find_instance", name), self.contents_manager.root_dir)
        )

    @tornado.web.authenticated
    @authorized
    async def delete(self, name):
        self.finish(
            {"stopped": describe(await self.engine("stop", name), self.contents_manager.root_dir)}
        )


class InstanceLogsHandler(MLContainerHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self, name):
        try:
            tail = int(self.get_query_argument("tail", "200"))
        except ValueError:
            raise InvalidRequest(
                "The query argument 'tail' must be a whole number of lines."
            ) from None
        self.finish({"name": name, "logs": await self.engine("logs", name, max(1, tail))})


class InstanceDriftHandler(MLContainerHandler):
    """Whether the instance's image still matches its notebook and the kernel's packages."""

    @tornado.web.authenticated
    @authorized
    async def get(self, name):
        from ..engine import open_engine
        from ..trust.provenance import check_image

        report = await self.blocking(lambda: check_image(open_engine(), name))
        self.finish(report.to_dict())


class InstancePredictHandler(MLContainerHandler):
    @tornado.web.authenticated
    @authorized
    async def post(self, name):
        body = check_fields(self.json_body(), PREDICT_FIELDS, required=("payload",))
        instance = await self.engine("find_instance", name)
        if not instance.url:
            raise InstanceUnreachable(
                f"{instance.name} is {instance.status}, not running.", "Start it again or rebuild."
            )
        answer = await self.blocking(lambda: ServingClient(instance.url).predict(body["payload"]))
        self.finish(answer.to_dict())
