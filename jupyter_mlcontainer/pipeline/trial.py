"""The trial run: the rendered serving code, loaded and called in a fresh interpreter.

`trial_run` starts `python -m jupyter_mlcontainer.pipeline.trial REQUEST.json` with the kernel's own Python,
in the build context's `artifacts/files` (the image's working directory) and with the context's
`app/` first on the path, exactly as the image will. It loads the captured state through the
generated module, answers `sample.json`, compares the answer with the notebook's, and records
every module the load and the call imported: a static reading of the code cannot see lazy,
optional or pickle-driven imports, this run does. Only then does it pin those modules to the
distributions and versions of the kernel's environment.

Imports nothing at module level beyond the standard library, so that what it records is what
the model imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from ..shared.errors import TrialFailed, last_lines

_BASELINE = set(sys.modules)
#: The trial loads the model and runs one prediction; a notebook's own load may be slow.
TRIAL_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class TrialResult:
    """What the trial run proved: the modules the model imported and their pinned versions."""

    modules: tuple  # top-level third-party modules imported by the load and the call
    packages: dict  # distribution → version, closed over dependencies
    loaded_distributions: frozenset  # the distributions those modules come from
    report: str  # the row-by-row comparison with the notebook's answer
    warnings: tuple = field(default=())
    providers: dict = field(default_factory=dict)  # module → distributions providing it
    required_by: dict = field(default_factory=dict)  # dependency → a distribution needing it


def trial_run(
    executable: str,
    context: Path,
    static_modules: list[str],
    requirements: list[str],
    local_modules: list[str],
) -> TrialResult:
    """Run the trial with the kernel's Python in the rendered `context`; raise TrialFailed with
    the traceback and a fix when the model does not load or answers differently."""
    context = Path(context).resolve()  # the trial runs in a folder of its own: no relative path
    scratch = context / "artifacts" / ".trial.json"
    answer = scratch.with_name(".trial-result.json")
    request = {
        "app_dir": str(context / "app"),
        "modules": static_modules,
        "requirements": requirements,
        "local_modules": local_modules,
        "out": str(answer),
    }
    scratch.write_text(json.dumps(request), encoding="utf-8")
    env = {**os.environ, "MLCONTAINER_ROOT": str(context), "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        process = subprocess.run(
            [executable, "-m", "jupyter_mlcontainer.pipeline.trial", str(scratch)],
            cwd=context / "artifacts" / "files",
            env=env,
            capture_output=True,
            text=True,
            timeout=TRIAL_TIMEOUT_SECONDS,
            check=False,
        )
        if process.returncode != 0 or not answer.is_file():
            raise TrialFailed(
                f"The trial run could not start with {executable}:\n"
                + last_lines(process.stderr or process.stdout),
                "Make sure jupyter_mlcontainer is installed in the kernel's environment.",
            )
        result = json.loads(answer.read_text(encoding="utf-8"))
    except subprocess.TimeoutExpired as error:
        raise TrialFailed(
            f"The trial run did not finish within {TRIAL_TIMEOUT_SECONDS} s.",
            "Loading the model or answering the sample hangs; check the served code.",
        ) from error
    finally:
        scratch.unlink(missing_ok=True)
        answer.unlink(missing_ok=True)
    if result["error"]:
        raise TrialFailed(
            "The served code failed in a fresh interpreter before any image was built: "
            f"{result['error']}",
            fix_for(result["error"]),
            output=last_lines(result["traceback"], 25),
        )
    if not result["passed"]:
        raise TrialFailed(
            "The served code answers the sample differently from the notebook:\n"
            + result["report"],
            "The model is not deterministic, or the served code misses a setting the notebook "
            "made (tag that cell mlcontainer:include).",
        )
    return TrialResult(
        modules=tuple(result["modules"]),
        packages=result["packages"],
        loaded_distributions=frozenset(result["loaded_distributions"]),
        report=result["report"],
        warnings=tuple(result["warnings"]),
        providers=result.get("providers", {}),
        required_by=result.get("required_by", {}),
    )


def fix_for(error: str) -> str:
    """What to do about a failure of the served code, read from its exception."""
    kind = error.split(":", 1)[0]
    if kind == "NameError":
        return (
            "The served code uses a name that no kept statement defines. Define it at the top "
            "level of a cell the entry point reaches, or tag its cell mlcontainer:include."
        )
    if kind in ("ModuleNotFoundError", "ImportError"):
        return (
            "A module is missing from the kernel's environment, or is a local module that is "
            "not beside the notebook. Install it where the kernel runs, or move it beside the "
            "notebook."
        )
    if kind == "FileNotFoundError":
        return (
            "The served code reads a file that was not copied into the context. Read files by "
            "a path relative to the notebook's folder, in a kept top-level statement."
        )
    return "Read the traceback; the served code is the context's app/notebook_code.py."


def run_trial(app_dir: str) -> dict:
    """Load and call the model; the answer, the comparison and the modules it imported."""
    sys.path.insert(0, app_dir)
    from mlcontainer_runtime.model import ModelService
    from mlcontainer_runtime.parity import compare
    from mlcontainer_runtime.paths import root

    runtime_modules = set(sys.modules)
    service = ModelService(root())
    result = {"passed": False, "report": "", "error": None, "traceback": None}
    try:
        service.load(warm_up=False)
        answer = service.predict(service.sample["request"])
        report = compare(service.sample["expected"]["predictions"], answer["predictions"])
        result.update(passed=report.passed, report=report.render())
    except Exception as error:  # noqa: BLE001 - any failure of the model is reported whole
        result.update(error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc())
    imported = set(sys.modules) - runtime_modules - _BASELINE
    result["modules"] = sorted(_third_party({name.split(".")[0] for name in imported}))
    return result


def _third_party(modules: set) -> set:
    local = {"__main__", "mlcontainer_runtime", "notebook_code"}
    return {m for m in modules if m not in sys.stdlib_module_names and m not in local and m}


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    result = run_trial(request["app_dir"])
    if result["error"] is None:
        from .environment import (
            installed_modules,
            loaded_distributions,
            module_providers,
            pin_environment,
        )

        observed = installed_modules(result["modules"])
        static = sorted(set(request["modules"]) - set(observed))
        required_by: dict = {}
        packages, warnings = pin_environment(
            static + observed, request["requirements"], set(request["local_modules"]), required_by
        )
        result.update(
            providers=module_providers(static + observed),
            required_by=required_by,
            modules=observed,
            packages=packages,
            warnings=warnings,
            loaded_distributions=sorted(loaded_distributions(observed)),
        )
    Path(request["out"]).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
