"""What the Docker API's two clients share: the container engine (docker.py) and its swarm
mode (swarm.py): how a lost engine shows, how a container reads as an Instance, and a taken
port's error."""

from __future__ import annotations

import functools
import inspect
import io
import tarfile
import time
from pathlib import PurePosixPath

import docker
import requests
import urllib3
from docker.errors import APIError

from ..shared.errors import EngineUnavailable, PortInUse
from .base import CONTAINER_PORT, TLS_LABEL, Instance
from .locate import ENGINE_HINT

#: Seconds a container gets to exit on SIGTERM before it is killed, as `docker stop` gives: the
#: runtime stops accepting connections and finishes the requests in flight within them.
STOP_TIMEOUT = 10


#: How a lost engine shows: a refused or reset connection, or a stream cut off mid-way (streams
#: are read from the raw socket, so urllib3's error reaches us unwrapped).
LOST_ENGINE = (requests.exceptions.ConnectionError, urllib3.exceptions.ProtocolError)


#: The capabilities a container gets unless told otherwise (Docker's defaults, which Podman
#: lists one by one in CapDrop where Docker writes "ALL"): dropping all of them is dropping all.
DEFAULT_CAPABILITIES = frozenset(
    "AUDIT_WRITE CHOWN DAC_OVERRIDE FOWNER FSETID KILL MKNOD NET_BIND_SERVICE NET_RAW SETFCAP "
    "SETGID SETPCAP SETUID SYS_CHROOT".split()
)


def drops_all_capabilities(host_config: dict) -> bool:
    """Whether a container runs without capabilities: `cap_drop=["ALL"]` as Docker reports it,
    or every default capability dropped and none added, as Podman does."""
    dropped = {cap.upper().removeprefix("CAP_") for cap in host_config.get("CapDrop") or []}
    added = host_config.get("CapAdd") or []
    return "ALL" in dropped or (DEFAULT_CAPABILITIES <= dropped and not added)


#: What an engine's refusal to create or start a container means, and its fix (Podman's, mostly).
REFUSAL_FIXES = {
    "/dev/net/tun": "Rootless Podman's slirp4netns needs /dev/net/tun, which this machine keeps "
    "for root: as root, `chmod 0666 /dev/net/tun` (its mode on a stock Debian), then try again.",
    "rlimit": "This machine refuses rlimits in containers: add `[containers]` / "
    "`default_ulimits = []` to /etc/containers/containers.conf (rootful) or "
    "~/.config/containers/containers.conf (rootless), then restart Podman's socket.",
    "catatonit": "Podman starts an init process with catatonit: install it "
    "(`apt-get install catatonit`).",
    "slirp4netns": "Rootless Podman publishes ports through slirp4netns: install it "
    "(`apt-get install slirp4netns`) and restart Podman's socket.",
}


def refusal_hint(explanation: str) -> str:
    """The fix for a known refusal of the engine's, or empty."""
    return next((fix for key, fix in REFUSAL_FIXES.items() if key in explanation), "")


def unavailable(error: Exception) -> EngineUnavailable:
    return EngineUnavailable(f"Cannot reach the container engine: {error}", ENGINE_HINT)


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


def instance_of(
    container, ports: dict | None = None, holder: str = "", address: str = ""
) -> Instance:
    """`container` as an Instance; `ports` are its holder's (`holder`), when one publishes them.
    Its URL is on `address` (a remote engine's machine), else where the port is bound."""
    attrs = container.attrs
    host = attrs.get("HostConfig") or {}
    if ports is None:
        ports = attrs["NetworkSettings"].get("Ports") or {}
    bindings = ports.get(f"{CONTAINER_PORT}/tcp") or []
    running = container.status == "running" and bindings
    scheme = "https" if container.labels.get(TLS_LABEL) == "true" else "http"
    return Instance(
        id=container.id,
        name=container.name,
        image=short_image_name(attrs["Config"]["Image"]),
        url=f"{scheme}://{address or bindings[0]['HostIp']}:{bindings[0]['HostPort']}"
        if running
        else "",
        status=container.status,
        labels=dict(container.labels),
        created=attrs["Created"],
        started=attrs["State"].get("StartedAt", ""),
        exit_code=None if container.status == "running" else attrs["State"].get("ExitCode"),
        oom_killed=bool(attrs["State"].get("OOMKilled")),
        memory_limit=host.get("Memory") or None,
        hardened=bool(host.get("ReadonlyRootfs")) and drops_all_capabilities(host),
        port_holder=holder,
    )


def short_image_name(reference: str) -> str:
    """`reference` as it was given: Podman qualifies short names (`docker.io/mlcontainer/…`,
    `localhost/…`), Docker does not."""
    for prefix in ("docker.io/library/", "docker.io/", "localhost/"):
        if reference.startswith(prefix):
            return reference[len(prefix) :]
    return reference


def refuse_taken_port(error: APIError, port: int | None, other_choice: str) -> None:
    """PortInUse when Docker could not publish `port` because something else holds it."""
    explanation = str(error.explanation)
    if port and ("already allocated" in explanation or "already in use" in explanation):
        raise PortInUse(
            f"Port {port} on 127.0.0.1 is already in use.",
            f"Pass another --port, {other_choice}.",
        ) from error


def copy_into(container, path: str, content: bytes) -> None:
    """Put one file (mode 0444) into a created container before it starts: what only its
    filesystem may hold (a key, a token) and no label, environment or `inspect` shows. The
    folder must be writable then: in the image, or a volume of the container's own."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        entry = tarfile.TarInfo(PurePosixPath(path).name)
        entry.size, entry.mode, entry.mtime = len(content), 0o444, int(time.time())
        archive.addfile(entry, io.BytesIO(content))
    container.put_archive(str(PurePosixPath(path).parent), buffer.getvalue())


class _PinnedAPI(docker.APIClient):
    """requests lets REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, when set, replace a session's CA on
    every request; an engine's TLS (DOCKER_CERT_PATH's ca.pem) must win over them."""

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if isinstance(self.verify, str):  # the engine's own CA
            settings["verify"] = self.verify
        return settings


class PinnedClient(docker.DockerClient):
    """`PinnedClient.from_env()`: docker.from_env, trusting the engine's CA whatever the
    environment's CA bundle says."""

    def __init__(self, *args, **kwargs):
        self.api = _PinnedAPI(*args, **kwargs)
