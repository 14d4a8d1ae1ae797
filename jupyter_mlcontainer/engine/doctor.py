"""`doctor`'s findings: which container engine answers, what works with it, and how to mend
what does not. Each check runs the real thing (a container, a published port), since an engine
that answers may still be unable to start one (rlimits refused, no user namespace, no network)."""

from __future__ import annotations

import getpass
import os
import shutil
import socket as sockets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from docker.errors import DockerException

from ..shared.errors import MLContainerError
from .baseimage import choose_base_image
from .dockerapi import REFUSAL_FIXES, refusal_hint
from .locate import ENGINE_HINT, engine_sockets


@dataclass(frozen=True)
class Finding:
    """One check: passed (True), failed (False) or not applicable here (None)."""

    check: str
    ok: bool | None
    detail: str
    fix: str = ""


@dataclass
class Diagnosis:
    engine: str = ""  # "docker" or "podman"; empty when none answers
    url: str = ""
    version: str = ""
    rootless: bool = False
    remote: bool = False
    findings: list = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return bool(self.engine) and all(f.ok is not False for f in self.findings)

    def to_dict(self) -> dict:
        return {**asdict(self), "healthy": self.healthy}


def diagnose(config, python_version: str, open_engine) -> Diagnosis:
    """Find the engine (`open_engine()`, which raises when none answers) and try what the tool
    needs of it with the base image a build for `python_version` would start from."""
    diagnosis = Diagnosis()
    try:
        engine = open_engine()
    except MLContainerError as error:
        diagnosis.findings.append(
            Finding("engine", False, error.message, error.hint or ENGINE_HINT)
        )
        diagnosis.findings.extend(_host_findings())
        return diagnosis
    diagnosis.engine, diagnosis.version = engine.flavour, engine.version
    diagnosis.rootless = engine.rootless
    diagnosis.url = engine.socket.url if engine.socket else ""
    diagnosis.remote = bool(engine.socket and engine.socket.remote)
    origin = f" ({engine.socket.origin})" if engine.socket else ""
    mode = "rootless" if engine.rootless else "with root"
    diagnosis.findings.append(
        Finding(
            "engine", True, f"{engine.flavour} {engine.version}, {mode}, at {diagnosis.url}{origin}"
        )
    )
    if diagnosis.remote:
        diagnosis.findings.append(
            Finding(
                "address",
                None,
                f"The engine runs on {engine.address}: instances are published on that machine's "
                f"addresses and reached at http://{engine.address}:PORT, not 127.0.0.1.",
                "Make sure only trusted networks reach that machine's ports.",
            )
        )
    base_image = choose_base_image(engine, config, python_version)
    diagnosis.findings.extend(_engine_findings(engine, base_image))
    if engine.flavour == "podman" and engine.rootless and not diagnosis.remote:
        diagnosis.findings.append(_storage_finding(engine.storage_driver))
        diagnosis.findings.extend(_host_findings())
    return diagnosis


def _engine_findings(engine, base_image: str) -> list[Finding]:
    if not engine.image_exists(base_image):
        return [
            Finding(
                "base image",
                False,
                f"{base_image} is not in the engine.",
                "Run `jupyter mlcontainer base-image` (Debian packages, no registry needed), or "
                f"copy it from Docker: `docker save {base_image} | podman load`.",
            )
        ]
    findings = [Finding("base image", True, f"{base_image} is there.")]
    try:
        engine.run_command(base_image, ["python3", "-c", "print(1)"])
    except (MLContainerError, DockerException) as error:
        return [*findings, _start_failure(str(error))]
    findings.append(Finding("containers start", True, "A container of the base image ran."))
    try:
        published = engine.published_port(base_image)
    except MLContainerError as error:
        published, refusal = None, error
    else:
        refusal = None
    if published is None:
        findings.append(
            Finding(
                "ports",
                False,
                f"A port could not be published{f': {refusal.message}' if refusal else '.'}",
                (refusal.hint if refusal else "") or REFUSAL_FIXES["slirp4netns"],
            )
        )
    else:
        findings.append(Finding("ports", True, f"A port was published on {published}."))
    return findings


def _start_failure(error: str) -> Finding:
    fix = (
        refusal_hint(error) or "Check what the engine says of itself: `docker info`, `podman info`."
    )
    return Finding("containers start", False, f"A container of the base image failed: {error}", fix)


def _storage_finding(driver: str) -> Finding:
    """Rootless Podman falls back to `vfs` when nothing names a driver on some systems: it
    works, but copies the whole file system for every layer, so builds crawl and fill the disk."""
    if driver != "vfs":
        return Finding("storage", True, f"Podman stores images with {driver or 'its default'}.")
    return Finding(
        "storage",
        None,
        "Podman stores images with vfs, which copies every layer in full: builds are slow.",
        'Put `[storage]` `driver = "overlay"` in ~/.config/containers/storage.conf, then '
        "`podman system reset` (it deletes your Podman images: `podman load` the base image "
        "again) and restart Podman's socket.",
    )


def _host_findings() -> list[Finding]:
    """What rootless Podman needs of this machine, and which engines are installed at all."""
    findings = []
    installed = [name for name in ("docker", "dockerd", "podman") if shutil.which(name)]
    findings.append(
        Finding(
            "installed",
            bool(installed) or None,
            "Installed: " + (", ".join(installed) if installed else "neither Docker nor Podman"),
            ""
            if installed
            else "Install one: `apt-get install docker.io` or `apt-get install podman`.",
        )
    )
    sockets_tried = ", ".join(f"{s.url} ({s.origin})" for s in engine_sockets())
    findings.append(Finding("sockets", None, f"Looked for an engine at: {sockets_tried}"))
    if os.getuid() != 0 and shutil.which("podman"):
        findings.extend(_rootless_findings(getpass.getuser()))
    return findings


def _rootless_findings(user: str) -> list[Finding]:
    ranges = Path("/etc/subuid")
    has_range = ranges.is_file() and any(
        line.split(":", 1)[0] == user for line in ranges.read_text().splitlines()
    )
    findings = [
        Finding(
            "subuid",
            has_range,
            f"/etc/subuid {'has' if has_range else 'has no'} range for {user}.",
            ""
            if has_range
            else f"As root: `usermod --add-subuids 100000-165535 --add-subgids "
            f"100000-165535 {user}`, and install `uidmap`.",
        ),
        Finding(
            "newuidmap",
            bool(shutil.which("newuidmap")),
            "newuidmap is " + ("installed." if shutil.which("newuidmap") else "missing."),
            "" if shutil.which("newuidmap") else "As root: `apt-get install uidmap`.",
        ),
        _tun_finding(),
    ]
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    user_socket = f"{runtime_dir}/podman/podman.sock"
    if not os.path.isdir(runtime_dir):
        findings.append(
            Finding(
                "runtime dir",
                False,
                f"Your runtime folder {runtime_dir} does not exist (no login session made it).",
                f"As root: `loginctl enable-linger {user}`, or `install -d -m 700 -o {user} "
                f"-g {user} {runtime_dir}`; then set XDG_RUNTIME_DIR={runtime_dir}.",
            )
        )
    if not _answers(user_socket):
        findings.append(
            Finding(
                "user socket",
                False,
                f"Your Podman socket {user_socket} does not answer.",
                "Start it: `systemctl --user start podman.socket`, or "
                f"`podman system service --time=0 unix://{user_socket} &`.",
            )
        )
    return findings


def _tun_finding() -> Finding:
    """Rootless Podman's networks (slirp4netns, pasta) open /dev/net/tun as the user; machines
    without udev's rule leave it to root, and every container then fails to start."""
    usable = os.access("/dev/net/tun", os.R_OK | os.W_OK)
    return Finding(
        "tun device",
        usable,
        f"/dev/net/tun is {'usable' if usable else 'not usable'} without root.",
        "" if usable else REFUSAL_FIXES["/dev/net/tun"],
    )


def _answers(path: str) -> bool:
    with sockets.socket(sockets.AF_UNIX) as client:
        try:
            client.connect(path)
        except OSError:
            return False
    return True
