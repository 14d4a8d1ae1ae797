"""The OpenAPI 3.0 document of the REST API under /mlcontainer/ (GET /mlcontainer/openapi.json).

It is made from what the handlers themselves use: the routing table that `setup_handlers`
registers (`handlers.ROUTES`, passed in), the methods each handler defines and their docstrings,
and the body fields the handlers validate with (`validation.py`, whose build, push and deploy
fields come from the options' one declaration, with their choices and defaults). What this module
adds by hand is what the code does not say in a form it can read: each operation's summary, the
statuses it answers, the shape of its success answer, and what the options refuse past a field's
type (ranges, pairs of fields). A route or method without an entry here, or an entry without its
route, stops the document from being made (`RouteMismatch`); a refusal the document does not
describe fails the schemathesis test (tests/server/test_server_openapi.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..deploy.plan import MAX_REPLICAS, DeployOptions, PushOptions
from ..pipeline.plan import ExportOptions
from ..shared.version import __version__
from ..workflow.options import declared_options, required_fields
from .base import route_methods
from .instances import PREDICT_FIELDS
from .validation import (
    DEPLOY_FIELDS,
    JOB_DEFAULTS,
    JOB_FIELDS,
    JOB_REQUIRED,
    PORT_RANGE,
    PUSH_FIELDS,
    ROLLOUT_FIELDS,
    SCALE_FIELDS,
)

JSON = "application/json"
#: A regular expression's named group in a route: (?P<name>pattern).
GROUP = re.compile(r"\(\?P<(\w+)>([^()]*)\)")
#: What a path parameter is, by the route's first segment and the group's name.
PATH_PARAMETERS = {
    ("jobs", "job_id"): "the job's id, as POST answered it",
    ("instances", "name"): "an instance's name, id, or unique id prefix",
    ("deployments", "name"): "a deployment's name",
}
#: JSON Schema types of the fields' Python types (validation.check_fields).
TYPES = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
}


class RouteMismatch(Exception):
    """The routing table and this module's operations disagree: a route or method without an
    entry in OPERATIONS, or an entry without its route."""


@dataclass(frozen=True)
class Body:
    """A JSON body: its fields as the handler checks them (field → (type, description)), those
    required, and what else refuses a value: the options' declaration (a string option's
    choices, defaults), ranges, and pairs of fields that exclude each other or go together."""

    fields: dict
    required: tuple = ()
    declaration: type | None = None
    limits: dict = field(default_factory=dict)  # field → {"minimum": …, "maximum": …}
    defaults: dict = field(default_factory=dict)  # where the REST default is not the option's
    exclusive: tuple = ()  # pairs of fields that may not both be given (non-empty)
    together: tuple = ()  # pairs of fields given both or neither


@dataclass(frozen=True)
class Query:
    name: str
    schema: dict
    description: str
    required: bool = False


@dataclass(frozen=True)
class Operation:
    summary: str
    #: Error statuses it answers besides 403 (authentication, XSRF, Authorizer), with when.
    errors: tuple = ()
    status: int = 200
    returns: dict = field(default_factory=lambda: {"type": "object"})
    body: Body | None = None
    query: tuple = ()
    media: str = JSON


#: Limits every body applies to an option of this name (ServingOptions.__post_init__).
OPTION_LIMITS = {"capture_requests": {"minimum": 0}}

#: A notebook's path: a NUL in it is refused (400).
NOTEBOOK_PATH = {"minLength": 1, "pattern": "^[^\\x00]*$"}

JOB_BODY = Body(
    JOB_FIELDS,
    JOB_REQUIRED,
    ExportOptions,
    limits={"path": NOTEBOOK_PATH, "port": {"minimum": PORT_RANGE[0], "maximum": PORT_RANGE[1]}},
    defaults=JOB_DEFAULTS,
    exclusive=(("model", "entry"),),
)
PUSH_BODY = Body(PUSH_FIELDS, required_fields(PushOptions), PushOptions)
DEPLOY_BODY = Body(
    DEPLOY_FIELDS,
    required_fields(DeployOptions),
    DeployOptions,
    limits={"replicas": {"minimum": 1, "maximum": MAX_REPLICAS}},
    together=(("tls_cert", "tls_key"),),
)
SCALE_BODY = Body(
    SCALE_FIELDS, ("replicas",), limits={"replicas": {"minimum": 0, "maximum": MAX_REPLICAS}}
)
ROLLOUT_BODY = Body(ROLLOUT_FIELDS)
PREDICT_BODY = Body(PREDICT_FIELDS, ("payload",))

BAD_BODY = (400, "the body is not a JSON object of the fields below, or a field's value is refused")
NO_ENGINE = (503, "the container engine does not answer (the hint says how to start it)")
NO_JOB = (404, "no job with this id in this server's memory")
NO_INSTANCE = (404, "no instance has this name or id")
NO_DEPLOYMENT = (404, "no deployment has this name (or swarm mode is off)")
UNREACHABLE = (502, "the instance is not running, or does not answer")
NOTEBOOK = (
    (403, "the notebook's path is absolute, leaves the server root, or is hidden"),
    (404, "no notebook at this path"),
)

ERROR = {"$ref": "#/components/schemas/Error"}
ACCEPTED = {"$ref": "#/components/schemas/Accepted"}
JOB_SUMMARY = {"$ref": "#/components/schemas/JobSummary"}
STRINGS = {"type": "array", "items": {"type": "string"}}
#: One server-sent event (as OpenAPI 3.2's itemSchema has it; 3.0's tools read `schema` so).
EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "event": {"type": "string", "enum": ["end"], "description": "the last event"},
        "data": {
            "type": "string",
            "description": "a ProgressEvent as JSON; after `event: end`, the job's summary",
        },
    },
}
#: What Jupyter itself answers to a path whose parameter the route's pattern does not match.
NO_ROUTE = {"text/html": {"schema": {"type": "string"}}}

#: By route (its path under /mlcontainer/ with {parameters}) and method.
OPERATIONS = {
    ("openapi.json", "get"): Operation("This document"),
    ("config", "get"): Operation(
        "The server's effective configuration",
        returns={
            "type": "object",
            "required": ["version", "base_image", "default_port", "download_wheels"],
            "properties": {
                "version": {"type": "string"},
                "base_image": {"type": "string", "nullable": True},
                "default_port": {"type": "integer"},
                "download_wheels": {"type": "boolean"},
            },
        },
    ),
    ("candidates", "get"): Operation(
        "What a notebook offers to serve",
        errors=(
            (400, "no path, a NUL in it, or not an .ipynb file"),
            *NOTEBOOK,
            (422, "the notebook cannot be read"),
        ),
        query=(
            Query(
                "path",
                {"type": "string", **NOTEBOOK_PATH},
                "the notebook, relative to the root",
                True,
            ),
        ),
        returns={
            "type": "object",
            "required": ["models", "functions", "sample", "samples", "defaults"],
            "properties": {
                "models": STRINGS,
                "functions": STRINGS,
                "sample": {"type": "string", "nullable": True},
                "samples": {"type": "object", "additionalProperties": {"type": "string"}},
                "defaults": {"type": "object"},
            },
        },
    ),
    ("jobs", "get"): Operation(
        "The jobs in this server's memory, oldest first",
        returns={
            "type": "object",
            "required": ["jobs"],
            "properties": {"jobs": {"type": "array", "items": JOB_SUMMARY}},
        },
    ),
    ("jobs", "post"): Operation(
        "Start a build (or, with explain, a slice report) of a notebook",
        errors=(
            (400, "a refused body, a path that is not an .ipynb file, or no such kernel_id"),
            *NOTEBOOK,
        ),
        status=202,
        returns=ACCEPTED,
        body=JOB_BODY,
    ),
    ("push", "post"): Operation(
        "Start pushing an image to a registry",
        errors=(BAD_BODY,),
        status=202,
        returns=ACCEPTED,
        body=PUSH_BODY,
    ),
    ("jobs/{job_id}", "get"): Operation(
        "A job with its events so far",
        errors=(NO_JOB,),
        returns={"$ref": "#/components/schemas/Job"},
    ),
    ("jobs/{job_id}", "delete"): Operation(
        "Cancel a job", errors=(NO_JOB,), status=202, returns=JOB_SUMMARY
    ),
    ("jobs/{job_id}/events", "get"): Operation(
        "A job's events as server-sent events, until it ends",
        errors=(NO_JOB,),
        returns=EVENT,
        media="text/event-stream",
    ),
    ("deployments", "get"): Operation(
        "Swarm mode's state and the deployments",
        errors=(NO_ENGINE,),
        returns={
            "type": "object",
            "required": ["swarm", "deployments"],
            "properties": {
                "swarm": {"type": "string"},
                "deployments": {"type": "array", "items": {"type": "object"}},
            },
        },
    ),
    ("deployments", "post"): Operation(
        "Start deploying replicas behind one URL",
        errors=(BAD_BODY,),
        status=202,
        returns=ACCEPTED,
        body=DEPLOY_BODY,
    ),
    ("deployments/{name}", "get"): Operation("A deployment", errors=(NO_DEPLOYMENT, NO_ENGINE)),
    ("deployments/{name}", "patch"): Operation(
        "Start scaling a deployment",
        errors=(BAD_BODY, NO_DEPLOYMENT, NO_ENGINE),
        status=202,
        returns=ACCEPTED,
        body=SCALE_BODY,
    ),
    ("deployments/{name}", "delete"): Operation(
        "Start undeploying a deployment",
        errors=(NO_DEPLOYMENT, NO_ENGINE),
        status=202,
        returns=ACCEPTED,
    ),
    ("deployments/{name}/rollout", "post"): Operation(
        "Start rolling a deployment out to another image",
        errors=(BAD_BODY, NO_DEPLOYMENT, NO_ENGINE),
        status=202,
        returns=ACCEPTED,
        body=ROLLOUT_BODY,
    ),
    ("instances", "get"): Operation(
        "The serving containers",
        errors=(NO_ENGINE,),
        returns={
            "type": "object",
            "required": ["instances"],
            "properties": {"instances": {"type": "array", "items": {"type": "object"}}},
        },
    ),
    ("instances/{name}", "get"): Operation("An instance", errors=(NO_INSTANCE, NO_ENGINE)),
    ("instances/{name}", "delete"): Operation(
        "Stop and remove an instance",
        errors=(NO_INSTANCE, NO_ENGINE),
        returns={
            "type": "object",
            "required": ["stopped"],
            "properties": {"stopped": {"type": "object"}},
        },
    ),
    ("instances/{name}/logs", "get"): Operation(
        "An instance's last log lines",
        errors=((400, "tail is not a whole number"), NO_INSTANCE, NO_ENGINE),
        query=(Query("tail", {"type": "integer", "default": 200}, "how many lines"),),
        returns={
            "type": "object",
            "required": ["name", "logs"],
            "properties": {"name": {"type": "string"}, "logs": {"type": "string"}},
        },
    ),
    ("instances/{name}/predict", "post"): Operation(
        "Send a request to an instance's /predict",
        errors=(BAD_BODY, NO_INSTANCE, UNREACHABLE, NO_ENGINE),
        body=PREDICT_BODY,
        returns={
            "type": "object",
            "required": ["status", "body", "latency_ms", "error"],
            "properties": {
                "status": {"type": "integer"},
                "latency_ms": {"type": "number"},
                "error": {"type": "string", "nullable": True},
            },
        },
    ),
    ("instances/{name}/drift", "get"): Operation(
        "Whether an instance's image still matches its notebook and packages",
        errors=(
            (404, "no instance or image has this name"),
            (422, "the image was not built by jupyter-mlcontainer: it has no record to check"),
            NO_ENGINE,
        ),
    ),
    ("instances/{name}/data-drift", "get"): Operation(
        "How an instance's live inputs drift from its training data",
        errors=(
            (404, "no instance has this name, or its image has no data contract"),
            UNREACHABLE,
            NO_ENGINE,
        ),
        returns={
            "type": "object",
            "required": ["name", "threshold", "drifting", "worst"],
            "properties": {
                "name": {"type": "string"},
                "threshold": {"type": "number"},
                "drifting": STRINGS,
                "worst": {"type": "object", "nullable": True},
            },
        },
    ),
}

FORBIDDEN = (
    "no token and no logged-in session, a session's request without the XSRF token "
    "(POST, PATCH, DELETE), or the server's Authorizer refuses"
)

COMPONENTS = {
    "schemas": {
        "Error": {
            "type": "object",
            "required": ["message", "hint"],
            "properties": {
                "message": {"type": "string", "description": "what went wrong"},
                "hint": {"type": "string", "description": "what to do about it"},
            },
        },
        "Accepted": {
            "type": "object",
            "required": ["id"],
            "properties": {"id": {"type": "string", "pattern": "^[0-9a-f]+$"}},
        },
        "JobSummary": {
            "type": "object",
            "required": ["id", "kind", "notebook", "name", "status", "stage", "result", "error"],
            "properties": {
                "id": {"type": "string"},
                "kind": {
                    "type": "string",
                    "enum": ["build", "explain", "push", "deploy", "scale", "rollout", "undeploy"],
                },
                "notebook": {"type": "string"},
                "name": {"type": "string", "nullable": True},
                "status": {
                    "type": "string",
                    "enum": ["queued", "running", "succeeded", "failed", "cancelled"],
                },
                "stage": {"type": "string"},
                "result": {"type": "object", "nullable": True},
                "error": {"type": "object", "nullable": True},
                "created": {"type": "number"},
                "finished": {"type": "number", "nullable": True},
            },
        },
    },
    "securitySchemes": {
        "token": {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`token <the server's token>`; a browser's session cookie works "
            "too, with the XSRF token in X-XSRFToken on POST, PATCH and DELETE",
        }
    },
}
COMPONENTS["schemas"]["Job"] = {
    **COMPONENTS["schemas"]["JobSummary"],
    "required": [*COMPONENTS["schemas"]["JobSummary"]["required"], "events"],
    "properties": {
        **COMPONENTS["schemas"]["JobSummary"]["properties"],
        "events": {"type": "array", "items": {"type": "object"}},
    },
}


def path_template(path: str) -> tuple[str, list[tuple[str, str]]]:
    """A route's regular expression → its OpenAPI path and its parameters (name, pattern)."""
    parameters = [(m.group(1), m.group(2)) for m in GROUP.finditer(path)]
    return GROUP.sub(lambda m: "{" + m.group(1) + "}", path), parameters


def openapi_document(routes, base_url: str = "/") -> dict:
    """The document for `routes` ((path under mlcontainer/, handler) pairs, as registered)
    on a server whose base_url is `base_url`."""
    paths, described = {}, set()
    for path, handler in routes:
        template, parameters = path_template(path)
        item = {}
        for method in route_methods(handler):
            key = (template, method)
            if key not in OPERATIONS:
                raise RouteMismatch(f"{method.upper()} /mlcontainer/{template} is not described.")
            described.add(key)
            item[method] = _operation(template, method, handler, parameters, OPERATIONS[key])
        paths[f"/mlcontainer/{template}"] = item
    stale = sorted(set(OPERATIONS) - described)
    if stale:
        raise RouteMismatch(f"Described but not routed: {stale}.")
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "jupyter-mlcontainer server extension",
            "version": __version__,
            "description": "The REST API the JupyterLab frontend calls. Errors are JSON "
            '{"message", "hint"}. Builds, pushes and deployments are jobs: POST answers 202 '
            "with the job's id, and its events stream from /mlcontainer/jobs/{job_id}/events.",
        },
        "servers": [{"url": base_url.rstrip("/") or "/"}],
        "security": [{"token": []}],
        "paths": paths,
        "components": COMPONENTS,
    }


def _operation(template, method, handler, parameters, operation: Operation) -> dict:
    answer = {"description": operation.summary}
    answer["content"] = {operation.media: {"schema": operation.returns}}
    if operation.status == 202:
        answer["description"] = (
            "Accepted: the job's id; its events stream from /mlcontainer/jobs/{job_id}/events"
        )
        answer["headers"] = {
            "Location": {"description": "the job's URL", "schema": {"type": "string"}}
        }
    responses = {str(operation.status): answer}
    errors = {**dict(operation.errors), 403: FORBIDDEN}
    if parameters:
        errors[404] = errors.get(404, "not found") + (
            "; Jupyter's own page (HTML) for a path parameter its pattern does not match"
        )
    for status, when in sorted(errors.items()):
        content = {JSON: {"schema": ERROR}, **(NO_ROUTE if status == 404 and parameters else {})}
        responses[str(status)] = {"description": when, "content": content}
    described = {
        "operationId": f"{method}_{handler.__name__}",
        "summary": operation.summary,
        "tags": [template.split("/", 1)[0]],
        "responses": responses,
    }
    doc = _docstring(getattr(handler, method)) or _docstring(handler)
    if doc:
        described["description"] = doc
    segment = template.split("/", 1)[0]
    described["parameters"] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": PATH_PARAMETERS.get((segment, name), name),
            "schema": {"type": "string", "pattern": f"^{pattern}$"},
        }
        for name, pattern in parameters
    ] + [
        {
            "name": query.name,
            "in": "query",
            "required": query.required,
            "description": query.description,
            "schema": query.schema,
        }
        for query in operation.query
    ]
    if not described["parameters"]:
        del described["parameters"]
    if operation.body is not None:
        described["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": body_schema(operation.body)}},
        }
    return described


def body_schema(body: Body) -> dict:
    """The JSON Schema of a body, as `validation.check_fields` and the options check it: unknown
    fields refused, null the same as absent (so a field that is not required may be null)."""
    options = {o.name: o for o in declared_options(body.declaration)} if body.declaration else {}
    properties = {}
    for name, (kind, description) in body.fields.items():
        required = name in body.required
        schema = {"type": TYPES[kind], "description": description}
        if kind is list:
            schema["items"] = {"type": "string"}
        option = options.get(name)
        if option is not None and option.choices:
            schema["enum"] = [*option.choices, *([] if required else [None])]
        default = body.defaults.get(name, option.default if option is not None else None)
        if default not in (None, ()):
            schema["default"] = default
        schema.update(OPTION_LIMITS.get(name, {}), **body.limits.get(name, {}))
        if not required:
            schema["nullable"] = True
        properties[name] = schema
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if body.required:
        schema["required"] = list(body.required)
    rules, said = [], []
    for a, b in body.exclusive:
        rules.append({"not": {"allOf": [_given(a), _given(b)]}})
        said.append(f"{a} and {b} exclude each other.")
    for a, b in body.together:
        rules += [{"not": {"allOf": [_given(x), {"not": _given(y)}]}} for x, y in ((a, b), (b, a))]
        said.append(f"{a} and {b} go together.")
    if rules:
        schema["allOf"] = rules
        schema["description"] = " ".join(said)
    return schema


def _given(name: str) -> dict:
    """A body whose string field `name` is given: present, and neither null nor empty."""
    return {"required": [name], "properties": {name: {"type": "string", "minLength": 1}}}


def _docstring(thing) -> str:
    doc = (thing.__doc__ or "").strip()
    return " ".join(doc.split("\n\n", 1)[0].split())
