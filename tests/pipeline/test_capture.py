"""The kernel side of capture, called in-process on a namespace built by the test."""

from __future__ import annotations

import pickle
import sys
import types
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from jupyter_mlcontainer.pipeline.capture import (
    capture_state,
    describe_input,
    dump_canonical,
    pickle_globals,
)
from jupyter_mlcontainer.pipeline.plan import CaptureRequest
from jupyter_mlcontainer.shared.errors import CaptureError


def _namespace():
    frame = pd.DataFrame(
        {"age": [31, 45, 27, 52], "income": [1.5, 2.5, 0.5, 3.0], "city": list("abab")}
    )
    model = LogisticRegression().fit(frame[["age", "income"]], [0, 1, 0, 1])
    return {"X": frame[["age", "income"]], "model": model, "scale": lambda v: v * 2}


def _request(tmp_path, **changes) -> CaptureRequest:
    request = CaptureRequest(
        state=("model", "scale"),
        entry={"kind": "model", "name": "model", "method": "predict"},
        sample="X",
        sample_rows=3,
        out_dir=str(tmp_path),
    )
    return replace(request, **changes)


def test_capture_serialises_state_and_records_the_sample_and_the_answer(tmp_path):
    captured = capture_state(_namespace(), _request(tmp_path))
    formats = {item["name"]: item["format"] for item in captured.state}
    assert formats == {"model": "joblib", "scale": "pickle"}, "functions go through cloudpickle"
    assert (tmp_path / "state" / "model.joblib").is_file() and (
        tmp_path / "state" / "scale.pkl"
    ).is_file()
    assert captured.request == {
        "instances": [
            {"age": 31, "income": 1.5},
            {"age": 45, "income": 2.5},
            {"age": 27, "income": 0.5},
        ]
    }
    assert captured.expected == {"predictions": [0, 1, 0]}
    assert captured.input == {
        "kind": "dataframe",
        "columns": ["age", "income"],
        "dtypes": {"age": "int64", "income": "float64"},
    }
    assert {"sklearn", "numpy", "joblib", "cloudpickle", "pandas"} <= set(captured.modules)
    assert captured.executable == sys.executable
    assert captured.python == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_missing_variables_and_failing_samples_are_explained(tmp_path):
    with pytest.raises(CaptureError, match="no such variable"):
        capture_state({}, _request(tmp_path))
    with pytest.raises(CaptureError, match="sample expression 'X_missing'"):
        capture_state(_namespace(), _request(tmp_path, sample="X_missing"))
    with pytest.raises(CaptureError, match="No sample input"):
        capture_state(_namespace(), _request(tmp_path, sample=None))
    for one_record in ("{'age': 31, 'income': 1.5}", "3.5"):
        with pytest.raises(CaptureError, match="not a batch of rows"):
            capture_state(_namespace(), _request(tmp_path, sample=one_record))
    with pytest.raises(CaptureError, match="has no method 'transform'"):
        capture_state(
            _namespace(),
            _request(tmp_path, entry={"kind": "model", "name": "model", "method": "transform"}),
        )


def test_pickle_opcodes_name_modules_and_notebook_classes():
    main = types.ModuleType("__main__")
    exec("class Clip:\n    pass\n", main.__dict__)
    main.Clip.__module__ = "__main__"
    saved, sys.modules["__main__"] = sys.modules["__main__"], main
    try:
        payload = pickle.dumps(
            {"clip": main.Clip(), "arr": np.arange(3), "frame": pd.DataFrame({"a": [1]})},
            protocol=4,
        )
    finally:
        sys.modules["__main__"] = saved
    found = pickle_globals(payload)
    assert ("__main__", "Clip") in found
    assert {module.split(".")[0] for module, _ in found} >= {"numpy", "pandas"}


def test_input_kinds():
    assert describe_input(np.zeros((3, 4), dtype=np.float32)) == {
        "kind": "ndarray",
        "dtype": "float32",
        "shape": [None, 4],
    }
    assert describe_input([[1, 2]]) == {"kind": "list"}


def test_native_formats_round_trip_through_the_runtime_loader(tmp_path, monkeypatch):
    """LightGBM boosters and torch modules are saved in their library's own format."""
    lightgbm = pytest.importorskip("lightgbm")
    torch = pytest.importorskip("torch")
    from jupyter_mlcontainer.pipeline.capture import save_state
    from jupyter_mlcontainer.pipeline.render import state_digest
    from jupyter_mlcontainer.runtime import state as runtime_state

    rng = np.random.default_rng(0)
    data = lightgbm.Dataset(
        rng.random((60, 3)), label=rng.integers(0, 2, 60), params={"verbose": -1}
    )
    booster = lightgbm.train({"objective": "binary", "verbose": -1}, data, num_boost_round=3)
    module = torch.nn.Linear(3, 1)
    state_dir = tmp_path / "artifacts" / "state"
    state_dir.mkdir(parents=True)
    saved = {
        item["name"]: item
        for item in (
            save_state("booster", booster, state_dir),
            save_state("net", module, state_dir),
        )
    }
    assert saved["booster"]["format"] == "lightgbm" and saved["net"]["format"] == "torch"
    record = state_digest(tuple(saved.values()))  # what the runtime checks each state file against
    (tmp_path / "artifacts" / "state.json").write_text(record.to_json())
    monkeypatch.setenv("MLCONTAINER_ROOT", str(tmp_path))
    rows = rng.random((4, 3))
    loaded = runtime_state.load_state(saved["booster"]["file"], "lightgbm", __name__)
    assert np.array_equal(loaded.predict(rows), booster.predict(rows))
    net = runtime_state.load_state(saved["net"]["file"], "torch", __name__)
    tensor = torch.as_tensor(rows, dtype=torch.float32)
    assert torch.equal(net(tensor), module(tensor))


class _SilentKernelClient:
    """A kernel client whose kernel never answers."""

    stopped = False

    def start_channels(self):
        pass

    def wait_for_ready(self, timeout):
        raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

    def stop_channels(self):
        self.stopped = True


def test_a_kernel_that_does_not_answer_is_reported_and_its_channels_closed():
    from jupyter_mlcontainer.pipeline.kernels import ClientKernel

    client = _SilentKernelClient()
    manager = types.SimpleNamespace(blocking_client=lambda: client)
    with pytest.raises(CaptureError, match="kernel did not answer"):
        ClientKernel.from_kernel_manager(manager)
    assert client.stopped


def test_an_unchanged_forest_saves_to_the_same_bytes_whatever_its_padding_holds(tmp_path):
    """Tree node arrays have 7 padding bytes per node that hold stale memory; joblib.dump
    writes them, so two saves of one forest could differ. The canonical dump zeroes them."""
    import joblib
    from sklearn.datasets import load_wine
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_wine(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=4, max_depth=3, random_state=1).fit(X, y)
    dump_canonical(forest, tmp_path / "clean.joblib")
    joblib.dump(forest, tmp_path / "plain-clean.joblib")
    for tree in forest.estimators_:
        state = tree.tree_.__getstate__()
        nodes = state["nodes"]
        assert nodes.dtype.itemsize > sum(
            nodes.dtype.fields[n][0].itemsize for n in nodes.dtype.names
        )
        nodes.view(np.uint8).reshape(len(nodes), -1)[:, -4:] = 0xAB  # stale bytes in the padding
        tree.tree_.__setstate__(state)
    dump_canonical(forest, tmp_path / "dirty.joblib")
    joblib.dump(forest, tmp_path / "plain-dirty.joblib")

    assert (tmp_path / "plain-clean.joblib").read_bytes() != (
        tmp_path / "plain-dirty.joblib"
    ).read_bytes()
    assert (tmp_path / "clean.joblib").read_bytes() == (tmp_path / "dirty.joblib").read_bytes()
    reloaded = joblib.load(tmp_path / "dirty.joblib")
    assert (reloaded.predict_proba(X) == forest.predict_proba(X)).all()
