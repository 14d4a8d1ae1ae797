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
    return make_converter(spec)(*extract(body, mlflow))


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


@pytest.mark.parametrize(
    "row, status, message",
    [
        ({**ROW, "age": True}, 422, "column 'age' expects int64 values; got booleans"),
        ({**ROW, "age": None}, 422, "column 'age' expects int64 values; got nulls or mixed types"),
        ({**ROW, "score": "high"}, 422, "column 'score' expects float32 values; got strings"),
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


def test_mixed_row_forms_are_refused():
    with pytest.raises(BadRequest, match="row 1 is a list; expected every row to be an object"):
        convert(FRAME, {"instances": [ROW, list(ROW.values())]})


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
