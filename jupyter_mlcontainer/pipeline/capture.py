"""Capture: runs inside the kernel that holds the notebook's state.

Serialises each state variable in the format that suits it, evaluates the sample input and the
notebook's own answer for it, describes the input so the container can rebuild it from JSON,
measures the data the sample comes from (the data contract: pipeline/profile.py), and lists
the modules a static reading says the serving code needs (the trial run adds what it
really imports, then pins versions). Imports only the standard library at module level, so it
loads fast in any kernel.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import pickletools
import sys
import types
from pathlib import Path

from ..shared.errors import CaptureError
from .batching import batching_for
from .plan import Capture, CaptureRequest
from .probes import probe_batch
from .profile import training_contract
from .refused import refusal, refused_error
from .serializers import CannotSave, Serializer, serializer_for

#: Files open on the kernel's machine, never captured.
_OPEN_FILES = (io.TextIOWrapper, io.BufferedReader, io.BufferedWriter, io.BufferedRandom, io.FileIO)


def capture_state(namespace: dict, request: CaptureRequest) -> Capture:
    """Do the kernel side of the pipeline, in the namespace that holds the notebook's state."""
    out_dir = Path(request.out_dir)
    state_dir = out_dir / "state"
    state_dir.mkdir(parents=True, exist_ok=True)
    saved, refused = [], []
    for name in request.state:
        value = _lookup(namespace, name)
        try:
            saved.append(save_state(name, value, state_dir))
        except CannotSave as error:
            refused.append(refusal(name, value, error.reason))
    if refused:
        raise refused_error(refused, namespace)

    data, sample = _evaluate_sample(namespace, request)
    entry = _entry_callable(namespace, request.entry)
    try:
        expected = entry(sample)
    except Exception as error:
        raise CaptureError(
            f"The entry point failed on the sample input: {type(error).__name__}: {error}",
            "Check that the sample has the shape and columns the model was fitted on (--sample).",
        ) from error

    from ..runtime.contract import response
    from ..runtime.convert import to_jsonable

    modules = set(request.modules)
    for item in saved:
        modules.update(item["modules"])
    for name in request.loaded:  # values the kept code loads from files at start-up
        if name in namespace:
            modules.update(_modules_of(namespace[name]))
    modules.update(_input_modules(sample))
    training, source = _training_data(namespace, request, data)
    return Capture(
        python=f"{sys.version_info.major}.{sys.version_info.minor}",
        python_full=sys.version.split()[0],
        executable=sys.executable,
        state=tuple(saved),
        input=describe_input(sample),
        request={"instances": to_jsonable(_rows(sample))},
        expected=response(to_jsonable(expected)),
        modules=tuple(sorted(modules)),
        batching=batching_for(entry, sample, expected),
        probe=probe_batch(namespace, request, entry),
        contract=training_contract(training, entry, source).to_dict(),
    )


def _lookup(namespace: dict, name: str):
    if name not in namespace:
        raise CaptureError(
            f"The serving code needs {name!r}, but the kernel has no such variable.",
            "Run the notebook (all cells) before containerizing it.",
        )
    return namespace[name]


def _evaluate_sample(namespace: dict, request: CaptureRequest) -> tuple:
    """The data the sample expression gives, and the sample: its first rows when the sample
    was inferred (`request.sample_rows`), else all of it."""
    expression = request.sample
    if not expression:
        raise CaptureError(
            "No sample input: none was given, and the notebook neither fits the model on data "
            "nor calls what is served (the function, or the model's method) on any.",
            "Pass one, e.g. --sample 'X_test[:3]' (any expression the kernel can evaluate).",
        )
    try:
        sample = eval(expression, namespace)  # noqa: S307 - the user's own expression in their kernel
    except Exception as error:
        raise CaptureError(
            f"The sample expression {expression!r} failed: {type(error).__name__}: {error}",
            "Pass a sample the kernel can evaluate, e.g. --sample 'X_test[:3]'.",
        ) from error
    if isinstance(sample, (dict, str, bytes)) or not hasattr(sample, "__iter__"):
        raise CaptureError(
            f"The sample {expression!r} is one {type(sample).__name__}, not a batch of rows: "
            "the served entry point gets the rows of each request together.",
            "Give a batch (a DataFrame, an array, a list of rows), e.g. --sample '[record]', "
            "to an entry point that takes one.",
        )
    rows = request.sample_rows
    if rows:
        return sample, sample.head(rows) if hasattr(sample, "head") else sample[:rows]
    return sample, sample


def _training_data(namespace: dict, request: CaptureRequest, sampled) -> tuple:
    """(the data the model was fitted on, its expression): `request.training` when it is not
    the sample's own expression and the kernel can evaluate it, else the sample's data."""
    if request.training and request.training != request.sample:
        try:
            return eval(request.training, namespace), f"`{request.training}`"  # noqa: S307
        except Exception:  # noqa: BLE001 - the sample's data describes what it can
            pass
    return sampled, f"`{request.sample}`"


def _entry_callable(namespace: dict, entry: dict):
    from ..runtime.spec import Entry, EntryNotCallable

    try:
        return Entry.from_dict(entry).resolve(lambda name: _lookup(namespace, name))
    except EntryNotCallable as error:
        raise CaptureError(
            f"{error}.", "Choose another --method, or serve a function with --entry."
        ) from error


# -- serialisation -----------------------------------------------------------------------


def save_state(name: str, value, state_dir: Path) -> dict:
    """Write one variable; return its file, format and the modules loading it will import."""
    saved = _save_state(name, value, state_dir)
    cls = type(value)
    size = (state_dir / saved["file"]).stat().st_size
    return {**saved, "type": f"{cls.__module__}.{cls.__qualname__}", "size": size}


def _save_state(name: str, value, state_dir: Path) -> dict:
    serializer = serializer_for(value)
    if serializer is not None:
        return _save_with(serializer, name, value, state_dir)
    if isinstance(value, _OPEN_FILES):  # cloudpickle would save a read-only one as a StringIO
        raise CannotSave("it is an open file, and a copy of what it held would not be the file")
    if isinstance(value, types.FunctionType):
        return _save_cloudpickle(name, value, state_dir)
    try:
        payload = pickle.dumps(value, protocol=4)
    except Exception:  # lambdas and closures deep inside an object: cloudpickle handles them
        return _save_cloudpickle(name, value, state_dir)
    path = state_dir / f"{name}.joblib"
    dump_canonical(value, path)
    return _saved(name, path, "joblib", "joblib", payload, {"joblib"})


def _save_with(serializer: Serializer, name: str, value, state_dir: Path) -> dict:
    """Save in the serializer's format; its failure is the value's refusal, with the reason."""
    path = state_dir / f"{name}{serializer.suffix}"
    try:
        serializer.save(value, path)
        fmt = serializer.format_for(value)
        payload = pickle.dumps(value, protocol=4) if serializer.pickles else None
    except CannotSave:
        raise
    except Exception as error:  # noqa: BLE001 - any library's failure, reported with the variable
        raise CannotSave(
            f"{serializer.name} cannot save it ({type(error).__name__}: {error})"
        ) from error
    return _saved(name, path, fmt, serializer.name, payload, set(serializer.modules))


def dump_canonical(value, path: Path) -> None:
    """`joblib.dump`, but equal values give equal bytes.

    numpy structured arrays with padding between fields (scikit-learn's tree nodes: 57 bytes of
    fields in 64) carry whatever memory held before in that padding, so re-saving an unchanged
    forest gave new bytes, a new image tag and a rebuilt state layer. Arrays are saved with the
    padding zeroed; `joblib.load` reads the file as usual.
    """
    from joblib.numpy_pickle import NumpyPickler

    class CanonicalPickler(NumpyPickler):
        def save(self, obj):
            return super().save(_zero_padding(obj))

    with open(path, "wb") as file:
        CanonicalPickler(file).dump(value)


def _zero_padding(obj):
    """A copy of a structured numpy array with its padding bytes zeroed; anything else as is."""
    dtype = getattr(obj, "dtype", None)
    if type(obj).__name__ != "ndarray" or dtype is None or dtype.names is None:
        return obj
    if sum(dtype.fields[n][0].itemsize for n in dtype.names) == dtype.itemsize:
        return obj
    import numpy

    clean = numpy.zeros(obj.shape, dtype=dtype)
    for field in dtype.names:
        clean[field] = obj[field]
    return clean


def _modules_of(value) -> set:
    """The modules a value that the kept code loads from a file needs, as its serializer or a
    pickle of it names them. One pickle refuses (a session loaded from a model file) names
    none here: the trial run records what loading it imports."""
    serializer = serializer_for(value)
    if serializer is not None:
        return set(serializer.modules)
    try:
        payload = pickle.dumps(value, protocol=4)
    except Exception:  # lambdas and closures deep inside an object
        import cloudpickle

        try:
            payload = cloudpickle.dumps(value, protocol=4)
        except Exception:  # noqa: BLE001 - pickle's refusals have many types
            return set()
    return referenced_modules(pickle_globals(payload))


def _save_cloudpickle(name: str, value, state_dir: Path) -> dict:
    import cloudpickle

    try:
        payload = cloudpickle.dumps(value, protocol=4)
    except Exception as error:  # noqa: BLE001 - pickle's refusals have many types
        raise CannotSave(f"pickle refuses it ({type(error).__name__}: {error})") from error
    path = state_dir / f"{name}.pkl"
    path.write_bytes(payload)
    return _saved(name, path, "pickle", "cloudpickle", payload, {"cloudpickle"})


def _saved(
    name: str, path: Path, fmt: str, serializer: str, payload: bytes | None = None, extra=()
) -> dict:
    """Describe a saved variable: the modules loading it imports, and the notebook-defined
    (`__main__`) names it refers to, which the generated module must define."""
    globals_ = pickle_globals(payload) if payload is not None else set()
    return {
        "name": name,
        "file": path.name,
        "format": fmt,
        "serializer": serializer,
        "modules": sorted(referenced_modules(globals_) | set(extra)),
        "main_references": sorted(n for module, n in globals_ if module == "__main__"),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def pickle_globals(payload: bytes) -> set:
    """`(module, name)` of every global a pickle imports when loaded, read from its opcodes."""
    found, strings, memo = set(), [], {}
    for opcode, argument, _ in pickletools.genops(io.BytesIO(payload)):
        name = opcode.name
        if name == "GLOBAL":
            found.add(tuple(argument.split(" ", 1)))
        elif name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
            strings.append(argument)
        elif name == "MEMOIZE" and strings:
            memo[len(memo)] = strings[-1]
        elif name in ("BINPUT", "LONG_BINPUT", "PUT") and strings:
            memo[argument] = strings[-1]
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            strings.append(memo.get(argument, ""))
        elif name == "STACK_GLOBAL" and len(strings) >= 2:
            found.add((strings[-2], strings[-1]))
    return found


def referenced_modules(globals_: set) -> set:
    """Top-level modules of pickle globals, leaving out the interpreter's own."""
    modules = {module.split(".")[0] for module, _ in globals_}
    return modules - {"__main__", "builtins", "copyreg"}


# -- the input -------------------------------------------------------------------------


def describe_input(sample) -> dict:
    """How the container rebuilds the model's input from JSON (see docs/architecture.md)."""
    module = type(sample).__module__.split(".")[0]
    if module == "pandas" and hasattr(sample, "columns"):
        return {
            "kind": "dataframe",
            "columns": [str(c) for c in sample.columns],
            "dtypes": {str(c): str(t) for c, t in sample.dtypes.items()},
        }
    if module == "numpy" and hasattr(sample, "dtype"):
        return {"kind": "ndarray", "dtype": str(sample.dtype), "shape": [None, *sample.shape[1:]]}
    if module == "torch" and hasattr(sample, "dtype"):
        dtype = str(sample.dtype).replace("torch.", "")
        return {"kind": "tensor", "dtype": dtype, "shape": [None, *sample.shape[1:]]}
    return {"kind": "list"}


def _rows(sample):
    if hasattr(sample, "to_dict") and hasattr(sample, "columns"):
        return sample.to_dict(orient="records")
    if hasattr(sample, "tolist"):
        return sample.tolist()
    return list(sample)


def _input_modules(sample) -> set:
    kind = describe_input(sample)["kind"]
    # The runtime rebuilds tensors through numpy arrays.
    return {"dataframe": {"pandas"}, "ndarray": {"numpy"}, "tensor": {"torch", "numpy"}}.get(
        kind, set()
    )
