"""The serving contract in one place: the entry point, the request forms, the response.

Capture and render write it, the runtime serves it, the magic calls the kernel's model through
it, and the OpenAPI document is generated from it, so that none of them can disagree. Standard
library only: this module runs inside every image.
"""

from __future__ import annotations

from dataclasses import dataclass


class EntryNotCallable(ValueError):
    """The entry names something that cannot be called the way the contract says."""


def entry_of(kind: str, name: str, method: str = "predict") -> dict:
    """serving.json's "entry": `{"kind": "function", "name"}` or `{"kind": "model", "name", "method"}`."""
    if kind == "model":
        return {"kind": "model", "name": name, "method": method}
    if kind == "function":
        return {"kind": "function", "name": name}
    raise ValueError(f"entry kind {kind!r} is not 'function' or 'model'")


def describe_entry(entry: dict) -> str:
    """`clf.predict_proba` or `predict()`, for labels and messages."""
    if entry["kind"] == "model":
        return f"{entry['name']}.{entry.get('method', 'predict')}"
    return f"{entry['name']}()"


def resolve_entry(entry: dict, lookup) -> object:
    """The callable the entry names; `lookup(name)` finds a global (in a module or a kernel)."""
    target = lookup(entry["name"])
    if entry["kind"] == "function":
        return target
    if entry["kind"] == "model":
        method = getattr(target, entry.get("method", "predict"), None)
        if not callable(method):
            raise EntryNotCallable(
                f"{entry['name']} ({type(target).__name__}) has no method "
                f"{entry.get('method', 'predict')!r}"
            )
        return method
    raise ValueError(f"serving.json entry kind {entry['kind']!r} is not 'function' or 'model'")


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


def generator_version(serving: dict) -> str:
    """The version of jupyter-mlcontainer that wrote serving.json ("generator"), or "unknown"."""
    generator = serving.get("generator") or ""
    return generator.rpartition(" ")[2] or "unknown"
