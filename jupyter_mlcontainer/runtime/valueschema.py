"""JSON Schema (OpenAPI 3.1) of the values a model's input takes, from serving.json's input and
its data contract: the cells, rows and arrays that the OpenAPI document's request bodies are
made of, on every protocol (openapi.py, v2.py).

Each schema admits nothing the runtime refuses, so that a body the document allows is a body the
runtime answers (a fuzzer holds it to that, and to the converse for what the document refuses).
Where JSON Schema cannot say all the runtime takes, the document describes less: rows in the
model's column order, up to DESCRIBED_ROWS of them. Standard library only: this module runs
inside every image.
"""

from __future__ import annotations

import math

#: Row counts the document spells out, 1 to this. JSON Schema cannot tie one value's length to
#: another's (an `inputs` object's columns, a v2 tensor's `shape` and `data`), so each count is
#: an alternative of its own; the runtime serves any number of rows.
DESCRIBED_ROWS = 8
NULL = {"type": "null"}
#: The schema no value matches: a key that must not be there.
NEVER = {"not": {}}
#: A DataFrame cell of no known dtype: one value, never a list or an object (the runtime answers
#: 422 to those).
SCALAR = {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}


def row_counts() -> range:
    return range(1, DESCRIBED_ROWS + 1)


def or_null(schema: dict) -> dict:
    """`schema`, and null too."""
    if "enum" in schema:
        return {**schema, "enum": [*schema["enum"], None]}
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    if "anyOf" in schema:
        return {**schema, "anyOf": [*schema["anyOf"], NULL]}
    return {"anyOf": [schema, NULL]}


def cell(dtype, column=None, null: bool = True) -> dict:
    """One value of a column of `dtype` as its data contract `column` admits it: a null only
    where the dtype holds one and training had one, a known category, a number no farther out
    than the column's limit. `null=False`: never null (a v2 tensor of integers, booleans or
    strings has no missing value)."""
    schema, nullable = _dtype_values(dtype), _holds_null(dtype)
    if column is not None:
        nullable = nullable and column.nullable
        if column.categories and column.kind in ("category", "boolean"):
            schema = {"enum": list(column.categories), **_tag(schema)}
        elif column.kind == "boolean":
            schema = {"type": "boolean", **_tag(schema)}
        elif column.numeric:
            if schema.get("type") not in ("integer", "number"):
                schema = {"type": "number", **_tag(schema)}
            schema = _within(schema, column.limit)
    return or_null(schema) if nullable and null else schema


def strings_only(schema: dict) -> dict:
    """`schema` narrowed to strings (a v2 BYTES tensor's data)."""
    if "enum" in schema:
        return {**schema, "enum": [v for v in schema["enum"] if isinstance(v, str)]}
    return {"type": "string", **_tag(schema)}


def row_list(cells: list) -> dict:
    """A row as a list of values in column order: one schema per position."""
    return {"type": "array", "prefixItems": list(cells), "minItems": len(cells), "items": False}


def array_of(leaf: dict, shape, rows: dict | None = None) -> dict:
    """Nested lists of `shape` (None: any size, at least 1) holding `leaf` values; `rows`, when
    given, is the schema of each innermost list instead (one schema per position)."""
    sizes, schema = list(shape), leaf
    if rows is not None:
        sizes, schema = sizes[:-1], rows
    for size in reversed(sizes):
        schema = {"type": "array", "items": schema}
        if size is not None:
            schema.update(minItems=size, maxItems=size)
        else:
            schema["minItems"] = 1
    return schema


def flat_of(leaf: dict, count: int, positions: list | None = None) -> dict:
    """`count` values in row-major order; `positions`, when given, type each value of a row by
    its place in it."""
    if positions:
        return row_list(positions * (count // len(positions)))
    return {"type": "array", "items": leaf, "minItems": count, "maxItems": count}


def array_cells(shape, dtype, contract, null: bool = True) -> tuple[dict, list | None]:
    """(an array's value, one schema per position of its rows or None). Per position where the
    data contract describes a two-axis array's rows, as the runtime checks them; else one
    schema for every value, null only where training had missing values at every position
    (the contract refuses a null at any other)."""
    shape = tuple(shape or ())
    columns = contract.columns if contract is not None else ()
    if len(shape) == 2 and columns and len(columns) == shape[1]:
        positions = [cell(dtype, column, null) for column in columns]
    else:
        positions = None
    every = not columns or all(column.nullable for column in columns)
    return cell(dtype, None, null and every), positions


def size_of(shape) -> int:
    return math.prod(1 if s is None else s for s in shape)


def _dtype_values(dtype) -> dict:
    """A value of `dtype` other than null."""
    if dtype is None:
        return dict(SCALAR)
    text = str(dtype)
    if text.startswith(("int", "uint", "Int", "UInt")):
        schema = {"type": "integer", **_integer_bounds(text)}
    elif text.startswith(("float", "Float")):
        schema = {"type": "number"}
    elif text in ("bool", "boolean"):
        schema = {"type": "boolean"}
    elif text.startswith("datetime"):
        schema = {"type": "string", "format": "date-time"}
    elif text in ("str", "string", "category"):
        schema = {"type": "string"}
    else:
        schema = dict(SCALAR)
    schema["x-dtype"] = text
    return schema


def _holds_null(dtype) -> bool:
    """A dtype with a missing value of its own (NaN, None, NA, NaT); numpy's integers and
    booleans have none (pandas' Int64 and boolean have one)."""
    text = str(dtype)
    return dtype is None or not (text.startswith(("int", "uint")) or text == "bool")


def _integer_bounds(dtype: str) -> dict:
    """What an integer dtype holds: a larger integer is no longer one (the runtime says so)."""
    digits = "".join(ch for ch in dtype if ch.isdigit())
    bits = int(digits) if digits in ("8", "16", "32", "64") else 64
    if dtype.lower().startswith("uint"):
        return {"minimum": 0, "maximum": 2**bits - 1}
    return {"minimum": -(2 ** (bits - 1)), "maximum": 2 ** (bits - 1) - 1}


def _within(schema: dict, limit) -> dict:
    """A number schema no larger in magnitude than `limit` (None: no limit)."""
    if limit is None:
        return schema
    low, high = -limit, limit
    if schema.get("type") == "integer":
        low, high = math.ceil(low), math.floor(high)
    return {
        **schema,
        "minimum": max(schema.get("minimum", low), low),
        "maximum": min(schema.get("maximum", high), high),
    }


def _tag(schema: dict) -> dict:
    return {"x-dtype": schema["x-dtype"]} if "x-dtype" in schema else {}
