"""MLflow's scoring protocol on /invocations over real HTTP: each body form MLflow clients send
(pandas' split and records orients, instances, inputs, params, CSV), and its probes."""

import json

import pytest

SCALE_CODE = """
    def predict(inputs, params=None):
        scale = (params or {}).get("scale", 1)
        return [value * scale for value in inputs]
"""


@pytest.fixture(scope="module")
def rows(churn_model):
    return churn_model[1].iloc[20:25]


@pytest.fixture(scope="module")
def expected(churn_model, rows):
    return churn_model[0].predict_proba(rows)[:, 1].tolist()


def plain(value):
    """numpy scalars → JSON values, every float digit kept (DataFrame.to_json keeps 10)."""
    return json.loads(json.dumps(value, default=lambda item: item.item()))


def csv(server, text):
    return server.request("POST", "/invocations", text.encode(), {"Content-Type": "text/csv"})


@pytest.mark.parametrize(
    "form", ["dataframe_split", "dataframe_records", "instances", "inputs", "params"]
)
def test_each_json_form_predicts_as_the_model_does(churn_server, rows, expected, form):
    records = plain(rows.to_dict(orient="records"))
    bodies = {
        # What an MLflow client sends for a DataFrame (pandas' "split" orient, with its index).
        "dataframe_split": {"dataframe_split": plain(rows.to_dict(orient="split"))},
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": records},
        "inputs": {"inputs": plain(rows.to_dict(orient="list"))},
        "params": {"dataframe_records": records, "params": {"threshold": 0.5}},
    }
    response = churn_server.post("/invocations", bodies[form])
    assert response.status == 200, response.body
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"predictions": expected}


def test_csv_with_a_header_row_predicts_as_the_model_does(churn_server, rows, expected):
    response = csv(churn_server, rows.to_csv(index=False))  # as pandas (and MLflow) write it
    assert response.status == 200, response.body
    assert response.json() == {"predictions": expected}
    reordered = csv(churn_server, rows[list(reversed(rows.columns))].to_csv(index=False))
    assert reordered.json() == {"predictions": expected}


def test_an_array_model_takes_lists_and_csv(iris_server, iris_model):
    model, features = iris_model
    rows = features[70:74]
    expected = {"predictions": model.predict_proba(rows).tolist()}
    assert iris_server.post("/invocations", {"inputs": rows.tolist()}).json() == expected
    assert iris_server.post("/invocations", {"instances": rows.tolist()}).json() == expected
    text = "a,b,c,d\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows)
    assert csv(iris_server, text).json() == expected


def test_params_reach_an_entry_point_that_takes_them(serve, new_root):
    server = serve(new_root(SCALE_CODE, {"kind": "list"}))
    answer = server.post("/invocations", {"instances": [1, 2], "params": {"scale": 10}})
    assert answer.json() == {"predictions": [10, 20]}
    assert server.post("/invocations", {"instances": [1, 2]}).json() == {"predictions": [1, 2]}


def test_params_pass_by_a_pipelines_keyword_catch_all():
    """A Pipeline's `predict(X, **params)` would hand them to its last step, which takes none."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from jupyter_mlcontainer.runtime.model import takes_params

    def pyfunc(model_input, params=None): ...

    def keyword_only(model_input, *, params): ...

    def catch_all(model_input, **params): ...

    assert takes_params(pyfunc) and takes_params(keyword_only)
    assert not takes_params(catch_all)
    assert not takes_params(make_pipeline(LogisticRegression()).predict)
    assert not takes_params(len)


@pytest.mark.parametrize(
    "body, content_type, error",
    [
        (
            "age,income,city,member\n30,lots,lyon,true\n",
            "text/csv",
            "CSV body: row 1, column 'income': 'lots' is not a number",
        ),
        (
            "age,income,city,member\n30,1.5,lyon\n",
            "text/csv",
            "CSV body: row 1: 3 cells where the header has 4",
        ),
        (
            "age,income,city,member\n",
            "text/csv",
            "CSV body has no rows; send a header row, then one row per input",
        ),
        (
            '{"instances": [], "params": [1]}',
            "application/json",
            '"params" must be an object of parameter names to values',
        ),
    ],
)
def test_bad_bodies_are_a_400_with_a_message(churn_server, body, content_type, error):
    response = churn_server.request(
        "POST", "/invocations", body.encode(), {"Content-Type": content_type}
    )
    assert response.status == 400, response.body
    assert response.json() == {"error": error}


def test_a_csv_row_without_a_model_column_says_which(churn_server):
    response = csv(churn_server, "age,income,city\n30,1.5,lyon\n")
    assert response.status == 400
    assert response.json() == {
        "error": "row 0 lacks column 'member'; expected columns ['age', 'income', 'city', 'member']"
    }


def test_ping_health_and_version(churn_server):
    assert churn_server.get("/ping").json() == {"status": "ok"}
    assert churn_server.get("/health").json() == {"status": "ok"}
    version = churn_server.get("/version")
    assert version.status == 200
    assert version.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert version.body == b"unknown"  # make_root writes no "generator"


def test_the_openapi_document_describes_params_and_says_csv_in_words(churn_server):
    """A CSV body's rows cannot be described by a schema, so a fuzzer would send CSV the
    document allows and the runtime refuses: the document names it in its summary instead."""
    post = churn_server.get("/openapi.json").json()["paths"]["/invocations"]["post"]
    content = post["requestBody"]["content"]
    assert set(content) == {"application/json"} and "`text/csv`" in post["summary"]
    for alternative in content["application/json"]["schema"]["oneOf"]:
        assert alternative["properties"]["params"] == {"type": "object"}
