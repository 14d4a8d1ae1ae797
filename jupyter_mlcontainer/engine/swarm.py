"""Docker's swarm mode as the orchestrator of deployments: replicated services on an overlay
network, health-checked rolling updates that start the new replica before stopping an old one,
and rollback when a new replica fails."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from docker.errors import APIError, NotFound
from docker.types import (
    EndpointSpec,
    Healthcheck,
    Mount,
    Resources,
    RestartPolicy,
    RollbackConfig,
    SecretReference,
    ServiceMode,
    UpdateConfig,
)
from docker.utils import parse_bytes

from ..runtime.auth import TOKEN_FILE_VARIABLE, TOKEN_MOUNT
from ..shared.errors import DeployFailed
from .base import (
    CONTAINER_PORT,
    MANAGED_LABEL,
    TMPFS_SIZE,
    Instance,
    ServiceState,
    TaskFailure,
)
from .dockerapi import (
    STOP_TIMEOUT,
    copy_into,
    instance_of,
    reaches_engine,
    refuse_taken_port,
)
from .locate import LOOPBACK

#: Times a service update is sent when swarm changed the service in between.
SPEC_ATTEMPTS = 3
#: A task's states in which its replica failed to start or run.
FAILED_STATES = ("failed", "rejected")
#: The bridge swarm mode creates on a node for its containers' traffic outside the swarm.
GATEWAY_BRIDGE = "docker_gwbridge"
SECOND = 1_000_000_000  # the API counts durations in nanoseconds
#: Swarm mode this tool turned on carries this label, so the last `undeploy` can turn it off.
INITIALIZED_BY_US = "io.mlcontainer.swarm-initialized"
#: On a swarm this tool turned on: the gateway bridge did not exist before, so leaving removes it.
CREATED_GATEWAY_BRIDGE = "io.mlcontainer.created-gateway-bridge"

#: Seconds one health check waits for a replica that is not ready yet.
PROBE_WAIT_SECONDS = 4
#: GET /ready on the replica's own port until it answers 200 (exit 0) or PROBE_WAIT_SECONDS
#: pass (exit 1): the standard library only, under `python -S`, so that a probe every second
#: costs a third of the runtime's `healthcheck`. A ready replica answers the first GET; a
#: starting one is seen ready within 50 ms of its model loading, where a probe that asked once
#: would see it only at the next probe, up to a second later, and each rollout step would wait
#: that long.
READY_PROBE = f"""\
import os,socket,time
port=int(os.environ.get('PORT','8080'))
deadline=time.monotonic()+{PROBE_WAIT_SECONDS}
while True:
    try:
        s=socket.create_connection(('127.0.0.1',port),1)
        s.sendall(b'GET /ready HTTP/1.0\\r\\n\\r\\n')
        if s.recv(12)[9:12]==b'200':
            raise SystemExit(0)
        s.close()
    except OSError:
        pass
    if time.monotonic()>deadline:
        raise SystemExit(1)
    time.sleep(0.05)
"""
#: A replica counts as started once its health check passes; swarm waits for that before it
#: stops an old replica. Every second (the image's own check is every 10 s); the first check
#: comes a second after the start and waits for the model to load (READY_PROBE), so a rollout
#: moves on as soon as a new replica's model has loaded. A replica that hangs once ready fails
#: two checks of PROBE_WAIT_SECONDS (and the timeout's margin) each.
REPLICA_HEALTHCHECK = Healthcheck(
    test=["CMD", "python", "-S", "-c", READY_PROBE],
    interval=1 * SECOND,
    timeout=(PROBE_WAIT_SECONDS + 1) * SECOND,
    retries=2,
    start_period=60 * SECOND,
)
#: Replicas replaced at once, each new one started before its old one stops: a rollout holds
#: at most this many extra replicas (and their memory) at a time, and takes one model load per
#: this many replicas.
ROLLOUT_PARALLELISM = 2
#: Swarm's own failure detection is off (`continue`): it counts a failed replica only when it
#: sees the failure within `monitor` of the replica's start, which misses failures under load
#: or when a batch's other replica starts slowly. `deploy.replicas.rollout` watches every new
#: replica instead and rolls back itself at the first failure. A failed new replica never
#: stops the old one it was to replace (start-first), so the previous model answers
#: throughout. `monitor` only delays "completed" after the last replica passed its health
#: check, which already means the model loaded and answered its sample: 1 ms (0 would mean
#: swarm's default, 5 s).
UPDATES = UpdateConfig(
    parallelism=ROLLOUT_PARALLELISM,
    delay=0,
    failure_action="continue",
    monitor=SECOND // 1000,
    order="start-first",
)
ROLLBACKS = RollbackConfig(
    parallelism=ROLLOUT_PARALLELISM, delay=0, failure_action="pause", order="start-first"
)


class SwarmOrchestrator:
    """The Orchestrator over one engine's swarm mode; every call blocks."""

    def __init__(self, client, publish_on: str = LOOPBACK, address: str = LOOPBACK):
        self.client = client
        # Where the front's port is bound and reached: 127.0.0.1, or a remote engine's machine
        # (locate.EngineSocket.publish_address and host), as for `run`'s instances.
        self.publish_on, self.address = publish_on, address

    @reaches_engine
    def swarm_state(self) -> str:
        """'active' when this engine is a swarm manager; 'inactive', 'pending', … otherwise."""
        swarm = self.client.info().get("Swarm", {})
        if swarm.get("LocalNodeState") == "active" and not swarm.get("ControlAvailable"):
            return "worker"
        return swarm.get("LocalNodeState", "inactive")

    @reaches_engine
    def node_count(self) -> int:
        """The swarm's nodes that can be given replicas (availability "active", whether up now
        or not): more than one, and an image only this engine has cannot start everywhere."""
        return sum(
            1
            for node in self.client.nodes.list()
            if node.attrs.get("Spec", {}).get("Availability", "active") == "active"
        )

    @reaches_engine
    def init_swarm(self) -> None:
        """A one-node swarm listening on loopback only; other nodes join it only if the user
        re-advertises it (`docker swarm update`, see docs/deploy.md). Its labels say that this
        tool turned it on, and whether the gateway bridge came with it."""
        labels = {INITIALIZED_BY_US: "true"}
        listed = self.client.networks.list(names=[GATEWAY_BRIDGE])  # a name filter matches parts
        if not any(network.name == GATEWAY_BRIDGE for network in listed):
            labels[CREATED_GATEWAY_BRIDGE] = "true"
        self.client.swarm.init(
            advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377", labels=labels
        )

    def _labels(self) -> dict:
        try:
            self.client.swarm.reload()
        except APIError:
            return {}
        return self.client.swarm.attrs.get("Spec", {}).get("Labels") or {}

    @reaches_engine
    def initialized_by_us(self) -> bool:
        return INITIALIZED_BY_US in self._labels()

    @reaches_engine
    def leave_swarm(self) -> None:
        """Leave swarm mode, and remove the gateway bridge only when turning swarm mode on made
        it (leaving keeps it), so the engine is as it was, no cleaner: a bridge that was there
        before, or that something still uses, stays."""
        created_bridge = CREATED_GATEWAY_BRIDGE in self._labels()
        self.client.swarm.leave(force=True)
        if created_bridge:
            with contextlib.suppress(NotFound, APIError):
                self.client.networks.get(GATEWAY_BRIDGE).remove()

    @reaches_engine
    def create_network(self, name: str, labels: dict) -> None:
        """An overlay network that plain containers (the front) can join too."""
        self.client.networks.create(
            name, driver="overlay", attachable=True, labels={MANAGED_LABEL: "true", **labels}
        )

    @reaches_engine
    def remove_network(self, name: str) -> None:
        try:
            self.client.networks.get(name).remove()
        except NotFound:
            pass

    @reaches_engine
    def create_service(
        self,
        name: str,
        image: str,
        replicas: int,
        network: str,
        labels: dict,
        environment: dict,
        run_options: dict,
    ) -> None:
        """Replicas found by DNS (`endpoint_mode: dnsrr`): each gets its own address on the
        network, which the front resolves; no routing mesh, so no IPVS needed. `run_options`
        are `run`'s: hardened as an instance is, but for no-new-privileges, which the service
        spec of Docker API 1.41 lacks (the image's user is unprivileged either way), and
        limited likewise; their `token_file` locks the replicas' API with a Docker secret."""
        secrets = []
        if run_options.get("token_file"):
            secrets = [self._token_secret(name, Path(run_options["token_file"]), labels)]
            environment = {**environment, TOKEN_FILE_VARIABLE: TOKEN_MOUNT}
        try:
            self.client.services.create(
                image,
                name=name,
                mode=ServiceMode("replicated", replicas=replicas),
                networks=[network],
                endpoint_spec=EndpointSpec(mode="dnsrr"),
                labels={MANAGED_LABEL: "true", **labels},
                container_labels={MANAGED_LABEL: "true", **labels},
                env=[f"{key}={value}" for key, value in environment.items()],
                healthcheck=REPLICA_HEALTHCHECK,
                update_config=UPDATES,
                rollback_config=ROLLBACKS,
                restart_policy=RestartPolicy(condition="on-failure", delay=SECOND),
                stop_grace_period=STOP_TIMEOUT * SECOND,
                resources=_resources(run_options.get("memory"), run_options.get("cpus")),
                secrets=secrets,
                **_hardening(run_options.get("harden", True)),
            )
        except APIError as error:
            raise DeployFailed(
                f"Swarm mode refused the service {name}: {error.explanation}"
            ) from error

    def _token_secret(self, name: str, token_file: Path, labels: dict) -> SecretReference:
        """The service's token as a Docker secret: in the replicas at TOKEN_MOUNT only."""
        secret = self.client.secrets.create(
            name=_secret_name(name),
            data=token_file.read_bytes(),
            labels={MANAGED_LABEL: "true", **labels},
        )
        return SecretReference(
            secret.id, _secret_name(name), filename=PurePosixPath(TOKEN_MOUNT).name, mode=0o444
        )

    @reaches_engine
    def service(self, name: str) -> ServiceState | None:
        """None when there is no such service, or no swarm any more."""
        try:
            return _state(self.client.services.get(name))
        except NotFound:
            return None
        except APIError as error:
            if error.status_code == 503:  # not a manager (any more)
                return None
            raise

    @reaches_engine
    def services(self, labels: dict) -> list[ServiceState]:
        selector = [MANAGED_LABEL] + [f"{key}={value}" for key, value in labels.items()]
        return [_state(s) for s in self.client.services.list(filters={"label": selector})]

    @reaches_engine
    def update_service(
        self, name: str, *, image: str | None = None, replicas: int | None = None
    ) -> None:
        service = self.client.services.get(name)
        if replicas is not None:
            # The service's own spec with only the count changed: docker-py's `scale` sends a
            # rebuilt task template, which swarm takes as a rolling update of every replica.
            _post_spec(
                service, lambda spec: {**spec, "Mode": {"Replicated": {"Replicas": replicas}}}
            )
        if image is not None:
            service.reload()
            # With this tool's update settings, whatever the service had (one made by an
            # earlier version rolled back on its own, racing `rollout`'s rollback).
            service.update(image=image, update_config=UPDATES)

    @reaches_engine
    def rollback_service(self, name: str) -> None:
        """Back to the spec before the last update, as `docker service rollback` does (docker-py
        has no call for it)."""
        service = self.client.services.get(name)
        _post_spec(service, lambda spec: spec, rollback="previous")

    @reaches_engine
    def remove_service(self, name: str) -> None:
        """Remove the service and wait until its replicas' containers are gone too, so that
        its network and image are free when this returns."""
        try:
            self.client.services.get(name).remove()
        except NotFound:
            self._remove_secret(name)
            return
        selector = {"label": f"com.docker.swarm.service.name={name}"}
        deadline = time.monotonic() + STOP_TIMEOUT + 23
        while self.client.containers.list(all=True, filters=selector, ignore_removed=True):
            if time.monotonic() > deadline:
                raise DeployFailed(f"The replicas of {name} did not stop in time.")
            time.sleep(0.25)
        self._remove_secret(name)

    def _remove_secret(self, name: str) -> None:
        """The service's token secret, once no replica uses it."""
        for secret in self.client.secrets.list(filters={"name": _secret_name(name)}):
            if secret.name == _secret_name(name):
                secret.remove()

    @reaches_engine
    def task_logs(self, name: str, image: str | None = None, tail: int = 60) -> str:
        """The output of the service's most recent failed replica (of `image`, when given), if
        any is left."""
        for task in _tasks(self.client.services.get(name)):
            container = task.get("Status", {}).get("ContainerStatus", {}).get("ContainerID")
            failed = task["Status"]["State"] in FAILED_STATES
            if failed and container and image in (None, _task_image(task)):
                try:
                    return self.client.api.logs(container, tail=tail).decode(errors="replace")
                except (NotFound, APIError):
                    continue
        return ""

    @reaches_engine
    def run_front(
        self,
        image: str,
        name: str,
        port: int | None,
        network: str,
        labels: dict,
        environment: dict,
        files: dict | None = None,
    ) -> Instance:
        """The front is a plain container on the service's network, published on 127.0.0.1
        like every instance (swarm's own publishing binds every interface); on a remote
        engine's machine, on the address it is reached at. `files` ({path: bytes}, such as a
        TLS key) are copied into it before it starts, so that only its filesystem holds them."""
        container = None
        try:
            container = self.client.containers.create(
                image,
                name=name,
                network=network,
                ports={f"{CONTAINER_PORT}/tcp": (self.publish_on, port or None)},
                labels={MANAGED_LABEL: "true", **labels},
                environment=environment,
                restart_policy={"Name": "unless-stopped"},
            )
            for path, content in (files or {}).items():
                copy_into(container, path, content)
            container.start()
        except APIError as error:
            if container is not None:  # created, but its files or its port failed it
                container.remove(force=True)
            refuse_taken_port(error, port, "or leave it out to let Docker pick a free one")
            raise DeployFailed(f"The front {name} did not start: {error.explanation}") from error
        container.reload()
        return instance_of(container, address=self._remote())

    @reaches_engine
    def front(self, name: str) -> Instance | None:
        try:
            return instance_of(self.client.containers.get(name), address=self._remote())
        except NotFound:
            return None

    def _remote(self) -> str:
        return self.address if self.address != LOOPBACK else ""

    @reaches_engine
    def front_logs(self, name: str, tail: int = 30) -> str:
        try:
            return self.client.containers.get(name).logs(tail=tail).decode(errors="replace")
        except NotFound:
            return ""

    @reaches_engine
    def remove_container(self, name: str) -> None:
        try:
            self.client.containers.get(name).remove(force=True)
        except NotFound:
            pass


def _post_spec(service, edit: Callable[[dict], dict], **params) -> None:
    """A service update with the service's spec as `edit` makes it, at the version read. Swarm
    refuses it ("update out of sequence") when the service changed since, as it does when
    swarm records an update's progress there: then it is read again and sent again."""
    api = service.client.api
    for attempt in range(SPEC_ATTEMPTS):
        answer = api._post_json(
            api._url("/services/{0}/update", service.id),
            data=edit(service.attrs["Spec"]),
            params={"version": service.version, **params},
        )
        try:
            api._raise_for_status(answer)
            return
        except APIError as error:
            if "out of sequence" not in str(error.explanation) or attempt == SPEC_ATTEMPTS - 1:
                raise DeployFailed(
                    f"Swarm refused to update the service {service.name}: {error.explanation}"
                ) from error
            service.reload()


def _task_image(task: dict) -> str:
    return task["Spec"]["ContainerSpec"]["Image"]


def _tasks(service) -> list[dict]:
    return sorted(service.tasks(), key=lambda task: task.get("UpdatedAt", ""), reverse=True)


def _state(service) -> ServiceState:
    spec = service.attrs["Spec"]
    tasks = _tasks(service)
    running = [
        t for t in tasks if t["Status"]["State"] == "running" and t["DesiredState"] == "running"
    ]
    failures = tuple(
        TaskFailure(
            t["ID"], _task_image(t), t["Status"].get("Err") or t["Status"].get("Message", "")
        )
        for t in tasks
        if t["Status"]["State"] in FAILED_STATES
    )
    update = service.attrs.get("UpdateStatus") or {}
    return ServiceState(
        name=spec["Name"],
        image=spec["TaskTemplate"]["ContainerSpec"]["Image"],
        replicas=spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 0),
        running=len(running),
        labels=spec.get("Labels") or {},
        update_state=update.get("State", ""),
        update_message=update.get("Message", ""),
        failures=failures,
        addresses=tuple(
            address.split("/")[0]
            for task in running
            for attachment in task.get("NetworksAttachments") or ()  # the deployment's network
            for address in attachment.get("Addresses") or ()
        ),
    )


def _secret_name(service: str) -> str:
    return f"{service}-token"


def _hardening(harden: bool) -> dict:
    """base.HARDENING in a service's terms."""
    if not harden:
        return {}
    tmp = Mount("/tmp", None, type="tmpfs", tmpfs_size=parse_bytes(TMPFS_SIZE))
    return {"read_only": True, "cap_drop": ["ALL"], "mounts": [tmp]}


def _resources(memory: str | int | None, cpus: float | None) -> Resources | None:
    if not memory and not cpus:
        return None
    return Resources(
        mem_limit=parse_bytes(memory) if memory else None,
        cpu_limit=int(float(cpus) * 1e9) if cpus else None,
    )
