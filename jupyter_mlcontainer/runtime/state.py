"""Load captured state from <root>/artifacts/state, as the generated module asks for it.

A pickle made in a notebook refers to the notebook's classes as `__main__.Name`; while loading,
`__main__` is the generated module, which defines those classes again.

Unpickling runs code, so only the files the build wrote are read: each must have the sha256
that artifacts/state.json recorded when the notebook's kernel captured it. The record lies
beside the state, not in app/, so that a re-training changes only the image's last layers.
"""

import contextlib
import functools
import hashlib
import importlib
import sys
import threading

from .loaders import loader_for
from .paths import root
from .spec import STATE_RECORD, StateRecord

_main_lock = threading.Lock()


def load_state(filename: str, fmt: str, module_name: str):
    """The value captured in artifacts/state/<filename>, read with the serialiser named by `fmt`."""
    path = root() / "artifacts" / "state" / filename
    loader = loader_for(fmt)
    if not path.is_file():
        raise FileNotFoundError(
            f"state file {path} is missing; the build context's artifacts/state/ is incomplete"
        )
    _check_recorded(path)
    with _main_as(module_name):
        return loader(path)


def _check_recorded(path):
    """Refuse a state file that the build did not write as it is now (swapped or edited in the
    image or the context afterwards)."""
    expected = _recorded_files(root()).get(path.name)
    if expected is None:
        raise ValueError(
            f"state file {path.name} is not one the build recorded in {STATE_RECORD}; only "
            "captured state is loaded (build the image again from the notebook)"
        )
    if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
        raise ValueError(
            f"state file {path.name} differs from what the notebook's kernel captured (its "
            f"sha256 is not the one in {STATE_RECORD}): it was changed after the build; build "
            "the image again from the notebook"
        )


@functools.cache
def _recorded_files(serving_root) -> dict:
    """file name → sha256, read once however many state files the generated module loads."""
    record = serving_root / STATE_RECORD
    return StateRecord.from_json(record.read_text(encoding="utf-8")).files


@contextlib.contextmanager
def _main_as(module_name):
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    with _main_lock:
        previous = sys.modules.get("__main__")
        sys.modules["__main__"] = module
        try:
            yield
        finally:
            sys.modules["__main__"] = previous
