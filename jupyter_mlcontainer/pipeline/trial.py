"""The trial run: the rendered serving code, loaded and called in a fresh interpreter.

`trial_run` starts `python -m jupyter_mlcontainer.pipeline.trial REQUEST.json` with the kernel's own Python,
in the build context's `artifacts/files` (the image's working directory) and with the context's
`app/` first on the path, exactly as the image will. It loads the captured state through the
generated module, answers `sample.json`, compares the answer with the notebook's, and records
every module the load and the call imported: a static reading of the code cannot see lazy,
optional or pickle-driven imports, this run does. Only then does it pin those modules to the
distributions and versions of the kernel's environment.

Only the candidate distributions can be imported (pipeline/importgate.py hides the rest), and
pipeline/closure.py adds what the served code shows missing: the image holds what the model
needs, not what libraries import only because it is installed. The candidates are closed over
their declared dependencies; one more trial, with only what the passing one imported (and what
the runtime and the user ask for) visible, proves the image answers without the declared
dependencies the model never imports, or the image keeps them.

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
from .closure import Attempt, left_out, narrowest, never_imported
from .importgate import ImportGate, canonical

_BASELINE = set(sys.modules)
#: The served code's own modules, as the import gate names who asked for a module.
_LOCAL = {
    "__main__": "the served code",
    "notebook_code": "the served code",
    "mlcontainer_runtime": "the serving runtime",
}
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
    excluded: dict = field(default_factory=dict)  # distribution left out → why (closure.left_out)
    trials: int = 1  # interpreters run to prove the closure


def trial_run(
    executable: str,
    context: Path,
    static_modules: list[str],
    requirements: list[str],
    local_modules: list[str],
    keep: tuple = (),
    probes: tuple = (),
) -> TrialResult:
    """Prove the smallest closure the served code answers with (pipeline/closure.py), with the
    kernel's Python in the rendered `context`; `keep` are distributions to keep whether needed
    or not (`--with`), `probes` what to ask besides the sample (pipeline/probes.py). Raise
    TrialFailed with the traceback and a fix when the model does not load or answers
    differently even with the kernel's whole environment."""
    context = Path(context).resolve()  # the trial runs in a folder of its own: no relative path
    request = {
        "app_dir": str(context / "app"),
        "modules": static_modules,
        "requirements": requirements,
        "local_modules": local_modules,
        "probes": list(probes),
    }

    def closed(added: frozenset) -> Attempt:
        keeping = [*keep, *sorted(added)]
        return _attempt(_launch(executable, context, {**request, "keep": keeping, "closed": True}))

    narrowed = narrowest(closed)
    if narrowed.attempt is not None:
        result, trials = narrowed.attempt.result, narrowed.trials
        unused = sorted(set(result["packages"]) - set(result.get("lean") or result["packages"]))
        if not unused:
            return _trial_result(result, left_out(narrowed.attempt), trials)
        lean = {name: result["packages"][name] for name in result["lean"]}
        try:  # the proof never fails a build: without it, the image keeps the whole closure
            proof = _attempt(
                _launch(
                    executable,
                    context,
                    {**request, "keep": list(keep), "closed": True, "lean": lean},
                )
            )
        except TrialFailed as error:  # the interpreter itself died (a crash, a hang)
            proof = Attempt(passed=False, refused={}, failure=error.message)
        if not proof.passed:
            warning = _unproven(proof, unused, result["required_by"])
            return _trial_result(result, left_out(narrowed.attempt), trials + 1, (warning,))
        required_by = {k: v for k, v in result["required_by"].items() if k in lean}
        excluded = {
            **left_out(narrowed.attempt),
            **never_imported(unused, result["required_by"]),
        }
        result = {**result, "packages": lean, "required_by": required_by}
        return _trial_result(result, dict(sorted(excluded.items())), trials + 1)
    whole = _launch(executable, context, {**request, "keep": list(keep), "closed": False})
    _raise_unless_passed(whole)
    warnings = (
        "The trial could not prove a smaller closure (without the packages the model imports "
        f"only because they are installed: {_first_line(narrowed.failure)}); the image keeps "
        "every package the model imported.",
        *(f"The served code answers {failure}" for failure in whole["probe_failures"]),
    )
    return _trial_result(whole, {}, narrowed.trials + 1, warnings)


def _launch(executable: str, context: Path, request: dict) -> dict:
    """One trial interpreter: its answer (run_trial's, with the pins and what it was refused)."""
    scratch = context / "artifacts" / ".trial.json"
    answer = scratch.with_name(".trial-result.json")
    scratch.write_text(json.dumps({**request, "out": str(answer)}), encoding="utf-8")
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
        return json.loads(answer.read_text(encoding="utf-8"))
    except subprocess.TimeoutExpired as error:
        raise TrialFailed(
            f"The trial run did not finish within {TRIAL_TIMEOUT_SECONDS} s.",
            "Loading the model or answering the sample hangs; check the served code.",
        ) from error
    finally:
        scratch.unlink(missing_ok=True)
        answer.unlink(missing_ok=True)


def _unproven(proof: Attempt, unused: list, required_by: dict) -> str:
    """The warning of a build that keeps the declared dependencies the model never imports,
    because the trial without them failed: which one's absence failed it, when it says."""
    named = sorted(set(proof.missing) & set(unused))
    asked = sorted(set(proof.refused) & set(unused))
    if named:
        culprit = ", ".join(
            f"{name} (declared by {required_by[name]})" if name in required_by else name
            for name in named
        )
        why = f"without {culprit} the served code fails"
    elif asked:
        why = f"it fails, having asked for {', '.join(asked)}"
    else:
        why = "it fails"
    return (
        "The image keeps the packages its libraries declare but the model never imports "
        f"({', '.join(unused)}): {why} ({_first_line(proof.failure)})."
    )


def _attempt(result: dict) -> Attempt:
    failure = result["error"] or "\n".join(result["probe_failures"])
    if not (result["error"] or result["passed"]):
        failure = "the sample differently from the notebook:\n" + result["report"]
    return Attempt(
        passed=not failure,
        refused=result["refused"],
        missing=frozenset(result["missing"]),
        failure=failure,
        result=result,
    )


def _raise_unless_passed(result: dict) -> None:
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


def _trial_result(result: dict, excluded: dict, trials: int, warnings=()) -> TrialResult:
    return TrialResult(
        modules=tuple(result["modules"]),
        packages=result["packages"],
        loaded_distributions=frozenset(result["loaded_distributions"]),
        report=result["report"],
        warnings=(*result["warnings"], *warnings),
        providers=result["providers"],
        required_by=result["required_by"],
        excluded=excluded,
        trials=trials,
    )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no reason given"


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


def run_trial(app_dir: str, probes: list) -> dict:
    """Load and call the model; the answer, the comparisons and the modules it imported."""
    sys.path.insert(0, app_dir)
    from mlcontainer_runtime.model import ModelService
    from mlcontainer_runtime.parity import compare
    from mlcontainer_runtime.paths import root

    runtime_modules = set(sys.modules)
    runtime_imports = {name.split(".")[0] for name in runtime_modules - _BASELINE}
    service = ModelService(root())
    result = {"passed": False, "report": "", "error": None, "traceback": None}
    result.update(probe_failures=[], missing_module=None, missing_metadata=None)
    result["runtime_modules"] = sorted(_third_party(runtime_imports))  # uvicorn's are not
    try:
        service.load(warm_up=False)
        answer = service.predict(service.sample["request"])
        report = compare(service.sample["expected"]["predictions"], answer["predictions"])
        result.update(passed=report.passed, report=report.render())
        if report.passed:
            result["probe_failures"] = [
                failure for probe in probes if (failure := _probe_failure(service, probe))
            ]
    except Exception as error:  # noqa: BLE001 - any failure of the model is reported whole
        result.update(error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc())
        result["missing_module"] = _missing_module(error)
        result["missing_metadata"] = _missing_metadata(error)
    imported = set(sys.modules) - runtime_modules - _BASELINE
    result["modules"] = sorted(_third_party({name.split(".")[0] for name in imported}))
    return result


def _probe_failure(service, probe: dict) -> str:
    """'' when the served code answers the probe as the notebook did, else how it differs."""
    from mlcontainer_runtime.parity import compare

    try:
        answer = service.predict(probe["request"])["predictions"]
    except Exception as error:  # noqa: BLE001 - a probe the served code fails is a difference
        return f"{probe['name']} with {type(error).__name__}: {error}"
    report = compare(probe["expected"], answer)
    return "" if report.passed else f"{probe['name']} differently:\n{report.render()}"


def _missing_module(error: BaseException) -> str | None:
    """The top-level module whose absence raised `error`, directly or as its cause."""
    while error is not None:
        if isinstance(error, ModuleNotFoundError) and error.name:
            return error.name.partition(".")[0]
        error = error.__cause__ or error.__context__
    return None


def _missing_metadata(error: BaseException) -> str | None:
    """The distribution whose metadata a library looked up (importlib.metadata.version) and
    did not find, directly or as the cause of `error`."""
    from importlib.metadata import PackageNotFoundError

    while error is not None:
        if isinstance(error, PackageNotFoundError) and error.args:
            return str(error.args[0])
        error = error.__cause__ or error.__context__
    return None


def _third_party(modules: set) -> set:
    return {m for m in modules if m not in sys.stdlib_module_names and m not in _LOCAL and m}


def _forget_imports_since(before: set) -> None:
    """Drop from `sys.modules` the third-party modules imported since `before` (the pinning
    code's), so that the trial records them when the model imports them too."""
    for name in set(sys.modules) - before:
        if name.partition(".")[0] not in sys.stdlib_module_names:
            del sys.modules[name]


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    before = set(sys.modules)
    from . import environment

    requirements = request["requirements"] + request["keep"]
    local_modules = set(request["local_modules"])
    gate = ImportGate((), ())
    lean = request.get("lean")  # the proof: only these visible
    if request["closed"]:
        candidates = (
            lean or environment.pin_environment(request["modules"], requirements, local_modules)[0]
        )
        _forget_imports_since(before)
        gate = ImportGate(*environment.outside(candidates))
    else:
        _forget_imports_since(before)
    preloaded = {name.partition(".")[0] for name in sys.modules}
    gate.install()
    try:
        result = run_trial(request["app_dir"], request["probes"])
    finally:
        gate.remove()
    refusers = environment.module_providers(sorted(gate.refused))
    result["refused"] = {
        name: _LOCAL.get(gate.refused[module], gate.refused[module])
        for module, names in refusers.items()
        for name in names
    }
    result["missing"] = refusers.get(result.pop("missing_module"), [])
    if metadata_name := result.pop("missing_metadata"):
        result["missing"] = sorted(
            {*result["missing"], *gate.distributions & {canonical(metadata_name)}}
        )
    if result["error"] is None and not lean:
        observed = environment.installed_modules(result["modules"])
        static = sorted(set(request["modules"]) - set(observed))
        required_by: dict = {}
        packages, warnings = environment.pin_environment(
            static + observed, requirements, local_modules, required_by
        )
        result.update(
            providers=environment.module_providers(static + observed),
            required_by=required_by,
            modules=observed,
            packages=packages,
            warnings=warnings,
            loaded_distributions=sorted(environment.loaded_distributions(observed)),
        )
        if request["closed"] and result["passed"] and not result["probe_failures"]:
            imported = environment.installed_modules(result.pop("runtime_modules"))
            result["lean"] = sorted(
                environment.lean(
                    packages, observed + imported, static, requirements, local_modules, preloaded
                )
            )
    Path(request["out"]).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
