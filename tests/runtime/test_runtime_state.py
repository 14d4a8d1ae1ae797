"""State saved by a notebook (classes in __main__ included) loads in the runtime; array and tensor inputs."""

import json
import pickle
import subprocess
import sys
import textwrap

import pytest

SCALER_CLASS = """
class Scaler:
    def __init__(self, factor):
        self.factor = factor

    def predict(self, rows):
        return [[self.factor * value for value in row] for row in rows]
"""


def save_from_main(path, script):
    """Run `script` as __main__, as a notebook kernel would, with `path` bound to the target file."""
    code = SCALER_CLASS + f"\npath = {str(path)!r}\n" + textwrap.dedent(script)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize(
    "filename, fmt, script",
    [
        ("scaler.pkl", "pickle", "import pickle\npickle.dump(Scaler(3), open(path, 'wb'))"),
        (
            "scaler.pkl",
            "pickle",
            "import cloudpickle\ncloudpickle.dump(Scaler(3), open(path, 'wb'))",
        ),
        ("scaler.joblib", "joblib", "import joblib\njoblib.dump(Scaler(3), path)"),
    ],
    ids=["pickle", "cloudpickle", "joblib"],
)
def test_a_class_defined_in_the_notebook_unpickles(
    new_root, runtime_command, filename, fmt, script
):
    code = (
        SCALER_CLASS
        + f"""
from mlcontainer_runtime.state import load_state

scaler = load_state({filename!r}, {fmt!r}, __name__)
"""
    )
    sample = {"request": {"instances": [[1, 2]]}, "expected": {"predictions": [[3, 6]]}}
    root = new_root(
        code,
        {"kind": "list"},
        sample,
        entry={"kind": "model", "name": "scaler", "method": "predict"},
        state={filename: lambda path: save_from_main(path, script)},
    )
    if fmt == "pickle" and "cloudpickle" not in script:
        assert b"__main__" in (root / "artifacts" / "state" / filename).read_bytes()
    result = runtime_command(root, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == ["row 0 PASS expected=[3, 6] actual=[3, 6]", "PASS"]


def test_load_state_says_what_is_wrong(recorded_state):
    from jupyter_mlcontainer.runtime.state import load_state

    recorded_state({"vocabulary.pkl": pickle.dumps({"a": 1})})
    assert load_state("vocabulary.pkl", "pickle", __name__) == {"a": 1}
    with pytest.raises(FileNotFoundError, match="missing.joblib is missing"):
        load_state("missing.joblib", "joblib", __name__)
    with pytest.raises(ValueError, match="unknown state format 'skops'"):
        load_state("vocabulary.pkl", "skops", __name__)
    assert sys.modules["__main__"].__name__ != __name__  # restored after loading


def test_only_the_state_the_build_recorded_is_unpickled(recorded_state):
    from jupyter_mlcontainer.runtime.state import load_state

    state = recorded_state({"model.pkl": pickle.dumps({"a": 1})})
    assert load_state("model.pkl", "pickle", __name__) == {"a": 1}

    class Payload:  # what a swapped pickle could run while loading
        def __reduce__(self):
            return (print, ("unpickled an unrecorded file",))

    (state / "model.pkl").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ValueError, match="model.pkl differs from what the notebook's kernel"):
        load_state("model.pkl", "pickle", __name__)
    (state / "extra.pkl").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ValueError, match="extra.pkl is not one the build recorded"):
        load_state("extra.pkl", "pickle", __name__)


NDARRAY_CODE = """
    import numpy as np
    from mlcontainer_runtime.state import load_state

    weights = np.asarray(load_state("weights.pkl", "pickle", __name__), dtype="float32")


    def predict(x):
        assert x.dtype == np.float32, x.dtype
        return x @ weights
"""


def test_ndarray_input(serve, new_root):
    weights = [1.0, 10.0, 100.0]
    sample = {"request": {"instances": [[1, 2, 3]]}, "expected": {"predictions": [321.0]}}
    state = {"weights.pkl": lambda path: path.write_bytes(pickle.dumps(weights))}
    root = new_root(
        NDARRAY_CODE,
        {"kind": "ndarray", "dtype": "float32", "shape": [None, 3]},
        sample,
        state=state,
    )
    server = serve(root)
    assert server.post("/predict", {"instances": [[1, 2, 3], [0, 0, 1.5]]}).json() == {
        "predictions": [321.0, 150.0]
    }
    assert server.post("/predict", {"inputs": [[1, 1, 1]]}).json() == {"predictions": [111.0]}
    assert server.post("/invocations", {"dataframe_split": {"data": [[1, 1, 1]]}}).json() == {
        "predictions": [111.0]
    }
    shape = server.post("/predict", {"instances": [[1, 2]]})
    assert shape.status == 422
    assert "shape [*, 3]" in shape.json()["error"] and "got shape [1, 2]" in shape.json()["error"]
    dtype = server.post("/predict", {"instances": [["a", "b", "c"]]})
    assert (
        dtype.status == 422
        and "float32" in dtype.json()["error"]
        and "strings" in dtype.json()["error"]
    )
    ragged = server.post("/predict", {"instances": [[1, 2, 3], [1]]})
    assert ragged.status == 422 and "rectangular" in ragged.json()["error"]
    named = server.post("/predict", {"inputs": {"x": [[1, 2, 3]]}})
    assert named.status == 400 and "one array" in named.json()["error"]


def test_tensor_input_and_a_torch_module_defined_in_the_notebook(serve, new_root):
    pytest.importorskip("torch")
    module_class = """
import torch


class Affine(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, x):
        return self.linear(x).squeeze(-1)
"""
    rows = [[1.0, 2.0], [0.5, -1.0]]
    save = f"torch.manual_seed(0)\nmodel = Affine()\ntorch.save(model, path)\nprint(model(torch.tensor({rows})).tolist())"
    notebook_answers = []

    def write(path):
        script = module_class + f"\npath = {str(path)!r}\n" + save
        done = subprocess.run(
            [sys.executable, "-c", script], check=True, timeout=120, capture_output=True, text=True
        )
        notebook_answers.append(json.loads(done.stdout))

    code = (
        module_class
        + """
from mlcontainer_runtime.state import load_state

model = load_state("model.pt", "torch", __name__).eval()


def predict(x):
    assert x.dtype == torch.float32, x.dtype
    with torch.no_grad():
        return model(x)
"""
    )
    sample = {"request": {"instances": [[1.0, 1.0]]}, "expected": {"predictions": [0.0]}}
    root = new_root(
        code,
        {"kind": "tensor", "dtype": "float32", "shape": [None, 2]},
        sample,
        state={"model.pt": write},
    )
    server = serve(root)
    response = server.post("/predict", {"instances": rows})
    assert response.status == 200, response.body
    assert response.json() == {"predictions": notebook_answers[0]}
    assert server.post("/predict", {"instances": [[1.0, 2.0, 3.0]]}).status == 422


def test_lightgbm_booster(new_root, runtime_command):
    lightgbm = pytest.importorskip("lightgbm")
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    booster = lightgbm.train(
        {"objective": "regression", "verbose": -1, "num_leaves": 4},
        lightgbm.Dataset(x, x @ [1.0, -2.0, 0.5]),
        num_boost_round=5,
    )
    rows = x[:2].tolist()
    sample = {
        "request": {"instances": rows},
        "expected": {"predictions": booster.predict(np.asarray(rows)).tolist()},
    }
    code = """
        from mlcontainer_runtime.state import load_state

        booster = load_state("booster.txt", "lightgbm", __name__)
    """
    root = new_root(
        code,
        {"kind": "ndarray", "dtype": "float64", "shape": [None, 3]},
        sample,
        entry={"kind": "model", "name": "booster", "method": "predict"},
        state={"booster.txt": lambda path: booster.save_model(str(path))},
    )
    result = runtime_command(root, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "PASS"
