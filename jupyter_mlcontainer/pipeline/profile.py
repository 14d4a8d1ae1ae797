"""The data contract: what "normal input" was for the model, measured on its training data.

`training_contract` runs in the kernel, on the data the sample came from (what the notebook
passed to the model's `.fit`, or to the served function): each column's kind, whether it held a
missing value, a numeric column's range and decile bins, a text or categorical column's set of
values, an array's row shape, and the served entry's answers on rows spread over the data. It
imports pandas and numpy only for data of theirs, and never fails a build: what cannot be
described becomes a note. `served_contract` finishes it at render time with the plan's wording
of where the data came from and the notebook's own word on some columns (its metadata).

Drift bins, which the runtime must cut live values into the same way (runtime/datacontract.py):
a numeric column's `edges` e[0] < e[1] < ... < e[k-1] make k + 1 bins, and a value v falls into
bin `bisect.bisect_right(edges, v)`: bin 0 holds v < e[0], bin i holds e[i-1] <= v < e[i], the
last bin holds v >= e[k-1]. Missing and non-finite values (NaN, ±inf) fall into no bin. A
category column's bins are its `categories`, in order, then one for any other value. `expected`
holds the share of the training values (the finite, non-missing ones) in each bin and sums to 1.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace

from ..runtime.datacontract import CATEGORY_CAP, NUMERIC_BINS, ColumnContract, DataContract
from .plan import Capture, ServingPlan

#: Rows the drift bins are measured on at most; larger data is taken evenly. Ranges, missing
#: values and category sets, which the runtime enforces, are measured on every row.
DRIFT_ROWS = 100_000
#: Rows the served entry answers for the prediction contract at most, spread over the data.
PREDICTION_ROWS = 5_000
#: Values a prediction of this many distinct integers or fewer is a label, not a number.
LABELS = 20
#: Columns of an array described one by one at most; a wider one has only its shape checked.
ARRAY_COLUMNS = 1_000
#: Below this many rows, ranges and category sets are narrow, and the report says so.
FEW_ROWS = 100
#: Array elements the served entry is given at most for the prediction contract (images).
PREDICTION_ELEMENTS = 5_000_000
#: Significant digits of a drift edge, so that serving.json reads 37.8, not 37.800000000000004.
EDGE_DIGITS = 10


def training_contract(data, predict, source: str) -> DataContract:
    """The contract of `data` (where it came from said by `source`), with the answers of
    `predict`, the served entry, on up to PREDICTION_ROWS of its rows. Never raises."""
    try:
        contract = _describe(data, source)
    except Exception as error:  # noqa: BLE001 - any library's failure becomes a note, not a failed build
        return DataContract(
            source=source,
            rows=0,
            notes=(
                f"the data ({_type_name(data)}) could not be described "
                f"({type(error).__name__}: {error}): nothing about the input is checked",
            ),
        )
    if contract.rows == 0:
        return contract
    try:
        prediction, note = _prediction(data, contract.rows, predict)
    except Exception as error:  # noqa: BLE001 - answers that cannot be described become a note
        prediction = None
        note = (
            f"the model's answers could not be described ({type(error).__name__}: {error}): "
            "the predictions are not described"
        )
    notes = contract.notes + ((note,) if note else ())
    if contract.rows < FEW_ROWS:
        notes += (
            f"it rests on {contract.rows} rows only: a value they lack may still be normal; "
            "widen a column in the notebook's metadata (docs/build.md, The data contract)",
        )
    return replace(contract, prediction=prediction, notes=notes)


def _describe(data, source: str) -> DataContract:
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and hasattr(data, "columns") and hasattr(data, "iloc"):
        return _frame(data, source)
    if module == "torch" and hasattr(data, "detach"):
        array, note = _tensor_array(data)
        if array is None:
            return DataContract(source=source, rows=int(data.shape[0]), notes=(note,))
        return _array(array, source)
    if module == "numpy" and hasattr(data, "ndim"):
        return _array(data, source)
    if isinstance(data, (list, tuple)) and data and "numpy" in sys.modules:
        rows = _equal_rows(data)
        if rows is not None:
            return _array(rows, source)
    if module == "pandas" and hasattr(data, "iloc"):  # a Series: one value per row
        return DataContract(
            source=source,
            rows=len(data),
            notes=(
                f"the data is one {data.dtype} value per row (a pandas Series), not columns: "
                "the values are not checked",
            ),
        )
    if isinstance(data, (list, tuple)):
        return DataContract(
            source=source,
            rows=len(data),
            notes=(
                f"the data is a {type(data).__name__} of {_type_names(data)}, not rows of "
                "numbers: the values are not checked",
            ),
        )
    why = (
        "which reading would use up"
        if hasattr(data, "__next__")
        else "not a table, an array or a list of rows"
    )
    return DataContract(
        source=source,
        rows=0,
        notes=(f"the data is a {_type_name(data)}, {why}: nothing about the input is checked",),
    )


# -- a DataFrame -----------------------------------------------------------------------------


def _frame(frame, source: str) -> DataContract:
    rows = len(frame)
    step = _step(rows, DRIFT_ROWS)
    columns, notes = [], []
    for name, series in frame.items():
        try:
            columns.append(_series_column(str(name), series, step))
        except Exception as error:  # noqa: BLE001 - one odd column does not lose the others
            columns.append(ColumnContract(str(name), "other", True))
            notes.append(
                f"column `{name}` could not be described ({type(error).__name__}: {error})"
            )
    return DataContract(
        source=_sampled(source, rows, step), rows=rows, columns=tuple(columns), notes=tuple(notes)
    )


def _series_column(name: str, series, step: int) -> ColumnContract:
    import numpy
    from pandas.api import types

    dtype = series.dtype
    nullable = bool(series.isna().any())
    if isinstance(dtype, types.CategoricalDtype):
        return _category(name, "category", _counts(series, step), nullable)
    if types.is_bool_dtype(dtype):
        return _category(name, "boolean", _counts(series), nullable)
    if types.is_integer_dtype(dtype):
        values = series.dropna().to_numpy(dtype=getattr(dtype, "numpy_dtype", dtype))
        return _numeric(name, "integer", values, nullable, step)
    if types.is_float_dtype(dtype):
        values = series.to_numpy(dtype="float64", na_value=numpy.nan)
        return _numeric(name, "float", values, nullable, step)
    if types.is_object_dtype(dtype) or types.is_string_dtype(dtype):
        return _category(name, "category", _counts(series, step), nullable)
    return ColumnContract(name, "other", nullable)


def _counts(series, step: int = 1) -> dict | None:
    """Non-missing value → count; None when there are more than CATEGORY_CAP (an even sample
    of large data that already has more is taken as the answer, sparing a pass over it all)."""
    if step > 1 and series.iloc[::step].nunique(dropna=True) > CATEGORY_CAP:
        return None
    counts = series.value_counts(dropna=True, sort=False)
    counts = counts[counts > 0]  # a categorical's declared categories that no row holds
    if len(counts) > CATEGORY_CAP:
        return None
    return {value: int(count) for value, count in counts.items()}


# -- arrays ----------------------------------------------------------------------------------


def _array(array, source: str) -> DataContract:
    numpy = sys.modules["numpy"]
    rows = int(array.shape[0]) if array.ndim else 0
    if array.ndim == 1:
        return DataContract(
            source=source,
            rows=rows,
            array=True,
            shape=(),
            notes=(
                f"the data is one {array.dtype} value per row (a 1-D array), not columns: "
                "the values are not checked",
            ),
        )
    shape = tuple(int(n) for n in array.shape[1:])
    if array.ndim > 2 or shape[0] > ARRAY_COLUMNS:
        return DataContract(
            source=source,
            rows=rows,
            array=True,
            shape=shape,
            notes=(
                f"rows are {array.dtype} arrays of shape {_shape(shape)}: only the shape is "
                "checked, not the values",
            ),
        )
    step = _step(rows, DRIFT_ROWS)
    kind = array.dtype.kind
    columns = []
    for index in range(shape[0]):
        values = array[:, index]
        name = str(index)
        if kind == "b":
            columns.append(_category(name, "boolean", _array_counts(values), False))
        elif kind in "iu":
            columns.append(_numeric(name, "integer", values, False, step))
        elif kind == "f":
            columns.append(_numeric(name, "float", values, bool(numpy.isnan(values).any()), step))
        elif kind in "OUS":
            nulls = [v is None or (isinstance(v, float) and math.isnan(v)) for v in values]
            present = [v for v, null in zip(values, nulls, strict=True) if not null]
            columns.append(_category(name, "category", _array_counts(present), any(nulls)))
        else:
            columns.append(ColumnContract(name, "other", True))
    return DataContract(
        source=_sampled(source, rows, step),
        rows=rows,
        columns=tuple(columns),
        array=True,
        shape=shape,
    )


def _array_counts(values) -> dict | None:
    counts: dict = {}
    for value in values:
        key = value.item() if hasattr(value, "item") else value
        counts[key] = counts.get(key, 0) + 1
        if len(counts) > CATEGORY_CAP:
            return None
    return counts


def _equal_rows(data):
    """A list of equal-length rows of numbers as a 2-D float array, else None."""
    numpy = sys.modules["numpy"]
    first = data[0]
    if not isinstance(first, (list, tuple)) or not first:
        return None
    width = len(first)
    for row in data:
        if not isinstance(row, (list, tuple)) or len(row) != width:
            return None
        if not all(isinstance(v, (int, float)) or v is None for v in row):
            return None
    array = numpy.array(data, dtype=float)
    if all(isinstance(v, int) and not isinstance(v, bool) for row in data for v in row):
        array = array.astype("int64")
    return array


def _tensor_array(tensor):
    """A torch tensor's values as numpy, when that is cheap: on the CPU, or small."""
    if tensor.device.type != "cpu" and tensor.numel() > PREDICTION_ELEMENTS:
        return None, (
            f"the data is a torch tensor of shape {_shape(tuple(tensor.shape))} on "
            f"{tensor.device}: copying it to describe it would be costly, so nothing about the "
            "input is checked"
        )
    return tensor.detach().cpu().numpy(), None


# -- one column ------------------------------------------------------------------------------


def _numeric(name: str, kind: str, values, nullable: bool, step: int) -> ColumnContract:
    """A numeric column: its finite values' range, and decile drift bins measured on every
    `step`-th of them."""
    numpy = sys.modules["numpy"]
    if kind == "float":
        values = values[numpy.isfinite(values)]
    if values.size == 0:
        return ColumnContract(name, kind, nullable)
    cast = int if kind == "integer" else float
    low, high = cast(values.min()), cast(values.max())
    drift = values[::step].astype("float64")
    quantiles = numpy.quantile(drift, [i / NUMERIC_BINS for i in range(1, NUMERIC_BINS)])
    edges = tuple(sorted({float(f"{float(q):.{EDGE_DIGITS}g}") for q in quantiles}))
    bins = numpy.bincount(numpy.searchsorted(edges, drift, side="right"), minlength=len(edges) + 1)
    return ColumnContract(
        name,
        kind,
        nullable,
        low=low,
        high=high,
        edges=edges,
        expected=tuple(float(n) / drift.size for n in bins),
    )


def _category(name: str, kind: str, counts: dict | None, nullable: bool) -> ColumnContract:
    """A column of distinct values: their set and shares, and a last bin for any other value;
    more than CATEGORY_CAP values, or values that are not JSON scalars, are not a set."""
    if counts is None:
        return ColumnContract(name, kind, nullable, capped=True)
    scalars = {}
    for value, count in counts.items():
        scalar = _json_scalar(value)
        if scalar is None:
            return ColumnContract(name, "other", nullable)
        scalars[scalar] = scalars.get(scalar, 0) + count
    if kind == "boolean":  # both values are a boolean's own, whether training held them or not
        scalars = {False: scalars.get(False, 0), True: scalars.get(True, 0)}
    categories = tuple(sorted(scalars, key=_order))
    total = sum(scalars.values()) or 1
    return ColumnContract(
        name,
        kind,
        nullable,
        categories=categories,
        expected=tuple(scalars[c] / total for c in categories) + (0.0,),
    )


def _json_scalar(value):
    """A value as a JSON scalar (str, bool, int or a finite float), or None."""
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        value = value.item()
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) and math.isfinite(value):
        return float(value)
    return None


def _order(value) -> tuple:
    """Categories sort booleans first, then numbers, then strings, each in their own order."""
    if isinstance(value, bool):
        return (0, value, "")
    if isinstance(value, (int, float)):
        return (1, value, "")
    return (2, 0, value)


# -- the predictions -------------------------------------------------------------------------


def _prediction(data, rows: int, predict) -> tuple[ColumnContract | None, str | None]:
    """The served entry's answers on up to PREDICTION_ROWS rows spread evenly over the data."""
    from ..runtime.convert import to_jsonable

    if "numpy" not in sys.modules:
        return None, "numpy is not loaded: the predictions are not described"
    width = _row_elements(data)
    count = min(rows, PREDICTION_ROWS, max(100, PREDICTION_ELEMENTS // width))
    index = [i * rows // count for i in range(count)]
    try:
        answers = to_jsonable(predict(_take(data, index)))
    except Exception as error:  # noqa: BLE001 - the model's own failure, said in the report
        return None, (
            f"the model failed on {count} rows of the data ({type(error).__name__}: {error}): "
            "the predictions are not described"
        )
    if isinstance(answers, list) and all(isinstance(a, list) and len(a) == 1 for a in answers):
        answers = [a[0] for a in answers]  # one output per row, as a column
    if not isinstance(answers, list) or len(answers) != count:
        return None, "the model's answers are not one per row: the predictions are not described"
    if not all(a is None or isinstance(a, (bool, int, float, str)) for a in answers):
        return None, (
            "the model answers each row with more than one value (probabilities, a vector): "
            "the predictions are not described"
        )
    return _prediction_column(answers), None


def _prediction_column(answers: list) -> ColumnContract:
    numpy = sys.modules["numpy"]
    nullable = any(a is None for a in answers)
    present = [a for a in answers if a is not None]
    counts: dict = {}
    for answer in present:
        counts[answer] = counts.get(answer, 0) + 1
    if present and all(isinstance(a, bool) for a in present):
        return _category("prediction", "boolean", counts, nullable)
    if any(isinstance(a, str) for a in present):
        counts = {str(k): v for k, v in counts.items()}
        return _category("prediction", "category", _capped(counts), nullable)
    integers = all(isinstance(a, int) for a in present)
    if integers and len(counts) <= LABELS:
        return _category("prediction", "category", counts, nullable)
    kind, dtype = ("integer", "int64") if integers else ("float", "float64")
    return _numeric("prediction", kind, numpy.asarray(present, dtype=dtype), nullable, 1)


def _capped(counts: dict) -> dict | None:
    return None if len(counts) > CATEGORY_CAP else counts


def _take(data, index: list):
    if hasattr(data, "iloc"):
        return data.iloc[index]
    if type(data).__module__.split(".")[0] in ("numpy", "torch"):
        return data[index]
    return [data[i] for i in index]


def _row_elements(data) -> int:
    shape = getattr(data, "shape", None)
    if shape is None or len(shape) < 2:
        return 1
    return max(1, math.prod(int(n) for n in shape[1:]))


# -- at render time --------------------------------------------------------------------------

#: What the notebook's metadata may say of a column.
OVERRIDE_KEYS = ("nullable", "low", "high", "categories")


def served_contract(plan: ServingPlan, capture: Capture) -> tuple[DataContract | None, list, list]:
    """The contract the image serves: capture's, said to come from where the plan found the
    sample, with the notebook's metadata overrides (`plan.contract_overrides`). Also the
    overrides applied, for the report ("`age`: nullable true"), and warnings for those that
    name no column or say nothing usable, which are ignored."""
    if capture.contract is None:
        return None, [], []
    contract = DataContract.from_dict(capture.contract)
    if plan.training_source:
        contract = replace(contract, source=f"{plan.training_source}, {contract.source}")
    usable, applied, warnings = {}, [], []
    given = plan.contract_overrides
    if not isinstance(given, dict):
        warnings.append(f"{_METADATA} is a {type(given).__name__}, not an object: it is ignored")
        given = {}
    for name, change in given.items():
        column = contract.column(str(name))
        if column is None:
            known = ", ".join(f"`{c.name}`" for c in contract.columns) or "none"
            warnings.append(
                f"{_METADATA} names `{name}`, but the model's input has no such column "
                f"(its columns: {known}): it is ignored"
            )
            continue
        if not isinstance(change, dict):
            warnings.append(
                f"{_METADATA} gives `{name}` a {type(change).__name__}, not an object: "
                "it is ignored"
            )
            continue
        for key, value in change.items():
            problem = _override_problem(key, value, column)
            if problem:
                warnings.append(f"{_METADATA}: `{name}`'s {key!r} {problem}: it is ignored")
            else:
                usable.setdefault(column.name, {})[key] = value
                applied.append(f"`{name}`: {key} {json.dumps(value, ensure_ascii=False)}")
    return contract.with_overrides(usable), applied, warnings


_METADATA = "the notebook's metadata (mlcontainer.contract)"


def _override_problem(key: str, value, column: ColumnContract) -> str | None:
    """Why an override cannot apply to the column, or None."""
    if key not in OVERRIDE_KEYS:
        return f"is not one of {', '.join(OVERRIDE_KEYS)}"
    if key == "nullable":
        return None if isinstance(value, bool) else "is not true or false"
    if key in ("low", "high"):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number:
            return "is not a number"
        return None if column.numeric else f"applies to numbers, and the column is {column.kind}"
    if not isinstance(value, list) or any(_json_scalar(v) is None for v in value):
        return "is not an array of strings, numbers or booleans"
    if column.categories is None:
        held = f"more than {CATEGORY_CAP} values" if column.capped else f"{column.kind} values"
        return f"adds values to a column that has no set of them (it held {held})"
    return None


# -- wording ---------------------------------------------------------------------------------


def _step(rows: int, most: int) -> int:
    return max(1, -(-rows // most))


def _sampled(source: str, rows: int, step: int) -> str:
    if step == 1:
        return source
    return f"{source} (drift bins from {-(-rows // step):,} of its {rows:,} rows, taken evenly)"


def _shape(shape: tuple) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _type_name(value) -> str:
    cls = type(value)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def _type_names(values) -> str:
    names = sorted({type(v).__name__ for v in values[:1000]})
    return ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
