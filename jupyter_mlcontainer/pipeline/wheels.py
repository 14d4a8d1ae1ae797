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

from ..shared.config import cache_dir
from ..shared.errors import DependencyError, last_lines
from ..shared.events import EventSink, ProgressEvent, ignore_events
from ..shared.locks import exclusive_folder
from .environment import SERVING_SPEEDUPS

#: Wheels that only make serving faster: without one for the image's platform, the runtime falls
#: back to the standard library or pure Python.
OPTIONAL_WHEELS = frozenset(SERVING_SPEEDUPS)

#: glibc of the Debian releases the base images use is 2.36; older manylinux tags all run there.
_MANYLINUX_GLIBC_MINORS = range(17, 37)


def cache_folder(python: str, machine: str) -> Path:
    return cache_dir("wheels", f"cp{python.replace('.', '')}-{machine}")


def download_wheels(
    packages: dict,
    python: str,
    on_event: EventSink = ignore_events,
    waiting: Callable[[], None] = lambda: None,
    optional: frozenset = OPTIONAL_WHEELS,
) -> list[Path]:
    """One wheel per pinned package, for CPython `python` on this machine's architecture;
    `waiting` is called while another build downloads into the same cache. A package named in
    `optional` that has no wheel for the platform is left out (the image runs without it)."""
    machine = platform.machine()
    cache = cache_folder(python, machine)
    cache.mkdir(parents=True, exist_ok=True)
    wanted = {canonicalize_name(name): version for name, version in packages.items()}
    # pip copies a wheel into the cache non-atomically: one download at a time per cache.
    with exclusive_folder(cache, waiting):
        missing = {
            name: version for name, version in wanted.items() if not _cached(cache, name, version)
        }
        required = {name: version for name, version in missing.items() if name not in optional}
        if missing:
            on_event(
                ProgressEvent(
                    "log", f"downloading {len(missing)} wheels for Python {python}", "environment"
                )
            )
        if required:
            _pip_download(required, python, machine, cache)
        for name in sorted(set(missing) - set(required)):
            try:
                _pip_download({name: missing[name]}, python, machine, cache)
            except DependencyError:
                del wanted[name]
                on_event(
                    ProgressEvent(
                        "log",
                        f"no {name} wheel for Python {python} on {machine}: the image serves "
                        "without it",
                        "environment",
                    )
                )
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


def installed_sizes(wheels) -> dict:
    """Distribution (canonical name) → bytes its wheel unpacks to: an estimate of what
    installing it adds to the image (pip adds little beyond the files)."""
    import zipfile

    sizes = {}
    for wheel in wheels:
        name = str(parse_wheel_filename(Path(wheel).name)[0])
        with zipfile.ZipFile(wheel) as archive:
            sizes[name] = sum(info.file_size for info in archive.infolist())
    return dict(sorted(sizes.items()))


def with_wheels(packages: dict, wheels) -> dict:
    """The pins that have a wheel: an optional package left out by download_wheels leaves the
    lock too, so that pip does not look for it in the image."""
    names = {canonicalize_name(str(parse_wheel_filename(Path(w).name)[0])) for w in wheels}
    return {name: version for name, version in packages.items() if canonicalize_name(name) in names}
