"""The data contract over HTTP, on every protocol, and in batch scoring: the runtime served
from a root whose serving.json holds the churn model's contract."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import CHURN_CODE, CHURN_INPUT, make_root, runtime_env
from test_runtime_watch import CHURN_CONTRACT, ROW

REFUSED_Z = "row 0, column 'city': 'Z', but training had only 'lyon', 'nice', 'paris'"


@pytest.fixture(scope="module")
def contract_root(tmp_path_factory, churn_model):
    import joblib

    model, frame = churn_model
    rows = frame.head(3)
    sample = {
        "request": {"instances": json.loads(rows.to_json(orient="records"))},
        "expected": {"predictions": model.predict_proba(rows)[:, 1].tolist()},
    }
    return make_root(
        tmp_path_factory.mktemp("contract"),
        CHURN_CODE,
        CHURN_INPUT,
        sample,
        state={"model.joblib": lambda path: joblib.dump(model, path)},
        contract=CHURN_CONTRACT.to_dict(),
    )


@pytest.fixture(scope="module")
def server(serve_per_module, contract_root):
    return serve_per_module(contract_root, MLCONTAINER_CAPTURE_REQUESTS=3)


def test_an_unknown_category_is_422_on_every_protocol(server):
    answer = server.post("/predict", {"instances": [{**ROW, "city": "Z"}]})
    assert answer.status == 422 and answer.json()["error"].startswith(REFUSED_Z), answer.body
    split = {"columns": CHURN_INPUT["columns"], "data": [[40, 52_000.5, "Z", True]]}
    answer = server.post("/invocations", {"dataframe_split": split})
    assert answer.status == 422 and answer.json()["error"].startswith(REFUSED_Z), answer.body
    tensors = [
        {"name": "age", "shape": [1], "datatype": "INT64", "data": [40]},
        {"name": "income", "shape": [1], "datatype": "FP64", "data": [52_000.5]},
        {"name": "city", "shape": [1], "datatype": "BYTES", "data": ["Z"]},
        {"name": "member", "shape": [1], "datatype": "BOOL", "data": [True]},
    ]
    answer = server.post("/v2/models/test/infer", {"inputs": tensors})
    assert answer.status == 422 and answer.json()["error"].startswith(REFUSED_Z), answer.body
    answer = server.post("/predict", {"instances": [{**ROW, "age": None}]})
    assert answer.json()["error"].startswith(
        "row 0, column 'age': null, but training had no missing values"
    )


def test_a_value_beyond_training_is_answered_and_said_in_a_header(server):
    answer = server.post("/predict", {"instances": [{**ROW, "age": 120}, ROW]})
    assert answer.status == 200
    assert answer.headers["mlcontainer-outside-training-range"] == "1"
    assert (
        "mlcontainer-outside-training-range"
        not in server.post("/predict", {"instances": [ROW]}).headers
    )


def test_drift_and_violations_are_exported_and_requests_captured(server):
    for _ in range(5):
        assert server.post("/predict", {"instances": [ROW, {**ROW, "age": 79}]}).status == 200
    assert server.post("/predict", {"instances": [{**ROW, "city": "Z"}]}).status == 422
    drift = server.get("/drift").json()
    assert drift["features"]["age"]["rows"] >= 10 and drift["prediction"]["rows"] >= 10
    metrics = server.get("/metrics").body.decode()
    assert 'mlcontainer_feature_psi{feature="age"} ' in metrics
    assert 'mlcontainer_contract_violations_total{column="city",reason="category"}' in metrics
    captured = server.get("/requests").json()
    assert captured["limit"] == 3 and len(captured["requests"]) == 3
    assert captured["requests"][-1]["input"] == {**ROW, "age": 79}
    assert isinstance(captured["requests"][-1]["prediction"], float)


def test_warn_answers_what_enforce_refuses(serve, contract_root):
    warned = serve(contract_root, MLCONTAINER_CONTRACT="warn")
    answer = warned.post("/predict", {"instances": [{**ROW, "city": "Z"}]})
    assert answer.status == 200, answer.body  # the encoder ignores what it does not know
    metrics = warned.get("/metrics").body.decode()
    assert 'mlcontainer_contract_violations_total{column="city",reason="category"} 1' in metrics
    assert warned.get("/requests").status == 404  # capture is opt-in


def test_batch_scoring_stops_at_the_row_the_contract_refuses(contract_root, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("age,income,city,member\n40,52000.5,lyon,True\n41,50000.0,Z,False\n")
    done = subprocess.run(
        [sys.executable, "-m", "mlcontainer_runtime", "predict", "--input", str(rows)],
        cwd=contract_root,
        env=runtime_env(contract_root),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "row 2, column 'city': 'Z', but training had only" in done.stderr, done.stderr


def test_the_instance_object_brings_drift_requests_and_a_replay_into_the_kernel(
    server, churn_model, monkeypatch
):
    """`inst.drift()`, `inst.requests()` and `inst.compare(model)` against the served model."""
    import pandas as pd

    from jupyter_mlcontainer.engine.base import Instance
    from jupyter_mlcontainer.notebook.instance import ServingInstance

    model, frame = churn_model
    shown = []
    monkeypatch.setattr("jupyter_mlcontainer.notebook.instance._display", shown.append)
    inst = ServingInstance(Instance("id", "churn", "mlcontainer/churn:1", server.url, "running"))
    rows = [ROW, {**ROW, "age": 70, "member": False}, {**ROW, "city": "nice"}]
    expected = model.predict_proba(pd.DataFrame(rows, columns=CHURN_INPUT["columns"]))[:, 1]
    assert inst.predict(rows) == pytest.approx(list(expected))

    drift = inst.drift()
    assert list(drift.columns) == ["feature", "psi", "rows", "drifting"]
    assert set(drift["feature"]) == {"age", "income", "city", "member", "(prediction)"}
    assert list(drift["psi"]) == sorted(drift["psi"], reverse=True)
    assert len(shown) == 1 and shown[0].axes  # the worst features against training

    captured = inst.requests()
    assert list(captured.columns) == [*CHURN_INPUT["columns"], "prediction", "time"]
    assert captured.iloc[-1]["city"] == "nice"

    class Retrained:  # a model whose every answer is 1.0
        def predict(self, inputs):
            return [1.0] * len(inputs)

    changed = inst.compare(Retrained())
    served = inst.predict([dict(r) for r in captured[CHURN_INPUT["columns"]].to_dict("records")])
    assert list(changed.index) == [i for i, p in enumerate(served) if p != 1.0]
    assert list(changed.columns) == [*CHURN_INPUT["columns"], "served", "notebook"]
    assert set(changed["notebook"]) == {1.0}
