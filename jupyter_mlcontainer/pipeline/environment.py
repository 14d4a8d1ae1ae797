"""Environment: modules → installed distributions → exact versions, closed over dependencies.

Runs in the kernel (its `importlib.metadata` is the truth about what the notebook ran with).
Requirement files beside the notebook are read on the host by `requirement_lines`.
"""

from __future__ import annotations

import functools
import importlib.metadata as metadata
import re
import sys
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..shared.errors import DependencyError
from .lean import GPU_ONLY

#: The compiled HTTP parser and JSON library that uvicorn and the runtime use when the image has
#: them (runtime/stack.py); each is pinned when the kernel's environment has it. Not uvloop: it
#: adds 14 MB and measured no faster here (docs/performance.md).
SERVING_SPEEDUPS = ("httptools", "orjson")
#: What the serving runtime itself needs in every image.
RUNTIME_REQUIREMENTS = ("uvicorn", *SERVING_SPEEDUPS)


def pin_environment(
    modules: list[str], requirements: list[str], local_modules: set, required_by: dict | None = None
) -> tuple[dict, list]:
    """Exact versions of every distribution the modules and requirements need, transitively;
    `required_by`, when given, receives for each dependency one distribution that needs it."""
    roots, warnings = _roots(modules, requirements, local_modules)
    return _closure(roots, required_by), warnings


def _roots(modules: list[str], requirements: list[str], local_modules: set) -> tuple[set, list]:
    """The distributions the modules and requirements name, with the serving runtime's."""
    warnings = []
    roots = set(RUNTIME_REQUIREMENTS)
    providers = _providers()
    for module in modules:
        if module in local_modules or module in sys.stdlib_module_names or module == "__main__":
            continue
        if module not in providers:
            warnings.append(
                f"Module {module!r} does not come from an installed distribution; "
                "the image will not have it."
            )
            continue
        roots.update(providers[module][:1])
    for line in requirements:
        requirement = Requirement(line)
        version = _installed_version(requirement.name)
        if version is None:
            raise DependencyError(
                f"The notebook's requirements ask for {line!r}, which this kernel does not have.",
                f"Install it where the kernel runs (`pip install '{line}'`) so its version can be pinned.",
            )
        if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
            warnings.append(f"{line!r} is pinned to {version}, the version the kernel runs.")
        roots.add(requirement.name)
    return roots, warnings


def lean(
    pinned: dict,
    imported: list[str],
    unobserved: list[str],
    requirements: list[str],
    local_modules: set,
    preloaded: set,
) -> dict:
    """Those of `pinned` (the closure over declared dependencies) that a passing trial leaves
    no reason to drop: the distributions of the modules it `imported`; the closure, declared
    dependencies included, of the serving runtime (the trial does not start uvicorn), of the
    `requirements` (the notebook's and `--with`: asked for by the user) and of the kept code's
    modules the trial did not see imported (`unobserved`: kept, to be safe); and what an import
    gate cannot hide, so no trial can prove: a distribution with no top-level module, one whose
    module was imported before the trial's gate stood (`preloaded`), and GPU-only ones, which
    pipeline/lean.py decides on. The rest are declared by another distribution and never
    imported; a further trial with only this set visible proves the image answers without them."""
    providers = _providers()
    roots, _ = _roots(unobserved, requirements, local_modules)
    needed = set(_closure(roots))
    for module in imported:
        needed |= {canonicalize_name(d) for d in providers.get(module, [])}
    modules_of: dict[str, set] = {}
    for module, names in providers.items():
        for name in names:
            modules_of.setdefault(canonicalize_name(name), set()).add(module)
    return {
        name: version
        for name, version in pinned.items()
        if name in needed
        or not modules_of.get(name)
        or modules_of[name] & preloaded
        or GPU_ONLY.match(name)
    }


def outside(candidates: dict) -> tuple[set, set]:
    """What an interpreter holding only the `candidates` (distribution → version) would lack:
    the top-level modules none of them provides and that are not imported yet, and the
    distributions that provide those."""
    kept = {canonicalize_name(name) for name in candidates}
    modules, distributions = set(), set()
    for module, names in _providers().items():
        names = {canonicalize_name(name) for name in names}
        if not names & kept and module not in sys.modules:
            modules.add(module)
            distributions |= names
    return modules, distributions


def installed_modules(modules: list[str]) -> list[str]:
    """Those of `modules` that an installed distribution provides; the rest of what an
    interpreter registers at top level (extension internals, `cython_runtime`) is left out."""
    providers = _providers()
    return [module for module in modules if module in providers]


def loaded_distributions(modules: list[str]) -> set:
    """The distributions (canonical names) that provide these top-level modules."""
    providers = _providers()
    return {canonicalize_name(d) for module in modules for d in providers.get(module, [])}


@functools.cache
def _providers() -> dict:
    """Top-level module → distributions; reading every installed distribution is slow, so once
    per process (the trial's interpreter asks three times)."""
    return metadata.packages_distributions()


def _installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def module_providers(modules: list[str]) -> dict:
    """Top-level module → the distributions (canonical names) that provide it."""
    providers = _providers()
    return {m: sorted({canonicalize_name(d) for d in providers.get(m, [])}) for m in modules}


def _closure(roots: set, required_by: dict | None = None) -> dict:
    pinned: dict[str, str] = {}
    pending = sorted(roots)
    parents: dict[str, str] = {}
    while pending:
        name = canonicalize_name(pending.pop())
        if name in pinned:
            continue
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency this environment does not have
        pinned[name] = distribution.version
        for line in distribution.requires or []:
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
                parents.setdefault(canonicalize_name(requirement.name), name)
    if required_by is not None:
        roots = {canonicalize_name(r) for r in roots}
        required_by.update(
            {d: p for d, p in sorted(parents.items()) if d in pinned and d not in roots}
        )
    return dict(sorted(pinned.items()))


def requirement_lines(folder: Path) -> list[str]:
    """Requirements declared beside the notebook, read as repo2docker would.

    `requirements.txt` wins; otherwise the pip section of `environment.yml` and those of its
    conda packages that are installed as Python distributions here.
    """
    requirements_txt = folder / "requirements.txt"
    if requirements_txt.is_file():
        return _plain_requirements(requirements_txt.read_text().splitlines())
    environment_yml = folder / "environment.yml"
    if environment_yml.is_file():
        import yaml

        spec = yaml.safe_load(environment_yml.read_text()) or {}
        lines = []
        for dependency in spec.get("dependencies", []):
            if isinstance(dependency, dict):
                lines += _plain_requirements(dependency.get("pip", []))
            elif isinstance(dependency, str):
                name = re.split(r"[=<>!~ ]", dependency.strip(), maxsplit=1)[0]
                if name not in ("python", "pip") and _installed_version(name):
                    lines.append(name)  # conda-only packages (compilers, nodejs) have no wheel
        return lines
    return []


def _plain_requirements(lines: list[str]) -> list[str]:
    """Requirement specifiers only: comments, options (-r, --index-url) and blanks dropped."""
    kept = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            kept.append(line)
    return kept
