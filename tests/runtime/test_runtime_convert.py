"""JSON → model input per serving.json, and model output → JSON."""

import math

import numpy as np
import pandas as pd
import pytest

from jupyter_mlcontainer.runtime.convert import (
    BadRequest,
    decode,
    extract,
    make_converter,
    to_jsonable,
)
from jupyter_mlcontainer.runtime.spec import InputSpec

FRAME = {
    "kind": "dataframe",
    "columns": ["age", "score", "city", "member", "plan", "visits"],
    "dtypes": {
        "age": "int64",
        "score": "float32",
        "city": "object",
        "member": "bool",
        "plan": "category",
        "visits": "Int64",
    },
}
ROW = {"visits": 3, "plan": "gold", "member": True, "city": "lyon", "score": 0.5, "age": 30}


def convert(spec, body, mlflow=False):
    return make_converter(InputSpec.from_dict(spec))(*extract(body, mlflow))


def test_dataframe_from_rows_has_the_columns_in_order_and_the_dtypes():
    for rows in ([ROW], [ROW, {**ROW, "visits": None, "city": 7}]):
        frame = convert(FRAME, {"instances": rows})
        assert list(frame.columns) == FRAME["columns"]
        assert {c: str(t) for c, t in frame.dtypes.items()} == FRAME["dtypes"]
    assert frame["city"].tolist() == ["lyon", 7]
    assert frame["visits"].isna().tolist() == [False, True]


def test_all_dataframe_forms_give_the_same_frame():
    values = [ROW[c] for c in FRAME["columns"]]
    forms = [
        ({"instances": [values]}, False),
        ({"inputs": {c: [v] for c, v in ROW.items()}}, False),
        ({"inputs": [ROW]}, False),
        ({"dataframe_records": [ROW]}, True),
        ({"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())]}}, True),
    ]
    reference = convert(FRAME, {"instances": [ROW]})
    for body, mlflow in forms:
        pd.testing.assert_frame_equal(convert(FRAME, body, mlflow), reference)


def test_mlflow_forms_only_on_invocations():
    with pytest.raises(BadRequest) as error:
        extract({"dataframe_records": [ROW]})
    assert error.value.status == 400 and "dataframe_split" not in error.value.message
    with pytest.raises(BadRequest, match="dataframe_split"):
        extract({"rows": []}, mlflow=True)


def test_a_key_beside_the_form_is_ignored_as_the_document_says():
    """A TF-Serving client sends "signature_name" beside "instances"."""
    assert extract({"instances": [ROW], "signature_name": "serving_default"}) == ("rows", [ROW])
    with pytest.raises(BadRequest, match="exactly one of"):
        extract({"instances": [ROW], "inputs": {}})


@pytest.mark.parametrize(
    "row, status, message",
    [
        ({**ROW, "age": True}, 422, "column 'age' expects int64 values; got booleans"),
        ({**ROW, "age": None}, 422, "column 'age' expects int64 values; got nulls or mixed types"),
        ({**ROW, "score": "high"}, 422, "column 'score' expects float32 values; got strings"),
        # numpy would read these as 1.0 and 2.0, beside a null
        ({**ROW, "score": True}, 422, "column 'score' expects float32 values; got booleans"),
        ({**ROW, "age": 3.5}, 422, "column 'age' expects int64 values; got decimal numbers"),
        ({**ROW, "member": 1}, 422, "column 'member' expects bool values; got integers"),
        ({**ROW, "visits": "many"}, 422, "column 'visits' expects Int64 values"),
        ({k: v for k, v in ROW.items() if k != "plan"}, 400, "row 0 lacks column 'plan'"),
    ],
)
def test_wrong_values_name_the_column_and_dtype(row, status, message):
    with pytest.raises(BadRequest) as error:
        convert(FRAME, {"instances": [row]})
    assert error.value.status == status
    assert message in error.value.message


@pytest.mark.parametrize(
    "split, words",
    [
        ([[1, 2]], ['"dataframe_split" must be', "got a list"]),
        ({"columns": 5, "data": [[1, 2]]}, ['"columns" must be a list of strings', "got a number"]),
        ({"columns": [["age"]], "data": [[1]]}, ['"columns"', "got a list at index 0"]),
        ({"columns": ["age", None], "data": [[1, 2]]}, ['"columns"', "got null at index 1"]),
        ({"columns": ["age"], "data": 5}, ['"data" must be a list of rows', "got a number"]),
        ({"columns": ["age"], "data": [[1], 2]}, ['"data"', "got a number at index 1"]),
    ],
)
def test_malformed_dataframe_split_is_a_bad_request(split, words):
    with pytest.raises(BadRequest) as error:
        convert(FRAME, {"dataframe_split": split}, mlflow=True)
    assert error.value.status == 400
    for word in words:
        assert word in error.value.message


@pytest.mark.parametrize(
    "spec, values, words",
    [
        ({"kind": "ndarray", "dtype": "uint8"}, [-1, 300], ["uint8", "from 0 to 255", "-1 to 300"]),
        ({"kind": "ndarray", "dtype": "int32"}, [1, 2**40], ["int32", "to 2147483647", str(2**40)]),
        ({"kind": "ndarray", "dtype": "int64"}, [2**63], ["int64", "to 9223372036854775807"]),
        ({"kind": "dataframe", "columns": ["n"], "dtypes": {"n": "int8"}}, [128], ["column 'n'"]),
    ],
)
def test_integers_out_of_the_dtype_range_are_refused_not_wrapped(spec, values, words):
    with pytest.raises(BadRequest) as error:
        convert(spec, {"inputs": {"n": values} if spec["kind"] == "dataframe" else values})
    assert error.value.status == 422
    for word in words:
        assert word in error.value.message
    edges = convert({"kind": "ndarray", "dtype": "uint8"}, {"inputs": [0, 255]})
    assert edges.tolist() == [0, 255] and edges.dtype == np.uint8


def test_mixed_row_forms_are_refused():
    with pytest.raises(BadRequest, match="row 1 is a list; expected every row to be an object"):
        convert(FRAME, {"instances": [ROW, list(ROW.values())]})


@pytest.mark.parametrize(
    "values, words",
    [
        ([1.5, None, True], "got booleans among numbers"),
        ([1.5, None, "2"], "got strings among numbers"),
        ([[1.5], [True]], "got booleans among numbers"),
    ],
)
def test_no_number_is_read_from_a_boolean_or_a_string(values, words):
    spec = {
        "kind": "ndarray",
        "dtype": "float64",
        "shape": [None] * (1 + isinstance(values[0], list)),
    }
    with pytest.raises(BadRequest, match=words) as refused:
        convert(spec, {"instances": values})
    assert refused.value.status == 422


def test_whole_numbers_are_integers_and_keep_every_digit():
    """JSON Schema counts 30.0 an integer; beside it, 2**53 + 1 must not become 2**53."""
    spec = {"kind": "ndarray", "dtype": "int64", "shape": [None]}
    array = convert(spec, {"instances": [2**53 + 1, 30.0]})
    assert array.dtype == np.int64 and array.tolist() == [2**53 + 1, 30]


def test_a_one_axis_arrays_split_rows_hold_one_value_each():
    spec = {"kind": "ndarray", "dtype": "float64", "shape": [None]}
    array = convert(spec, {"dataframe_split": {"data": [[1.5], [2.5]]}}, mlflow=True)
    assert array.shape == (2,) and array.tolist() == [1.5, 2.5]


def test_ndarray_and_list_kinds():
    spec = {"kind": "ndarray", "dtype": "int32", "shape": [None, 2, 2]}
    array = convert(spec, {"inputs": [[[1, 2], [3, 4]]]})
    assert array.dtype == np.int32 and array.shape == (1, 2, 2)
    with pytest.raises(BadRequest, match=r"shape \[\*, 2, 2\] .* got shape \[1, 2\]"):
        convert(spec, {"inputs": [[1, 2]]})
    assert convert({"kind": "list"}, {"instances": [{"text": "hi"}]}) == [{"text": "hi"}]
    assert convert({"kind": "list"}, {"inputs": "hello"}) == "hello"


def test_decode_refuses_what_is_not_json():
    assert decode(b'{"inputs": [1]}') == {"inputs": [1]}
    for body in (b"{", b"\xff\xfe", b""):
        with pytest.raises(BadRequest) as error:
            decode(body)
        assert error.value.status == 400 and "not valid JSON" in error.value.message
    with pytest.raises(BadRequest) as error:
        decode(b"[" * 100_000)
    assert error.value.status == 400 and "nested too deeply" in error.value.message


def test_outputs_become_plain_json():
    torch = pytest.importorskip("torch")
    frame = pd.DataFrame({"label": ["a", "b"], "p": np.array([0.25, 0.75], dtype="float32")})
    output = {
        "array": np.arange(4).reshape(2, 2),
        "scalar": np.float64(0.5),
        "series": pd.Series([1, 2], dtype="int8"),
        "frame": frame,
        "tensor": torch.tensor([[1.5, float("nan")]], requires_grad=True),
        "tuple": (np.int64(3), np.bool_(True), None),
        "when": pd.Timestamp("2024-05-01T12:00"),
    }
    result = to_jsonable(output)
    assert result == {
        "array": [[0, 1], [2, 3]],
        "scalar": 0.5,
        "series": [1, 2],
        "frame": [{"label": "a", "p": 0.25}, {"label": "b", "p": 0.75}],
        "tensor": [[1.5, None]],
        "tuple": [3, True, None],
        "when": "2024-05-01T12:00:00",
    }
    assert type(result["tuple"][0]) is int and type(result["scalar"]) is float
    assert to_jsonable(math.inf) is None
    with pytest.raises(TypeError, match="returned object, which has no JSON form"):
        to_jsonable(object())


@pytest.mark.parametrize("cell", [[None, None], [1.5], [], {"a": 1}, [[1]], {}])
@pytest.mark.parametrize("column", FRAME["columns"])
def test_a_cell_holding_a_list_or_an_object_is_a_422_naming_the_column(cell, column):
    bodies = [
        ({"instances": [{**ROW, column: cell}]}, False),
        ({"instances": [[{**ROW, column: cell}[c] for c in FRAME["columns"]]]}, False),
        ({"inputs": {**{c: [v] for c, v in ROW.items()}, column: [cell]}}, False),
        (
            {
                "dataframe_split": {
                    "columns": list(ROW),
                    "data": [list({**ROW, column: cell}.values())],
                }
            },
            True,
        ),
    ]
    for body, mlflow in bodies:
        with pytest.raises(BadRequest) as error:
            convert(FRAME, body, mlflow)
        assert error.value.status == 422
        assert f"column {column!r} row 0 holds" in error.value.message
