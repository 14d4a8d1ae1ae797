"""The container engine: the only part of the project that talks to Docker.

`base` holds the vocabulary (protocol, events, labels, names, errors) with no Docker import;
`docker` is the one implementation, imported only when an engine is opened, so that rendering a
build context never loads the Docker SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..shared.errors import EngineUnavailable
from .base import LABEL_PREFIX, MANAGED_LABEL, ContainerEngine, Instance

if TYPE_CHECKING:
    from .docker import DockerEngine

__all__ = [
    "ContainerEngine",
    "DockerEngine",
    "Instance",
    "LABEL_PREFIX",
    "MANAGED_LABEL",
    "open_engine",
]


def open_engine(required: bool = True) -> ContainerEngine | None:
    """The Docker engine; None when it is not reachable and not `required` (a context-only
    render uses it only to pick the base image and read its libraries)."""
    from .docker import DockerEngine

    try:
        return DockerEngine()
    except EngineUnavailable:
        if required:
            raise
        return None


def __getattr__(name: str):
    if name == "DockerEngine":
        from .docker import DockerEngine

        return DockerEngine
    raise AttributeError(name)
