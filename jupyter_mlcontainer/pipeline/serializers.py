"""Which serializer saves a captured value, and how a module adds one.

Capture asks `serializer_for(value)` for each state variable. Serializers registered with
`register_serializer` come first (the latest first), then the built-in ones of
`pipeline/formats.py`, each writing its library's own format; a value none of them takes is
pickled (`pipeline/capture.py`). What a serializer writes is read back in the image by
`runtime/loaders.py`, which imports nothing of the build side. Standard library only at module
level: this runs in the notebook's kernel.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from ..runtime.loaders import REGISTERED_KIND
from .formats import BUILT_IN, CannotSave, Serializer, instance_of

#: What an extension uses: registration, the predicate helper, the refusal its save may raise.
__all__ = ["CannotSave", "Serializer", "instance_of", "register_serializer", "serializer_for"]


_REGISTERED: list[Serializer] = []


def register_serializer(
    name: str,
    matches: Callable[[object], bool],
    save: Callable[[object, Path], None],
    load: Callable[[Path], object],
    suffix: str = "",
    modules: tuple = (),
) -> Serializer:
    """Save values that `matches(value)` accepts with `save(value, path)`; the image reads them
    back with `load(path)`.

    Call it in the kernel before the build (in the notebook, or on import of the module that
    defines the functions). `load` runs in the image with the model's libraries and the
    runtime only, so it must be importable there by its module and name: define it in an
    installed package, or in a module beside the notebook that the served code imports.
    `modules`: the top-level modules loading imports, pinned with the served code's. A name
    registered again replaces the earlier serializer, so a cell can be run twice.
    """
    module = getattr(load, "__module__", None)
    qualname = getattr(load, "__qualname__", "")
    if (
        not module
        or module == "__main__"
        or "<" in qualname
        or _resolve(module, qualname) is not load
    ):
        raise ValueError(
            f"The load function of serializer {name!r} must be a top-level function of an "
            f"importable module (got {module}.{qualname}), so that the image can import it: "
            "define it in a package or in a module beside the notebook, not in the notebook."
        )
    serializer = Serializer(
        name=name,
        format=f"{REGISTERED_KIND}:{module}:{qualname}",
        matches=matches,
        save=save,
        suffix=suffix,
        modules=tuple(dict.fromkeys([*modules, module.split(".")[0]])),
    )
    _REGISTERED[:] = [serializer] + [s for s in _REGISTERED if s.name != name]
    return serializer


def _resolve(module: str, qualname: str):
    try:
        target = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError):
        return None
    return target


def serializer_for(value) -> Serializer | None:
    """The first serializer that takes `value`: registered ones, then the built-in formats."""
    return next((s for s in (*_REGISTERED, *BUILT_IN) if s.matches(value)), None)
