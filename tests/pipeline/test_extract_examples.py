"""Every example notebook → build context, checked without Docker: the slice, the generated
module predicting in a fresh interpreter exactly as the notebook did, the lock, determinism."""

from __future__ import annotations

import filecmp
import json
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.workflow.build import containerize

pytestmark = pytest.mark.usefixtures("kernel")  # each test runs notebooks

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NEVER_IN_LOCK = {"jupyterlab", "jupyter-server", "ipykernel", "matplotlib", "notebook", "nbconvert"}

#: What each example's slice must keep and drop, which state it captures, what it pins.
EXPECTED = {
    "iris_classifier": dict(
        state={"clf", "scaler"},
        input="ndarray",
        packages={"scikit-learn", "numpy"},
        kept=["def predict(X):"],
        dropped=["plt.", "print(", "confusion_matrix", ".fit(", "load_iris"],
    ),
    "churn_pipeline": dict(
        state={"model"},
        input="dataframe",
        packages={"scikit-learn", "pandas"},
        kept=[],
        dropped=["plt.", "ColumnTransformer(", ".fit("],
    ),
    "custom_transformer": dict(
        state={"model"},
        input="dataframe",
        packages={"scikit-learn", "pandas"},
        kept=["class QuantileClipper(", "KEY_FEATURES = [", "CLIP_QUANTILES = "],
        dropped=["plt.", ".fit(X_train", "load_breast_cancer"],
    ),
    "ipython_magics": dict(
        state={"model"},
        input="ndarray",
        packages={"scikit-learn"},
        kept=["warnings.filterwarnings(", "sklearn.set_config(", "def predict(X):"],
        dropped=["get_ipython", "def show_inputs", "%"],
    ),
    "one_cell": dict(
        state={"reg"},
        input="ndarray",
        packages={"scikit-learn"},
        kept=["TARGET_RANGE = ", "def predict(X):"],
        dropped=["plt.", "print(", "load_diabetes"],
    ),
    "torch_regression": dict(
        state={"model"},
        input="tensor",
        packages={"torch"},
        kept=["class Regressor(nn.Module):", "def predict(", "N_FEATURES = ", "HIDDEN_UNITS = "],
        dropped=["optim", "loss.backward", "plt."],
    ),
    "xgboost_churn": dict(
        state={"model"},
        input="dataframe",
        packages={"scikit-learn", "pandas", "numpy", "scipy"},
        kept=[],
        dropped=["plt.", ".fit(", "roc_auc_score", "XGBClassifier("],
    ),
    "lightgbm_booster": dict(
        state={"booster"},
        input="ndarray",
        packages={"lightgbm", "numpy"},
        kept=["def predict(X):"],
        dropped=["lgb.train", "plt.", "print("],
    ),
    "torch_numpy": dict(
        state={"model"},
        input="list",
        packages={"torch", "numpy"},
        kept=[
            "class Classifier(nn.Module):",
            "def predict(rows):",
            "N_FEATURES = ",
            "N_CLASSES = ",
        ],
        dropped=["optimizer", "backward", "plt."],
    ),
    "pandas_output_pipeline": dict(
        state={"model"},
        input="ndarray",
        packages={"scikit-learn", "pandas"},
        kept=[],
        dropped=[".fit(", "load_wine", "import pandas"],
    ),
    "onnx_runtime_iris": dict(
        state={"sess"},
        input="ndarray",
        packages={"onnxruntime", "numpy"},
        kept=["import numpy as np", "def predict(X):"],
        dropped=["import onnxruntime", "to_onnx", "sklearn", "plt."],
    ),
    "torch_jit_wine": dict(
        state={"scripted"},
        input="ndarray",
        packages={"torch", "numpy"},
        kept=["import numpy as np", "import torch", "def predict(X):"],
        dropped=["class WineNet", "optimizer", "backward", "plt.", "sklearn"],
    ),
    "wine_joblib": dict(
        state=set(),
        input="dataframe",
        packages={"scikit-learn", "joblib", "pandas"},
        kept=['model = joblib.load("models/wine_model.joblib")', "from wine_features import"],
        dropped=["joblib.dump", "plt.", ".fit("],
        files=["models/wine_model.joblib"],
        local=["wine_features.py"],
    ),
}


@pytest.fixture(scope="module")
def contexts(tmp_path_factory):
    """Each example rendered twice, each time executing the notebook headless from scratch."""
    made = {}

    def render(name: str, attempt: int) -> Path:
        if (name, attempt) not in made:
            out = tmp_path_factory.mktemp(f"{name}-{attempt}")
            options = ExportOptions(notebook=str(EXAMPLES / f"{name}.ipynb"))
            containerize(options, context_only=True, out_dir=str(out))
            made[name, attempt] = out
        return made[name, attempt]

    return render


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_slice_keeps_the_prediction_path_only(contexts, name):
    expected = EXPECTED[name]
    context = contexts(name, 1)
    module = (context / "app" / "notebook_code.py").read_text()
    body = module.split('"""', 2)[2]  # the code, without the module docstring
    for kept in expected["kept"]:
        assert kept in body
    for dropped in expected["dropped"]:
        assert dropped not in body
    state_files = {p.stem for p in (context / "artifacts" / "state").iterdir()}
    assert state_files == expected["state"]
    files = sorted(
        p.relative_to(context / "artifacts" / "files").as_posix()
        for p in (context / "artifacts" / "files").rglob("*")
        if p.is_file()
    )
    assert files == expected.get("files", [])
    for local in expected.get("local", []):
        assert (context / "app" / local).read_text() == (EXAMPLES / local).read_text()
    serving = json.loads((context / "app" / "serving.json").read_text())
    assert serving["input"]["kind"] == expected["input"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_generated_module_answers_like_the_notebook_in_a_fresh_interpreter(contexts, name):
    context = contexts(name, 1)
    result = subprocess.run(
        [sys.executable, "-m", "mlcontainer_runtime", "check"],
        cwd=context / "artifacts" / "files",
        env={"PYTHONPATH": str(context / "app"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" PASS ") == 3 and "FAIL" not in result.stdout


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_lock_pins_what_serving_imports_and_nothing_of_jupyter(contexts, name):
    context = contexts(name, 1)
    pins = lock_pins(context)
    assert EXPECTED[name]["packages"] <= set(pins)
    assert "uvicorn" in pins
    assert not NEVER_IN_LOCK & set(pins)
    from importlib.metadata import version

    for package in EXPECTED[name]["packages"]:
        assert pins[package] == version(package), "pinned to what the kernel ran"
    assert not [p for p in pins if p.startswith("nvidia-")], "GPU-only packages are left out"
    wheels = sorted(
        p.name.split("-")[0].lower().replace("_", "-") for p in (context / "wheels").iterdir()
    )
    assert wheels == sorted(pins)


def lock_pins(context) -> dict:
    """name → version from the context's lock, whose lines also carry the wheels' hashes."""
    lines = (context / "requirements.lock").read_text().splitlines()
    return dict(line.split()[0].split("==") for line in lines if not line.startswith("#"))


def test_the_lock_pins_each_wheels_sha256_and_pip_checks_them(contexts):
    import hashlib

    context = contexts("iris_classifier", 1)
    lines = [
        line
        for line in (context / "requirements.lock").read_text().splitlines()
        if not line.startswith("#")
    ]
    digests = {line.split("--hash=sha256:")[1] for line in lines}
    wheels = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (context / "wheels").iterdir()}
    assert digests == wheels and len(digests) == len(lines)
    assert "--require-hashes -r /build/requirements.lock" in (context / "Dockerfile").read_text()


def test_the_bill_of_materials_lists_every_pinned_distribution(contexts):
    import json

    context = contexts("iris_classifier", 1)
    bill = json.loads((context / "sbom.cdx.json").read_text())
    assert (bill["bomFormat"], bill["specVersion"]) == ("CycloneDX", "1.5")
    listed = {
        c["name"]: c["version"]
        for c in bill["components"]
        if c.get("purl", "").startswith("pkg:pypi/")
    }
    assert listed == lock_pins(context)
    assert all(c["hashes"][0]["alg"] == "SHA-256" for c in bill["components"] if "version" in c)
    assert "COPY sbom.cdx.json /srv/sbom.cdx.json" in (context / "Dockerfile").read_text()


#: Examples whose captured state has other bytes in another kernel, and why (docs/build.md).
STATE_VARIES_ACROSS_KERNELS = {
    "torch_jit_wine": "a TorchScript archive holds the kernel's temporary cell file names and an "
    "order of constants that changes with each Python process",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_second_render_is_byte_identical(contexts, name):
    first, second = contexts(name, 1), contexts(name, 2)
    differences = _differences(filecmp.dircmp(first, second))
    if name in STATE_VARIES_ACROSS_KERNELS:  # the state and its record, nothing else
        state = [p.name for p in (first / "artifacts" / "state").iterdir()]
        assert sorted(differences) == sorted([*state, "state.json"])
    else:
        assert differences == []


def _differences(comparison: filecmp.dircmp) -> list:
    _, mismatch, errors = filecmp.cmpfiles(
        comparison.left, comparison.right, comparison.common_files, shallow=False
    )
    found = mismatch + errors + comparison.left_only + comparison.right_only
    for sub in comparison.subdirs.values():
        found += _differences(sub)
    return found


def test_xgboost_is_served_by_its_cpu_build_with_scikit_learn_that_it_imports_lazily(contexts):
    """xgboost's scikit-learn API imports scikit-learn only when a model is made; the kept code
    never imports it, so only the trial run sees it."""
    from importlib.metadata import version

    context = contexts("xgboost_churn", 1)
    pins = lock_pins(context)
    assert pins["xgboost-cpu"] == version("xgboost")
    assert "xgboost" not in pins and "nvidia-nccl-cu12" not in pins
    assert pins["scikit-learn"] == version("scikit-learn")


def test_a_dependency_imported_only_at_predict_time_is_in_the_lock(contexts):
    """`set_output(transform="pandas")`: scikit-learn imports pandas while transforming."""
    context = contexts("pandas_output_pipeline", 1)
    module = (context / "app" / "notebook_code.py").read_text()
    assert "import pandas" not in module and "from pandas" not in module
    assert "pandas" in lock_pins(context)


def test_the_native_booster_names_the_openmp_runtime_it_needs(contexts):
    """LightGBM's wheel links libgomp.so.1 without vendoring it; the offline base has it,
    other bases get libgomp1 from Debian in the final stage."""
    from jupyter_mlcontainer.pipeline.native import missing_libraries

    wheels = sorted((contexts("lightgbm_booster", 1) / "wheels").glob("lightgbm-*.whl"))
    assert missing_libraries(wheels, base_libraries=set()) == {"libgomp.so.1": ["lightgbm"]}


@pytest.mark.parametrize(
    "name, row",
    [
        (
            "onnx_runtime_iris",
            "| `sess` | `onnxruntime.capi.onnxruntime_inference_collection.InferenceSession` "
            "| onnxruntime |",
        ),
        (
            "torch_jit_wine",
            "| `scripted` | `torch.jit._script.RecursiveScriptModule` | torch.jit |",
        ),
    ],
)
def test_a_value_pickle_refuses_is_served_in_its_librarys_format(contexts, name, row):
    """The report names the serializer; the served code needs neither the converter nor the
    class the module was compiled from."""
    context = contexts(name, 1)
    assert row in (context / "REPORT.md").read_text()
    pins = lock_pins(context)
    assert not {"scikit-learn", "skl2onnx"} & set(pins)
    assert "class WineNet" not in (context / "app" / "notebook_code.py").read_text()
