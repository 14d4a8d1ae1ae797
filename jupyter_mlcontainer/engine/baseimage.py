"""Build a Python base image from Debian packages, with no container registry.

Air-gapped machines (and registries that are out of reach) cannot pull `python:3.11-slim`;
debootstrap fetches Debian packages from a Debian mirror instead, the result is imported
into the engine, and python3 with venv support is added on top.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Iterator

from ..errors import BaseImageError
from ..events import ProgressEvent
from .base import label
from .docker import DockerEngine

#: Debian release → the python3 it ships, which names the tag.
PYTHON_OF_SUITE = {"bookworm": "3.11", "trixie": "3.13"}
DEFAULT_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"

DOCKERFILE = """\
FROM {rootfs}
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \\
 && apt-get clean \\
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/locale/*
LABEL {label}="{suite}"
CMD ["python3"]
"""


def base_image_tag(suite: str = DEFAULT_SUITE) -> str:
    return f"mlcontainer/python:{python_of(suite)}-{suite}"


def python_of(suite: str) -> str:
    try:
        return PYTHON_OF_SUITE[suite]
    except KeyError:
        known = ", ".join(sorted(PYTHON_OF_SUITE))
        raise BaseImageError(f"Unknown Debian suite {suite!r}.", f"Choose one of: {known}.") from None


def check_can_bootstrap() -> None:
    """debootstrap must exist and run as root; say so before any slow work starts."""
    if shutil.which("debootstrap") is None:
        raise BaseImageError(
            "debootstrap is not installed.", "Install it: `sudo apt-get install -y debootstrap`."
        )
    if os.geteuid() != 0:
        raise BaseImageError(
            "Building a base image with debootstrap needs root.",
            "Run it as root: `sudo jupyter mlcontainer base-image`.",
        )


def build_base_image(
    engine: DockerEngine,
    suite: str = DEFAULT_SUITE,
    mirror: str = DEFAULT_MIRROR,
    force: bool = False,
) -> Iterator[ProgressEvent]:
    """Yield progress while making `base_image_tag(suite)`; skip when it exists unless `force`."""
    tag = base_image_tag(suite)
    if engine.image_exists(tag) and not force:
        yield ProgressEvent("done", f"{tag} already exists (use --force to rebuild)", "base-image")
        return
    check_can_bootstrap()
    rootfs_image = f"mlcontainer/debian-minbase:{suite}"
    with tempfile.TemporaryDirectory(prefix="mlcontainer-rootfs-") as workdir:
        rootfs = Path(workdir) / "rootfs"
        yield ProgressEvent("stage", f"debootstrap {suite} from {mirror}", "base-image", 1, 3)
        yield from _debootstrap(suite, rootfs, mirror)
        yield ProgressEvent("stage", f"importing the root filesystem as {rootfs_image}", "base-image", 2, 3)
        tarball = Path(workdir) / "rootfs.tar"
        with tarfile.open(tarball, "w") as archive:
            archive.add(rootfs, arcname=".")
        shutil.rmtree(rootfs)
        engine.import_rootfs(tarball, *rootfs_image.split(":"))
        yield ProgressEvent("stage", f"adding python3 and python3-venv as {tag}", "base-image", 3, 3)
        context = Path(workdir) / "context"
        context.mkdir()
        (context / "Dockerfile").write_text(
            DOCKERFILE.format(rootfs=rootfs_image, label=label("base-suite"), suite=suite)
        )
        yield from engine.build(context, tag)
    engine.remove_image(rootfs_image)
    version = engine.run_command(tag, ["python3", "--version"]).strip()
    yield ProgressEvent("done", f"{tag} ({version})", "base-image")


def _debootstrap(suite: str, rootfs: Path, mirror: str) -> Iterator[ProgressEvent]:
    command = ["debootstrap", "--variant=minbase", suite, str(rootfs), mirror]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    tail: list[str] = []
    for line in process.stdout:
        tail = (tail + [line])[-20:]
        yield ProgressEvent("log", line.rstrip("\n"), "base-image", 1, 3)
    if process.wait() != 0:
        raise BaseImageError(
            f"debootstrap failed (exit {process.returncode}):\n{''.join(tail)}",
            f"Check that the mirror {mirror} is reachable, or pass --mirror.",
        )
