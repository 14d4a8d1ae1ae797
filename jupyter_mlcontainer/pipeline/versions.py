"""The versions another interpreter (the notebook's kernel's) has of pinned distributions: what
the trial cache and `check-image` compare an image's lock against."""

from __future__ import annotations

import json
import subprocess

from ..shared.errors import MLContainerError
from .lean import CPU_VARIANTS

#: Asks an interpreter for installed versions: names on stdin, {name: version | null} out.
_VERSIONS = """\
import importlib.metadata as m, json, sys
def version(name):
    try:
        return m.version(name)
    except m.PackageNotFoundError:
        return None
print(json.dumps({name: version(name) for name in json.load(sys.stdin)}))
"""


def installed_versions(python: str, pinned: dict) -> dict:
    """The versions `python` has of the pinned distributions; a CPU-only build the image pins
    (xgboost-cpu) is compared with the kernel's own build of it (xgboost)."""
    originals = {cpu: gpu for gpu, cpu in CPU_VARIANTS.items()}
    names = sorted({originals.get(name, name) for name in pinned} | set(pinned))
    try:
        done = subprocess.run(
            [python, "-c", _VERSIONS],
            input=json.dumps(names),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        versions = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as error:
        raise MLContainerError(
            f"Could not ask {python} for its installed packages: {error}",
            "Pass --python with the interpreter the notebook's kernel runs.",
        ) from error
    for cpu, gpu in originals.items():
        if cpu in pinned and versions.get(cpu) is None:
            versions[cpu] = versions.get(gpu)
    return versions
