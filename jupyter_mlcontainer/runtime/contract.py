"""The contract's request side: the request forms, the routes that predict, the response.

The runtime serves them, the magic calls the kernel's model through them, and the OpenAPI
document is generated from them, so that none of them can disagree; what is served (the entry
point, the input) is serving.json's, in spec.py. Standard library only: this module runs
inside every image.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequestForm:
    """One way a request body carries the model's input: a body is an object with one key."""

    key: str  # the body's only key
    shape: str  # how the value is read: "rows", "inputs" or "split"
    mlflow: bool  # accepted only on MLflow's /invocations
    description: str


#: Every request form the runtime accepts, in the order they are documented.
REQUEST_FORMS = (
    RequestForm("instances", "rows", False, "a list of rows: objects, or lists in column order"),
    RequestForm(
        "inputs", "inputs", False, "an object of columns ({column: [values]}) or a nested list"
    ),
    RequestForm("dataframe_records", "rows", True, "a list of row objects (MLflow)"),
    RequestForm(
        "dataframe_split", "split", True, '{"columns": [name, ...], "data": [[...], ...]} (MLflow)'
    ),
)

#: The routes that predict, and whether they take MLflow's forms too.
PREDICT_ROUTES = {"/predict": False, "/invocations": True}


def forms_for(mlflow: bool) -> tuple[RequestForm, ...]:
    return tuple(form for form in REQUEST_FORMS if mlflow or not form.mlflow)


def expected_body(mlflow: bool) -> str:
    """What a body must be, for error messages."""
    return " or ".join(f'{{"{f.key}": {f.description}}}' for f in forms_for(mlflow))


def response(predictions) -> dict:
    """The body of a successful prediction."""
    return {"predictions": predictions}
