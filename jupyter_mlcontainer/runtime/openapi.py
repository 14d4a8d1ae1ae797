"""An OpenAPI 3.1 document derived from the contract (contract.py: request forms, routes) and
serving.json's input schema, with sample.json as example."""

from .contract import PREDICT_ROUTES, forms_for
from .spec import ServingSpec
from .v2 import openapi_paths, openapi_schemas
from .valueschema import (
    DESCRIBED_ROWS,
    NEVER,
    NULL,
    array_cells,
    array_of,
    cell,
    row_counts,
    row_list,
)

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
            "(a null, a category or a type training never had, a number out of all proportion "
            "to training's)"
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
        "openapi": "3.1.0",
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
                **openapi_schemas(serving, sample, contract),
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
                **{other.key: NEVER for other in forms if other.key != form.key},
            },
        }
        for form in forms
    ]
    return {"oneOf": alternatives}


def _form_values(spec, contract=None) -> dict:
    """The schema of each form's value for this input kind; an enforced data contract narrows
    it to what the contract admits (no null where training had none, known categories)."""
    kind = spec.kind
    split_columns = {"type": ["array", "null"], "items": {"type": "string"}}
    if kind == "dataframe":
        columns = list(spec.columns)
        cells = {c: cell(spec.dtypes.get(c), contract and contract.column(c)) for c in columns}
        as_list = row_list(list(cells.values()))
        # Rows are all objects or all lists in column order, not a mix.
        rows = {
            "anyOf": [
                {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "object", "required": columns, "properties": cells},
                },
                {"type": "array", "minItems": 1, "items": as_list},
            ],
            "description": f"rows as objects, or as lists of values in column order {columns}",
        }
        instances = records = rows
        inputs = {
            "anyOf": [
                {
                    "type": "object",
                    "required": columns,
                    "properties": {
                        c: {"type": "array", "items": s, "minItems": n, "maxItems": n}
                        for c, s in cells.items()
                    },
                }
                for n in row_counts()
            ],
            "description": f"columns of one length; up to {DESCRIBED_ROWS} rows are described "
            "here, and any number is served",
        }
        split_rows = {"type": "array", "minItems": 1, "items": as_list}
        # Columns named in another order, or more of them, are taken too: this document
        # describes the model's order, which a row's positions follow.
        split_columns = {"anyOf": [NULL, {"const": columns}]}
    elif kind in ("ndarray", "tensor"):
        shape = spec.shape or (None,)
        leaf, positions = array_cells(shape, spec.dtype, contract)
        inputs = array_of(leaf, shape, positions and row_list(positions))
        instances = records = inputs
        # A split's rows are the array's first axis; a one-axis array's, one value each.
        one_value = {"type": "array", "minItems": 1, "items": row_list([leaf])}
        split_rows = inputs if len(shape) > 1 else one_value
    else:
        instances = records = split_rows = {"type": "array", "minItems": 1, "items": {}}
        inputs = {}
    split = {
        "type": "object",
        "required": ["data"],
        # null, as when left out: the rows are in the model's column order
        "properties": {"columns": split_columns, "data": split_rows},
    }
    return {
        "instances": instances,
        "inputs": inputs,
        "dataframe_records": records,
        "dataframe_split": split,
    }


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
