"""A build run again under a name that already serves replaces what serves, never adds to it.

Behind a deployment (deploy/replicas.py) the new image is rolled out: new replicas start before
old ones stop and the front retries, so no request fails. A local instance is handed over: the
new image starts in the namespace whose port the old one serves on, loads its model and answers
the sample as the notebook did, and only then listens beside it (runtime/handover.py); the old
one then stops listening, answers what it holds and stops. The new one takes the old one's name
and URL; one that fails to load or answers otherwise never takes a request, and the old one
serves on. An instance that publishes its own port (started by an older version) is restarted
on it instead: requests sent while the new model loads find no listener, and the figure is
reported.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from ..engine.base import ContainerEngine, Instance
from ..running.client import ServingClient
from ..running.readiness import wait_listening, wait_ready, wait_stopped_listening
from ..runtime.parity import ParityReport
from ..shared.errors import DeploymentNotFound, InstanceNotFound, MLContainerError, RunFailed
from ..shared.events import EventSink, ProgressEvent


@dataclass(frozen=True)
class Replacement:
    how: str  # "rollout" (a deployment) | "handover" (an instance) | "restart" (an old one)
    url: str  # unchanged
    previous_image: str
    before: list | None  # the old model's answers to the sample
    after: list | None  # the new model's
    gap_seconds: float  # with no listener at the URL (0 for a rollout or a handover)

    def to_dict(self) -> dict:
        return asdict(self)


def serving_under(engine: ContainerEngine, name: str) -> Instance | None:
    """The running instance called exactly `name`, if any."""
    try:
        instance = engine.find_instance(name)
    except InstanceNotFound:
        return None
    return instance if instance.name == name and instance.url else None


def deployment_under(engine: ContainerEngine, name: str):
    from ..deploy.replicas import get_deployment

    try:
        return get_deployment(engine, name)
    except DeploymentNotFound:
        return None


def roll_out(engine: ContainerEngine, deployment, tag: str, sample: dict, on_event: EventSink):
    """Roll the deployment out to `tag`; (the front as an instance, the replacement)."""
    from ..deploy.replicas import front_name, rollout

    before = answers(deployment.url, sample)
    rollout(engine, deployment.name, tag, on_event)
    front = engine.orchestrator().front(front_name(deployment.name))
    replacement = Replacement(
        "rollout", deployment.url, deployment.image, before, answers(front.url, sample), 0.0
    )
    return front, replacement


@dataclass(frozen=True)
class Successor:
    """What is to replace an instance: the image, its labels and run options (the engine's),
    and how to prove it: `check(url, sample)` gives its parity with the notebook."""

    tag: str
    labels: dict
    sample: dict
    check: Callable[[str, dict], ParityReport]
    options: dict = field(default_factory=dict)


def replace_instance(
    engine: ContainerEngine, previous: Instance, successor: Successor, on_event: EventSink
):
    """Replace `previous` with `successor` at its name and URL; (the instance, the
    replacement, the parity). Handed over where a port holder publishes the port, restarted on
    it where the instance publishes it itself (started by an older version)."""
    replace = hand_over if previous.port_holder else restart
    return replace(engine, previous, successor, on_event)


def hand_over(
    engine: ContainerEngine, previous: Instance, successor: Successor, on_event: EventSink
):
    """Start the successor on `previous`'s port, retire `previous` once the new model serves,
    and check the successor's parity there. It answered the sample as the notebook did before
    it listened (it checks as it starts), so a parity that fails over HTTP is reported, as for
    a first start, and the image gets no `:latest`."""
    tag, sample = successor.tag, successor.sample
    before = answers(previous.url, sample)
    on_event(
        ProgressEvent(
            "log",
            f"Starting {tag} beside {previous.name}: it takes requests at {previous.url} once "
            "it answers the sample as the notebook did",
        )
    )
    started = engine.run(
        tag,
        labels=successor.labels,
        name=f"{previous.name}-next-{secrets.token_hex(2)}",
        joins=previous,
        **successor.options,
    )
    try:
        wait_listening(engine, started)
    except BaseException:  # a cancelled job too: the old model serves on, alone
        engine.stop(started.id)
        raise
    engine.rename(previous.id, f"{previous.name}-replaced-{secrets.token_hex(2)}")
    engine.rename(started.id, previous.name)
    on_event(ProgressEvent("log", f"{tag} serves at {previous.url}; {previous.name} stops"))
    retire(engine, previous)
    wait_stopped_listening(engine, previous)
    instance = engine.find_instance(started.id)
    parity = successor.check(instance.url, sample)
    after = answers(instance.url, sample)
    return (
        instance,
        Replacement("handover", instance.url, previous.image, before, after, 0.0),
        parity,
    )


def retire(engine: ContainerEngine, previous: Instance) -> None:
    """Retire `previous` in the background: it closes its listeners at once, then drains for a
    second (runtime/handover.py) while its successor already serves. Not a daemon thread, so a
    command line waits for it."""
    threading.Thread(
        target=engine.retire, args=(previous.id,), name=f"mlcontainer-retire-{previous.name}"
    ).start()


def restart(engine: ContainerEngine, previous: Instance, successor: Successor, on_event: EventSink):
    """Stop `previous` and start the successor on its name and port, and check its parity
    there; should it not start (it checks the sample as it starts), or answer differently,
    `previous`'s image is started again in its place."""
    tag, sample, options = successor.tag, successor.sample, successor.options
    before = answers(previous.url, sample)
    on_event(
        ProgressEvent("log", f"Replacing {previous.name} ({previous.image}) at {previous.url}")
    )
    stopped = time.perf_counter()
    engine.stop(previous.id)
    port = urlsplit(previous.url).port
    started = None
    try:
        started = engine.run(tag, port=port, labels=successor.labels, name=previous.name, **options)
        instance = wait_ready(engine, started)
        gap = time.perf_counter() - stopped
        parity = successor.check(instance.url, sample)
        if not parity.passed:
            raise RunFailed(
                f"{tag} answers the sample differently from the notebook.",
                "Compare the parity rows of a plain `build --run` of this notebook, fix, and "
                "build again.",
            )
    except BaseException as error:  # a cancelled job too: the old model goes back
        _restore(engine, previous, started, port, options)
        if not isinstance(error, MLContainerError):
            raise
        raise RunFailed(
            f"{error.message} {previous.name} serves {previous.image} again at {previous.url}.",
            error.hint,
            error.output,
        ) from error
    after = answers(instance.url, sample)
    return (
        instance,
        Replacement("restart", instance.url, previous.image, before, after, gap),
        parity,
    )


def _restore(engine: ContainerEngine, previous: Instance, failed, port: int, options: dict):
    """Put `previous`'s image back on its name and port, in place of the `failed` container."""
    if failed is not None:
        engine.stop(failed.id)
    wait_ready(
        engine,
        engine.run(
            previous.image, port=port, labels=previous.labels, name=previous.name, **options
        ),
    )


def answers(url: str, sample: dict) -> list | None:
    """The predictions at `url` for the sample; None when it does not answer with them."""
    try:
        response = ServingClient(url, timeout=30).predict(sample["request"])
    except MLContainerError:
        return None
    return response.body.get("predictions") if isinstance(response.body, dict) else None


def side_by_side(replacement: Replacement) -> str:
    """Old and new answers to the sample, one row each, for a terminal or a cell."""
    before, after = replacement.before or [], replacement.after or []
    rows = [f"{'row':>4}  {'before':<24} after"]
    for index in range(max(len(before), len(after))):
        old = before[index] if index < len(before) else "-"
        new = after[index] if index < len(after) else "-"
        mark = "" if old == new else "   (changed)"
        rows.append(f"{index:>4}  {str(old)[:24]:<24} {str(new)[:24]}{mark}")
    return "\n".join(rows)


def summary(replacement: Replacement) -> str:
    """How the name's previous model was replaced, and the sample's answers before and after."""
    how = (
        "rolled out (no request failed)"
        if replacement.how == "rollout"
        else "handed over on its port (the new model took requests once it answered the sample)"
        if replacement.how == "handover"
        else f"restarted on its port ({replacement.gap_seconds:.1f} s without a listener; a "
        "deployment, inst.deploy(), is replaced with none)"
    )
    lines = [f"replaced: {replacement.previous_image}, {how}"]
    return "\n".join(lines + ["  " + line for line in side_by_side(replacement).splitlines()])
