"""Serving roots laid out like a build context, and the runtime served from them in a subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from jupyter_mlcontainer.runtime.datacontract import ColumnContract, DataContract

from ports import free_port

RUNTIME = Path(__file__).resolve().parents[2] / "jupyter_mlcontainer" / "runtime"


def fuzz_examples(full: int) -> int:
    """Schemathesis's cases per operation: `full` in the whole suite, a tenth of it in the fast
    tier (`scripts/check.sh --fast`), which checks that fuzzing still finds nothing in minutes
    rather than searching as hard."""
    return max(10, full // 10) if os.environ.get("MLCONTAINER_TEST_TIER") == "fast" else full


#: What the Schemathesis runs check of every answer: no 5xx, and the document's statuses,
#: content types and bodies.
SCHEMATHESIS_CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def make_root(
    path: Path,
    code: str,
    input_spec: dict,
    sample: dict | None = None,
    entry: dict | None = None,
    state: dict | None = None,
    batching: dict | None = None,
    contract: dict | None = None,
) -> Path:
    """<path>/app/{serving.json, notebook_code.py, mlcontainer_runtime/}, artifacts/state/, sample.json."""
    app = path / "app"
    (path / "artifacts" / "state").mkdir(parents=True)
    shutil.copytree(
        RUNTIME, app / "mlcontainer_runtime", ignore=shutil.ignore_patterns("__pycache__")
    )
    serving = {
        "module": "notebook_code",
        "entry": entry or {"kind": "function", "name": "predict"},
        "input": input_spec,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "packages": {"numpy": "2.4.6"},
    }
    if batching is not None:
        serving["batching"] = batching
    if contract is not None:
        serving["contract"] = contract
    for name, write in (state or {}).items():
        write(path / "artifacts" / "state" / name)
    (path / "artifacts" / "state.json").write_text(state_record(path).to_json())
    notebook = {"path": "examples/test.ipynb", "sha256": "ab" * 32}
    (path / "artifacts" / "notebook.json").write_text(json.dumps(notebook))
    (app / "serving.json").write_text(json.dumps(serving))
    (app / "notebook_code.py").write_text(textwrap.dedent(code))
    if sample is not None:
        (path / "sample.json").write_text(json.dumps(sample))
    return path


def state_record(root: Path):
    """artifacts/state.json for the files in <root>/artifacts/state, as a build records it."""
    from jupyter_mlcontainer.pipeline.render import state_digest

    files = sorted((root / "artifacts" / "state").iterdir())
    return state_digest(
        tuple({"file": f.name, "sha256": hashlib.sha256(f.read_bytes()).hexdigest()} for f in files)
    )


@pytest.fixture
def recorded_state(tmp_path, monkeypatch):
    """Makes the serving root (MLCONTAINER_ROOT) hold state files {name: bytes}, recorded in
    artifacts/state.json as a build records them; returns its artifacts/state folder."""

    def make(files: dict) -> Path:
        monkeypatch.setenv("MLCONTAINER_ROOT", str(tmp_path))
        state = tmp_path / "artifacts" / "state"
        state.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (state / name).write_bytes(data)
        (tmp_path / "artifacts" / "state.json").write_text(state_record(tmp_path).to_json())
        return state

    return make


def runtime_env(root: Path, **extra) -> dict:
    env = dict(os.environ, PYTHONPATH=str(root / "app"), MLCONTAINER_HOST="127.0.0.1")
    env.pop("MLCONTAINER_ROOT", None)
    env.update({key: str(value) for key, value in extra.items()})
    return env


def run_command(root: Path, command: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlcontainer_runtime", command],
        cwd=root,
        env=runtime_env(root, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class Response:
    def __init__(self, status: int, headers, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


class Server:
    """`python -m mlcontainer_runtime` on a free 127.0.0.1 port."""

    def __init__(self, root: Path, port: int | None = None, **env):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlcontainer_runtime"],
            cwd=root,
            env=runtime_env(root, PORT=self.port, **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def request(self, method: str, path: str, body=None, headers=None, timeout=30) -> Response:
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return Response(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.headers, error.read())

    def post(self, path: str, body, **kwargs) -> Response:
        return self.request("POST", path, body, {"Content-Type": "application/json"}, **kwargs)

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def wait(self, path: str = "/ready", seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.process.stderr.read().decode()}")
            try:
                if self.get(path).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{path} did not answer 200 within {seconds} s")

    def stop(self) -> str:
        """SIGTERM, then the server's stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.stderr.read().decode()


def _servers():
    """Start servers (ready or not, as `wait` says); each one is stopped when the fixture ends."""
    servers = []

    def start(root: Path, wait: str | None = "/ready", port: int | None = None, **env) -> Server:
        server = Server(root, port, **env)
        servers.append(server)
        if wait:
            server.wait(wait)
        return server

    yield start
    for server in servers:
        server.stop()
        for pipe in (server.process.stdout, server.process.stderr):
            pipe.close()


serve = pytest.fixture(_servers, name="serve")
serve_per_module = pytest.fixture(_servers, scope="module", name="serve_per_module")


@pytest.fixture(scope="session")
def churn_model():
    """A scikit-learn pipeline fitted on a DataFrame of int, float, object and bool columns."""
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype("int64"),
            "income": rng.normal(50_000, 15_000, n).astype("float64"),
            "city": pd.Series(rng.choice(["paris", "lyon", "nice"], n), dtype=object),
            "member": rng.integers(0, 2, n).astype(bool),
        }
    )
    target = (frame["age"] > 45) ^ frame["member"]
    encode = ColumnTransformer(
        [("city", OneHotEncoder(handle_unknown="ignore"), ["city"])], remainder="passthrough"
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=1000)).fit(frame, target)
    return model, frame


CHURN_CODE = """
    from mlcontainer_runtime.state import load_state

    model = load_state("model.joblib", "joblib", __name__)


    def predict(inputs):
        if (inputs["city"] == "boom").any():
            raise ValueError("no city called boom")
        return model.predict_proba(inputs)[:, 1]
"""
CHURN_INPUT = {
    "kind": "dataframe",
    "columns": ["age", "income", "city", "member"],
    "dtypes": {"age": "int64", "income": "float64", "city": "object", "member": "bool"},
}


TENTHS = tuple([0.1] * 10)
#: The churn model's training data as the build describes it (pipeline/profile.py).
CHURN_CONTRACT = DataContract(
    source="the data passed to `model.fit`",
    rows=200,
    columns=(
        ColumnContract(
            "age", "integer", False, 18, 79, tuple(range(24, 78, 6)), None, False, TENTHS
        ),
        ColumnContract(
            "income",
            "float",
            False,
            10_000.0,
            90_000.0,
            tuple(float(x) for x in range(30_000, 75_000, 5_000)),
            None,
            False,
            TENTHS,
        ),
        ColumnContract(
            "city",
            "category",
            False,
            categories=("lyon", "nice", "paris"),
            expected=(0.33, 0.33, 0.34, 0.0),
        ),
        ColumnContract(
            "member", "boolean", False, categories=(False, True), expected=(0.5, 0.5, 0.0)
        ),
    ),
    prediction=ColumnContract(
        "prediction",
        "float",
        False,
        0.0,
        1.0,
        tuple(x / 10 for x in range(1, 10)),
        None,
        False,
        TENTHS,
    ),
)


@pytest.fixture(scope="session")
def churn_root(tmp_path_factory, churn_model):
    import joblib

    model, frame = churn_model
    rows = frame.head(3)
    sample = {
        "request": {"instances": json.loads(rows.to_json(orient="records"))},
        "expected": {"predictions": model.predict_proba(rows)[:, 1].tolist()},
    }
    state = {"model.joblib": lambda path: joblib.dump(model, path)}
    return make_root(tmp_path_factory.mktemp("churn"), CHURN_CODE, CHURN_INPUT, sample, state=state)


@pytest.fixture(scope="session")
def churn_contract_root(tmp_path_factory, churn_root):
    """The churn pipeline with the data contract of its training data (enforced)."""
    root = tmp_path_factory.mktemp("churn-contract") / "root"
    shutil.copytree(churn_root, root)
    (root / "artifacts" / "contract.json").write_text(json.dumps(CHURN_CONTRACT.to_dict()))
    return root


@pytest.fixture
def new_root(tmp_path):
    """make_root in a fresh directory of this test's tmp_path."""
    count = iter(range(100))
    return lambda *args, **kwargs: make_root(tmp_path / f"root{next(count)}", *args, **kwargs)


@pytest.fixture
def runtime_command():
    return run_command


@pytest.fixture(scope="session")
def iris_model():
    """A scikit-learn classifier fitted on a float64 array of 4 features (3 classes)."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, target = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=1000).fit(features, target), features


IRIS_CODE = """
    from mlcontainer_runtime.state import load_state

    model = load_state("model.joblib", "joblib", __name__)


    def predict(inputs):
        return model.predict_proba(inputs)
"""
IRIS_INPUT = {"kind": "ndarray", "dtype": "float64", "shape": [None, 4]}


@pytest.fixture(scope="session")
def iris_root(tmp_path_factory, iris_model):
    """A serving root whose input is an ndarray of shape [*, 4] and output [*, 3]."""
    import joblib

    model, features = iris_model
    rows = features[:2]
    sample = {
        "request": {"instances": rows.tolist()},
        "expected": {"predictions": model.predict_proba(rows).tolist()},
    }
    state = {"model.joblib": lambda path: joblib.dump(model, path)}
    return make_root(tmp_path_factory.mktemp("iris"), IRIS_CODE, IRIS_INPUT, sample, state=state)


TITANIC_CODE = """
    from mlcontainer_runtime.state import load_state

    model = load_state("model.joblib", "joblib", __name__)


    def predict(inputs):
        return model.predict_proba(inputs)[:, 1]
"""
TITANIC_INPUT = {
    "kind": "dataframe",
    "columns": ["Pclass", "Sex", "Age", "Fare", "Embarked"],
    "dtypes": {
        "Pclass": "int64",
        "Sex": "object",
        "Age": "float64",
        "Fare": "float64",
        "Embarked": "object",
    },
}


@pytest.fixture(scope="session")
def titanic_root(tmp_path_factory):
    """A Titanic-style mixed-type model: imputed numbers and one-hot strings, so missing
    values and unseen categories are answered, not raised."""
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(1)
    n = 200
    frame = pd.DataFrame(
        {
            "Pclass": rng.integers(1, 4, n).astype("int64"),
            "Sex": pd.Series(rng.choice(["male", "female"], n), dtype=object),
            "Age": np.where(rng.random(n) < 0.2, np.nan, rng.uniform(1, 80, n)),
            "Fare": rng.exponential(30, n),
            "Embarked": pd.Series(rng.choice(["S", "C", "Q", None], n), dtype=object),
        }
    )
    survived = (frame["Sex"] == "female") | (frame["Pclass"] == 1)
    numbers = make_pipeline(SimpleImputer(strategy="median"))
    strings = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="missing"),
        OneHotEncoder(handle_unknown="ignore"),
    )
    encode = ColumnTransformer(
        [("numbers", numbers, ["Pclass", "Age", "Fare"]), ("strings", strings, ["Sex", "Embarked"])]
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=1000)).fit(frame, survived)
    rows = frame.head(3)
    sample = {
        "request": {"instances": json.loads(rows.to_json(orient="records"))},
        "expected": {"predictions": model.predict_proba(rows)[:, 1].tolist()},
    }
    state = {"model.joblib": lambda path: joblib.dump(model, path)}
    return make_root(
        tmp_path_factory.mktemp("titanic"), TITANIC_CODE, TITANIC_INPUT, sample, state=state
    )


@pytest.fixture(scope="module")
def churn_server(serve_per_module, churn_root):
    """The churn pipeline served for the length of a module."""
    return serve_per_module(churn_root)


@pytest.fixture(scope="module")
def iris_server(serve_per_module, iris_root):
    """The iris classifier served for the length of a module."""
    return serve_per_module(iris_root)
