"""How each state format is read back in the image, with the model's own library.

A format is `<kind>` or `<kind>:<argument>`, as the build side's serializers wrote it
(pipeline/serializers.py). `loader:<module>:<function>` names the load function of a serializer
that an extension registered: it is imported by name, so the runtime needs nothing of the build
side, only the module that defines it.
"""

import importlib
import json
import logging
import os
import pickle
import zipfile

log = logging.getLogger("mlcontainer")

#: The members of an `onnxruntime` state file (a zip): the model as the session read it, and
#: the session's providers and options.
ONNX_MODEL = "model.onnx"
SESSION_SETTINGS = "session.json"
#: SessionOptions attributes whose values are enums, saved by member name.
SESSION_ENUMS = {
    "graph_optimization_level": "GraphOptimizationLevel",
    "execution_mode": "ExecutionMode",
    "execution_order": "ExecutionOrder",
}
#: The kind of a format read by a registered extension's own load function.
REGISTERED_KIND = "loader"


def loader_for(fmt: str):
    """A function path → value for the format `fmt`; raises ValueError for an unknown one."""
    kind, _, argument = fmt.partition(":")
    loader = _LOADERS.get(kind)
    if loader is None:
        raise ValueError(f"unknown state format {fmt!r}; expected one of {sorted(_LOADERS)}")
    return lambda path: loader(path, argument)


def _joblib(path, _):
    import joblib

    return joblib.load(path)


def _pickle(path, _):
    # cloudpickle writes standard pickles that name cloudpickle's own helpers, so plain pickle reads them.
    with open(path, "rb") as file:
        return pickle.load(file)


def _torch(path, _):
    import torch

    # The state was captured by the notebook's own kernel, so it is trusted like the notebook's code.
    return torch.load(path, map_location="cpu", weights_only=False)


def _torchscript(path, _):
    import torch

    return torch.jit.load(str(path), map_location="cpu")


def _keras(path, backend):
    # Keras picks its backend once, when first imported: the one the notebook used, unless the
    # image's environment names another.
    os.environ.setdefault("KERAS_BACKEND", backend)
    import keras

    # Trusted like the notebook's code (see _torch): Lambda layers load too.
    return keras.saving.load_model(path, safe_mode=False)


def _onnx(path, _):
    import onnx

    return onnx.load_model(str(path))


def _onnxruntime(path, _):
    import onnxruntime

    with zipfile.ZipFile(path) as archive:
        model = archive.read(ONNX_MODEL)
        settings = json.loads(archive.read(SESSION_SETTINGS))
    options = onnxruntime.SessionOptions()
    for name, value in settings["options"].items():
        enum = SESSION_ENUMS.get(name)
        setattr(options, name, getattr(getattr(onnxruntime, enum), value) if enum else value)
    available = set(onnxruntime.get_available_providers())
    providers = [(name, opts) for name, opts in settings["providers"] if name in available]
    if len(providers) < len(settings["providers"]):
        log.warning(
            "onnxruntime here lacks providers the notebook's session used (%s); using %s",
            ", ".join(name for name, _ in settings["providers"] if name not in available),
            ", ".join(name for name, _ in providers) or "CPUExecutionProvider",
        )
    return onnxruntime.InferenceSession(
        model, sess_options=options, providers=providers or ["CPUExecutionProvider"]
    )


def _lightgbm(path, _):
    import lightgbm

    return lightgbm.Booster(model_file=str(path))


def _xgboost(path, class_path):
    module_name, _, class_name = class_path.rpartition(".")
    if not module_name:
        raise ValueError(
            f"xgboost state format needs 'xgboost:<module>.<Class>', got {class_path!r}"
        )
    model = getattr(importlib.import_module(module_name), class_name)()
    model.load_model(str(path))
    return model


def _registered(path, target):
    module_name, _, qualname = target.partition(":")
    if not module_name or not qualname:
        raise ValueError(
            f"state format {REGISTERED_KIND!r} needs '{REGISTERED_KIND}:<module>:<function>', "
            f"got {target!r}"
        )
    load = importlib.import_module(module_name)
    for part in qualname.split("."):
        load = getattr(load, part)
    return load(path)


_LOADERS = {
    "joblib": _joblib,
    "pickle": _pickle,
    "torch": _torch,
    "torchscript": _torchscript,
    "keras": _keras,
    "onnx": _onnx,
    "onnxruntime": _onnxruntime,
    "lightgbm": _lightgbm,
    "xgboost": _xgboost,
    REGISTERED_KIND: _registered,
}
