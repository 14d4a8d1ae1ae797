"""The Open Inference Protocol (v2) over real HTTP, driven by Triton's own client (tritonclient),
against a DataFrame model and an array model; error cases as raw requests."""

import json
import struct

import numpy as np
import pytest

httpclient = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402

NAME, VERSION = "test", "ab" * 6  # make_root's notebook is examples/test.ipynb, sha256 "abab…"


def client(server):
    return httpclient.InferenceServerClient(f"127.0.0.1:{server.port}", network_timeout=30)


def frame_inputs(frame, binary):
    """One typed input per column, as a tritonclient user builds them from a DataFrame."""
    inputs = []
    for column in frame.columns:
        values = frame[column].to_numpy()
        datatype = (
            "BYTES" if values.dtype == object else httpclient.np_to_triton_dtype(values.dtype)
        )
        tensor = httpclient.InferInput(column, [len(values)], datatype)
        inputs.append(tensor.set_data_from_numpy(values, binary_data=binary))
    return inputs


def test_health_and_metadata_through_tritonclient(churn_server):
    triton = client(churn_server)
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.is_model_ready(NAME) and triton.is_model_ready(NAME, VERSION)
    assert not triton.is_model_ready("nope")
    server = triton.get_server_metadata()
    assert server["name"] == "jupyter-mlcontainer"
    assert server["extensions"] == ["binary_tensor_data"]
    metadata = triton.get_model_metadata(NAME)
    assert metadata == triton.get_model_metadata(NAME, VERSION)
    assert metadata["name"] == NAME and metadata["versions"] == [VERSION]
    assert metadata["inputs"] == [
        {"name": "age", "datatype": "INT64", "shape": [-1]},
        {"name": "income", "datatype": "FP64", "shape": [-1]},
        {"name": "city", "datatype": "BYTES", "shape": [-1]},
        {"name": "member", "datatype": "BOOL", "shape": [-1]},
    ]
    assert metadata["outputs"] == [{"name": "predictions", "datatype": "FP64", "shape": [-1]}]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_dataframe_model_answers_tritonclient_as_the_model_does(churn_server, churn_model, binary):
    model, frame = churn_model
    rows = frame.iloc[10:17]
    outputs = [httpclient.InferRequestedOutput("predictions", binary_data=binary)]
    result = client(churn_server).infer(
        NAME, frame_inputs(rows, binary), outputs=outputs, request_id="req-7"
    )
    response = result.get_response()
    assert response["model_name"] == NAME and response["id"] == "req-7"
    (output,) = response["outputs"]
    assert output["datatype"] == "FP64" and output["shape"] == [7]
    assert ("data" in output) is not binary
    np.testing.assert_array_equal(result.as_numpy("predictions"), model.predict_proba(rows)[:, 1])


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_array_model_answers_tritonclient_as_the_model_does(iris_server, iris_model, binary):
    model, features = iris_model
    rows = features[40:60]
    tensor = httpclient.InferInput("input", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows, binary_data=binary)
    triton = client(iris_server)
    assert triton.get_model_metadata(NAME)["inputs"] == [
        {"name": "input", "datatype": "FP64", "shape": [-1, 4]}
    ]
    # Without requested outputs tritonclient asks for all of them in binary.
    outputs = None if binary else [httpclient.InferRequestedOutput("predictions", False)]
    result = triton.infer(NAME, [tensor], model_version=VERSION, outputs=outputs)
    assert result.get_output("predictions")["shape"] == [20, 3]
    np.testing.assert_array_equal(result.as_numpy("predictions"), model.predict_proba(rows))


def test_nested_json_data_and_an_unversioned_raw_request(iris_server, iris_model):
    model, features = iris_model
    rows = features[:2]
    response = iris_server.post(
        f"/v2/models/{NAME}/infer",
        {"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP64", "data": rows.tolist()}]},
    )
    assert response.status == 200, response.body
    body = response.json()
    assert body["model_version"] == VERSION and "id" not in body
    (output,) = body["outputs"]
    assert output["shape"] == [2, 3]
    assert output["data"] == model.predict_proba(rows).reshape(-1).tolist()


def test_the_client_reports_the_servers_message(churn_server, churn_model):
    _, frame = churn_model
    inputs = frame_inputs(frame.head(2), binary=True)[:3]  # no "member"
    with pytest.raises(InferenceServerException) as raised:
        client(churn_server).infer(NAME, inputs)
    assert raised.value.status() == "400"
    assert "missing input 'member'" in raised.value.message()


def churn_request(**changes):
    columns = {
        "age": ("INT64", [30, 61]),
        "income": ("FP64", [42000.5, 1.0]),
        "city": ("BYTES", ["lyon", "nice"]),
        "member": ("BOOL", [True, False]),
    }
    inputs = [
        {"name": name, "datatype": datatype, "shape": [2], "data": data}
        for name, (datatype, data) in columns.items()
    ]
    for name, change in changes.items():
        item = next(i for i in inputs if i["name"] == name)
        if change is None:
            inputs.remove(item)
        else:
            item.update(change)
    return {"inputs": inputs}


@pytest.mark.parametrize(
    "path, body, status, error",
    [
        (
            "/v2/models/nope/infer",
            churn_request(),
            404,
            "no model named 'nope'; this server serves 'test'",
        ),
        (
            "/v2/models/test/versions/7/infer",
            churn_request(),
            404,
            "model 'test' has no version '7'; its version is 'abababababab'",
        ),
        (
            "/v2/models/test/infer",
            churn_request(age={"datatype": "FP32"}),
            400,
            "input 'age' has datatype FP32; expected INT64",
        ),
        (
            "/v2/models/test/infer",
            churn_request(age={"datatype": "INT128"}),
            400,
            "input 'age' has datatype 'INT128'; expected one of ['BOOL', 'INT8', 'INT16', "
            "'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'FP16', 'FP32', 'FP64', "
            "'BYTES']",
        ),
        (
            "/v2/models/test/infer",
            churn_request(age={"data": [30.5, 61]}),
            400,
            "input 'age' is INT64: its data must be numbers; got decimal numbers",
        ),
        (
            "/v2/models/test/infer",
            churn_request(income={"data": [1.5, True]}),
            400,
            "input 'income' is FP64; got booleans",
        ),
        (
            "/v2/models/test/infer",
            churn_request(income={"data": ["2", None]}),
            400,
            "input 'income' is FP64: its data must be numbers; got strings",
        ),
        (
            "/v2/models/test/infer",
            churn_request(income={"data": 1.5, "shape": [1]}),
            400,
            "input 'income' has \"data\" 1.5; expected a list of values",
        ),
        (
            "/v2/models/test/infer",
            churn_request(city={"data": ["lyon", 3]}),
            400,
            "input 'city' is BYTES: its data must be strings",
        ),
        (
            "/v2/models/test/infer",
            churn_request(income={"shape": [3]}),
            400,
            "input 'income' has 2 values; its shape [3] needs 3",
        ),
        (
            "/v2/models/test/infer",
            churn_request(income={"shape": [1, 2]}),
            400,
            "input 'income' has shape [1, 2]; a column is [rows] or [rows, 1]",
        ),
        (
            "/v2/models/test/infer",
            churn_request(city=None),
            400,
            "missing input 'city'; the model takes inputs ['age', 'income', 'city', 'member']",
        ),
        (
            "/v2/models/test/infer",
            {"inputs": []},
            400,
            '"inputs" must be a non-empty list of {"name", "shape", "datatype", "data"}',
        ),
    ],
)
def test_bad_dataframe_requests_are_4xx_with_a_message(churn_server, path, body, status, error):
    response = churn_server.post(path, body)
    assert response.status == status, response.body
    assert response.json() == {"error": error}


def test_whole_numbers_are_integers_as_json_schema_counts_them(churn_server):
    """JSON Schema's integer admits 30.0, and so does the runtime."""
    whole = churn_server.post(f"/v2/models/{NAME}/infer", churn_request(age={"data": [30.0, 61.0]}))
    ints = churn_server.post(f"/v2/models/{NAME}/infer", churn_request())
    assert whole.status == 200 and whole.json()["outputs"] == ints.json()["outputs"]
    row = {"age": 30.0, "income": 1.0, "city": "lyon", "member": True}
    assert churn_server.post("/predict", {"instances": [row]}).status == 200


def test_a_number_no_double_holds_is_a_400(churn_server):
    body = json.dumps(churn_request(income={"data": [1.0, 0]})).replace("0]", f"{10**400}]", 1)
    response = churn_server.request(
        "POST", f"/v2/models/{NAME}/infer", body.encode(), {"Content-Type": "application/json"}
    )
    assert response.status == 400, response.body
    assert "input 'income' is FP64" in response.json()["error"]


def test_wrong_array_shape_is_a_400(iris_server):
    body = {"inputs": [{"name": "input", "shape": [2, 3], "datatype": "FP64", "data": [0.0] * 6}]}
    response = iris_server.post(f"/v2/models/{NAME}/infer", body)
    assert response.status == 400
    assert response.json() == {
        "error": "input 'input' has shape [2, 3]; the model takes [-1, 4] (-1: any size)"
    }


def binary_request(header_length=None, size=16, extra=b""):
    """A request whose [1, 4] FP64 input (32 bytes) follows the JSON as binary data."""
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": [1, 4],
                    "datatype": "FP64",
                    "parameters": {"binary_data_size": size},
                }
            ]
        }
    ).encode()
    data = struct.pack("<4d", 5.1, 3.5, 1.4, 0.2)
    length = str(len(header)) if header_length is None else header_length
    return header + data + extra, {"Inference-Header-Content-Length": length}


@pytest.mark.parametrize(
    "header_length, size, extra, error",
    [
        (
            "many",
            32,
            b"",
            "Inference-Header-Content-Length is 'many'; it must be the byte length of the JSON "
            "that starts the {total}-byte body",
        ),
        (
            "99999",
            32,
            b"",
            "Inference-Header-Content-Length is '99999'; it must be the byte length of the JSON "
            "that starts the {total}-byte body",
        ),
        ("40", 32, b"", None),  # cuts the JSON short: the parser's message
        (None, 16, b"", "input 'input' has 16 bytes of FP64 data; its shape [1, 4] needs 32"),
        (
            None,
            64,
            b"",
            "input 'input' declares binary_data_size 64 but only 32 bytes of binary data follow "
            "the inference header",
        ),
        (
            None,
            32,
            b"\0\0",
            "2 bytes after the inference header belong to no input (the inputs' "
            "binary_data_size must add up to them)",
        ),
    ],
)
def test_malformed_binary_requests_are_a_400(iris_server, header_length, size, extra, error):
    body, headers = binary_request(header_length, size, extra)
    response = iris_server.request(
        "POST",
        f"/v2/models/{NAME}/infer",
        body,
        {**headers, "Content-Type": "application/octet-stream"},
    )
    assert response.status == 400, response.body
    message = response.json()["error"]
    if error is None:
        assert message.startswith("the inference header is not a JSON inference request: ")
    else:
        assert message == error.format(total=len(body))


@pytest.mark.parametrize("where", ["request", "input", "output"])
@pytest.mark.parametrize("parameters", [[1], "x", 3])
def test_parameters_that_are_not_an_object_are_a_400(iris_server, where, parameters):
    tensor = {"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}
    request = {"inputs": [tensor]}
    owner = {"request": request, "input": tensor, "output": {"name": "predictions"}}[where]
    owner["parameters"] = parameters
    request["outputs"] = [owner] if where == "output" else None
    response = iris_server.post(f"/v2/models/{NAME}/infer", request)
    assert response.status == 400, response.body
    assert '"parameters" must be an object' in response.json()["error"]


def test_a_well_formed_binary_request_gets_binary_outputs(iris_server, iris_model):
    model, _ = iris_model
    body, headers = binary_request(size=32)
    request = json.loads(body[: int(headers["Inference-Header-Content-Length"])])
    request["parameters"] = {"binary_data_output": True}
    header = json.dumps(request).encode()
    response = iris_server.request(
        "POST",
        f"/v2/models/{NAME}/infer",
        header + body[-32:],
        {"Inference-Header-Content-Length": str(len(header))},
    )
    assert response.status == 200, response.body
    assert response.headers["Content-Type"] == "application/octet-stream"
    length = int(response.headers["Inference-Header-Content-Length"])
    answer = json.loads(response.body[:length])
    (output,) = answer["outputs"]
    assert output == {
        "name": "predictions",
        "datatype": "FP64",
        "shape": [1, 3],
        "parameters": {"binary_data_size": 24},
    }
    values = np.frombuffer(response.body[length:], "<f8").reshape(1, 3)
    np.testing.assert_array_equal(values, model.predict_proba([[5.1, 3.5, 1.4, 0.2]]))


def test_unknown_routes_and_methods_under_v2(churn_server):
    assert churn_server.get("/v2/models/test/explain").status == 404
    wrong = churn_server.get("/v2/models/test/infer")
    assert wrong.status == 405 and wrong.headers["Allow"] == "POST"
    assert churn_server.get("/v2/models/nope").json() == {
        "error": "no model named 'nope'; this server serves 'test'"
    }
    metrics = churn_server.get("/metrics").body.decode()  # labelled by route, not by model name
    assert 'mlcontainer_requests_total{route="/v2/models/{model_name}",status="404"}' in metrics
    assert 'route="other",status="404"' in metrics


def test_the_openapi_document_lists_v2_and_stays_valid(churn_server):
    from openapi_spec_validator import validate

    document = churn_server.get("/openapi.json").json()
    validate(document)
    assert {
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/{model_name}",
        "/v2/models/{model_name}/ready",
        "/v2/models/{model_name}/infer",
        "/v2/models/{model_name}/versions/{model_version}/infer",
    } <= set(document["paths"])
    infer = document["paths"]["/v2/models/{model_name}/infer"]["post"]
    assert infer["parameters"][0]["schema"]["enum"] == [NAME]
    example = infer["requestBody"]["content"]["application/json"]["example"]
    assert [i["name"] for i in example["inputs"]] == ["age", "income", "city", "member"]
    assert churn_server.post(f"/v2/models/{NAME}/infer", example).status == 200
    request = document["components"]["schemas"]["InferenceRequest"]
    assert request["properties"]["outputs"]["items"]["properties"]["name"]["enum"] == [
        "predictions"
    ]
    asked = {**example, "outputs": [{"name": "predictions"}]}
    assert churn_server.post(f"/v2/models/{NAME}/infer", asked).status == 200
    asked = {**example, "outputs": [{"name": ""}]}
    assert churn_server.post(f"/v2/models/{NAME}/infer", asked).status == 400


def test_the_document_allows_only_the_requests_the_model_takes(serve, churn_contract_root):
    """Names, datatypes, a shape its data fills and columns of one length: what the runtime
    checks, the document says, so that every request it allows is served."""
    from jsonschema import Draft202012Validator

    churn_server = serve(churn_contract_root)
    document = churn_server.get("/openapi.json").json()
    validator = Draft202012Validator(
        {"$ref": "#/components/schemas/InferenceRequest", "components": document["components"]}
    )
    refused = [
        churn_request(income={"shape": [3]}),  # 2 values
        churn_request(age={"data": [30]}, income={"data": [1.0]}),  # columns of 1 and 2 rows
        churn_request(age={"datatype": "FP64"}),
        churn_request(city=None),
        churn_request(city={"data": ["lyon", "oslo"]}),  # training had no oslo
        churn_request(income={"data": [1.0, None]}),  # nor a missing income
        churn_request(income={"data": [1.0, 1e12]}),  # out of all proportion
        churn_request(city={"parameters": {"binary_data_size": 8}}),  # no binary data follows
    ]
    for body in refused:
        assert not validator.is_valid(body), body
        assert 400 <= churn_server.post(f"/v2/models/{NAME}/infer", body).status < 500, body
    served = [churn_request(), churn_request(income={"data": [1.0, 1e9]})]
    for body in served:
        validator.validate(body)
        assert churn_server.post(f"/v2/models/{NAME}/infer", body).status == 200, body


def test_the_metadata_names_the_outputs_as_the_answer_does():
    """A DataFrame's columns and a dict's keys are separate outputs in the answer
    (output_arrays), so the metadata, and the document's output names, list them so too."""
    from jupyter_mlcontainer.runtime.v2 import output_tensors

    def described(predictions):
        return [(t["name"], t["datatype"]) for t in output_tensors({"expected": predictions})]

    assert described({"predictions": [0.1, 0.2]}) == [("predictions", "FP64")]
    rows = [{"label": "a", "score": 0.9}, {"label": "b", "score": 0.1}]
    assert described({"predictions": rows}) == [("label", "BYTES"), ("score", "FP64")]
    assert described({"predictions": {"mean": [1.0], "n": [3]}}) == [
        ("mean", "FP64"),
        ("n", "INT64"),
    ]
    assert [t["name"] for t in output_tensors(None)] == ["predictions"]


def test_outputs_are_typed_from_what_the_model_returns():
    """Text, booleans and a DataFrame's columns, in JSON and in binary (length-prefixed BYTES)."""
    import pandas as pd

    from jupyter_mlcontainer.runtime.v2 import infer_response

    frame = pd.DataFrame({"label": ["yes", "no"], "score": [0.5, 0.25], "flag": [True, False]})
    status, body, content_type, headers = infer_response(frame, {}, "m", "1", None)
    assert (status, content_type, headers) == (200, b"application/json", [])
    assert json.loads(body)["outputs"] == [
        {"name": "label", "datatype": "BYTES", "shape": [2], "data": ["yes", "no"]},
        {"name": "score", "datatype": "FP64", "shape": [2], "data": [0.5, 0.25]},
        {"name": "flag", "datatype": "BOOL", "shape": [2], "data": [True, False]},
    ]
    request = {"parameters": {"binary_data_output": True}}
    wanted = {"label": None, "flag": False}
    _, body, content_type, headers = infer_response(frame, request, "m", "1", wanted)
    length = int(dict(headers)[b"inference-header-content-length"])
    header = json.loads(body[:length])
    assert content_type == b"application/octet-stream"
    assert [o["name"] for o in header["outputs"]] == ["label", "flag"]
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 4 + 3 + 4 + 2}
    assert body[length:] == struct.pack("<I", 3) + b"yes" + struct.pack("<I", 2) + b"no"
    assert header["outputs"][1]["data"] == [True, False]


@pytest.mark.parametrize(
    "request_id", [{}, 3, None, ["1"]], ids=["object", "number", "null", "list"]
)
def test_an_id_that_is_not_a_string_is_a_400(iris_server, request_id):
    """The answer echoes the id, and the protocol (and the document) types it as a string."""
    tensor = {"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}
    response = iris_server.post(f"/v2/models/{NAME}/infer", {"id": request_id, "inputs": [tensor]})
    assert response.status == 400, response.body
    assert response.json()["error"].startswith('"id" must be a string')
    request = {"id": "a-1", "inputs": [tensor]}
    assert iris_server.post(f"/v2/models/{NAME}/infer", request).json()["id"] == "a-1"
