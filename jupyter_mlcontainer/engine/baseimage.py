"""Build a Python base image from Debian packages, with no container registry.

Air-gapped machines (and registries that are out of reach) cannot pull `python:3.11-slim`;
debootstrap installs a minimal Debian with python3, venv support and the shared libraries that
common wheels need (OpenMP) from a Debian mirror instead. Documentation, manuals, locales and
apt's caches are removed before the root filesystem is imported as a single layer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..shared.errors import BaseImageError
from ..shared.events import ProgressEvent
from .base import ContainerEngine, label

#: Debian release → the python3 it ships, which names the tag.
PYTHON_OF_SUITE = {"bookworm": "3.11", "trixie": "3.13"}
DEFAULT_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
#: What the image holds beyond debootstrap's minbase: Python with venv, and the OpenMP runtime
#: that LightGBM, XGBoost and scikit-learn builds load.
PACKAGES = ("python3", "python3-venv", "libgomp1")
#: Bumped whenever the recipe changes, so that an older image is rebuilt.
RECIPE_VERSION = "2"
#: Removed from the root filesystem: nothing a served model reads. Copyright files stay.
TRIMMED = (
    "usr/share/doc/*/*",
    "usr/share/man/*",
    "usr/share/info/*",
    "usr/share/locale/*",
    "usr/share/lintian/*",
    "var/lib/apt/lists/*",
    "var/cache/apt/*.bin",
    "var/cache/apt/archives/*.deb",
    "var/cache/debconf/*-old",
    "var/log/*",
)
#: Keeps later `apt-get install` steps (system packages in generated images) as lean.
DPKG_NODOC = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
"""


def base_image_tag(suite: str = DEFAULT_SUITE) -> str:
    return f"mlcontainer/python:{python_of(suite)}-{suite}"


def python_of(suite: str) -> str:
    try:
        return PYTHON_OF_SUITE[suite]
    except KeyError:
        known = ", ".join(sorted(PYTHON_OF_SUITE))
        raise BaseImageError(
            f"Unknown Debian suite {suite!r}.", f"Choose one of: {known}."
        ) from None


def choose_base_image(engine: ContainerEngine | None, config, python_version: str) -> str:
    """The configured image, else the first present of python:<X.Y>-slim and the offline
    image for that Python; else python:<X.Y>-slim, whose pull fails with a hint. Without an
    engine (a context-only render), the configured image or python:<X.Y>-slim."""
    if config.base_image or engine is None:
        return config.base_image_for(python_version)
    slim = f"python:{python_version}-slim"
    offline = [
        base_image_tag(s) for s, python in PYTHON_OF_SUITE.items() if python == python_version
    ]
    return next((image for image in [slim, *offline] if engine.image_exists(image)), slim)


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
    engine: ContainerEngine,
    suite: str = DEFAULT_SUITE,
    mirror: str = DEFAULT_MIRROR,
    force: bool = False,
) -> Iterator[ProgressEvent]:
    """Yield progress while making `base_image_tag(suite)`; skip when an image of the current
    recipe exists, unless `force`."""
    tag = base_image_tag(suite)
    if not force and _current(engine, tag):
        yield ProgressEvent("done", f"{tag} already exists (use --force to rebuild)", "base-image")
        return
    check_can_bootstrap()
    with tempfile.TemporaryDirectory(prefix="mlcontainer-rootfs-") as workdir:
        rootfs = Path(workdir) / "rootfs"
        yield ProgressEvent("stage", f"debootstrap {suite} from {mirror}", "base-image", 1, 3)
        yield from _debootstrap(suite, rootfs, mirror)
        yield ProgressEvent(
            "stage", "removing documentation, locales and caches", "base-image", 2, 3
        )
        trim(rootfs)
        yield ProgressEvent("stage", f"importing the root filesystem as {tag}", "base-image", 3, 3)
        tarball = Path(workdir) / "rootfs.tar"
        with tarfile.open(tarball, "w") as archive:
            archive.add(rootfs, arcname=".")
        shutil.rmtree(rootfs)
        changes = [
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            f'LABEL {label("base-suite")}="{suite}" {label("base-recipe")}="{RECIPE_VERSION}"',
            'CMD ["python3"]',
        ]
        engine.import_rootfs(tarball, *tag.split(":"), changes=changes)
    version = engine.run_command(tag, ["python3", "--version"]).strip()
    yield ProgressEvent("done", f"{tag} ({version})", "base-image")


def _current(engine: ContainerEngine, tag: str) -> bool:
    return engine.image_exists(tag) and (
        engine.image_labels(tag).get(label("base-recipe")) == RECIPE_VERSION
    )


def trim(rootfs: Path) -> None:
    """Delete what a served model never reads, and keep later apt installs from adding it."""
    for pattern in TRIMMED:
        for path in rootfs.glob(pattern):
            if path.name == "copyright":
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    nodoc = rootfs / "etc" / "dpkg" / "dpkg.cfg.d" / "01-mlcontainer-nodoc"
    nodoc.parent.mkdir(parents=True, exist_ok=True)
    nodoc.write_text(DPKG_NODOC)


def _debootstrap(suite: str, rootfs: Path, mirror: str) -> Iterator[ProgressEvent]:
    command = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        suite,
        str(rootfs),
        mirror,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    for line in process.stdout:
        tail = (tail + [line])[-20:]
        yield ProgressEvent("log", line.rstrip("\n"), "base-image", 1, 3)
    if process.wait() != 0:
        raise BaseImageError(
            f"debootstrap failed (exit {process.returncode}):\n{''.join(tail)}",
            f"Check that the mirror {mirror} is reachable, or pass --mirror.",
        )
