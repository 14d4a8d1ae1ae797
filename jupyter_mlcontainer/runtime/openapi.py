"""An OpenAPI 3.0 document derived from the contract (contract.py: request forms, routes) and
serving.json's input schema, with sample.json as example."""

from .contract import PREDICT_ROUTES, forms_for
from .spec import ServingSpec
from .v2 import openapi_paths, openapi_schemas

_ERROR = {"$ref": "#/components/schemas/Error"}


def build_openapi(serving: ServingSpec, sample, contract_mode: str = "enforce") -> dict:
    spec = serving.input
    contract = serving.contract if contract_mode == "enforce" else None
    predictions = {
        "type": "object",
        "required": ["predictions"],
        "properties": {"predictions": {"type": "array", "items": {}}},
    }
    if sample is not None:
        predictions["example"] = sample.get("expected")
    errors = {
        "400": _error_response(
            "Malformed JSON (NaN and Infinity included), or a body of none of the forms"
        ),
        "408": _error_response("Body not received within MLCONTAINER_BODY_TIMEOUT_SECONDS"),
        "413": _error_response("Body larger than MLCONTAINER_MAX_BODY_BYTES"),
        "422": _error_response(
            "Wrong shape or dtype for the model's input, or a value its data contract refuses "
            "(a null, a category or a type training never had)"
        ),
        "500": _error_response("The model (or, rarely, the runtime) raised an exception"),
        "503": _error_response("The model is still loading (see Retry-After)"),
    }

    def predict(mlflow: bool) -> dict:
        request = _request_schema(spec, mlflow, contract)
        if sample is not None:
            request["example"] = sample.get("request")
        content = _json(request)
        return {
            "requestBody": {"required": True, "content": content},
            "responses": {
                "200": {"description": "Predictions", "content": _json(predictions)},
                **errors,
            },
        }

    summaries = {
        "/predict": "Predict",
        "/invocations": "Predict (MLflow and SageMaker compatible). A `text/csv` body is taken "
        "too, as MLflow's scoring server takes it: a header row naming the columns, then at "
        "least one row per input (this document cannot describe its rows).",
    }
    title = serving.notebook.path or serving.module
    return {
        "openapi": "3.0.3",
        "info": {
            "title": f"{title} model",
            "version": serving.notebook.sha256[:12] or "0",
        },
        "paths": {
            **{
                route: {"post": {"summary": summaries[route], **predict(mlflow)}}
                for route, mlflow in PREDICT_ROUTES.items()
            },
            "/health": _probe("Liveness: 200 while the process serves"),
            "/ping": _probe("Liveness (SageMaker)"),
            "/ready": _probe("Readiness: 200 once the model is loaded, 503 before"),
            "/metadata": _probe("Input schema, entry point, versions and provenance"),
            "/version": {
                "get": {
                    "summary": "The runtime's version (MLflow)",
                    "responses": {
                        "200": {
                            "description": "The version, as text",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/drift": _watched(
                "Drift from training: PSI per input feature and of the predictions over the "
                "last rows, with the rows each rests on",
                "The image has no data contract",
            ),
            "/requests": _watched(
                "The last requests' rows and answers, kept in memory (request capture)",
                "Request capture is off (MLCONTAINER_CAPTURE_REQUESTS)",
            ),
            **openapi_paths(serving, sample),
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
                **openapi_schemas(sample),
            }
        },
    }


def _request_schema(spec, mlflow: bool, contract=None):
    """One alternative per request form the route accepts: an object with that one key."""
    values = _form_values(spec, contract)
    # MLflow's "params" go to an entry point that names a `params` argument (mlflow.py).
    params = {"params": {"type": "object"}} if mlflow else {}
    forms = forms_for(mlflow)
    alternatives = [
        {
            "type": "object",
            "description": form.description,
            "required": [form.key],
            "properties": {
                form.key: values[form.key],
                **params,
                # Another form's key, even with a value of no form, is refused (400), as the
                # runtime refuses it; any other key is ignored (TF-Serving's "signature_name").
                **{other.key: _NEVER for other in forms if other.key != form.key},
            },
        }
        for form in forms
    ]
    return {"oneOf": alternatives}


#: OpenAPI 3.0's schema no value matches.
_NEVER = {"not": {}}


def _form_values(spec, contract=None) -> dict:
    """The schema of each form's value for this input kind; an enforced data contract narrows
    a frame's columns to what it admits (no null where training had none, known categories)."""
    kind = spec.kind
    if kind == "dataframe":
        columns = list(spec.columns)
        properties = {
            c: _admitted(_dtype_schema(spec.dtypes.get(c)), contract and contract.column(c))
            for c in columns
        }
        row_object = {"type": "object", "required": list(columns), "properties": properties}
        # Rows as lists in column order are taken too, but OpenAPI 3.0 has no tuples to type
        # each position with, so the document describes rows as objects only.
        instances = {
            "type": "array",
            "minItems": 1,
            "items": row_object,
            "description": f"rows as objects, or as lists of values in column order {columns}",
        }
        inputs = {
            "type": "object",
            "required": list(columns),
            "properties": {
                c: {"type": "array", "minItems": 1, "items": s} for c, s in properties.items()
            },
        }
        records = {"type": "array", "minItems": 1, "items": row_object}
        split_rows = {"type": "array", "minItems": 1, "items": {"type": "array"}}
    elif kind in ("ndarray", "tensor"):
        shape = spec.shape or (None,)
        inputs = _nested(_array_values(_dtype_schema(spec.dtype), contract), shape)
        instances = records = inputs
        # A split's rows are the array's first axis; a one-axis array's rows are not lists.
        split_rows = inputs if len(shape) > 1 else {"type": "array", "items": {"type": "array"}}
    else:
        instances = records = split_rows = {"type": "array", "minItems": 1, "items": {}}
        inputs = {}
    split = {
        "type": "object",
        "required": ["data"],
        "properties": {
            # null, as when left out: the rows are in the model's column order
            "columns": {"type": "array", "items": {"type": "string"}, "nullable": True},
            "data": split_rows,
        },
    }
    return {
        "instances": instances,
        "inputs": inputs,
        "dataframe_records": records,
        "dataframe_split": split,
    }


def _admitted(schema: dict, column) -> dict:
    """A column's schema as the data contract admits it."""
    if column is None:
        return schema
    schema = dict(schema)
    if column.categories is not None and column.kind in ("category", "boolean"):
        schema.pop("anyOf", None)
        schema["enum"] = list(column.categories)
        if not any(isinstance(v, str) for v in column.categories):
            schema.pop("type", None)
    if column.nullable:
        schema["nullable"] = True
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
    else:
        schema.pop("nullable", None)
    return schema


def _array_values(schema: dict, contract) -> dict:
    """An array's values as its data contract admits them: null only where training had missing
    values at every position (the contract refuses a null at any other)."""
    if contract is None or not contract.columns or all(c.nullable for c in contract.columns):
        return schema
    schema = dict(schema)
    schema.pop("nullable", None)
    return schema


def _nested(leaf, shape):
    schema = leaf
    for size in reversed(shape):
        schema = {"type": "array", "items": schema}
        if size is not None:
            schema.update(minItems=size, maxItems=size)
        else:
            schema["minItems"] = 1
    return schema


#: A DataFrame cell: one value, never a list or an object (the runtime answers 422 to those).
_SCALAR = {
    "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
    "nullable": True,
}


def _dtype_schema(dtype):
    if dtype is None:
        return dict(_SCALAR)
    text = str(dtype)
    if text.startswith(("int", "uint", "Int", "UInt")):
        schema = {"type": "integer", **_integer_bounds(text)}
    elif text.startswith(("float", "Float")):
        schema = {"type": "number", "nullable": True}
    elif text in ("bool", "boolean"):
        schema = {"type": "boolean"}
    elif text.startswith("datetime"):
        schema = {"type": "string", "format": "date-time"}
    elif text in ("str", "string", "category"):
        schema = {"type": "string"}
    else:
        schema = dict(_SCALAR)
    schema["x-dtype"] = text
    return schema


def _integer_bounds(dtype: str) -> dict:
    """What an integer dtype holds: a larger integer is no longer one (the runtime says so)."""
    digits = "".join(ch for ch in dtype if ch.isdigit())
    bits = int(digits) if digits in ("8", "16", "32", "64") else 64
    if dtype.lower().startswith("uint"):
        return {"minimum": 0, "maximum": 2**bits - 1}
    return {"minimum": -(2 ** (bits - 1)), "maximum": 2 ** (bits - 1) - 1}


def _probe(summary):
    return {
        "get": {
            "summary": summary,
            "responses": {"200": {"description": "OK", "content": _json({"type": "object"})}},
        }
    }


def _watched(summary, missing):
    probe = _probe(summary)
    probe["get"]["responses"]["404"] = _error_response(missing)
    return probe


def _error_response(description):
    return {"description": description, "content": _json(_ERROR)}


def _json(schema):
    return {"application/json": {"schema": schema}}
