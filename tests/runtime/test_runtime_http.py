"""Every route and every error case of the runtime, through real HTTP against a subprocess."""

import json
import math
import re
import socket

import pytest

ROW = {"age": 30, "income": 42000.5, "city": "lyon", "member": True}
MAX_BODY = 4096


@pytest.fixture(scope="module")
def server(serve_per_module, churn_root):
    return serve_per_module(churn_root, MLCONTAINER_MAX_BODY_BYTES=MAX_BODY)


@pytest.fixture
def own_server(serve, churn_root):
    """A server of the test's own, for tests that count requests or stop it."""
    return serve(churn_root)


def expected_for(churn_model, rows):
    import pandas as pd

    model, frame = churn_model
    frame = pd.DataFrame(rows, columns=list(frame.columns)).astype(frame.dtypes.to_dict())
    return model.predict_proba(frame)[:, 1].tolist()


def assert_close(actual, expected):
    assert len(actual) == len(expected)
    assert all(math.isclose(a, e, rel_tol=1e-9) for a, e in zip(actual, expected, strict=False))


def test_predict_accepts_rows_as_objects_and_lists_and_columns(server, churn_model):
    expected = expected_for(churn_model, [ROW, {**ROW, "age": 61, "member": False}])
    objects = server.post("/predict", {"instances": [ROW, {**ROW, "age": 61, "member": False}]})
    lists = server.post(
        "/predict", {"instances": [list(ROW.values()), [61, 42000.5, "lyon", False]]}
    )
    columns = server.post(
        "/predict",
        {"inputs": {k: [v, {"age": 61, "member": False}.get(k, v)] for k, v in ROW.items()}},
    )
    for response in (objects, lists, columns):
        assert response.status == 200, response.body
        assert response.headers["Content-Type"] == "application/json"
        assert_close(response.json()["predictions"], expected)


def test_invocations_accepts_the_mlflow_forms(server, churn_model):
    expected = expected_for(churn_model, [ROW])
    bodies = [
        {"instances": [ROW]},
        {"inputs": {k: [v] for k, v in ROW.items()}},
        {"dataframe_records": [ROW]},
        {
            "dataframe_split": {
                "columns": list(reversed(ROW)),
                "data": [list(reversed(ROW.values()))],
            }
        },
    ]
    for body in bodies:
        response = server.post("/invocations", body)
        assert response.status == 200, (body, response.body)
        assert_close(response.json()["predictions"], expected)


def test_probes(server):
    for path in ("/health", "/ping", "/ready"):
        assert server.get(path).status == 200, path
    assert server.get("/ready").json()["load_seconds"] > 0


def test_metadata_describes_the_contract(server, churn_root):
    metadata = server.get("/metadata").json()
    assert metadata["input"]["columns"] == ["age", "income", "city", "member"]
    assert metadata["input"]["dtypes"]["age"] == "int64"
    assert metadata["entry"] == {"kind": "function", "name": "predict"}
    assert metadata["packages"] == {"numpy": "2.4.6"}
    assert re.fullmatch(r"3\.\d+\.\d+", metadata["python"])
    assert metadata["notebook"]["path"] == "examples/test.ipynb"
    assert metadata["sample"] == json.loads((churn_root / "sample.json").read_text())["request"]


def test_openapi_document_follows_the_input_schema(server, churn_root):
    document = server.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    post = document["paths"]["/predict"]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    instances = next(alt for alt in schema["oneOf"] if alt["required"] == ["instances"])
    row = instances["properties"]["instances"]["anyOf"][0]["items"]
    assert row["required"] == ["age", "income", "city", "member"]
    assert row["properties"]["age"]["type"] == "integer"
    assert row["properties"]["income"]["type"] == ["number", "null"]
    assert row["properties"]["member"]["type"] == "boolean"
    assert schema["example"] == json.loads((churn_root / "sample.json").read_text())["request"]
    assert {"200", "400", "413", "422", "500", "503"} <= set(post["responses"])
    assert {"/invocations", "/health", "/ready", "/metadata", "/metrics", "/ping"} <= set(
        document["paths"]
    )


def test_metrics_count_requests_and_latency(own_server):
    server = own_server
    server.post("/predict", {"instances": [ROW]})
    server.post("/predict", {"nothing": 1})
    server.get("/nowhere")
    response = server.get("/metrics")
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.body.decode()
    assert 'mlcontainer_requests_total{route="/predict",status="200"} 1' in text
    assert 'mlcontainer_requests_total{route="/predict",status="400"} 1' in text
    assert 'mlcontainer_requests_total{route="other",status="404"} 1' in text
    assert 'mlcontainer_request_duration_seconds_bucket{route="/predict",le="+Inf"} 2' in text
    assert 'mlcontainer_request_duration_seconds_count{route="/predict"} 2' in text
    assert "mlcontainer_model_ready 1" in text
    load = float(re.search(r"^mlcontainer_model_load_seconds (\S+)$", text, re.MULTILINE).group(1))
    assert load > 0


@pytest.mark.parametrize(
    "body, status, words",
    [
        (b"{not json", 400, ["not valid JSON", "instances"]),
        ({"rows": [ROW]}, 400, ['{"instances"', '{"inputs"', "'rows'"]),
        ({"instances": {"age": 3}}, 400, ['"instances" must be a list']),
        ({"instances": []}, 400, ["at least one row"]),
        (
            {"instances": [{"age": 30, "income": 1.0, "member": True}]},
            400,
            ["row 0 lacks column 'city'"],
        ),
        (
            {"instances": [[30, 1.0, "lyon"]]},
            400,
            ["row 0 has 3 values", "4 values", "'age', 'income', 'city', 'member'"],
        ),
        ({"inputs": {"age": [30], "income": [1.0], "city": ["x"]}}, 400, ["lacks column 'member'"]),
        (
            {"inputs": {**{k: [v] for k, v in ROW.items()}, "age": [1, 2]}},
            400,
            ["different lengths"],
        ),
        ({"instances": [{**ROW, "age": "thirty"}]}, 422, ["column 'age'", "int64", "strings"]),
        ({"instances": [{**ROW, "age": 30.5}]}, 422, ["column 'age'", "int64", "decimal numbers"]),
        ({"instances": [{**ROW, "income": "lots"}]}, 422, ["column 'income'", "float64"]),
        ({"instances": [{**ROW, "member": "yes"}]}, 422, ["column 'member'", "bool"]),
        (
            {"instances": [{**ROW, "age": 2**63}]},
            422,
            ["column 'age'", "int64", "from -9223372036854775808 to 9223372036854775807"],
        ),
    ],
)
def test_bad_requests_say_what_was_expected(server, body, status, words):
    response = server.post("/predict", body)
    assert response.status == status, response.body
    message = response.json()["error"]
    for word in words:
        assert word in message, message


def test_a_malformed_dataframe_split_is_a_400(server):
    response = server.post("/invocations", {"dataframe_split": {"columns": 5, "data": [[1, 2]]}})
    assert response.status == 400, response.body
    assert '"columns" must be a list of strings' in response.json()["error"]


def test_deeply_nested_json_is_a_400_and_counted(own_server):
    response = own_server.post("/predict", b"[" * 4000)
    assert response.status == 400, response.body
    # Python 3.11 runs out of recursion ("nested too deeply"); newer ones call it invalid JSON.
    assert response.json()["error"].startswith("request body is")
    metrics = own_server.get("/metrics").body.decode()
    assert 'mlcontainer_requests_total{route="/predict",status="400"} 1' in metrics


def test_null_in_a_float_column_is_a_missing_value(server):
    response = server.post("/predict", {"instances": [{**ROW, "income": None}]})
    # The model itself rejects NaN: the runtime passed it through and reports the model's error.
    assert response.status == 500
    assert response.json()["error"].startswith("ValueError: ")


def test_unknown_route_and_wrong_method(server):
    missing = server.get("/nowhere")
    assert missing.status == 404 and "/predict" in missing.json()["error"]
    wrong = server.get("/predict")
    assert wrong.status == 405
    assert wrong.headers["Allow"] == "POST"
    assert "use POST" in wrong.json()["error"]
    assert server.post("/health", {}).status == 405


def test_body_over_the_limit_is_refused(server):
    big = json.dumps({"instances": [ROW] * 2000}).encode()  # about 140 kB, 35 times the limit
    for _ in range(3):  # a client still sending when refused must read the 413, not a broken pipe
        declared = server.post("/predict", big)
        assert declared.status == 413, declared.body
        assert f"{len(big)} bytes exceeds the limit of {MAX_BODY}" in declared.json()["error"]
        chunks = (big[i : i + 1000] for i in range(0, len(big), 1000))  # no Content-Length: chunked
        streamed = server.request("POST", "/predict", chunks, {"Content-Type": "application/json"})
        assert streamed.status == 413, streamed.body
        assert f"exceeds the limit of {MAX_BODY}" in streamed.json()["error"]
    assert server.post("/predict", {"instances": [ROW]}).status == 200


def test_a_client_expecting_100_continue_is_refused_before_it_sends(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 999999999\r\nExpect: 100-continue\r\n\r\n"
        )
        answer = b""
        while b"}" not in answer:  # the status line, headers, then the JSON body
            data = connection.recv(65536)
            assert data, answer
            answer += data
        answer = answer.decode()
    assert answer.startswith("HTTP/1.1 413 "), answer
    assert "999999999 bytes exceeds the limit" in answer


def test_a_model_exception_is_a_500_and_the_server_keeps_serving(own_server):
    server = own_server
    response = server.post("/predict", {"instances": [{**ROW, "city": "boom"}]})
    assert response.status == 500
    assert response.json() == {"error": "ValueError: no city called boom"}
    assert server.post("/predict", {"instances": [ROW]}).status == 200
    stderr = server.stop()
    assert "Traceback" in stderr and "no city called boom" in stderr
