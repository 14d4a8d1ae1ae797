"""Waiting for a started instance to serve: the runtime's probes, polled over HTTP.

Policy on top of the engine: the engine starts containers and reports their state; what
"ready" means (the runtime's /ready, or /health for images that predate it) lives here.
"""

from __future__ import annotations

import time

from ..engine.base import ContainerEngine, Instance
from ..runtime.handover import LISTENING, STOPPED_LISTENING
from ..shared.errors import InstanceNotFound, InstanceUnreachable, RunFailed
from .client import Response, ServingClient

#: Log lines quoted when a container fails to become ready.
LOG_TAIL = 50


def wait_ready(
    engine: ContainerEngine, instance: Instance, timeout: float = 60, interval: float = 0.25
) -> Instance:
    """Poll /ready (/health where the image has no /ready) until it answers 2xx; raise
    RunFailed with the container's last log lines if it exits or `timeout` passes."""
    path = "/ready"
    deadline = time.monotonic() + timeout
    while True:
        current = engine.find_instance(instance.id)
        if not current.url:
            raise _failed(engine, current, _stopped(current, "before it was ready."))
        answer = _probe(current.url, path, timeout=min(2.0, timeout))
        if answer is not None and answer.status == 404 and path == "/ready":
            path = "/health"
            continue
        if answer is not None and answer.ok:
            return current
        if answer is not None and _load_failed(answer):  # it will never be ready
            raise _failed(engine, current, f"{current.name} could not load its model.")
        if time.monotonic() >= deadline:
            raise _failed(engine, current, f"{current.name} was not ready after {timeout:g} s.")
        time.sleep(interval)


def wait_listening(engine: ContainerEngine, instance: Instance, timeout: float = 120) -> Instance:
    """Wait until an instance that shares its port with another (runtime/handover.py) has
    loaded its model, answered the sample and listens; its probes would reach either of the
    two, so its own log says when. Raise RunFailed with its last log lines if it exits
    (a model that fails to load or answers otherwise) or `timeout` passes."""
    return _wait_for_line(
        engine,
        instance,
        LISTENING,
        timeout,
        "before it took over the port: its model did not load, or did not answer the sample "
        "as the notebook did.",
    )


def wait_stopped_listening(engine: ContainerEngine, instance: Instance, timeout: float = 10):
    """Wait until an instance asked to stop has closed its listeners (its successor then gets
    every new connection), or is gone."""
    try:
        _wait_for_line(engine, instance, STOPPED_LISTENING, timeout, "while it drained.")
    except (InstanceNotFound, RunFailed):
        pass  # it stopped already: nothing listens there any more


def _wait_for_line(
    engine: ContainerEngine,
    instance: Instance,
    line: str,
    timeout: float,
    stopped: str,
    interval: float = 0.05,
) -> Instance:
    deadline = time.monotonic() + timeout
    while True:
        if line in engine.logs(instance.id, tail=LOG_TAIL):
            return engine.find_instance(instance.id)
        current = engine.find_instance(instance.id)
        if current.status != "running":
            raise _failed(engine, current, _stopped(current, stopped))
        if time.monotonic() >= deadline:
            raise _failed(engine, current, f"{current.name} was not ready after {timeout:g} s.")
        time.sleep(interval)


def _stopped(instance: Instance, when: str) -> str:
    """Why `instance` is not running, `when` it stopped; a memory kill says what to do."""
    if instance.oom_killed:
        return f"{instance.name} was {instance.state} {when} Give it more memory (`--memory`)."
    return f"{instance.name} stopped (exit code {instance.exit_code}) {when}"


def _load_failed(answer: Response) -> bool:
    """The runtime's /ready says the model failed to load (runtime/exchange.py `not_ready`)."""
    return isinstance(answer.body, dict) and answer.body.get("status") == "failed"


def _probe(url: str, path: str, timeout: float) -> Response | None:
    """One readiness probe; None while nothing answers yet."""
    try:
        return ServingClient(url, timeout).request("GET", path)
    except InstanceUnreachable:
        return None


def _failed(engine: ContainerEngine, instance: Instance, message: str) -> RunFailed:
    lines = engine.logs(instance.id, tail=LOG_TAIL).rstrip()
    return RunFailed(
        f"{message}\nLast log lines of {instance.name}:\n{lines or '(no output)'}",
        "Fix what the log shows, then start it again.",
    )
