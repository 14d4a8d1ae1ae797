"""Replicas behind one URL, on Docker's swarm mode: deploy, scale, roll out, undeploy.

A deployment is three things the engine keeps, all named after it and labelled with it: a swarm
service of N replicas of the model's image, an overlay network, and a front (deploy/front.py)
published on 127.0.0.1. Swarm does the orchestration: it restarts failed replicas, replaces them
two at a time new-before-old on a rollout, and rolls back when a new one fails. This module only
asks and waits; the engine stays the record of what is deployed.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..engine.base import (
    DEPLOYMENT_LABEL,
    IMAGE_NAMESPACE,
    TLS_LABEL,
    ContainerEngine,
    Instance,
    Orchestrator,
    ServiceState,
    TaskFailure,
    docker_name,
    split_image_ref,
)
from ..engine.baseimage import choose_base_image
from ..running.certificates import forget_certificate, remember_certificate
from ..running.tokens import forget, lock_for, read_token, remember
from ..runtime.draining import DRAIN_VARIABLE
from ..runtime.model import EXIT_ON_FAILED_LOAD
from ..shared.config import MLContainerConfig, load_config
from ..shared.errors import (
    DeployFailed,
    DeploymentNotFound,
    InstanceNotFound,
    InvalidRequest,
    SwarmNotActive,
)
from ..shared.events import EventSink, ProgressEvent, ignore_events
from ..trust.foreign import refuse_foreign
from .front import (
    SERVICE_VARIABLE,
    TLS_PEM,
    TLS_VARIABLE,
    ensure_front_image,
    tls_bundle,
    wait_front_sees,
)
from .plan import DeployOptions, PushOptions, check_replicas
from .push import push_image, resolve_image

#: The service label that remembers which repository `rollout` takes its latest image from.
SOURCE_LABEL = "io.mlcontainer.deployment-source"
#: The service label that remembers the registry a deployment's images are pushed to
#: (`--registry`), so that a rollout pushes the new image there too.
REGISTRY_LABEL = "io.mlcontainer.deployment-registry"
#: Seconds allowed for replicas to start, or a rollout to finish, before giving up.
TIMEOUT = 300
#: Seconds a stopping replica keeps answering, out of rotation, before it stops: the front
#: drops it when DNS no longer lists it (asked every 250 ms) or when its checks fail.
DRAIN_SECONDS = 3
#: The states in which swarm has ended an update, whichever way.
UPDATE_ENDS = ("completed", "rollback_completed", "paused", "rollback_paused")
#: How a rollback ends: until then swarm may still show the update it undoes as "completed".
ROLLBACK_ENDS = ("rollback_completed", "rollback_paused")


@dataclass(frozen=True)
class Deployment:
    name: str
    url: str  # the front's; empty when the front is not running
    image: str  # what the replicas run, by tag where one names it
    replicas: int  # wanted
    running: int  # running and healthy
    update: str = ""  # swarm's state of the last rollout: completed, rollback_completed, …
    token: str = ""  # its bearer token, when `--auth token` locked it: shown once, at deploy

    def to_dict(self) -> dict:
        return asdict(self)


def deploy(
    engine: ContainerEngine,
    options: DeployOptions,
    config: MLContainerConfig | None = None,
    on_event: EventSink = ignore_events,
) -> Deployment:
    """The one way every front door deploys: `options.replicas` copies of `options.source` (an
    instance, a notebook's image name or an image reference) behind one URL on
    127.0.0.1:`options.port`. Each replica runs like `run`'s instances: with the configured
    hardening and limits, and the options' over them; the configured labels go on everything.
    With `options.registry` the image is pushed there first and the replicas run the pushed
    image, pinned by its digest, which every node of the swarm pulls; a swarm of more than one
    node needs it, since an image only this engine has cannot start on the others."""
    config = config or load_config()
    source, replicas = options.source, options.replicas
    image = resolve_image(engine, source)  # a bad source changes nothing on the engine
    refuse_foreign(engine, image, options.allow_foreign)
    swarm = engine.orchestrator()
    _ensure_swarm(swarm, options.init_swarm, on_event)
    name = docker_name(options.name or _default_name(engine, source, image))
    if swarm.service(name) is not None:
        raise DeployFailed(
            f"A deployment named {name} exists already.",
            f"Roll it out to a new image (`jupyter mlcontainer rollout {name}`), scale it, or "
            f"undeploy it first.",
        )
    _refuse_unshared(swarm, image, options.registry)
    tls = tls_bundle(options.tls_cert, options.tls_key) if options.tls_cert else None
    token_file = lock_for(engine, options)
    try:
        front = _start(swarm, engine, name, image, options, config, token_file, tls, on_event)
    except BaseException:
        remove_parts(swarm, name)
        if token_file is not None:  # made for this deployment, which does not exist
            token_file.unlink(missing_ok=True)
        raise
    if token_file is not None:
        remember(front.url, token_file)
    if tls:
        remember_certificate(front.url, options.tls_cert)
    deployment = replace(
        get_deployment(engine, name), token=read_token(token_file) if token_file else ""
    )
    on_event(ProgressEvent("done", f"{name}: {replicas} replicas at {deployment.url}", "deploy"))
    return deployment


def _start(
    swarm: Orchestrator,
    engine: ContainerEngine,
    name: str,
    image: str,
    options: DeployOptions,
    config: MLContainerConfig,
    token_file: Path | None,
    tls: bytes | None,
    on_event: EventSink,
) -> Instance:
    """The parts of a deployment, in order: the front's image, the image in the registry when
    one is given, the network, the replicas, then the front once they serve. Returns the
    front."""
    labels = {DEPLOYMENT_LABEL: name, **config.labels}
    run_options = {**options.run_options(config), "token_file": token_file}
    front_image = ensure_front_image(engine, _front_base(engine), config.labels, on_event)
    service_labels = {**labels, SOURCE_LABEL: split_image_ref(image)[0]}
    if options.registry:
        target = _pushed(engine, image, options.registry, on_event)
        service_labels[REGISTRY_LABEL] = options.registry
    else:
        target = engine.image_id(image)
    on_event(ProgressEvent("stage", f"Starting {options.replicas} replicas of {image}", "deploy"))
    swarm.create_network(network_name(name), labels)
    swarm.create_service(
        name,
        target,
        options.replicas,
        network_name(name),
        service_labels,
        {EXIT_ON_FAILED_LOAD: "1", DRAIN_VARIABLE: str(DRAIN_SECONDS), **options.environment()},
        run_options,
    )
    _wait_converged(swarm, name, options.replicas, on_event)
    on_event(ProgressEvent("stage", "Starting the front", "deploy"))
    front = swarm.run_front(
        front_image,
        front_name(name),
        options.port,
        network_name(name),
        {**labels, TLS_LABEL: "true"} if tls else labels,
        {SERVICE_VARIABLE: name, **({TLS_VARIABLE: TLS_PEM} if tls else {})},
        {TLS_PEM: tls} if tls else None,
    )
    _wait_front(swarm, name, front.url)
    return front


def scale(
    engine: ContainerEngine, name: str, replicas: int, on_event: EventSink = ignore_events
) -> Deployment:
    check_replicas(replicas)
    swarm = engine.orchestrator()
    service = _service(swarm, name)
    if replicas > service.replicas:  # new replicas, which other nodes may get
        _refuse_unshared(swarm, service.image, service.labels.get(REGISTRY_LABEL), name)
    known = _failed_tasks(service)
    on_event(ProgressEvent("stage", f"Scaling {name} to {replicas} replicas", "deploy"))
    swarm.update_service(name, replicas=replicas)
    _wait_converged(swarm, name, replicas, on_event, known)
    deployment = get_deployment(engine, name)
    if deployment.url:
        _wait_front(swarm, name, deployment.url)
    return deployment


def rollout(
    engine: ContainerEngine,
    name: str,
    image: str | None = None,
    on_event: EventSink = ignore_events,
) -> Deployment:
    """Replace the replicas, two at a time, with `image`, or with the latest image of the notebook
    the deployment came from. The first new replica that fails rolls every one back, and this
    raises DeployFailed with what it said."""
    swarm = engine.orchestrator()
    service = _service(swarm, name)
    image = image or f"{service.labels.get(SOURCE_LABEL, f'{IMAGE_NAMESPACE}/{name}')}:latest"
    local = resolve_image(engine, image)
    target = engine.image_id(local)
    if target == _image_id(engine, service.image):
        on_event(ProgressEvent("done", f"{name} already runs {image}", "deploy"))
        return get_deployment(engine, name)
    _refuse_unshared(swarm, local, service.labels.get(REGISTRY_LABEL), name)
    if service.labels.get(REGISTRY_LABEL):  # deployed from a registry: every node pulls it
        target = _pushed(engine, local, service.labels[REGISTRY_LABEL], on_event)
    on_event(ProgressEvent("stage", f"Rolling {name} out to {image}", "deploy"))
    known = _failed_tasks(service)
    swarm.update_service(name, image=target)
    state, failed = _wait_update(swarm, name, on_event, target, known)
    if failed:
        on_event(ProgressEvent("warning", f"A new replica failed; rolling {name} back", "deploy"))
        swarm.rollback_service(name)
        state, _ = _wait_update(swarm, name, on_event, ends=ROLLBACK_ENDS)
    if failed or state.update_state != "completed":
        reason = "; ".join(dict.fromkeys(f.error for f in failed)) or state.update_message
        if state.update_state == "rollback_completed":
            outcome = f"was rolled back ({reason}); the replicas run the previous model again"
        else:
            outcome = (
                f"swarm left it {state.update_state} ({state.update_message or reason}); "
                "some replicas may run the new image"
            )
        raise DeployFailed(
            f"The rollout of {name} to {image} failed and {outcome}.",
            "The log of the failed replica is below: fix the model or its image, build again, "
            "then roll out again.",
            output=swarm.task_logs(name, target),
        )
    deployment = get_deployment(engine, name)
    if deployment.url:
        _wait_front(swarm, name, deployment.url)
    on_event(ProgressEvent("done", f"{name} now runs {deployment.image}", "deploy"))
    return deployment


def undeploy(engine: ContainerEngine, name: str, on_event: EventSink = ignore_events) -> None:
    """Remove the replicas, the front and the network; and swarm mode too when `deploy`
    turned it on and no service is left."""
    swarm = engine.orchestrator()
    url = _deployment(engine, _service(swarm, name)).url
    remove_parts(swarm, name)
    if url:
        forget(url)
        forget_certificate(url)
    on_event(ProgressEvent("stage", f"Removed the deployment {name}", "deploy"))
    if swarm.initialized_by_us() and not swarm.services({}):
        swarm.leave_swarm()
        on_event(ProgressEvent("log", "Turned swarm mode off again (deploy had turned it on)"))


def list_deployments(engine: ContainerEngine, labels: dict | None = None) -> list[Deployment]:
    swarm = engine.orchestrator()
    if swarm.swarm_state() != "active":
        return []
    return [_deployment(engine, s) for s in swarm.services(labels or {}) if _is_ours(s)]


def get_deployment(engine: ContainerEngine, name: str) -> Deployment:
    return _deployment(engine, _service(engine.orchestrator(), name))


def network_name(name: str) -> str:
    return f"{name}-net"


def front_name(name: str) -> str:
    return f"{name}-front"


def _ensure_swarm(swarm: Orchestrator, init_swarm: bool, on_event: EventSink) -> None:
    state = swarm.swarm_state()
    if state == "active":
        return
    if state == "worker":
        raise SwarmNotActive(
            "This Docker engine is a swarm worker; services are made on a manager.",
            "Point DOCKER_HOST at a manager node and deploy from there.",
        )
    if not init_swarm:
        raise SwarmNotActive(
            "Replicas run as services of Docker's swarm mode, which is off on this engine.",
            "Turn it on for this engine with --init-swarm (a one-node swarm on 127.0.0.1; the "
            "last undeploy turns it off again), or run `docker swarm init` yourself.",
        )
    on_event(
        ProgressEvent("warning", "Turning on Docker's swarm mode (docker swarm init)", "deploy")
    )
    swarm.init_swarm()


def _refuse_unshared(
    swarm: Orchestrator, image: str, registry: str | None, deployed: str = ""
) -> None:
    """InvalidRequest, before anything changes, when the swarm has nodes that could not pull
    `image`: it is only in this engine, and no registry was given to push it to. `deployed`:
    the deployment it would change, made without a registry (before the swarm grew)."""
    if registry:
        return
    nodes = swarm.node_count()
    if nodes > 1:
        how = (
            f"Deploy it again with one: `jupyter mlcontainer undeploy {deployed}`, then deploy "
            "with --registry REGISTRY/REPOSITORY"
            if deployed
            else "Pass --registry REGISTRY/REPOSITORY (REST and inst.deploy(): registry)"
        )
        raise InvalidRequest(
            f"This swarm has {nodes} nodes, and {image} is only in this engine: the replicas "
            "swarm places on the other nodes could not start.",
            f"{how}, a registry every node reaches, e.g. 10.0.0.5:5000/team/iris: deploy pushes "
            "the image there and each node pulls it. A plain-HTTP registry must be in every "
            "node's insecure-registries.",
        )


def _pushed(engine: ContainerEngine, image: str, registry: str, on_event: EventSink) -> str:
    """`image` pushed to `registry`; the reference the nodes pull, pinned by its digest."""

    def forward(event: ProgressEvent) -> None:  # the push's end is not the deploy's
        on_event(replace(event, kind="log") if event.kind == "done" else event)

    on_event(ProgressEvent("stage", f"Pushing {image} to {registry} for every node", "deploy"))
    pushed = push_image(engine, PushOptions(image, registry), forward)
    return f"{pushed.target}@{pushed.digest}" if pushed.digest else pushed.target


def _image_id(engine: ContainerEngine, reference: str) -> str:
    """The ID of the image a service runs (an ID, or a pushed reference), '' if not here."""
    return engine.image_id(reference) if engine.image_exists(reference) else ""


def _default_name(engine: ContainerEngine, source: str, image: str) -> str:
    try:
        return engine.find_instance(source).name
    except InstanceNotFound:
        return split_image_ref(image)[0].rsplit("/", 1)[-1]


def _front_base(engine: ContainerEngine) -> str:
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return choose_base_image(engine, MLContainerConfig(), python)


def _service(swarm: Orchestrator, name: str) -> ServiceState:
    state = swarm.service(name) if swarm.swarm_state() == "active" else None
    if state is None or not _is_ours(state):
        raise DeploymentNotFound(
            f"No deployment is named {name!r}.",
            "See the deployments with `jupyter mlcontainer deployments`.",
        )
    return state


def _is_ours(state: ServiceState) -> bool:
    return DEPLOYMENT_LABEL in state.labels


def remove_parts(swarm: Orchestrator, name: str) -> None:
    """The front, the service and its replicas, then the network, whichever exist."""
    swarm.remove_container(front_name(name))
    swarm.remove_service(name)
    # The network goes once the replicas have let go of it.
    deadline = time.monotonic() + 30
    while True:
        try:
            swarm.remove_network(network_name(name))
            return
        except Exception:  # noqa: BLE001 (still in use: retried until the deadline)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _wait_converged(
    swarm: Orchestrator,
    name: str,
    replicas: int,
    on_event: EventSink,
    known_failures: frozenset = frozenset(),
) -> None:
    """Until `replicas` replicas run (and only they); DeployFailed when replicas keep failing
    (three failures that are not among `known_failures`)."""
    deadline = time.monotonic() + TIMEOUT
    reported = -1
    while True:
        state = swarm.service(name)
        if state.running != reported:
            reported = state.running
            on_event(ProgressEvent("log", f"{state.running} of {replicas} replicas running"))
        if state.running == replicas:
            return
        errors = [failure.error for failure in _new_failures(state, known_failures)]
        if len(errors) >= 3 or time.monotonic() > deadline:
            reason = "; ".join(dict.fromkeys(errors[:3])) or f"not ready in {TIMEOUT} s"
            raise DeployFailed(
                f"The replicas of {name} do not start: {reason}.",
                "The log of a failed replica is below; fix the model or its image and deploy "
                "again.",
                output=swarm.task_logs(name),
            )
        time.sleep(0.5)


def _wait_front(swarm: Orchestrator, name: str, url: str) -> None:
    """Until the front sends requests to the replicas swarm runs now, and to no other (DNS and
    health checks lag swarm by a second or two)."""
    addresses = set(swarm.service(name).addresses)
    if not wait_front_sees(url, addresses, timeout=60):
        raise DeployFailed(
            f"The front of {name} at {url} does not reach its {len(addresses)} replicas.",
            "Its log is below.",
            output=swarm.front_logs(front_name(name)),
        )


def _wait_update(
    swarm: Orchestrator,
    name: str,
    on_event: EventSink,
    image: str | None = None,
    known_failures: frozenset = frozenset(),
    ends: tuple = UPDATE_ENDS,
) -> tuple[ServiceState, list[TaskFailure]]:
    """Until swarm's update state is one of `ends` (completed, rolled back or paused); or,
    given `image`, until a replica of it fails that is not among `known_failures` (returned
    with the state)."""
    deadline = time.monotonic() + TIMEOUT
    last = ""
    while True:
        state = swarm.service(name)
        if state.update_state != last:
            last = state.update_state
            on_event(ProgressEvent("log", f"update {last or 'starting'}"))
        failed = [f for f in _new_failures(state, known_failures) if f.image == image]
        if failed or state.update_state in ends:
            return state, failed
        if time.monotonic() > deadline:
            raise DeployFailed(f"The rollout of {name} did not finish in {TIMEOUT} s.")
        time.sleep(0.1)  # a rollout waits on this: asking swarm costs a few milliseconds


def _failed_tasks(state: ServiceState) -> frozenset:
    """The failed replicas swarm lists now, so that a later wait tells new failures apart."""
    return frozenset(failure.task for failure in state.failures)


def _new_failures(state: ServiceState, known: frozenset) -> list[TaskFailure]:
    return [failure for failure in state.failures if failure.task not in known]


def _deployment(engine: ContainerEngine, state: ServiceState) -> Deployment:
    front = engine.orchestrator().front(front_name(state.name))
    refs = engine.image_refs(state.image)
    image = next((r for r in refs if not r.endswith(":latest")), refs[0] if refs else state.image)
    return Deployment(
        name=state.name,
        url=front.url if front else "",
        image=image,
        replicas=state.replicas,
        running=state.running,
        update=state.update_state,
    )
