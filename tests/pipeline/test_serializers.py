"""The serializer registry: each built-in format saved by capture and read back by the runtime's
loader, canonical bytes, and a serializer an extension registers. No kernel, no engine."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from jupyter_mlcontainer.pipeline import serializers
from jupyter_mlcontainer.pipeline.capture import save_state
from jupyter_mlcontainer.pipeline.formats import CannotSave
from jupyter_mlcontainer.runtime.loaders import loader_for

ROWS = np.random.default_rng(0).random((5, 4)).astype(np.float32)


def _saved_and_loaded(name, value, tmp_path):
    """Save as capture does, twice (the bytes must not change), and load as the image does."""
    first = save_state(name, value, tmp_path)
    second = save_state(name, value, tmp_path)
    assert first["sha256"] == second["sha256"], "equal values must give equal bytes"
    return first, loader_for(first["format"])(tmp_path / first["file"])


@pytest.fixture(scope="module")
def onnx_model():
    pytest.importorskip("skl2onnx")
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=500).fit(X.astype(np.float32), y)
    return to_onnx(clf, ROWS[:1], options={"zipmap": False})


def test_an_onnx_runtime_session_keeps_its_model_providers_and_options(onnx_model, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        onnx_model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )

    item, loaded = _saved_and_loaded("sess", session, tmp_path)

    assert (item["serializer"], item["format"], item["file"]) == (
        "onnxruntime",
        "onnxruntime",
        "sess.zip",
    )
    assert item["modules"] == ["onnxruntime"] and item["main_references"] == []
    kept = loaded.get_session_options()
    assert kept.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert kept.intra_op_num_threads == 1
    assert loaded.get_providers() == ["CPUExecutionProvider"]
    for expected, actual in zip(
        session.run(None, {"X": ROWS}), loaded.run(None, {"X": ROWS}), strict=True
    ):
        assert np.array_equal(expected, actual)


def test_a_session_made_from_a_file_is_saved_with_that_files_model(onnx_model, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "model.onnx"
    path.write_bytes(onnx_model.SerializeToString())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    state = tmp_path / "state"
    state.mkdir()

    _, loaded = _saved_and_loaded("sess", session, state)

    assert np.array_equal(loaded.run(None, {"X": ROWS})[0], session.run(None, {"X": ROWS})[0])
    path.unlink()  # gone since the session read it: nothing says what the session runs
    with pytest.raises(CannotSave, match=r"the session's model file .*model.onnx cannot be read"):
        save_state("sess", session, state)


def test_an_onnx_model_is_saved_as_onnx(onnx_model, tmp_path):
    item, loaded = _saved_and_loaded("onx", onnx_model, tmp_path)
    assert (item["serializer"], item["file"]) == ("onnx", "onx.onnx")
    assert loaded == onnx_model


@pytest.mark.parametrize("make", ["script", "trace"])
def test_torchscript_modules_are_saved_with_torch_jit(make, tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    inputs = torch.as_tensor(ROWS)
    module = torch.jit.script(net) if make == "script" else torch.jit.trace(net, inputs)

    item, loaded = _saved_and_loaded("net", module, tmp_path)

    assert (item["serializer"], item["format"], item["modules"]) == (
        "torch.jit",
        "torchscript",
        ["torch"],
    )
    assert torch.equal(loaded(inputs), module(inputs))


def test_a_keras_model_is_saved_as_keras_with_its_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    assert keras.backend.backend() == "torch"
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])

    item, loaded = _saved_and_loaded("model", model, tmp_path)

    assert (item["serializer"], item["format"], item["file"]) == (
        "keras",
        "keras:torch",
        "model.keras",
    )
    assert np.allclose(loaded.predict(ROWS, verbose=0), model.predict(ROWS, verbose=0))
    monkeypatch.delenv("KERAS_BACKEND")
    loader_for(item["format"])(tmp_path / item["file"])
    assert os.environ["KERAS_BACKEND"] == "torch", "the image imports keras with that backend"


# -- an extension's serializer ---------------------------------------------------------------


class Vocabulary:
    """A value that pickle refuses (as a C extension's object would), with a format of its own."""

    def __init__(self, words):
        self.words = list(words)

    def __reduce__(self):
        raise TypeError("cannot pickle 'Vocabulary' object")


def save_vocabulary(value, path):
    path.write_text(json.dumps(value.words))


def load_vocabulary(path):
    return Vocabulary(json.loads(path.read_text()))


@pytest.fixture
def registry(monkeypatch):
    """The registry, emptied of extensions for the test."""
    monkeypatch.setattr(serializers, "_REGISTERED", [])
    return serializers


def test_a_registered_serializer_saves_and_its_load_function_reads_in_the_image(registry, tmp_path):
    def is_vocabulary(value):
        return isinstance(value, Vocabulary)

    registry.register_serializer(
        "vocabulary", is_vocabulary, save_vocabulary, load_vocabulary, ".json"
    )
    item, loaded = _saved_and_loaded("vocab", Vocabulary(["a", "b"]), tmp_path)

    assert item["serializer"] == "vocabulary"
    assert item["format"] == f"loader:{__name__}:load_vocabulary"
    assert item["modules"] == [__name__.split(".")[0]], "the image needs the load's module"
    assert (tmp_path / "vocab.json").read_text() == '["a", "b"]'
    assert isinstance(loaded, Vocabulary) and loaded.words == ["a", "b"]


def test_registered_serializers_come_first_and_a_name_registered_again_replaces(registry):
    torch = pytest.importorskip("torch")
    module = torch.nn.Linear(2, 1)
    assert registry.serializer_for(module).name == "torch"
    registry.register_serializer("mine", lambda value: True, save_vocabulary, load_vocabulary)
    registry.register_serializer(
        "mine", registry.instance_of("torch", "Module"), save_vocabulary, load_vocabulary
    )
    assert [s.name for s in registry._REGISTERED] == ["mine"]
    assert registry.serializer_for(module).name == "mine"
    assert registry.serializer_for({"a": 1}) is None, "the predicate registered last is the one"


def test_a_load_function_the_image_cannot_import_is_refused_at_registration(registry):
    def local_load(path):
        return path

    for load in (local_load, lambda path: path):
        with pytest.raises(
            ValueError, match="must be a top-level function of an importable module"
        ):
            registry.register_serializer("x", lambda value: True, save_vocabulary, load)
    assert registry._REGISTERED == []
