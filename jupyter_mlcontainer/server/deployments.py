"""Deployments (replicas behind one URL on swarm mode): list them; deploy, scale, roll out and
undeploy as jobs that stream their progress like builds."""

from __future__ import annotations

import tornado
from jupyter_server.auth.decorator import authorized

from ..deploy.plan import DeployOptions, check_replicas
from ..engine import open_engine
from .base import MLContainerHandler
from .validation import ROLLOUT_FIELDS, SCALE_FIELDS, check_fields, read_options


class DeploymentRoutes(MLContainerHandler):
    async def existing(self, name: str):
        """The deployment, or DeploymentNotFound (404) before any job is queued."""
        from ..deploy.replicas import get_deployment

        return await self.blocking(lambda: get_deployment(open_engine(), name))


class DeploymentListHandler(MLContainerHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self):
        from ..deploy.replicas import list_deployments

        def listing() -> dict:
            engine = open_engine()
            return {
                "swarm": engine.orchestrator().swarm_state(),
                "deployments": [d.to_dict() for d in list_deployments(engine)],
            }

        self.finish(await self.blocking(listing))

    @tornado.web.authenticated
    @authorized(action="write")
    def post(self):
        """A body of DeployOptions' fields ("source" required) → a deploy job."""
        from ..deploy.replicas import deploy

        options = read_options(self.json_body(), DeployOptions)
        config = self.mlcontainer_config
        self.accepted(
            self.jobs.submit_task(
                "deploy",
                options.name or options.source,
                lambda on_event: deploy(open_engine(), options, config, on_event),
                source=options.source,
            )
        )


class DeploymentHandler(DeploymentRoutes):
    @tornado.web.authenticated
    @authorized
    async def get(self, name):
        self.finish((await self.existing(name)).to_dict())

    @tornado.web.authenticated
    @authorized(action="write")
    async def patch(self, name):
        """{"replicas": N} → a scale job."""
        from ..deploy.replicas import scale

        count = check_fields(self.json_body(), SCALE_FIELDS, required=("replicas",))["replicas"]
        check_replicas(count)
        await self.existing(name)
        self.accepted(
            self.jobs.submit_task(
                "scale", name, lambda on_event: scale(open_engine(), name, count, on_event)
            )
        )

    @tornado.web.authenticated
    @authorized(action="write")
    async def delete(self, name):
        from ..deploy.replicas import undeploy

        await self.existing(name)
        self.accepted(
            self.jobs.submit_task(
                "undeploy", name, lambda on_event: undeploy(open_engine(), name, on_event)
            )
        )


class DeploymentRolloutHandler(DeploymentRoutes):
    @tornado.web.authenticated
    @authorized(action="write")
    async def post(self, name):
        """{"image"?} → a rollout job: to that image, or to the notebook's latest build."""
        from ..deploy.replicas import rollout

        image = check_fields(self.json_body(), ROLLOUT_FIELDS).get("image")
        await self.existing(name)
        self.accepted(
            self.jobs.submit_task(
                "rollout", name, lambda on_event: rollout(open_engine(), name, image, on_event)
            )
        )
