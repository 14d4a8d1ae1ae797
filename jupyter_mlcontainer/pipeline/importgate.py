"""Hide installed distributions from the trial's interpreter, as if they were not installed.

The trial proves the closure in an environment that holds only the candidate distributions.
Rather than build a scratch virtual environment for each attempt (seconds of copying or linking
per attempt, and paths that differ from the kernel's), the trial's own interpreter puts an
`ImportGate` in front of its import machinery: it answers every search by asking the finders it
stands in front of, except for the hidden top-level modules, for which it answers "not found".
`import pyarrow` then raises `ModuleNotFoundError` and `importlib.util.find_spec("pyarrow")`
returns None, exactly as without pyarrow; `importlib.metadata` does not list the hidden
distributions either. The gate notes every refused module and the module that asked for it.

Standard library only: the trial records what the model imports.
"""

from __future__ import annotations

import re
import sys
from importlib.abc import MetaPathFinder


def canonical(name: str) -> str:
    """A distribution's name as PEP 503 compares it (`packaging` stays out of the trial)."""
    return re.sub(r"[-_.]+", "-", name).lower()


class ImportGate(MetaPathFinder):
    """Stands in for the whole meta path while installed (`install`, `remove`)."""

    def __init__(self, modules, distributions):
        self.modules = frozenset(modules)  # top-level module names to refuse
        self.distributions = frozenset(canonical(d) for d in distributions)
        self.refused: dict = {}  # refused top-level module → the module that first asked for it
        self._finders: list = []

    def install(self) -> None:
        self._finders = list(sys.meta_path)
        sys.meta_path[:] = [self]

    def remove(self) -> None:
        """Give the meta path back, with any finder added while the gate stood in front."""
        added = [finder for finder in sys.meta_path if finder is not self]
        sys.meta_path[:] = self._finders + added

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in self.modules:
            self.refused.setdefault(top, _importer())
            return None
        for finder in self._finders:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find else None
            if spec is not None:
                return spec
        return None

    def invalidate_caches(self) -> None:
        for finder in self._finders:
            if hasattr(finder, "invalidate_caches"):
                finder.invalidate_caches()

    def find_distributions(self, *args, **kwargs):
        for finder in self._finders:
            find = getattr(finder, "find_distributions", None)
            for distribution in find(*args, **kwargs) if find else ():
                if canonical(distribution.metadata["Name"] or "") not in self.distributions:
                    yield distribution


def _importer() -> str:
    """The top-level module whose code runs the import statement being answered."""
    frame = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(("importlib", "_frozen_importlib", __name__)):
            return module.partition(".")[0]
        frame = frame.f_back
    return ""
