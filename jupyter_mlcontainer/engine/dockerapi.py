"""What the Docker engine's two clients share: the container engine (docker.py) and its swarm
mode (swarm.py): how a lost engine shows, how a container reads as an Instance, and a taken
port's error."""

from __future__ import annotations

import functools
import inspect

import requests
import urllib3
from docker.errors import APIError

from ..shared.errors import EngineUnavailable, PortInUse
from .base import CONTAINER_PORT, Instance

ENGINE_HINT = (
    "Start the Docker engine (e.g. `sudo dockerd &` or `sudo systemctl start docker`), "
    "or point DOCKER_HOST at a running one."
)


#: Seconds a container gets to exit on SIGTERM before it is killed, as `docker stop` gives: the
#: runtime stops accepting connections and finishes the requests in flight within them.
STOP_TIMEOUT = 10


#: How a lost engine shows: a refused or reset connection, or a stream cut off mid-way (streams
#: are read from the raw socket, so urllib3's error reaches us unwrapped).
LOST_ENGINE = (requests.exceptions.ConnectionError, urllib3.exceptions.ProtocolError)


def unavailable(error: Exception) -> EngineUnavailable:
    return EngineUnavailable(f"Cannot reach the Docker engine: {error}", ENGINE_HINT)


def reaches_engine(method):
    """Turn a lost connection to the engine (refused, socket gone, engine stopped mid-way)
    into EngineUnavailable, for plain methods and for generators alike."""
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def generator(*args, **kwargs):
            try:
                return (yield from method(*args, **kwargs))
            except LOST_ENGINE as error:
                raise unavailable(error) from error

        return generator

    @functools.wraps(method)
    def call(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except LOST_ENGINE as error:
            raise unavailable(error) from error

    return call


def instance_of(container, ports: dict | None = None, holder: str = "") -> Instance:
    """`container` as an Instance; `ports` are its holder's (`holder`), when one publishes them."""
    attrs = container.attrs
    host = attrs.get("HostConfig") or {}
    if ports is None:
        ports = attrs["NetworkSettings"].get("Ports") or {}
    bindings = ports.get(f"{CONTAINER_PORT}/tcp") or []
    running = container.status == "running" and bindings
    return Instance(
        id=container.id,
        name=container.name,
        image=attrs["Config"]["Image"],
        url=f"http://{bindings[0]['HostIp']}:{bindings[0]['HostPort']}" if running else "",
        status=container.status,
        labels=dict(container.labels),
        created=attrs["Created"],
        started=attrs["State"].get("StartedAt", ""),
        exit_code=None if container.status == "running" else attrs["State"].get("ExitCode"),
        oom_killed=bool(attrs["State"].get("OOMKilled")),
        memory_limit=host.get("Memory") or None,
        hardened=bool(host.get("ReadonlyRootfs")) and "ALL" in (host.get("CapDrop") or []),
        port_holder=holder,
    )


def refuse_taken_port(error: APIError, port: int | None, other_choice: str) -> None:
    """PortInUse when Docker could not publish `port` because something else holds it."""
    explanation = str(error.explanation)
    if port and ("already allocated" in explanation or "already in use" in explanation):
        raise PortInUse(
            f"Port {port} on 127.0.0.1 is already in use.",
            f"Pass another --port, {other_choice}.",
        ) from error
