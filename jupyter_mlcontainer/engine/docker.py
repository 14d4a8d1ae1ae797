"""The Docker implementation of the engine, over the Docker SDK's low-level streaming API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from ..errors import BaseImageMissing, BuildFailed, EngineUnavailable
from ..events import ProgressEvent
from .base import MANAGED_LABEL

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)")
_FROM = re.compile(
    r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE | re.MULTILINE
)

ENGINE_HINT = (
    "Start the Docker engine (e.g. `sudo dockerd &` or `sudo systemctl start docker`), "
    "or point DOCKER_HOST at a running one."
)


def external_images(dockerfile: str) -> list[str]:
    """The images a Dockerfile starts FROM, leaving out its own build stages."""
    stages: set[str] = set()
    images: list[str] = []
    for image, alias in _FROM.findall(dockerfile):
        if image not in stages and image not in images:
            images.append(image)
        if alias:
            stages.add(alias)
    return images


class DockerEngine:
    """Builds images and runs containers; every call blocks, so servers call it from a thread."""

    def __init__(self, client: docker.DockerClient | None = None):
        try:
            self.client = client or docker.from_env()
            self.client.ping()
        except (DockerException, OSError) as error:
            raise EngineUnavailable(
                f"Cannot reach the Docker engine: {error}", ENGINE_HINT
            ) from error
        self.api = self.client.api

    # -- images --------------------------------------------------------------------------

    def image_exists(self, name: str) -> bool:
        try:
            self.client.images.get(name)
        except ImageNotFound:
            return False
        return True

    def ensure_base_images(self, dockerfile: str) -> None:
        """Make sure every external FROM image is present, pulling it if a registry answers."""
        for image in external_images(dockerfile):
            if not self.image_exists(image):
                self._pull_base_image(image)

    def _pull_base_image(self, image: str) -> None:
        try:
            self.client.images.pull(image)
        except (APIError, DockerException) as error:
            raise BaseImageMissing(
                f"The base image {image} is not on this machine and cannot be pulled: {error}",
                "Build an offline one with `jupyter mlcontainer base-image` and select it with "
                "--base-image or MLCONTAINER_BASE_IMAGE, or make the registry reachable.",
            ) from error

    def import_rootfs(self, tarball: Path, repository: str, tag: str) -> None:
        """Import a root filesystem tarball as an image (`docker import`)."""
        self.api.import_image_from_file(str(tarball), repository=repository, tag=tag)

    def build(
        self, context: Path, tag: str, labels: dict | None = None, extra_tags: tuple = ()
    ) -> Iterator[ProgressEvent]:
        """Build `context` into `tag`, yielding progress events; raises BuildFailed on error."""
        dockerfile = (Path(context) / "Dockerfile").read_text()
        self.ensure_base_images(dockerfile)
        all_labels = {MANAGED_LABEL: "true", **(labels or {})}
        step, total, step_title, step_output = 0, 0, "", []
        try:
            stream = self.api.build(
                path=str(context), tag=tag, labels=all_labels, rm=True, forcerm=True, decode=True
            )
            for chunk in stream:
                if "error" in chunk:
                    raise BuildFailed(
                        f"Build step {step}/{total} failed: {step_title}",
                        "Read the step's output below; fix the notebook or its environment.",
                        output="".join(step_output) + chunk["error"],
                    )
                line = chunk.get("stream", "")
                if not line.strip():
                    continue
                started = _STEP.match(line.strip())
                if started:
                    step, total, step_title = int(started[1]), int(started[2]), started[3]
                    step_output = []
                    yield ProgressEvent("step", step_title, "build", step, total)
                elif line.strip() == "---> Using cache":
                    yield ProgressEvent("cache", step_title, "build", step, total)
                else:
                    step_output.append(line)
                    yield ProgressEvent("log", line.rstrip("\n"), "build", step, total)
        except APIError as error:
            raise BuildFailed(f"The Docker engine refused the build: {error.explanation}") from error
        for extra in extra_tags:
            repository, _, extra_tag = extra.rpartition(":")
            self.api.tag(tag, repository, extra_tag)

    def image_size(self, name: str) -> int:
        return self.client.images.get(name).attrs["Size"]

    def remove_image(self, name: str) -> None:
        try:
            self.client.images.remove(name, force=True)
        except NotFound:
            pass

    # -- containers ----------------------------------------------------------------------

    def run_command(self, image: str, command: list[str], labels: dict | None = None) -> str:
        """Run a short-lived command in a fresh container and return its output."""
        output = self.client.containers.run(
            image, command, remove=True, labels={MANAGED_LABEL: "true", **(labels or {})}
        )
        return output.decode()
