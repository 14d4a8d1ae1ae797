"""The container engine: the only part of the project that talks to Docker."""

from .base import Instance, LABEL_PREFIX, MANAGED_LABEL
from .docker import DockerEngine

__all__ = ["DockerEngine", "Instance", "LABEL_PREFIX", "MANAGED_LABEL"]
