"""The data contract in a real image: the churn example (integer, float and text columns) built
by the real engine refuses, on every protocol, what its training data never held."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from jupyter_mlcontainer.running.readiness import wait_ready

pytestmark = pytest.mark.engine


def post(url: str, body: dict) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.load(answer), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error), dict(error.headers)


@pytest.fixture(scope="module")
def churn(engine, example_build, test_labels):
    """(URL of a running churn instance, one row of its sample, the contract it serves)."""
    result = example_build("churn_pipeline").result
    instance = engine.run(result.tag, port=0, labels=test_labels, name="test-contract-churn")
    try:
        instance = wait_ready(engine, instance)
        with urllib.request.urlopen(f"{instance.url}/metadata", timeout=10) as answer:
            contract = json.load(answer)["contract"]
        yield instance.url, dict(result.sample["request"]["instances"][0]), contract
    finally:
        engine.stop(instance.id)


def test_the_image_carries_the_training_datas_contract(churn):
    _, row, contract = churn
    columns = {c["name"]: c for c in contract["columns"]}
    assert set(columns) == set(row)
    assert columns["tenure_months"]["kind"] == "integer"
    assert columns["monthly_charges"]["kind"] == "float"
    assert set(columns["contract"]["categories"]) == {"month-to-month", "one-year", "two-year"}
    assert not any(c["nullable"] for c in columns.values())


@pytest.mark.parametrize(
    ("column", "value", "said"),
    [
        ("contract", "ten-year", "'ten-year', but training had only 'month-to-month', "),
        ("contract", "", "'', but training had only 'month-to-month', "),
        ("monthly_charges", None, "null, but training had no missing values"),
        ("tenure_months", "twelve", "'twelve', but training had numbers"),
    ],
)
def test_each_value_outside_the_contract_is_422_on_every_protocol(churn, column, value, said):
    url, row, _ = churn
    bad = {**row, column: value}
    expected = f"row 0, column {column!r}: {said}"
    names = list(row)
    bodies = {
        "/predict": {"instances": [bad]},
        "/invocations": {"dataframe_split": {"columns": names, "data": [list(bad.values())]}},
    }
    for path, body in bodies.items():
        status, answer, _ = post(f"{url}{path}", body)
        assert status == 422 and answer["error"].startswith(expected), (path, answer)


def test_a_value_beyond_training_is_served_and_counted_in_a_header(churn):
    url, row, _ = churn
    status, answer, headers = post(f"{url}/predict", {"instances": [{**row, "support_calls": 500}]})
    assert status == 200, answer
    assert headers.get("mlcontainer-outside-training-range") == "1"
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as metrics:
        text = metrics.read().decode()
    assert 'mlcontainer_contract_violations_total{column="contract",reason="category"}' in text
    assert 'mlcontainer_feature_psi{feature="monthly_charges"}' in text
