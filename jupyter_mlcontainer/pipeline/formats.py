"""What a serializer is, and the built-in ones: values saved in their library's own format.

Some of these values pickle refuses (an ONNX Runtime session, a TorchScript module), the others
are safer and smaller in their own format. Order matters: the first that matches wins, so a
Keras model (a torch Module under Keras' torch backend) and a TorchScript module come before
torch's Module. Each writes equal bytes for equal values (timestamps in archives are fixed),
so an unchanged model keeps its image layer. Libraries are imported only when a value of theirs
is saved.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..runtime.loaders import ONNX_MODEL, SESSION_ENUMS, SESSION_SETTINGS


class CannotSave(Exception):
    """A value cannot be saved for the image; `reason` says why, for the capture's error."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Serializer:
    """How one kind of value is saved at capture; the runtime's loader of `format` reads it."""

    name: str  # shown in the slice report
    format: str  # a kind of runtime/loaders.py
    matches: Callable[[object], bool]
    save: Callable[[object, Path], None]  # writes the value to the path
    suffix: str  # of the state file
    modules: tuple = ()  # top-level modules that loading it imports
    argument: Callable[[object], str] | None = None  # the format's argument, read from the value
    pickles: bool = False  # the file is a pickle: the modules and classes it names count too

    def format_for(self, value) -> str:
        return f"{self.format}:{self.argument(value)}" if self.argument else self.format


def instance_of(module: str, *names: str) -> Callable[[object], bool]:
    """A predicate: the value's class, or a base class, is named one of `names` in a module of
    the package `module`. Reads the class names only, so no library is imported to ask."""

    def matches(value) -> bool:
        return any(
            cls.__module__.split(".")[0] == module and cls.__name__ in names
            for cls in type(value).__mro__
        )

    return matches


#: The time every member of an archive written here carries (zip's earliest).
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
#: SessionOptions attributes kept with an ONNX Runtime session (the rest are host paths or
#: profiling switches that have no use in the image).
SESSION_OPTIONS = (
    *SESSION_ENUMS,
    "intra_op_num_threads",
    "inter_op_num_threads",
    "enable_cpu_mem_arena",
    "enable_mem_pattern",
    "enable_mem_reuse",
    "use_deterministic_compute",
    "log_severity_level",
)


def write_zip(path: Path, members: dict[str, bytes]) -> None:
    """A zip archive whose bytes depend on its members only."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME), data)


def session_model(session) -> bytes:
    """The model an InferenceSession runs: the bytes it was made from, else its file's.

    onnxruntime keeps them (`_model_bytes`, `_model_path`) to re-create the session when its
    providers change; a session made from a model package keeps neither."""
    data = getattr(session, "_model_bytes", None)
    if data:
        return bytes(data)
    path = getattr(session, "_model_path", None)
    if not path:
        raise CannotSave(
            "onnxruntime keeps neither the bytes nor the path of the model this session was "
            "made from"
        )
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise CannotSave(f"the session's model file {path} cannot be read ({error})") from error


def save_session(session, path: Path) -> None:
    options = session.get_session_options()
    settings = {
        "providers": [
            [name, session.get_provider_options().get(name, {})] for name in session.get_providers()
        ],
        "options": {
            name: getattr(options, name).name if name in SESSION_ENUMS else getattr(options, name)
            for name in SESSION_OPTIONS
        },
    }
    write_zip(
        path,
        {
            ONNX_MODEL: session_model(session),
            SESSION_SETTINGS: json.dumps(settings, indent=1, sort_keys=True).encode(),
        },
    )


def save_onnx(model, path: Path) -> None:
    path.write_bytes(model.SerializeToString(deterministic=True))


def save_torch(module, path: Path) -> None:
    import torch

    torch.save(module, path)


def save_torchscript(module, path: Path) -> None:
    import torch

    torch.jit.save(module, str(path))


def save_keras(model, path: Path) -> None:
    """`model.save`, then the archive written again with its save date and times fixed."""
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    metadata = json.loads(members["metadata.json"])
    metadata["date_saved"] = "1980-01-01@00:00:00"
    members["metadata.json"] = json.dumps(metadata).encode()
    write_zip(path, members)


def keras_backend(_model) -> str:
    import keras

    return keras.backend.backend()


def save_model_file(model, path: Path) -> None:
    """LightGBM's and XGBoost's own `save_model`."""
    model.save_model(str(path))


def class_path(value) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


BUILT_IN = (
    Serializer(
        "keras",
        "keras",
        instance_of("keras", "Model"),
        save_keras,
        ".keras",
        ("keras",),
        argument=keras_backend,
    ),
    Serializer(
        "torch.jit",
        "torchscript",
        instance_of("torch", "ScriptModule"),
        save_torchscript,
        ".pt",
        ("torch",),
    ),
    Serializer(
        "onnxruntime",
        "onnxruntime",
        instance_of("onnxruntime", "InferenceSession"),
        save_session,
        ".zip",
        ("onnxruntime",),
    ),
    Serializer("onnx", "onnx", instance_of("onnx", "ModelProto"), save_onnx, ".onnx", ("onnx",)),
    Serializer(
        "torch",
        "torch",
        instance_of("torch", "Module"),
        save_torch,
        ".pt",
        ("torch",),
        pickles=True,
    ),
    Serializer(
        "lightgbm",
        "lightgbm",
        instance_of("lightgbm", "Booster"),
        save_model_file,
        ".txt",
        ("lightgbm",),
    ),
    Serializer(
        "xgboost",
        "xgboost",
        instance_of("xgboost", "Booster", "XGBModel"),
        save_model_file,
        ".json",
        ("xgboost",),
        argument=class_path,
    ),
)
