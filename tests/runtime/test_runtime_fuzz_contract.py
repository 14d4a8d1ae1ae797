"""Schemathesis, every check, against a model that raises on what it never saw (a NaN, an
unknown category): no generated request gets a 5xx, because the data contract refuses such input
with a 422 that the document describes; every body the document allows is served, every body it
refuses is refused, and every answer matches it."""

from __future__ import annotations

import json

import pytest
from conftest import TITANIC_CODE, fuzz_examples, make_root
from fuzzing import assert_found_nothing, run_schemathesis

pytest.importorskip("schemathesis", reason="schemathesis is in the test extra")

#: Test cases per operation and generation mode: about a minute in the whole suite.
MAX_EXAMPLES = fuzz_examples(100)
PORTS = ["S", "C", "Q"]
STRICT_INPUT = {
    "kind": "dataframe",
    "columns": ["age", "fare", "port"],
    "dtypes": {"age": "int64", "fare": "float64", "port": "object"},
}


@pytest.fixture(scope="module")
def strict_root(tmp_path_factory):
    """A pipeline that raises on a NaN and on a port it never saw (OneHotEncoder's default),
    with the contract the build takes from its training data."""
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from jupyter_mlcontainer.pipeline.profile import training_contract

    rng = np.random.default_rng(7)
    n = 300
    frame = pd.DataFrame(
        {
            "age": rng.integers(1, 80, n).astype("int64"),
            "fare": rng.exponential(30, n),
            "port": pd.Series(rng.choice(PORTS, n), dtype=object),
        }
    )
    target = (frame["fare"] > 30) | (frame["port"] == "C")
    encode = ColumnTransformer([("port", OneHotEncoder(), ["port"])], remainder="passthrough")
    model = make_pipeline(encode, LogisticRegression(max_iter=1000)).fit(frame, target)

    def predict(inputs):
        return model.predict_proba(inputs)[:, 1]

    contract = training_contract(frame, predict, "`frame`")
    rows = frame.head(3)
    sample = {
        "request": {"instances": json.loads(rows.to_json(orient="records"))},
        "expected": {"predictions": predict(rows).tolist()},
    }
    state = {"model.joblib": lambda path: joblib.dump(model, path)}
    root = make_root(
        tmp_path_factory.mktemp("strict"), TITANIC_CODE, STRICT_INPUT, sample, state=state
    )
    (root / "artifacts" / "contract.json").write_text(json.dumps(contract.to_dict()))
    return root


def test_no_generated_request_makes_a_model_that_raises_on_unseen_input_answer_5xx(
    serve, strict_root, tmp_path
):
    server = serve(strict_root)
    assert (
        server.post("/predict", {"instances": [{"age": 30, "fare": 9.5, "port": "Z"}]}).status
        == 422
    )
    assert (
        server.post("/predict", {"instances": [{"age": None, "fare": None, "port": None}]}).status
        == 422
    )
    _, output = run_schemathesis(
        server.url, tmp_path, MAX_EXAMPLES, 3, "--checks", "all", workers=2
    )
    # No generated request gets a 5xx, none the document refuses is served, and none it allows
    # is refused: the document says what the runtime serves (docs/serving.md).
    assert_found_nothing(output, MAX_EXAMPLES)
    assert server.get("/health").status == 200


def test_what_warn_lets_through_and_the_model_raises_on_is_a_422_on_every_protocol(
    serve, strict_root
):
    """`warn` passes a null and an unknown port to a model that raises on both: the input is at
    fault, and the answer says so (422), on each protocol, instead of a 500."""
    server = serve(strict_root, MLCONTAINER_CONTRACT="warn")
    row = {"age": 30, "fare": 12.5, "port": "Z"}
    tensors = [
        {"name": "age", "datatype": "INT64", "shape": [1], "data": [30]},
        {"name": "fare", "datatype": "FP64", "shape": [1], "data": [12.5]},
        {"name": "port", "datatype": "BYTES", "shape": [1], "data": ["Z"]},
    ]
    for path, body in (
        ("/predict", {"instances": [row]}),
        ("/predict", {"instances": [{**row, "port": "S", "fare": None}]}),
        ("/invocations", {"dataframe_records": [row]}),
        ("/v2/models/test/infer", {"inputs": tensors}),
    ):
        answer = server.post(path, body)
        assert answer.status == 422, (path, answer.body)
        error = answer.json()["error"]
        assert error.startswith("the model refused this input (ValueError: "), error
        assert "1 value(s) its data contract would refuse" in error
    assert server.post("/predict", {"instances": [{**row, "port": "S"}]}).status == 200
