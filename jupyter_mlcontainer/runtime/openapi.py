"""An OpenAPI 3.0 document derived from serving.json's input schema, with sample.json as example."""

_ERROR = {"$ref": "#/components/schemas/Error"}


def build_openapi(serving: dict, sample) -> dict:
    spec = serving.get("input") or {"kind": "list"}
    request = _request_schema(spec)
    predictions = {
        "type": "object",
        "required": ["predictions"],
        "properties": {"predictions": {"type": "array", "items": {}}},
    }
    if sample is not None:
        request["example"] = sample.get("request")
        predictions["example"] = sample.get("expected")
    errors = {
        "400": _error_response("Malformed JSON, or a body that is neither instances nor inputs"),
        "413": _error_response("Body larger than MLCONTAINER_MAX_BODY_BYTES"),
        "422": _error_response("Wrong shape or dtype for the model's input"),
        "500": _error_response("The model (or, rarely, the runtime) raised an exception"),
        "503": _error_response("The model is still loading (see Retry-After)"),
    }
    predict = {
        "requestBody": {"required": True, "content": {"application/json": {"schema": request}}},
        "responses": {
            "200": {"description": "Predictions", "content": _json(predictions)},
            **errors,
        },
    }
    title = serving.get("notebook", {}).get("path") or serving.get("module", "model")
    return {
        "openapi": "3.0.3",
        "info": {
            "title": f"{title} model",
            "version": serving.get("notebook", {}).get("sha256", "0")[:12] or "0",
        },
        "paths": {
            "/predict": {"post": {"summary": "Predict", **predict}},
            "/invocations": {
                "post": {"summary": "Predict (MLflow and SageMaker compatible)", **predict}
            },
            "/health": _probe("Liveness: 200 while the process serves"),
            "/ping": _probe("Liveness (SageMaker)"),
            "/ready": _probe("Readiness: 200 once the model is loaded, 503 before"),
            "/metadata": _probe("Input schema, entry point, versions and provenance"),
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
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
            }
        },
    }


def _request_schema(spec):
    kind = spec.get("kind")
    if kind == "dataframe":
        columns = spec["columns"]
        dtypes = spec.get("dtypes") or {}
        properties = {c: _dtype_schema(dtypes.get(c)) for c in columns}
        row_object = {"type": "object", "required": list(columns), "properties": properties}
        row_list = {
            "type": "array",
            "minItems": len(columns),
            "maxItems": len(columns),
            "description": f"values in column order {columns}",
        }
        instances = {"type": "array", "minItems": 1, "items": {"oneOf": [row_object, row_list]}}
        inputs = {
            "type": "object",
            "required": list(columns),
            "properties": {c: {"type": "array", "items": s} for c, s in properties.items()},
        }
    elif kind in ("ndarray", "tensor"):
        shape = spec.get("shape") or [None]
        leaf = _dtype_schema(spec.get("dtype"))
        inputs = _nested(leaf, shape)
        instances = inputs
    else:
        instances = {"type": "array", "items": {}}
        inputs = {}
    return {
        "type": "object",
        "properties": {"instances": instances, "inputs": inputs},
        "oneOf": [{"required": ["instances"]}, {"required": ["inputs"]}],
    }


def _nested(leaf, shape):
    schema = leaf
    for size in reversed(shape):
        schema = {"type": "array", "items": schema}
        if size is not None:
            schema.update(minItems=size, maxItems=size)
    return schema


def _dtype_schema(dtype):
    if dtype is None:
        return {}
    text = str(dtype)
    if text.startswith(("int", "uint", "Int", "UInt")):
        schema = {"type": "integer"}
    elif text.startswith(("float", "Float")):
        schema = {"type": "number", "nullable": True}
    elif text in ("bool", "boolean"):
        schema = {"type": "boolean"}
    elif text.startswith("datetime"):
        schema = {"type": "string", "format": "date-time"}
    elif text in ("str", "string", "category"):
        schema = {"type": "string"}
    else:
        schema = {}
    schema["x-dtype"] = text
    return schema


def _probe(summary):
    return {
        "get": {
            "summary": summary,
            "responses": {"200": {"description": "OK", "content": _json({"type": "object"})}},
        }
    }


def _error_response(description):
    return {"description": description, "content": _json(_ERROR)}


def _json(schema):
    return {"application/json": {"schema": schema}}
