"""Which container engine to talk to, found without a Docker daemon being assumed.

The one named by `DOCKER_HOST` (a socket, `tcp://` with TLS through `DOCKER_TLS_VERIFY` and
`DOCKER_CERT_PATH`, or `ssh://`), else the first of these sockets that exists: Docker's, rootful
Podman's, then the user's own rootless Podman's. Podman serves Docker's API on its socket, so the
one client speaks to every engine found here. Standard library only: `doctor` lists the
candidates without loading the Docker SDK.
"""

from __future__ import annotations

import grp
import ipaddress
import os
import pwd
from dataclasses import dataclass
from urllib.parse import urlsplit

#: Where an instance of a local engine is published and reached: never beyond this machine.
LOOPBACK = "127.0.0.1"

ENGINE_HINT = (
    "Start the Docker engine (e.g. `sudo dockerd &` or `sudo systemctl start docker`) or Podman's "
    "socket (`podman system service --time=0 &`; without root, `systemctl --user start "
    "podman.socket`), or point DOCKER_HOST at a running one. `jupyter mlcontainer doctor` "
    "says what it finds."
)


def no_rights_hint(url: str) -> str:
    """What a user refused by an engine's socket (permission denied) can do about it: join the
    socket's group where that group may use it, else use an engine of their own."""
    user = pwd.getpwuid(os.getuid()).pw_name
    own_engine = (
        "use rootless Podman, which needs no rights over anybody's engine (`jupyter mlcontainer "
        "doctor` checks what it needs), or point DOCKER_HOST at an engine you may use"
    )
    try:
        status = os.stat(urlsplit(url).path)
        group = grp.getgrgid(status.st_gid).gr_name
    except (OSError, KeyError):  # a folder on the way refused too, or a group without a name
        return f"The engine's socket is not {user}'s to use: {own_engine}."
    if group == "root" or status.st_mode & 0o060 != 0o060:
        return f"The engine's socket is root's only: {own_engine}."
    return (
        f"The engine runs, but its socket is for root and the {group!r} group, and {user} is in "
        f"neither. Ask to be added (`sudo usermod -aG {group} {user}`, then log in again), or "
        f"{own_engine}."
    )


@dataclass(frozen=True)
class EngineSocket:
    """An address a container engine may answer at, and why it is tried."""

    url: str  # unix:///var/run/docker.sock, tcp://host:2376, ssh://user@host
    origin: str  # said to the user: "DOCKER_HOST", "Docker's socket", ...

    @property
    def remote(self) -> bool:
        """An engine on another machine: its instances are not on this machine's loopback."""
        return urlsplit(self.url).scheme in ("tcp", "ssh", "http", "https") and (
            self.host not in ("127.0.0.1", "localhost", "::1")
        )

    @property
    def host(self) -> str:
        """The machine the engine runs on, as this one reaches it."""
        return urlsplit(self.url).hostname or LOOPBACK

    @property
    def publish_address(self) -> str:
        """Where instances' ports are bound: the loopback of a local engine; the address a
        remote engine was reached at, when that is an IP; else all of that machine's."""
        if not self.remote:
            return LOOPBACK
        try:
            return str(ipaddress.ip_address(self.host))
        except ValueError:
            return "0.0.0.0"  # noqa: S104 - a remote engine named by host name

    @property
    def present(self) -> bool:
        """A Unix socket that exists, or any other address (only asking it tells)."""
        parts = urlsplit(self.url)
        return parts.scheme != "unix" or os.path.exists(parts.path)


def engine_sockets(environ=None, uid: int | None = None) -> list[EngineSocket]:
    """The addresses to try, in order: only `DOCKER_HOST` when it is set (asked for is meant)."""
    environ = os.environ if environ is None else environ
    if environ.get("DOCKER_HOST"):
        return [EngineSocket(environ["DOCKER_HOST"], "DOCKER_HOST")]
    uid = os.getuid() if uid is None else uid
    runtime_dir = environ.get("XDG_RUNTIME_DIR") or f"/run/user/{uid}"
    return [
        EngineSocket("unix:///var/run/docker.sock", "Docker's socket"),
        EngineSocket("unix:///run/podman/podman.sock", "Podman's socket"),
        EngineSocket(f"unix://{runtime_dir}/podman/podman.sock", "your rootless Podman's socket"),
    ]


def flavour_of(version: dict) -> str:
    """ "podman" or "docker", from the engine's `/version` answer (Podman names itself there)."""
    names = [str(part.get("Name", "")) for part in version.get("Components") or []]
    return "podman" if any(name.lower().startswith("podman") for name in names) else "docker"


def rootless(info: dict) -> bool:
    """Whether the engine runs without root, from its `/info` answer: Docker lists
    `name=rootless` in its security options, Podman says `"Rootless": true` instead."""
    return info.get("Rootless") is True or any(
        "rootless" in str(option) for option in info.get("SecurityOptions") or []
    )


def container_network(flavour: str, version: str, rootless: bool) -> str | None:
    """The network mode to give containers that publish a port, or None for the engine's
    default. Docker's API asks rootless Podman for a bridge, which it builds in a shared
    "rootless netns" that needs bind mounts some hosts refuse ("failed to mount runtime
    directory for rootless netns"); the network its own CLI gives a rootless container
    (slirp4netns before Podman 5, pasta since) publishes on 127.0.0.1 without one."""
    if flavour != "podman" or not rootless:
        return None
    major = version.split(".", 1)[0]
    return "slirp4netns" if major.isdigit() and int(major) < 5 else "pasta"
