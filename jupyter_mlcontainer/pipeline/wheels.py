"""Download wheels on the host for the image's platform, so the image builds without network.

The host's pip (and its configuration: index, proxy, certificates, find-links) does the
downloading; a per-platform cache folder keeps each wheel, so a rebuild downloads nothing.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from ..config import cache_dir
from ..errors import DependencyError, last_lines
from ..events import EventSink, ProgressEvent, ignore_events
from ..locks import exclusive_folder

#: glibc of the Debian releases the base images use is 2.36; older manylinux tags all run there.
_MANYLINUX_GLIBC_MINORS = range(17, 37)


def cache_folder(python: str, machine: str) -> Path:
    return cache_dir("wheels", f"cp{python.replace('.', '')}-{machine}")


def download_wheels(
    packages: dict,
    python: str,
    on_event: EventSink = ignore_events,
    waiting: Callable[[], None] = lambda: None,
) -> list[Path]:
    """One wheel per pinned package, for CPython `python` on this machine's architecture;
    `waiting` is called while another build downloads into the same cache."""
    machine = platform.machine()
    cache = cache_folder(python, machine)
    cache.mkdir(parents=True, exist_ok=True)
    wanted = {canonicalize_name(name): version for name, version in packages.items()}
    # pip copies a wheel into the cache non-atomically: one download at a time per cache.
    with exclusive_folder(cache, waiting):
        missing = {
            name: version for name, version in wanted.items() if not _cached(cache, name, version)
        }
        if missing:
            on_event(
                ProgressEvent(
                    "log", f"downloading {len(missing)} wheels for Python {python}", "environment"
                )
            )
            _pip_download(missing, python, machine, cache)
    found = [_cached(cache, name, version) for name, version in sorted(wanted.items())]
    absent = [name for name, path in zip(sorted(wanted), found, strict=False) if path is None]
    if absent:
        raise DependencyError(
            f"No wheel for {', '.join(absent)} was found for Python {python} on {machine}.",
            "Those packages publish no binary wheel for this platform; build one with "
            "`pip wheel` into the wheel cache, or set download_wheels = False.",
        )
    return found


def _cached(cache: Path, name: str, version: str) -> Path | None:
    for wheel in sorted(cache.glob("*.whl")):
        wheel_name, wheel_version, _, _ = parse_wheel_filename(wheel.name)
        if wheel_name == name and str(wheel_version) == _normal(version):
            return wheel
    return None


def _normal(version: str) -> str:
    return str(Version(version))


def _pip_download(packages: dict, python: str, machine: str, cache: Path) -> None:
    platforms = [f"manylinux_2_{minor}_{machine}" for minor in _MANYLINUX_GLIBC_MINORS]
    platforms += [f"manylinux2014_{machine}", f"manylinux2010_{machine}", f"manylinux1_{machine}"]
    abi = f"cp{python.replace('.', '')}"
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "--no-deps",
        "--dest",
        str(cache),
        "--python-version",
        python,
        "--implementation",
        "cp",
        "--abi",
        abi,
        "--abi",
        "abi3",
        "--abi",
        "none",
    ]
    for tag in platforms:
        command += ["--platform", tag]
    command += [f"{name}=={version}" for name, version in sorted(packages.items())]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise DependencyError(
            "Downloading wheels for the image failed:\n" + last_lines(result.stderr),
            "Check that the host's pip reaches its package index (pip config list), or that "
            "every pinned package publishes a wheel for Linux.",
        )
