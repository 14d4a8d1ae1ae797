"""Vocabulary shared by engines and their callers, with no Docker import: the engine protocol,
images and instances, labels and names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePath
from typing import Protocol

from ..shared.events import ProgressEvent

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
#: Where in the image its bill of materials (CycloneDX JSON) lies.
SBOM_LABEL = label("sbom")
#: sha256 over the code cells' sources (outputs and markdown left out), and the interpreter
#: that ran the notebook's kernel: what `check` compares the notebook and packages with.
CODE_SHA256_LABEL = label("code-sha256")
KERNEL_PYTHON_LABEL = label("kernel-python")
NAME_LABEL = label("name")
#: On a container that serves HTTPS on its port (a deployment's front with a certificate).
TLS_LABEL = label("tls")
#: Each stage of a generated Dockerfile carries `io.mlcontainer.stage` (builder | serving) from its
#: first step on, so the untagged images a build leaves (the builder stage's cache, the layers
#: of a final stage whose build failed) can be told apart from anybody else's and pruned.
STAGE_LABEL = label("stage")
BUILDER_STAGE = "builder"
SERVING_STAGE = "serving"

#: On a built image: the hash of its context without the state (sample.json, artifacts/) and its
#: base image's id. A rebuild whose context and base give the same value changed only the state,
#: and is committed over the layers below the state (DockerEngine.commit_state).
BELOW_STATE_LABEL = label("below-state")
#: Where the first of a generated Dockerfile's state steps copies sample.json: in an image's
#: history, the layers below it are those a state-only rebuild keeps.
FIRST_STATE_FILE = "/srv/sample.json"
#: The comment on the layer a state-only rebuild commits.
STATE_COMMIT_COMMENT = "jupyter-mlcontainer: the notebook's state"

#: Marks the container that publishes an instance's port (its value: the instance's name). The
#: instance runs in that container's network namespace, so the next build's instance can join it
#: and take the port over with no gap (runtime/handover.py).
PORT_HOLDER_LABEL = label("port-holder")

#: Marks what `deploy` makes (services, networks, fronts) with the deployment's name.
DEPLOYMENT_LABEL = label("deployment")

#: Least privilege for every instance unless relaxed (`run --no-harden`): a read-only root
#: filesystem with a small writable /tmp, no Linux capabilities, no privilege gain through setuid.
TMPFS_SIZE = "64m"
HARDENING = {
    "read_only": True,
    "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={TMPFS_SIZE}"},
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
}

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
    oom_killed: bool = False  # the kernel's OOM killer ended it (it outgrew memory_limit)
    memory_limit: int | None = None  # bytes, when the instance runs under a memory limit
    hardened: bool = False  # read-only root, no capabilities, no new privileges
    port_holder: str = ""  # id of the container that publishes its port, when one does

    @property
    def state(self) -> str:
        """`status`, said plainly when the OOM killer ended it: `OOM-killed (limit 64 MB)`."""
        if not self.oom_killed:
            return self.status
        limit = f" (limit {self.memory_limit / 2**20:.0f} MB)" if self.memory_limit else ""
        return f"OOM-killed{limit}"

    def to_dict(self) -> dict:
        return {**asdict(self), "state": self.state}


@dataclass
class PruneReport:
    """What `prune` removed: instance names, image tags, and the builder caches' bytes."""

    instances: list = field(default_factory=list)
    images: list = field(default_factory=list)
    caches: int = 0
    cache_bytes: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TaskFailure:
    """A replica that failed or was refused: its task, the image it ran, and why."""

    task: str
    image: str
    error: str


@dataclass(frozen=True)
class ServiceState:
    """A replicated service as the orchestrator sees it: the image its spec names, replicas
    wanted and running, and the state of its last update ('' when it never had one)."""

    name: str
    image: str
    replicas: int
    running: int
    labels: dict
    update_state: str = (
        ""  # updating | completed | paused | rollback_started | rollback_completed …
    )
    update_message: str = ""
    failures: tuple[TaskFailure, ...] = ()  # the failed replicas swarm still lists, newest first
    addresses: tuple = ()  # the running replicas' IP addresses on the service's network


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
    def built_image_labels(self) -> list[dict]: ...
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
        no_cache: bool = False,
        build_args: dict | None = None,
    ) -> Iterator[ProgressEvent]: ...
    def push(self, image: str, repository: str, tag: str, tally) -> Iterator[ProgressEvent]: ...
    def image_refs(self, name: str) -> list[str]: ...
    def tag_image(self, image: str, reference: str) -> None: ...
    def layers_below_state(self, below_state: str) -> str | None: ...
    def commit_state(
        self, base: str, archive: bytes, tag: str, labels: dict
    ) -> Iterator[ProgressEvent]: ...
    def run_command(self, image: str, command: list[str], labels: dict | None = None) -> str: ...
    def run_batch(self, image: str, rows: Path, fmt: str, output, on_line) -> int: ...
    def read_image_files(
        self, image: str, paths: list[str], optional: tuple = ()
    ) -> dict[str, bytes | None]: ...
    def run(
        self,
        image: str,
        *,
        port: int | None = None,
        labels: dict | None = None,
        name: str | None = None,
        environment: dict | None = None,
        harden: bool = True,
        memory: str | None = None,
        cpus: float | None = None,
        joins: Instance | None = None,
        token_file: Path | None = None,
    ) -> Instance: ...
    def rename(self, instance_id: str, name: str) -> None: ...
    def list_instances(self, all: bool = False, labels: dict | None = None) -> list[Instance]: ...
    def container_names(self) -> set[str]: ...
    def find_instance(self, name_or_id: str) -> Instance: ...
    def logs(self, name_or_id: str, tail: int = 200) -> str: ...
    def memory_usage(self, name_or_id: str) -> int: ...
    def stop(self, name_or_id: str) -> Instance: ...
    def retire(self, name_or_id: str) -> None: ...
    def stop_all(self, labels: dict | None = None) -> list[str]: ...
    def prune(self, labels: dict | None = None, keep_cache: bool = False) -> PruneReport: ...
    def orchestrator(self) -> Orchestrator: ...


class Orchestrator(Protocol):
    """Replicated services and the networks between them: what `deploy` asks of swarm mode."""

    def swarm_state(self) -> str: ...
    def node_count(self) -> int: ...
    def init_swarm(self) -> None: ...
    def initialized_by_us(self) -> bool: ...
    def leave_swarm(self) -> None: ...
    def create_network(self, name: str, labels: dict) -> None: ...
    def remove_network(self, name: str) -> None: ...
    def create_service(
        self,
        name: str,
        image: str,
        replicas: int,
        network: str,
        labels: dict,
        environment: dict,
        run_options: dict,
    ) -> None: ...
    def service(self, name: str) -> ServiceState | None: ...
    def services(self, labels: dict) -> list[ServiceState]: ...
    def update_service(
        self, name: str, *, image: str | None = None, replicas: int | None = None
    ) -> None: ...
    def rollback_service(self, name: str) -> None: ...
    def remove_service(self, name: str) -> None: ...
    def task_logs(self, name: str, image: str | None = None, tail: int = 60) -> str: ...
    def front(self, name: str) -> Instance | None: ...
    def front_logs(self, name: str, tail: int = 30) -> str: ...
    def remove_container(self, name: str) -> None: ...
    def run_front(
        self,
        image: str,
        name: str,
        port: int | None,
        network: str,
        labels: dict,
        environment: dict,
        files: dict | None = None,
    ) -> Instance: ...
