"""The Docker implementation of the engine, over the Docker SDK's low-level streaming API."""

from __future__ import annotations

import contextlib
import io
import re
import secrets
import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import Mount

from ..runtime.auth import TOKEN_FILE_VARIABLE, TOKEN_MOUNT
from ..runtime.handover import RETIRE_DRAIN_SECONDS, RETIRE_SIGNAL, REUSE_PORT
from ..shared.errors import (
    BaseImageMissing,
    BuildFailed,
    EngineUnavailable,
    InstanceNotFound,
    MLContainerError,
    NameTaken,
    RunFailed,
)
from ..shared.events import ProgressEvent
from .base import (
    BELOW_STATE_LABEL,
    CONTAINER_PORT,
    FIRST_STATE_FILE,
    HARDENING,
    IMAGE_NAMESPACE,
    INSTANCE_LABEL,
    MANAGED_LABEL,
    NOTEBOOK_SHA256_LABEL,
    PORT_HOLDER_LABEL,
    STAGE_LABEL,
    STATE_COMMIT_COMMENT,
    Instance,
    PruneReport,
    split_image_ref,
)
from .buildstream import build_events
from .dockerapi import (
    ENGINE_HINT,
    LOST_ENGINE,
    STOP_TIMEOUT,
    PinnedClient,
    copy_into,
    instance_of,
    reaches_engine,
    refusal_hint,
    refuse_taken_port,
    short_image_name,
    unavailable,
)
from .locate import (
    LOOPBACK,
    EngineSocket,
    container_network,
    engine_sockets,
    flavour_of,
    no_rights_hint,
    rootless,
)
from .pushstream import PushTally, push_error, push_events
from .swarm import SwarmOrchestrator

_FROM = re.compile(
    r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE | re.MULTILINE
)


#: Lets the connections queued at a stopping listener move to another one on the same port.
MIGRATE_QUEUED = {"net.ipv4.tcp_migrate_req": "1"}


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
    """Builds images and runs containers; every call blocks, so servers call it from a thread.
    Speaks Docker's API, which Podman serves too (`flavour`)."""

    flavour = "docker"  # or "podman"
    rootless = False
    network_mode: str | None = None  # None: the engine's default (locate.container_network)
    storage_driver = ""  # "overlay", "vfs", ...: what `doctor` warns about when slow
    address = LOOPBACK  # where instances are reached
    publish_on = LOOPBACK  # where their ports are bound

    def __init__(self, client: docker.DockerClient | None = None):
        self.socket = EngineSocket(client.api.base_url, "given") if client else None
        self.client = client or self._connect()
        try:
            version, info = self.client.version(), self.client.info()
        except (DockerException, OSError) as error:
            raise unavailable(error) from error
        self.api = self.client.api
        self.flavour = flavour_of(version)  # "docker" or "podman"
        self.version = str(version.get("Version", ""))
        self.rootless = rootless(info)
        self.network_mode = container_network(self.flavour, self.version, self.rootless)
        self.storage_driver = str(info.get("Driver", ""))
        if self.socket and self.socket.remote:  # instances live on the engine's machine
            self.address, self.publish_on = self.socket.host, self.socket.publish_address

    def _connect(self) -> docker.DockerClient:
        """A client of the first engine that answers (locate.engine_sockets), or
        EngineUnavailable saying where it looked."""
        tried, refused = [], ""
        for socket in engine_sockets():
            if not socket.present:
                tried.append(f"{socket.origin} {socket.url} (absent)")
                continue
            try:
                if socket.origin == "DOCKER_HOST":  # TLS from DOCKER_TLS_VERIFY, DOCKER_CERT_PATH
                    client = PinnedClient.from_env(use_ssh_client=socket.url.startswith("ssh://"))
                else:
                    client = docker.DockerClient(base_url=socket.url)
                client.ping()
            except (DockerException, OSError) as error:
                if "Permission denied" in str(error) and socket.url.startswith("unix://"):
                    refused = refused or socket.url
                tried.append(f"{socket.origin} {socket.url} ({error})")
                continue
            self.socket = socket
            return client
        if refused:
            raise EngineUnavailable(
                f"This user may not use the engine at {refused} (permission denied); tried "
                + "; ".join(tried)
                + ".",
                no_rights_hint(refused),
            )
        raise EngineUnavailable(
            "No container engine answers: tried " + "; ".join(tried) + ".", ENGINE_HINT
        )

    def _answers(self) -> bool:
        try:
            self.client.ping()
        except (DockerException, requests.exceptions.ConnectionError):
            return False
        return True

    # -- images --------------------------------------------------------------------------

    @reaches_engine
    def image_exists(self, name: str) -> bool:
        """Whether the engine has `name`; a name no image can have (the engine refuses it as
        a reference) is not one it has."""
        try:
            self.client.images.get(name)
        except ImageNotFound:
            return False
        except APIError as error:
            if error.status_code == 400:  # "invalid reference format"
                return False
            raise
        return True

    @reaches_engine
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

    @reaches_engine
    def import_rootfs(
        self, tarball: Path, repository: str, tag: str, changes: list[str] | None = None
    ) -> None:
        """Import a root filesystem tarball as a one-layer image (`docker import`), with
        Dockerfile instructions (ENV, LABEL, CMD) in `changes`."""
        self.api.import_image_from_file(
            str(tarball), repository=repository, tag=tag, changes=changes
        )

    @reaches_engine
    def image_labels(self, name: str) -> dict:
        return self.client.images.get(name).labels or {}

    @reaches_engine
    def built_image_labels(self) -> list[dict]:
        """The labels of every image a build made (tagged or not): what the cached build
        contexts are kept for."""
        images = self.client.images.list(filters={"label": NOTEBOOK_SHA256_LABEL})
        return [image.labels or {} for image in images]

    @reaches_engine
    def build(
        self,
        context: Path,
        tag: str,
        labels: dict | None = None,
        no_cache: bool = False,
        build_args: dict | None = None,
    ) -> Iterator[ProgressEvent]:
        """Build `context` into `tag`, with the Dockerfile's ARGs set from `build_args`,
        yielding progress events; raises BuildFailed on error.
        Closing the generator early (a cancelled job) drops the connection, which makes the
        engine abandon the build."""
        dockerfile = (Path(context) / "Dockerfile").read_text()
        self.ensure_base_images(dockerfile)
        all_labels = {MANAGED_LABEL: "true", **(labels or {})}
        try:
            stream = self.api.build(
                path=str(context),
                tag=tag,
                labels=all_labels,
                rm=True,
                forcerm=True,
                decode=True,
                nocache=no_cache,
                buildargs=build_args,
            )
            yield from build_events(stream)
        except APIError as error:
            raise BuildFailed(
                f"The Docker engine refused the build: {error.explanation}"
            ) from error
        except (BuildFailed, *LOST_ENGINE) as error:
            if not self._answers():  # the step failed, or the stream broke, as the engine left
                reason = error.message if isinstance(error, BuildFailed) else error
                raise EngineUnavailable(
                    f"The Docker engine stopped during the build ({reason}); nothing was tagged.",
                    f"{ENGINE_HINT} Then build again: the steps already built are reused.",
                ) from error
            raise

    @reaches_engine
    def layers_below_state(self, below_state: str) -> str | None:
        """The id of the image under the state layers of an image built from a context whose
        BELOW_STATE_LABEL is `below_state`, if one is still on this engine: the first state
        step of a generated Dockerfile copies sample.json, a state-only rebuild commits one."""
        images = self.client.images.list(filters={"label": f"{BELOW_STATE_LABEL}={below_state}"})
        for image in images:
            history = self.api.history(image.id)
            for layer, below in zip(history, history[1:], strict=False):
                state = layer.get("Comment") == STATE_COMMIT_COMMENT or (
                    f" in {FIRST_STATE_FILE}" in (layer.get("CreatedBy") or "")
                )
                if state and below.get("Id", "<missing>") != "<missing>":
                    return below["Id"] if self.image_exists(below["Id"]) else None
        return None

    @reaches_engine
    def commit_state(
        self, base: str, archive: bytes, tag: str, labels: dict
    ) -> Iterator[ProgressEvent]:
        """Put `archive` (the state, a tar for /srv) into a container made from `base` and
        commit it as `tag` with `labels`: the image a build of the same context would make,
        without sending the context or running a step. Yields its one step."""
        yield ProgressEvent("step", "COPY sample.json artifacts/ /srv/ (state only)", "build", 1, 1)
        labels = {MANAGED_LABEL: "true", **labels}
        container = self.client.containers.create(base, labels=labels)
        try:
            container.put_archive("/srv", archive)
            repository, name = split_image_ref(tag)
            # the engine adds these to the labels `base` has, as a build's LABEL steps do
            container.commit(
                repository, name, message=STATE_COMMIT_COMMENT, conf={"Labels": labels}
            )
        except APIError as error:
            raise BuildFailed(f"Committing the new state onto {base} failed: {error}") from error
        finally:
            container.remove(force=True)
        yield ProgressEvent("log", f"Successfully tagged {tag}", "build")

    @reaches_engine
    def push(
        self, image: str, repository: str, tag: str, tally: PushTally
    ) -> Iterator[ProgressEvent]:
        """Tag `image` as repository:tag and push it with the user's Docker credentials
        (`docker login`), yielding a step per layer; raises PushFailed with what to do.
        A failed push takes back the tag it added, so the image never looks pushed when it
        is not (manifests name a pushed reference when there is one)."""
        registry = repository.split("/", 1)[0]
        engine_host = self.address if self.address != LOOPBACK else ""  # a remote engine's
        reference = f"{repository}:{tag}"
        tagged_here = reference not in self.image_refs(image)
        self.api.tag(image, repository, tag)
        pushed = False
        try:
            stream = self.api.push(repository, tag=tag, stream=True, decode=True)
            yield from push_events(stream, registry, tally, engine_host)
            pushed = True
        except APIError as error:
            raise push_error(str(error.explanation), registry, engine_host) from error
        finally:
            if tagged_here and not pushed:
                with contextlib.suppress(NotFound, APIError):
                    self.api.remove_image(reference, noprune=True)

    @reaches_engine
    def image_refs(self, name: str) -> list[str]:
        """Every `repository:tag` that names the same image as `name`, as it was given
        (Podman qualifies short names: `docker.io/mlcontainer/…`)."""
        return [short_image_name(tag) for tag in self.client.images.get(name).tags]

    @reaches_engine
    def tag_image(self, image: str, reference: str) -> None:
        """Give `image` the name `reference` too (`:latest`, once the image is proven)."""
        self.api.tag(image, *split_image_ref(reference))

    @reaches_engine
    def image_id(self, name: str) -> str:
        return self.client.images.get(name).id

    @reaches_engine
    def image_size(self, name: str) -> int:
        return self.client.images.get(name).attrs["Size"]

    @reaches_engine
    def layer_sizes(self, name: str) -> list[tuple[str, int]]:
        """(the instruction that made it, bytes) for each layer of an image, oldest first."""
        return [(layer["CreatedBy"], layer["Size"]) for layer in reversed(self.api.history(name))]

    @reaches_engine
    def remove_image(self, name: str) -> None:
        try:
            self.client.images.remove(name, force=True)
        except NotFound:
            pass

    # -- containers ----------------------------------------------------------------------

    @reaches_engine
    def run_command(self, image: str, command: list[str], labels: dict | None = None) -> str:
        """Run a short-lived command in a fresh container and return its output. The
        container is removed also when the engine refuses to start it (the SDK's `remove`
        only acts once it ran), so a refused start leaves nothing behind."""
        name = f"mlcontainer-command-{secrets.token_hex(4)}"
        try:
            output = self.client.containers.run(
                image,
                command[1:],
                name=name,
                entrypoint=command[:1],  # whatever the image's own entry point
                remove=True,
                network_mode=self.network_mode,
                labels={MANAGED_LABEL: "true", **(labels or {})},
            )
        except APIError:
            with contextlib.suppress(NotFound, APIError):
                self.client.containers.get(name).remove(force=True)
            raise
        return output.decode()

    @reaches_engine
    def run_batch(self, image: str, rows: Path, fmt: str, output, on_line) -> int:
        """`predict` in a throwaway container without network over `rows` (mounted read-only,
        alone): its stdout is written to `output` (binary), each stderr line is passed to
        `on_line`. Returns the exit code."""
        container = self.client.containers.run(
            image,
            ["predict", "--format", fmt, "--input", "/input/rows"],
            volumes={str(Path(rows).resolve()): {"bind": "/input/rows", "mode": "ro"}},
            network_disabled=True,
            detach=True,
            labels={MANAGED_LABEL: "true"},
        )
        try:
            pending = b""
            for out, err in container.attach(stream=True, logs=True, demux=True):
                if out:
                    output.write(out)
                if err:
                    *lines, pending = (pending + err).split(b"\n")
                    for line in lines:
                        on_line(line.decode(errors="replace"))
            if pending:
                on_line(pending.decode(errors="replace"))
            return container.wait()["StatusCode"]
        finally:
            container.remove(force=True)

    @reaches_engine
    def read_image_files(
        self, image: str, paths: list[str], optional: tuple = ()
    ) -> dict[str, bytes | None]:
        """Each file's bytes out of an image, through one created (never started) container;
        None for an `optional` one it lacks, MLContainerError for another."""
        container = self.client.containers.create(image, labels={MANAGED_LABEL: "true"})
        found: dict[str, bytes | None] = {}
        try:
            for path in paths:
                try:
                    chunks, _ = container.get_archive(path)
                except NotFound:
                    if path in optional:
                        found[path] = None
                        continue
                    raise MLContainerError(
                        f"{image} has no {path}.",
                        "Give an image built by jupyter-mlcontainer, or an instance of one.",
                    ) from None
                with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
                    member = next(m for m in archive.getmembers() if m.isfile())
                    found[path] = archive.extractfile(member).read()
        finally:
            container.remove(force=True)
        return found

    @reaches_engine
    def run(
        self,
        image: str,
        *,
        port: int | None = None,
        labels: dict | None = None,
        name: str | None = None,
        environment: dict | None = None,
        harden: bool = True,
        memory: str | int | None = None,
        cpus: float | None = None,
        joins: Instance | None = None,
        token_file: Path | None = None,
    ) -> Instance:
        """Start a serving container detached, its port 8080 published on 127.0.0.1 only (on a
        remote engine, on its machine: `address`):
        on `port`, or on a free port Docker picks when `port` is None or 0. The port is held by
        a small container whose network namespace the instance joins; `joins`, an instance
        started so, makes the new one share its port instead (it listens beside it once its
        model is loaded: runtime/handover.py). Hardened unless `harden` is False
        (base.HARDENING); `memory` ("512m", bytes) and `cpus` (1.5) limit it, with no swap
        beyond the memory limit so that outgrowing it is an OOM kill, not a crawl.
        `token_file` locks its API: mounted read-only where the runtime reads its token; on a
        remote engine, whose machine has not this file, copied into a volume of the container's
        own before it starts (removed with it)."""
        name = name or _default_name(image)
        limits = {}
        remote_token = token_file is not None and self.address != LOOPBACK
        token = Path(token_file).read_bytes() if remote_token else b""
        if remote_token:
            folder = str(PurePosixPath(TOKEN_MOUNT).parent)
            limits["mounts"] = [Mount(folder, None, type="volume")]
        elif token_file is not None:
            limits["volumes"] = {str(token_file): {"bind": TOKEN_MOUNT, "mode": "ro"}}
        if token_file is not None:
            environment = {**(environment or {}), TOKEN_FILE_VARIABLE: TOKEN_MOUNT}
        if memory:
            limits.update(mem_limit=memory, memswap_limit=memory)
        if cpus:
            limits["nano_cpus"] = int(float(cpus) * 1e9)
        if joins is not None and not joins.port_holder:
            raise RunFailed(f"{joins.name} publishes its own port, which cannot be shared.")
        holder = joins.port_holder if joins else self._hold_port(image, name, port, labels)
        try:
            container = self.client.containers.create(
                image,
                name=name,
                detach=True,
                network_mode=f"container:{holder}",
                labels={MANAGED_LABEL: "true", INSTANCE_LABEL: "true", **(labels or {})},
                environment={
                    "PORT": str(CONTAINER_PORT),
                    REUSE_PORT: "1",
                    **(environment or {}),
                },
                restart_policy={"Name": "no"},
                **(HARDENING if harden else {}),
                **limits,
            )
        except (ImageNotFound, APIError) as error:
            if joins is None:
                self._release_port(holder)
            if isinstance(error, ImageNotFound):
                raise _no_image(image) from error
            if error.status_code == 409:
                raise NameTaken(
                    f"An instance named {name} already exists.",
                    f"Stop it (`jupyter mlcontainer stop {name}`) or pass another --name.",
                ) from error
            raise RunFailed(
                f"The Docker engine refused to create {name}: {error.explanation}"
            ) from error
        try:
            if remote_token:
                copy_into(container, TOKEN_MOUNT, token)
            container.start()
        except Exception as error:  # the engine refused, or went away: nothing is left behind
            container.remove(force=True, v=True)
            if joins is None:
                self._release_port(holder)
            if isinstance(error, APIError):
                raise RunFailed(f"{name} did not start: {error.explanation}") from error
            raise
        container.reload()
        return self._instance(container)

    @reaches_engine
    def published_port(self, image: str) -> str | None:
        """Where a container of `image` gets its port published ("127.0.0.1:PORT") as an
        instance's is, or None; RunFailed says why the engine refused."""
        holder = self._hold_port(image, f"mlcontainer-probe-{secrets.token_hex(3)}", None, {})
        try:
            ports = self.api.inspect_container(holder)["NetworkSettings"].get("Ports") or {}
            bindings = ports.get(f"{CONTAINER_PORT}/tcp") or []
            return f"{bindings[0]['HostIp']}:{bindings[0]['HostPort']}" if bindings else None
        finally:
            self._release_port(holder)

    def _hold_port(self, image: str, name: str, port: int | None, labels: dict | None) -> str:
        """Start the container that publishes `name`'s port and owns its network namespace:
        `sleep` from `image`, without capabilities. It sets `tcp_migrate_req`, so that the
        connections queued at an instance that stops move to the one that shares its port.
        Returns its id."""
        options = dict(
            entrypoint=["sleep", "infinity"],
            command=[],
            name=f"{name}.port-{secrets.token_hex(2)}",
            init=True,
            detach=True,
            ports={f"{CONTAINER_PORT}/tcp": (self.publish_on, port or None)},
            network_mode=self.network_mode,
            labels={
                **{k: v for k, v in (labels or {}).items() if k != INSTANCE_LABEL},
                MANAGED_LABEL: "true",
                PORT_HOLDER_LABEL: name,
            },
            healthcheck={"test": ["NONE"]},
            restart_policy={"Name": "no"},
            user="65534:65534",
            **HARDENING,
        )
        try:
            holder = self.client.containers.create(image, sysctls=MIGRATE_QUEUED, **options)
        except ImageNotFound as error:
            raise _no_image(image) from error
        except APIError:  # a kernel older than 5.14 has no tcp_migrate_req: still serves
            try:
                holder = self.client.containers.create(image, **options)
            except APIError as error:
                raise RunFailed(
                    f"The engine refused to create {name}'s port holder: {error.explanation}",
                    refusal_hint(str(error.explanation)),
                ) from error
        try:
            holder.start()
        except APIError as error:
            holder.remove(force=True)
            refuse_taken_port(error, port, "or --port 0 to let Docker pick a free one")
            raise RunFailed(
                f"{name} did not start: {error.explanation}", refusal_hint(str(error.explanation))
            ) from error
        return holder.id

    def _release_port(self, holder: str) -> None:
        """Remove the port holder `holder` once no container shares its namespace any more."""
        mode = f"container:{holder}"
        members = self.api.containers(all=True, filters={"label": MANAGED_LABEL})
        if any((c.get("HostConfig") or {}).get("NetworkMode") == mode for c in members):
            return
        with contextlib.suppress(NotFound):
            self.client.containers.get(holder).remove(force=True)

    @reaches_engine
    def rename(self, instance_id: str, name: str) -> None:
        self.client.containers.get(instance_id).rename(name)

    @reaches_engine
    def list_instances(self, all: bool = False, labels: dict | None = None) -> list[Instance]:
        """Serving containers found by label (running ones unless `all`), optionally only those
        carrying every `labels` pair: the engine is the record, nothing is kept here."""
        selector = [MANAGED_LABEL, INSTANCE_LABEL] + [f"{k}={v}" for k, v in (labels or {}).items()]
        containers = self.client.containers.list(
            all=all, filters={"label": selector}, ignore_removed=True
        )
        return [self._instance(container) for container in containers]

    @reaches_engine
    def container_names(self) -> set[str]:
        """Every container's name, ours or not: a new instance needs one nobody holds."""
        return {c.name for c in self.client.containers.list(all=True, ignore_removed=True)}

    @reaches_engine
    def find_instance(self, name_or_id: str) -> Instance:
        """The instance with this name, id, or unique id prefix, running or not."""
        with contextlib.suppress(NotFound, APIError):  # a name or a full id: one call
            container = self.client.containers.get(name_or_id)
            if container.labels.get(INSTANCE_LABEL) == "true" and name_or_id in (
                container.name,
                container.id,
            ):
                return self._instance(container)
        instances = self.list_instances(all=True)
        exact = [i for i in instances if name_or_id in (i.name, i.id)]
        prefixed = [i for i in instances if name_or_id and i.id.startswith(name_or_id)]
        if exact or len(prefixed) == 1:
            return (exact or prefixed)[0]
        known = ", ".join(
            i.name if i.status == "running" else f"{i.name} ({i.status})" for i in instances
        )
        raise InstanceNotFound(
            f"No instance is named {name_or_id!r}.",
            f"Instances: {known}."
            if known
            else "None exist; start one with `jupyter mlcontainer run IMAGE`.",
        )

    @reaches_engine
    def logs(self, name_or_id: str, tail: int = 200) -> str:
        container = self._container(self.find_instance(name_or_id))
        return container.logs(tail=tail).decode(errors="replace")

    @reaches_engine
    def memory_usage(self, name_or_id: str) -> int:
        """Bytes a running instance uses now, counted as `docker stats` counts them: the
        cgroup's usage less the page cache it could drop (inactive files)."""
        container = self._container(self.find_instance(name_or_id))
        stats = container.stats(stream=False, one_shot=True).get("memory_stats") or {}
        if "usage" not in stats:
            raise InstanceNotFound(
                f"{container.name} is not running, so its memory cannot be read.",
                f"Start it again (`jupyter mlcontainer run {container.attrs['Config']['Image']}`).",
            )
        detail = stats.get("stats") or {}
        cache = detail.get("inactive_file", detail.get("total_inactive_file", 0))
        return max(stats["usage"] - cache, 0)

    @reaches_engine
    def stop(self, name_or_id: str) -> Instance:
        """Stop (SIGTERM, then SIGKILL after a few seconds) and remove an instance."""
        instance = self.find_instance(name_or_id)
        self._stop(instance)
        return instance

    @reaches_engine
    def retire(self, name_or_id: str) -> None:
        """Ask an instance whose successor shares its port to hand it over (RETIRE_SIGNAL: it
        stops listening, drains, stops), then remove it; one that has not stopped by then is
        stopped as `stop` does."""
        instance = self.find_instance(name_or_id)
        try:
            container = self._container(instance)
            container.kill(signal=RETIRE_SIGNAL.name)
            container.wait(timeout=RETIRE_DRAIN_SECONDS + STOP_TIMEOUT)
        except (InstanceNotFound, APIError, requests.exceptions.RequestException):
            pass  # gone already, or not stopping: `_stop` ends it
        self._stop(instance)

    @reaches_engine
    def stop_all(self, labels: dict | None = None) -> list[str]:
        """Stop and remove every instance (those carrying `labels`); returns their names."""
        instances = self.list_instances(all=True, labels=labels)
        for instance in instances:
            self._stop(instance)
        return [instance.name for instance in instances]

    @reaches_engine
    def prune(self, labels: dict | None = None, keep_cache: bool = False) -> PruneReport:
        """Remove what builds and instances leave behind (those carrying `labels`): stopped
        instances, port holders no instance uses, the `mlcontainer/` tags of built images that no `:latest` tag and no
        container refers to any more, and, unless `keep_cache`, the untagged images that
        generated Dockerfiles' stages leave: the builder stages' cache (the next build
        re-installs) and the layers of builds that failed."""
        selector = [f"{k}={v}" for k, v in (labels or {}).items()]
        report = PruneReport()
        for instance in self.list_instances(all=True, labels=labels):
            if instance.status != "running":
                self._stop(instance)
                report.instances.append(instance.name)
        holders = self.api.containers(all=True, filters={"label": [PORT_HOLDER_LABEL, *selector]})
        for holder in holders:  # left by an instance removed without `stop`
            self._release_port(holder["Id"])
        in_use = {
            c.attrs["Image"] for c in self.client.containers.list(all=True, ignore_removed=True)
        }
        for image in self.client.images.list(filters={"label": [NOTEBOOK_SHA256_LABEL, *selector]}):
            tags = [short_image_name(tag) for tag in image.tags]  # Podman's are qualified
            ours = [tag for tag in tags if tag.startswith(f"{IMAGE_NAMESPACE}/")]
            kept = image.id in in_use or any(tag.endswith(":latest") for tag in ours)
            if kept or (tags and not ours):
                continue
            try:  # only our tags go; an image someone tagged otherwise (to push it) stays
                for tag in ours or [image.id]:
                    self.client.images.remove(tag)
            except APIError:
                continue  # taken into use or removed meanwhile: leave it to the next prune
            report.images.extend(ours or [image.short_id])
        if not keep_cache:
            caches = {"dangling": True, "label": [STAGE_LABEL, *selector]}
            report.caches = len(self.client.images.list(filters=caches))
            report.cache_bytes = self.api.prune_images(filters=caches).get("SpaceReclaimed") or 0
        return report

    def orchestrator(self):
        """Swarm mode on this engine, for deployments (engine/swarm.py)."""
        return SwarmOrchestrator(self.client, self.publish_on, self.address)

    def _stop(self, instance: Instance) -> None:
        try:
            container = self.client.containers.get(instance.id)
            container.stop(timeout=STOP_TIMEOUT)
            container.remove(force=True, v=True)  # with its token's volume, if it has one
        except NotFound:
            pass  # it went away meanwhile, which is what was asked
        if instance.port_holder:
            self._release_port(instance.port_holder)

    def _instance(self, container) -> Instance:
        """The instance `container` is; its URL is published by its port holder, if it has one."""
        mode = (container.attrs.get("HostConfig") or {}).get("NetworkMode") or ""
        remote = self.address if self.address != LOOPBACK else ""
        if not mode.startswith("container:"):
            return instance_of(container, address=remote)
        holder = mode.partition(":")[2]
        try:
            ports = self.api.inspect_container(holder)["NetworkSettings"].get("Ports") or {}
        except NotFound:
            ports = {}
        return instance_of(container, ports, holder, remote)

    def _container(self, instance: Instance):
        try:
            return self.client.containers.get(instance.id)
        except NotFound as error:
            raise InstanceNotFound(f"{instance.name} no longer exists.") from error


def _no_image(image: str) -> RunFailed:
    return RunFailed(
        f"There is no image {image} on this machine.",
        "Check the name with `docker images`, or build the notebook's image first.",
    )


def _default_name(image: str) -> str:
    """`<image name>-<4 hex>`, short enough to type in `stop` and `logs`."""
    repository = split_image_ref(image)[0].rsplit("/", 1)[-1]
    base = re.sub(r"[^a-zA-Z0-9_.-]+", "-", repository).strip("._-") or "instance"
    return f"{base}-{secrets.token_hex(2)}"
