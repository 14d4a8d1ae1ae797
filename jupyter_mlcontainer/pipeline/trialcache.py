"""The trial run's result, reused when a build changes nothing it depends on.

Re-training and building again (a redeploy) changes the captured values' bytes but, as a rule,
neither the served code, nor the modules those values' pickles name, nor the kernel's packages:
the modules the model imports and the versions pinned for them are then those of the last trial.
The key covers the served code, each captured value's name, format and modules, the input, the
requirements, the local modules, the packages kept with `--with`, the interpreter and the
trial's own code; a hit is used only when the interpreter still has every pinned version. The
closure a hit brings back (what it left out, and why) holds still: it was proven with everything
else hidden, so a package installed since changes nothing. That includes the lean set: the pins
stored are those of the proving trial that left out the declared dependencies the model never
imports (or, when it failed, the whole closure and the warning that says so), so a re-build
runs neither trial again. The new state is still proven: the
image's last build step loads it and answers the sample as the notebook did, or the build fails.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from ..shared.config import cache_dir, write_cache_file
from ..shared.errors import MLContainerError
from . import closure, environment, importgate, lean, trial
from .plan import Capture
from .trial import TrialResult
from .versions import installed_versions


def trial_key(
    context: Path, capture: Capture, requirements: list, local_modules, keep: tuple = ()
) -> str:
    """What a trial's outcome depends on, hashed; the values' bytes are not part of it."""
    app = context / "app"
    code = {
        path.relative_to(app).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(app.rglob("*.py"))
    }
    basis = {
        "trial": [
            hashlib.sha256(Path(m.__file__).read_bytes()).hexdigest()
            for m in (trial, environment, closure, importgate, lean)
        ],
        "python": capture.executable,
        "code": code,
        "values": sorted(
            [item["name"], item["format"], sorted(item.get("modules") or ())]
            for item in capture.state
        ),
        "modules": sorted(capture.modules),
        "input": capture.input,
        "requirements": list(requirements),
        "local_modules": sorted(local_modules),
        "keep": sorted(keep),
    }
    return hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()


def reused_trial(key: str, python: str) -> TrialResult | None:
    """The trial stored under `key`, if `python` still has the versions it pinned."""
    path = _path(key)
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        result = TrialResult(
            **{
                **stored,
                "modules": tuple(stored["modules"]),
                "warnings": tuple(stored["warnings"]),
                "loaded_distributions": frozenset(stored["loaded_distributions"]),
            }
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None  # none yet, or written by another version
    try:
        if installed_versions(python, result.packages) != result.packages:
            return None
    except MLContainerError:
        return None
    return result


def remember_trial(key: str, result: TrialResult) -> None:
    data = {**asdict(result), "loaded_distributions": sorted(result.loaded_distributions)}
    try:
        write_cache_file(_path(key), json.dumps(data))
    except OSError:
        pass  # a cache that cannot be written only costs the next build a trial run


def _path(key: str) -> Path:
    return cache_dir("trials", f"{key}.json")
