"""JSON bodies → the model's input as serving.json "input" describes it; model output → JSON.

numpy, pandas and torch are imported only when the input kind needs them, so a model that takes
plain lists starts without them.
"""

import math
from itertools import chain

from . import fastjson
from .contract import expected_body, forms_for
from .spec import InputSpec

EXPECTED_BODY = expected_body(mlflow=False)

# For each numpy target kind, the kinds numpy may infer from JSON values that cast without loss.
_COMPATIBLE = {"i": "iu", "u": "iu", "f": "iufO", "c": "iufcO", "b": "b"}
_KIND_WORDS = {
    "i": "integers",
    "u": "integers",
    "f": "decimal numbers",
    "b": "booleans",
    "U": "strings",
    "O": "nulls or mixed types",
    "V": "objects",
}
_JSON_WORDS = {bool: "booleans", str: "strings"}


class BadRequest(Exception):
    """The request cannot be turned into the model's input; `status` is the HTTP status to answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _not_json(literal):
    raise BadRequest(
        400, f"request body holds {literal}, which is not JSON; send null for a missing value"
    )


def decode(body: bytes):
    """Parse a request body, saying what was expected when it is not JSON.

    Python's parser takes NaN and Infinity, which JSON does not have: they are refused here, so
    that a model never sees an infinity a client sent by mistake.
    """
    try:
        return fastjson.loads(body, _not_json)
    except ValueError as error:
        raise BadRequest(
            400, f"request body is not valid JSON ({error}); expected {EXPECTED_BODY}"
        ) from None
    except RecursionError:  # e.g. thousands of "[": the parser recurses once per level
        raise BadRequest(
            400, f"request body is nested too deeply to parse; expected {EXPECTED_BODY}"
        ) from None


def extract(payload, mlflow: bool = False):
    """Which form the body uses (contract.REQUEST_FORMS): ("rows", list), ("inputs", value) or
    ("split", (columns, data)). A body must carry exactly one form; other keys (a TF-Serving
    client's "signature_name") are ignored, as the document says."""
    forms = forms_for(mlflow)
    given = [f for f in forms if isinstance(payload, dict) and f.key in payload]
    if len(given) != 1:
        got = (
            f"an object with keys {sorted(payload)}"
            if isinstance(payload, dict)
            else _json_type(payload)
        )
        raise BadRequest(400, f"expected exactly one of {expected_body(mlflow)}; got {got}")
    form = given[0]
    value = payload[form.key]
    if form.shape == "rows":
        if not isinstance(value, list):
            raise BadRequest(
                400, f'"{form.key}" must be {form.description}; got {_json_type(value)}'
            )
        return "rows", value
    if form.shape == "split":
        return "split", _split(value)
    return "inputs", value


def _split(split):
    """(columns, data) of an MLflow split, checked here since columns index rows and name columns."""
    expected = '"dataframe_split" must be {"columns": ["name", ...], "data": [[...], ...]}'
    if not isinstance(split, dict):
        raise BadRequest(400, f"{expected}; got {_json_type(split)}")
    columns, data = split.get("columns"), split.get("data")
    wrong = columns is not None and _not_list_of(columns, str)
    if wrong:
        raise BadRequest(400, f'{expected}: "columns" must be a list of strings; got {wrong}')
    wrong = _not_list_of(data, list)
    if wrong:
        raise BadRequest(400, f'{expected}: "data" must be a list of rows (lists); got {wrong}')
    return columns, data


def _not_list_of(value, kind):
    """What `value` is instead of a list of `kind` items, for a message; None when it is one."""
    if not isinstance(value, list):
        return _json_type(value)
    for i, item in enumerate(value):
        if not isinstance(item, kind):
            return f"{_json_type(item)} at index {i}"
    return None


def make_converter(spec: InputSpec):
    """A function (form, value) → model input for serving.json's "input" section."""
    if spec.kind == "dataframe":
        return _dataframe_converter(spec)
    if spec.kind in ("ndarray", "tensor"):
        return _array_converter(spec, tensor=spec.kind == "tensor")
    return _list_input


def _list_input(form, value):
    return list(value[1]) if form == "split" else value


def _dataframe_converter(spec):
    import pandas as pd

    columns = list(spec.columns)
    declared = spec.dtypes
    dtypes = {c: pd.api.types.pandas_dtype(declared[c]) if c in declared else None for c in columns}

    def convert(form, value):
        data = columns_of(form, value, columns)
        for c in columns:
            _check_cells(data[c], c)
        cast = {c: _cast_column(data[c], dtypes[c], c) for c in columns}
        return pd.DataFrame(cast, columns=columns, copy=False)

    return convert


def columns_of(form, value, columns):
    """Rows of objects, rows of lists, a columnar object or an MLflow split → {column: [values]}."""
    expected = f"columns {columns}"
    if form == "split":
        names, data = value
        if names is None:
            names = columns
        rows = _list_rows(data, names)
        index = {name: i for i, name in enumerate(names)}
        missing = [c for c in columns if c not in index]
        if missing:
            raise BadRequest(
                400, f"dataframe_split lacks column {missing[0]!r}; expected {expected}"
            )
        return {c: [row[index[c]] for row in rows] for c in columns}
    if form == "inputs" and isinstance(value, dict):
        for c in columns:
            if c not in value:
                raise BadRequest(
                    400, f'"inputs" lacks column {c!r}; expected an object with {expected}'
                )
            if not isinstance(value[c], list):
                raise BadRequest(
                    400, f'"inputs"[{c!r}] must be a list of values; got {_json_type(value[c])}'
                )
        lengths = {len(value[c]) for c in columns}
        if len(lengths) > 1:
            raise BadRequest(400, f'"inputs" columns have different lengths {sorted(lengths)}')
        if lengths == {0}:
            raise BadRequest(400, f"expected at least one row with {expected}")
        return {c: value[c] for c in columns}  # the model's columns only, of one length
    if not isinstance(value, list):
        raise BadRequest(
            400, f"expected a list of rows or an object of columns; got {_json_type(value)}"
        )
    if not value:
        raise BadRequest(400, f"expected at least one row with {expected}")
    if isinstance(value[0], dict):
        try:
            return {c: [row[c] for row in value] for c in columns}
        except (KeyError, TypeError):
            raise BadRequest(400, _bad_object_rows(value, columns)) from None
    rows = _list_rows(value, columns)
    return {c: [row[i] for row in rows] for i, c in enumerate(columns)}


def _list_rows(rows, columns):
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(columns):
            got = f"{len(row)} values" if isinstance(row, list) else _json_type(row)
            raise BadRequest(
                400,
                f"row {i} has {got}; expected a list of {len(columns)} values in column order {columns}",
            )
    return rows


def _bad_object_rows(rows, columns):
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            return f"row {i} is {_json_type(row)}; expected every row to be an object with columns {columns}"
        for c in columns:
            if c not in row:
                return f"row {i} lacks column {c!r}; expected columns {columns}"
    return f"expected rows with columns {columns}"


_SCALARS = (str, int, float, bool, type(None))


def _check_cells(values, column):
    """A DataFrame cell holds one value: a list or an object there would either crash pandas
    (arrays must be 1-dimensional) or reach the model as a Python object it cannot use."""
    for i, value in enumerate(values):
        if not isinstance(value, _SCALARS):
            raise BadRequest(
                422,
                f"column {column!r} row {i} holds {_json_type(value)}; expected one value "
                "(a number, string, boolean or null) per cell",
            )


def _cast_column(values, dtype, column):
    import numpy as np

    where = f"column {column!r}"
    if dtype is None:
        return values
    if isinstance(dtype, np.dtype) and dtype.kind != "O":
        return _cast(values, dtype, where)
    import pandas as pd

    # A Series, not an array: pandas would infer its "str" dtype from an object array of strings.
    try:
        return pd.Series(values, dtype=dtype)
    except (ValueError, TypeError) as error:  # extension dtypes: category, string, Int64, ...
        raise BadRequest(422, f"{where} expects {dtype} values: {error}") from None


def whole_numbers(array, value, dtype):
    """numpy's float reading of the JSON `value` as integers of `dtype` when every value is a
    whole number (JSON Schema counts 5.0 an integer, and so does the runtime), converted from the
    values as sent: beside a float, an integer above 2**53 lost digits in `array`. Any other
    array, and integers `dtype` cannot hold, come back unchanged."""
    import numpy as np

    if array.dtype.kind != "f" or not array.size:
        return array
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(array).all() and (array == np.floor(array)).all()
    if not whole:
        return array
    try:
        return np.array(value, dtype=object).astype(dtype)
    except (OverflowError, TypeError, ValueError):
        return array


def leaf_types(value) -> set:
    """The types of the values in `value`'s nested lists, which numpy read as one array (so all
    lists are of one depth): a boolean or a string there is no number, though numpy may take
    `true` as 1 and `"2"` as 2.0."""
    if not isinstance(value, list):
        return {type(value)}
    while value and isinstance(value[0], list):
        value = list(chain.from_iterable(value))
    return set(map(type, value))


def _cast(value, dtype, where):
    """numpy array of `dtype`, refusing values that would change meaning (a string for an int).

    Integers outside the dtype's range are refused too: astype would wrap them (300 → 44 in uint8).
    """
    import numpy as np

    try:
        array = np.asarray(value)
    except ValueError as error:
        raise BadRequest(
            422, f"{where} is not a rectangular array of {dtype} values: {error}"
        ) from None
    if dtype.kind in "iu":
        array = whole_numbers(array, value, dtype)
    allowed = _COMPATIBLE.get(dtype.kind)
    if allowed is not None and array.dtype.kind not in allowed:
        got = _KIND_WORDS.get(array.dtype.kind, str(array.dtype))
        raise BadRequest(422, f"{where} expects {dtype} values; got {got}")
    if dtype.kind in "iuf" and array.dtype.kind in "iufO":
        foreign = leaf_types(value) & {bool, str}
        if foreign:
            got = " and ".join(sorted(_JSON_WORDS[t] for t in foreign))
            raise BadRequest(422, f"{where} expects {dtype} values; got {got} among numbers")
    if dtype.kind in "iu" and array.size:
        low, high, limits = int(array.min()), int(array.max()), np.iinfo(dtype)
        if low < limits.min or high > limits.max:
            raise BadRequest(
                422,
                f"{where} expects {dtype} values from {limits.min} to {limits.max}; got {low} to {high}",
            )
    try:
        return array.astype(dtype, copy=False)
    except (ValueError, TypeError, OverflowError) as error:
        raise BadRequest(422, f"{where} expects {dtype} values: {error}") from None


def _array_converter(spec, tensor):
    import numpy as np

    dtype = np.dtype(spec.dtype)
    shape = spec.shape

    def convert(form, value):
        if form == "split":
            value = value[1]
            if shape is not None and len(shape) == 1 and all(len(row) == 1 for row in value):
                value = [row[0] for row in value]  # a one-axis array's rows: one value each
        if isinstance(value, dict):
            raise BadRequest(
                400, f"this model takes one array of shape {_shape_text(shape)}; got an object"
            )
        array = _cast(value, dtype, "input")
        if shape is not None and not _shape_matches(array.shape, shape):
            raise BadRequest(
                422,
                f"expected an array of shape {_shape_text(shape)} and dtype {dtype}; got shape {list(array.shape)}",
            )
        if tensor:
            import torch

            return torch.as_tensor(array)
        return array

    return convert


def _shape_matches(actual, expected):
    return len(actual) == len(expected) and all(
        e is None or e == a for a, e in zip(actual, expected, strict=False)
    )


def _shape_text(shape):
    if shape is None:
        return "any"
    return "[" + ", ".join("*" if s is None else str(s) for s in shape) + "] (* = any size)"


def _json_type(value):
    if value is None:
        return "null"
    names = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }
    return names.get(type(value), type(value).__name__)


def to_jsonable(obj):
    """Model output → plain JSON values: numpy, pandas and torch objects become lists and scalars.

    Non-finite floats become null, since JSON has no NaN or Infinity.
    """
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):  # numpy.float64 included: it subclasses float
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(item) for item in obj]
    if isinstance(obj, dict):
        return {str(key): to_jsonable(item) for key, item in obj.items()}
    if hasattr(obj, "columns") and hasattr(obj, "to_dict"):  # a DataFrame: one object per row
        return to_jsonable(obj.to_dict(orient="records"))
    if hasattr(obj, "detach"):  # a torch tensor, possibly on a GPU
        obj = obj.detach().cpu()
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, pandas Series and Index, tensors
        return to_jsonable(obj.tolist())
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"the model returned {type(obj).__name__}, which has no JSON form")
