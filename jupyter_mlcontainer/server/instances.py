"""Running instances, found by label in the engine: list, logs, stop, and proxies (predict, data
drift) so the browser never needs to reach a container's port itself."""

from __future__ import annotations

import re
from pathlib import Path

import tornado
from jupyter_server.auth.decorator import authorized

from ..engine.base import ENTRY_LABEL, NOTEBOOK_LABEL
from ..running.client import UNREACHABLE_HINT, ServingClient
from ..shared.errors import InstanceNotFound, InstanceUnreachable, InvalidRequest
from .base import MLContainerHandler
from .validation import check_fields

#: An image name without registry or tag as Docker's reference grammar has it (lowercase, one
#: separator between alphanumerics): what a route's {name} may be besides an instance's name.
IMAGE_NAME = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
#: Docker counts such a name as docker.io/library/NAME, which may have 255 characters.
IMAGE_NAME_MAX = 255 - len("docker.io/library/")
PREDICT_FIELDS = {"payload": (dict, 'the request for the instance, e.g. {"instances": [...]}')}
#: Seconds the data-drift proxy waits for an instance: the sidebar asks every running one.
DATA_DRIFT_TIMEOUT = 5.0
NOT_OURS = "its image was not built by jupyter-mlcontainer, so it has no record to check."
NOT_OURS_HINT = "Give an instance, or an image, built from a notebook by jupyter-mlcontainer."
NO_CONTRACT_HINT = (
    "Build the image again with this version of jupyter-mlcontainer: the build records the "
    "training data's contract that drift is measured against."
)


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

        def drift():
            engine = open_engine()
            try:
                image = engine.find_instance(name).image
            except InstanceNotFound:
                if len(name) > IMAGE_NAME_MAX or not IMAGE_NAME.fullmatch(name):
                    raise  # no image can have this name either (Docker answers 400 to it)
                image = name
            if engine.image_exists(image) and ENTRY_LABEL not in engine.image_labels(image):
                return None  # it has no record to compare with
            return check_image(engine, name)

        report = await self.blocking(drift)
        if report is None:
            self.set_status(422)
            self.finish({"message": f"{name}: {NOT_OURS}", "hint": NOT_OURS_HINT})
            return
        self.finish(report.to_dict())


def drifting_features(report: dict, threshold: float) -> list:
    """The input features whose PSI exceeds `threshold`, the worst first."""
    features = report.get("features") or {}
    above = [
        (h.get("psi", 0.0), name) for name, h in features.items() if h.get("psi", 0.0) > threshold
    ]
    return [name for _, name in sorted(above, key=lambda pair: -pair[0])]


def data_drift(report: dict, name: str, threshold: float) -> dict:
    """The instance's /drift report with what the sidebar needs: the features above the
    configured threshold (`drifting`), the threshold, and the worst feature."""
    features = report.get("features") or {}
    worst = max(features.items(), key=lambda item: item[1].get("psi", 0.0), default=None)
    return {
        **report,
        "name": name,
        "threshold": threshold,
        "drifting": drifting_features(report, threshold),
        "worst": None if worst is None else {"feature": worst[0], "psi": worst[1].get("psi")},
    }


async def running_instance(handler: MLContainerHandler, name: str):
    """The instance `name`, refused as unreachable when it is not running."""
    instance = await handler.engine("find_instance", name)
    if not instance.url:
        raise InstanceUnreachable(
            f"{instance.name} is {instance.status}, not running.", "Start it again or rebuild."
        )
    return instance


class InstancePredictHandler(MLContainerHandler):
    @tornado.web.authenticated
    @authorized
    async def post(self, name):
        body = check_fields(self.json_body(), PREDICT_FIELDS, required=("payload",))
        instance = await running_instance(self, name)
        answer = await self.blocking(lambda: ServingClient(instance.url).predict(body["payload"]))
        self.finish(answer.to_dict())


class InstanceDataDriftHandler(MLContainerHandler):
    """How the instance's live inputs drift from its training data (its own GET /drift), with
    the features above `MLContainerConfig.data_drift_threshold` listed as `drifting`."""

    @tornado.web.authenticated
    @authorized
    async def get(self, name):
        instance = await running_instance(self, name)
        client = ServingClient(instance.url, timeout=DATA_DRIFT_TIMEOUT)
        answer = await self.blocking(client.drift)
        if answer.status == 404:  # an image built without a data contract
            self.set_status(404)
            self.finish({"message": f"{instance.name}: {answer.error}", "hint": NO_CONTRACT_HINT})
            return
        if not answer.ok or not isinstance(answer.body, dict):
            raise InstanceUnreachable(
                f"{instance.name} answered GET /drift with {answer.status}: "
                f"{answer.error or 'not a drift report'}",
                UNREACHABLE_HINT,
            )
        threshold = self.mlcontainer_config.data_drift_threshold
        self.finish(data_drift(answer.body, instance.name, threshold))
