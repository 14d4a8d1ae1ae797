"""Vocabulary shared by engines and their callers, with no Docker import: the engine protocol,
images and instances, labels and names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePath
from typing import Protocol

from ..events import ProgressEvent

LABEL_PREFIX = "io.mlcontainer"
#: Every image and container the project makes carries this label, so the engine
#: itself is the record of what exists (nothing is lost when Jupyter restarts).
MANAGED_LABEL = f"{LABEL_PREFIX}.managed"


def label(name: str) -> str:
    return f"{LABEL_PREFIX}.{name}"


#: Marks serving containers, as opposed to build steps and one-off commands, which
#: inherit MANAGED_LABEL from the images they run.
INSTANCE_LABEL = label("instance")
#: Provenance the pipeline puts on images and instances; `ls` shows the notebook.
NOTEBOOK_LABEL = label("notebook")
NOTEBOOK_SHA256_LABEL = label("notebook-sha256")
ENTRY_LABEL = label("entry")
NAME_LABEL = label("name")
#: The builder stage of a generated Dockerfile carries `io.mlcontainer.stage=builder`, so the
#: untagged images it leaves as cache can be told apart from anybody else's and pruned.
STAGE_LABEL = label("stage")
BUILDER_STAGE = "builder"

#: The port the serving runtime listens on inside every image.
CONTAINER_PORT = 8080
IMAGE_NAMESPACE = "mlcontainer"


@dataclass(frozen=True)
class Image:
    """A built image: its content-hash tag, id, size in bytes, and that size by origin."""

    tag: str
    id: str
    size: int
    sizes: dict  # bytes: base, system_packages, python_packages, app
    labels: dict  # what its instances are labelled with too


@dataclass(frozen=True)
class Instance:
    """A running (or stopped) serving container; `url` is empty when it is not running."""

    id: str
    name: str
    image: str
    url: str
    status: str
    labels: dict = field(default_factory=dict)
    created: str = ""
    started: str = ""  # ISO time the container last started
    exit_code: int | None = None  # once it has stopped

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PruneReport:
    """What `prune` removed: instance names, image tags, and the builder caches' bytes."""

    instances: list = field(default_factory=list)
    images: list = field(default_factory=list)
    caches: int = 0
    cache_bytes: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


#: Longest name made; Docker allows longer, but the name also becomes tags and folders.
MAX_NAME = 100


def docker_name(text: str, fallback: str = "model") -> str:
    """`text` folded into a Docker repository component and container name: lowercase
    alphanumerics joined by `.`, `_`, `__` or dashes; any other character or run of
    separators becomes one `-`; at least two characters (a container name's minimum)."""
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", text.lower())
    cleaned = re.sub(
        r"[._-]{2,}", lambda run: run[0] if re.fullmatch(r"__|-+", run[0]) else "-", cleaned
    )
    cleaned = cleaned[:MAX_NAME].strip("._-")
    if len(cleaned) < 2:
        return f"{cleaned}-{fallback}" if cleaned else fallback
    return cleaned


def image_name(notebook: str) -> str:
    """A Docker-safe image name from the notebook's file name, as JupyterLab names it too."""
    return docker_name(PurePath(notebook).stem, fallback="notebook")


def image_repository(name: str) -> str:
    """`mlcontainer/<name>`, with `name` folded into what Docker accepts."""
    return f"{IMAGE_NAMESPACE}/{docker_name(name)}"


def image_tags(name: str, content_hash: str) -> tuple[str, str]:
    """The content-addressed tag a build makes, and the `:latest` tag that follows it."""
    repository = image_repository(name)
    return f"{repository}:{content_hash}", f"{repository}:latest"


_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_TARGET = re.compile(rf"^({_HOST})/({_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)(?::({_TAG}))?$")


def split_push_target(target: str) -> tuple[str, str, str | None]:
    """`REGISTRY/REPOSITORY[:TAG]` → (registry, registry/repository, tag or None), as Docker's
    reference grammar allows; raises ValueError saying what is wrong."""
    match = _TARGET.match(target)
    registry = target.split("/", 1)[0]
    if match is None or not ("." in registry or ":" in registry or registry == "localhost"):
        raise ValueError(
            f"{target!r} is not REGISTRY/REPOSITORY[:TAG]: the registry is a host (with a dot, "
            "a port or 'localhost'), the repository lowercase letters, digits and . _ - "
            "separated by /, the tag up to 128 letters, digits, _ . -"
        )
    return match[1], f"{match[1]}/{match[2]}", match[3]


def split_image_ref(ref: str) -> tuple[str, str]:
    """`repo[:tag]` → (repo, tag); a colon in a registry's host:port is not a tag."""
    repository, colon, tag = ref.rpartition(":")
    if not colon or "/" in tag:
        return ref, "latest"
    return repository, tag


class ContainerEngine(Protocol):
    """What the pipeline and the front doors ask of a container engine. `DockerEngine` is the
    implementation; another engine (Podman) is a new module, not an edit everywhere."""

    def image_exists(self, name: str) -> bool: ...
    def image_id(self, name: str) -> str: ...
    def image_size(self, name: str) -> int: ...
    def image_labels(self, name: str) -> dict: ...
    def layer_sizes(self, name: str) -> list[tuple[str, int]]: ...
    def remove_image(self, name: str) -> None: ...
    def import_rootfs(
        self, tarball: Path, repository: str, tag: str, changes: list[str] | None = None
    ) -> None: ...
    def build(
        self,
        context: Path,
        tag: str,
        labels: dict | None = None,
        extra_tags: tuple = (),
        no_cache: bool = False,
    ) -> Iterator[ProgressEvent]: ...
    def push(self, image: str, repository: str, tag: str, tally) -> Iterator[ProgressEvent]: ...
    def image_refs(self, name: str) -> list[str]: ...
    def run_command(self, image: str, command: list[str], labels: dict | None = None) -> str: ...
    def run(
        self,
        image: str,
        *,
        port: int | None = None,
        labels: dict | None = None,
        name: str | None = None,
    ) -> Instance: ...
    def list_instances(self, all: bool = False, labels: dict | None = None) -> list[Instance]: ...
    def container_names(self) -> set[str]: ...
    def find_instance(self, name_or_id: str) -> Instance: ...
    def logs(self, name_or_id: str, tail: int = 200) -> str: ...
    def stop(self, name_or_id: str) -> Instance: ...
    def stop_all(self, labels: dict | None = None) -> list[str]: ...
    def prune(self, labels: dict | None = None, keep_cache: bool = False) -> PruneReport: ...
