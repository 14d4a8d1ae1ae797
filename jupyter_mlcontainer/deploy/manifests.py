"""Kubernetes and KServe manifests for a pushed serving image, shaped like the Kubernetes docs'
examples and KServe's samples: the recommended `app.kubernetes.io/*` labels, probes on the
runtime's own routes, resources always set, a security context that the *restricted* Pod
Security Standard admits, one object per file and a `kustomization.yaml` to overlay.

Pure: options and measurements in, text out. What the engine knows (the image's pushed
references, an instance's memory) is gathered by `deploy/measure.py`; the same inputs give
byte-identical output.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import PurePosixPath
from typing import Any

import yaml

from ..engine.base import CONTAINER_PORT, docker_name, split_image_ref, split_push_target
from ..runtime.auth import TOKEN_FILE_VARIABLE, TOKEN_MOUNT
from ..runtime.draining import DRAIN_VARIABLE
from ..shared.errors import ManifestError
from ..shared.version import __version__

TARGETS = ("kubernetes", "kserve")
MANAGED_BY = "jupyter-mlcontainer"
#: The user and group the generated Dockerfile runs as (`USER 10001:10001`).
RUN_AS = 10001
DEFAULT_MIN_REPLICAS = 2
DEFAULT_MAX_REPLICAS = 5
DEFAULT_CPU = "500m"
#: Used when no idle memory was measured.
DEFAULT_MEMORY = "512Mi"
#: Average CPU utilisation (percent of the request) the autoscaler aims at.
CPU_TARGET = 70
#: The startup probe allows this many times the measured start, plus the margin, in seconds.
STARTUP_FACTOR = 3
STARTUP_MARGIN = 10
STARTUP_PERIOD = 5
#: Failures allowed when the start was not measured: 60 × 5 s = 5 minutes.
DEFAULT_STARTUP_FAILURES = 60
MEBI = 1024**2
#: Seconds a stopping pod keeps answering: what endpoint changes take to reach every proxy.
DRAIN_SECONDS = 5

#: A Kubernetes quantity (k8s.io/apimachinery resource.Quantity's grammar).
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)
_SUFFIXES = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
    **{s: Decimal(1024 ** (i + 1)) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
}


@dataclass(frozen=True)
class Measurements:
    """What was measured of the image running, and how (a phrase each); None where nothing was."""

    startup_seconds: float | None = None
    startup_how: str = ""
    idle_memory_bytes: int | None = None
    memory_how: str = ""


@dataclass(frozen=True)
class ManifestOptions:
    name: str  # the application's name: becomes the objects' names and `app.kubernetes.io/name`
    image: str  # the reference a cluster pulls
    target: str = "kubernetes"
    replicas: int | None = None  # a fixed count instead of an autoscaler
    min_replicas: int | None = None
    max_replicas: int | None = None
    cpu: str | None = None  # CPU request
    memory: str | None = None  # memory request
    kustomization: bool = True
    pushed: bool = True  # False: `image` is only on this machine
    auth: str | None = None  # "token": the pods read a bearer token from the Secret NAME-token


def parse_quantity(text: str) -> Decimal:
    """A Kubernetes quantity (`500m`, `1.5`, `512Mi`, `1e3`) as a number; ValueError if not."""
    match = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(text)
    number, suffix = Decimal(match["number"]), match["suffix"] or ""
    if suffix[:1] in ("e", "E"):
        return number * Decimal(10) ** int(suffix[1:])
    return number * _SUFFIXES[suffix]


def check_cpu(text: str) -> str:
    try:
        value = parse_quantity(text)
    except (ValueError, InvalidOperation):
        raise ManifestError(
            f"--cpu {text!r} is not a Kubernetes CPU quantity.",
            "Give cores as a number or in millicores: --cpu 1, --cpu 0.5 or --cpu 500m.",
        ) from None
    if value < Decimal("0.001"):
        raise ManifestError(
            f"--cpu {text} is less than one millicore, the smallest CPU request Kubernetes keeps.",
            "Give at least 1m; a model server usually wants 250m or more.",
        )
    return text.strip()


def check_memory(text: str) -> str:
    try:
        value = parse_quantity(text)
    except (ValueError, InvalidOperation):
        raise ManifestError(
            f"--memory {text!r} is not a Kubernetes memory quantity.",
            "Give bytes with a binary suffix: --memory 512Mi or --memory 2Gi.",
        ) from None
    stripped = text.strip()
    if stripped.endswith("m"):
        raise ManifestError(
            f"--memory {stripped} means {value} bytes: the suffix m is a thousandth, not mega.",
            f"Did you mean --memory {stripped[:-1]}Mi?",
        )
    if value < 16 * MEBI:
        raise ManifestError(
            f"--memory {stripped} is less than 16Mi: the Python interpreter alone needs more.",
            "Give the memory request with a binary suffix: --memory 512Mi or --memory 2Gi.",
        )
    return stripped


def replica_bounds(options: ManifestOptions) -> tuple[int | None, int, int]:
    """(fixed replicas or None, min, max), or ManifestError saying what contradicts what."""
    lowest = 0 if options.target == "kserve" else 1
    if options.replicas is not None:
        if options.min_replicas is not None or options.max_replicas is not None:
            raise ManifestError(
                "--replicas fixes the number of replicas; --min and --max let an autoscaler pick it.",
                "Give either --replicas N or --min N --max N.",
            )
        if options.replicas < 1:
            raise ManifestError(
                f"--replicas {options.replicas}: at least one replica is needed to serve.",
                "Give --replicas 1 or more.",
            )
        return options.replicas, options.replicas, options.replicas
    low = DEFAULT_MIN_REPLICAS if options.min_replicas is None else options.min_replicas
    high = DEFAULT_MAX_REPLICAS if options.max_replicas is None else options.max_replicas
    if options.min_replicas is not None and options.max_replicas is None:
        high = max(high, low)
    if low < lowest:
        raise ManifestError(
            f"--min {low}: the Kubernetes autoscaler keeps at least one replica."
            if lowest
            else f"--min {low} is negative.",
            "Give --min 1 or more."
            if lowest
            else "Give --min 0 (scale to zero when idle) or more.",
        )
    if high < max(low, 1):
        raise ManifestError(
            f"--max {high} is less than --min {low}"
            + (" (the default)" if options.min_replicas is None else "")
            + ".",
            f"Give --max {max(low, 1)} or more, or a lower --min.",
        )
    return None, low, high


def app_name(text: str) -> str:
    """An object name Kubernetes accepts for every kind here (a DNS-1035 label): lowercase
    letters, digits and dashes, starting with a letter, at most 63 characters."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", docker_name(text)).strip("-")
    if not cleaned[:1].isalpha():
        cleaned = f"model-{cleaned}"
    return cleaned[:63].rstrip("-")


def name_of_image(image: str) -> str:
    """The application name an image reference suggests: its repository's last component."""
    return app_name(split_image_ref(image.split("@", 1)[0])[0].rsplit("/", 1)[-1])


def label_value(text: str) -> str:
    """`text` as a label value: at most 63 of A-Z a-z 0-9 - _ ., alphanumeric at both ends."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)


def pushed_reference(refs: list[str], prefer_tag: str = "") -> str | None:
    """Of an image's references, one a cluster can pull: a registry host and a tag. The one
    tagged `prefer_tag` (the content hash) if there is one, else the first in sorted order."""
    pushed = []
    for ref in refs:
        try:
            _registry, _repository, tag = split_push_target(ref)
        except ValueError:
            continue
        if tag:
            pushed.append(ref)
    pushed.sort(key=lambda ref: (split_image_ref(ref)[1] != prefer_tag, ref))
    return pushed[0] if pushed else None


def tagged_image_reference(image: str) -> str:
    """`image` if it names a tag: a manifest must name an image that does not move."""
    try:
        _registry, _repository, tag = split_push_target(image)
    except ValueError as error:
        raise ManifestError(str(error), "For example: --image ghcr.io/team/iris:3f2a9c1e") from None
    if not tag:
        raise ManifestError(
            f"--image {image} has no tag: a manifest should name an image that does not move.",
            f"Give the tag `push` printed, e.g. --image {image}:<content hash>.",
        )
    return image


# -- rendering -------------------------------------------------------------------------------


def render_manifests(options: ManifestOptions, measured: Measurements) -> dict[str, str]:
    """File name → YAML text, one object per file, plus `kustomization.yaml` unless turned off."""
    if options.target not in TARGETS:
        raise ManifestError(
            f"Unknown target {options.target!r}.", f"Give one of: {', '.join(TARGETS)}."
        )
    cpu = check_cpu(options.cpu) if options.cpu is not None else DEFAULT_CPU
    memory = check_memory(options.memory) if options.memory is not None else None
    fixed, low, high = replica_bounds(options)
    plan = _Plan(options, measured, cpu, memory, fixed, low, high)
    if options.target == "kubernetes":
        objects = {
            "deployment.yaml": _deployment(plan),
            "service.yaml": _service(plan),
            "poddisruptionbudget.yaml": _pdb(plan),
        }
        if fixed is None:
            objects["horizontalpodautoscaler.yaml"] = _hpa(plan)
    else:
        objects = {"inferenceservice.yaml": _inference_service(plan)}
    files = {name: plan.header(name) + emit(document) for name, document in objects.items()}
    if options.kustomization:
        files["kustomization.yaml"] = plan.header("kustomization.yaml") + emit(
            _kustomization(plan, list(objects))
        )
    return files


@dataclass(frozen=True)
class Comment:
    """A value with `#` lines written above its key."""

    text: str
    value: Any


class _Plan:
    """The figures every object shares, worked out once from the options and measurements."""

    def __init__(self, options, measured, cpu, memory, fixed, low, high):
        self.options, self.measured = options, measured
        self.name = app_name(options.name)
        self.cpu = cpu
        self.fixed, self.low, self.high = fixed, low, high
        tag = split_image_ref(options.image.split("@", 1)[0])[1]
        self.labels = {
            "app.kubernetes.io/name": self.name,
            "app.kubernetes.io/instance": self.name,
            "app.kubernetes.io/version": label_value(tag) or "unversioned",
            "app.kubernetes.io/managed-by": MANAGED_BY,
        }
        # The selector leaves out the version: a Deployment's selector cannot change, and a new
        # image must roll out under the same one.
        self.selector = {key: self.labels[key] for key in list(self.labels)[:2]}
        self.memory, self.memory_note = self._memory(memory)
        self.startup_failures, self.startup_note = self._startup()

    def header(self, file: str) -> str:
        lines = [
            f"# Generated by jupyter-mlcontainer {__version__} for {self.options.image}.",
            "# Overlay rather than edit: kubectl apply -k on a folder whose kustomization.yaml",
            "# lists this one as a resource, with your patches beside it.",
        ]
        if file == "kustomization.yaml":
            lines = lines[:1]
        return "\n".join(lines) + "\n"

    def _memory(self, given: str | None) -> tuple[str, str]:
        idle = self.measured.idle_memory_bytes
        seen = (
            f"Measured at idle: {idle / MEBI:.0f} MiB, {self.measured.memory_how}."
            if idle is not None
            else ""
        )
        if given is not None:
            note = f"Memory request as given (--memory {given})."
            if idle is not None and parse_quantity(given) < idle:
                note += f" It is below the idle figure: pods may be OOM-killed. {seen}"
            elif seen:
                note += f" {seen}"
            return given, note
        if idle is None:
            return DEFAULT_MEMORY, (
                f"Memory request {DEFAULT_MEMORY} is a DEFAULT, not a measurement: nothing was "
                "running to measure. Run the instance first (`jupyter mlcontainer run IMAGE`) and "
                "generate again with its name, or pass --measure, to size it from the idle memory."
            )
        request = math.ceil(idle * 1.5 / (16 * MEBI)) * 16
        return f"{request}Mi", (
            f"{seen} The request is half as much again, rounded up to 16 MiB: room for the "
            "memory that requests take while they are served."
        )

    def _startup(self) -> tuple[int, str]:
        seconds = self.measured.startup_seconds
        if seconds is None:
            return DEFAULT_STARTUP_FAILURES, (
                f"failureThreshold {DEFAULT_STARTUP_FAILURES} x {STARTUP_PERIOD} s = "
                f"{DEFAULT_STARTUP_FAILURES * STARTUP_PERIOD} s is a DEFAULT, not a measurement: "
                "the start-up time was not measured. Run the instance first (`jupyter mlcontainer "
                "run IMAGE`) and generate again with its name, or pass --measure."
            )
        budget = STARTUP_FACTOR * seconds + STARTUP_MARGIN
        failures = max(math.ceil(budget / STARTUP_PERIOD), 2)
        return failures, (
            f"Start-up: {seconds:.1f} s, {self.measured.startup_how}. failureThreshold "
            f"{failures} x {STARTUP_PERIOD} s allows {STARTUP_FACTOR}x that plus "
            f"{STARTUP_MARGIN} s (a busier node, a colder disk) before the pod is restarted; "
            "liveness checks begin only once it has started."
        )

    def metadata(self) -> dict:
        return {"name": self.name, "labels": dict(self.labels)}

    def resources(self) -> Comment:
        limit = f"{math.ceil(parse_quantity(self.memory) * 2 / MEBI)}Mi"
        return Comment(
            f"{self.memory_note}\n"
            f"CPU request {self.cpu}"
            + (" (as given)" if self.options.cpu is not None else " (a default: not measured)")
            + f"; the autoscaler aims at {CPU_TARGET}% of it.\n"
            "The memory limit, twice the request, stops a leak before it starves the node; no "
            "CPU limit, so a busy replica is not throttled while the node has CPU to spare.",
            {
                "requests": {"cpu": self.cpu, "memory": self.memory},
                "limits": {"memory": limit},
            },
        )

    def container(self, name: str) -> dict:
        image_note = (
            "The image as pushed: pinned by its content-hash tag, which never moves."
            if self.options.pushed
            else "WARNING: this image is only on the machine that built it; a cluster cannot "
            "pull it. Push it (`jupyter mlcontainer push NAME --to REGISTRY/REPO`) and generate "
            "again."
        )
        probe = {"httpGet": {"path": "/health", "port": "http"}}
        return {
            "name": name,
            "image": Comment(image_note, self.options.image),
            "ports": [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
            "env": Comment(
                f"{DRAIN_VARIABLE}: on SIGTERM the pod keeps answering, unready, for that long "
                "while the Service drops it from its endpoints, then stops (within the default "
                "30 s grace period): a rolling update loses no request.",
                [
                    {"name": "PORT", "value": str(CONTAINER_PORT)},
                    {"name": DRAIN_VARIABLE, "value": str(DRAIN_SECONDS)},
                    *self.token_env(),
                ],
            ),
            "startupProbe": Comment(
                self.startup_note,
                {
                    **probe,
                    "periodSeconds": STARTUP_PERIOD,
                    "timeoutSeconds": 3,
                    "failureThreshold": self.startup_failures,
                },
            ),
            "livenessProbe": Comment(
                "/health answers as soon as the server listens, even while the model loads.",
                {**probe, "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 3},
            ),
            "readinessProbe": Comment(
                "/ready answers 200 once the model is loaded: no traffic reaches it before.",
                {
                    "httpGet": {"path": "/ready", "port": "http"},
                    "periodSeconds": 5,
                    "timeoutSeconds": 3,
                    "failureThreshold": 2,
                },
            ),
            "resources": self.resources(),
            "securityContext": Comment(
                "What the restricted Pod Security Standard admits.",
                {
                    "runAsNonRoot": True,
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
            ),
            "volumeMounts": Comment(
                "The root filesystem is read-only; /tmp is the one writable place."
                + (" The token's Secret is mounted read-only." if self.options.auth else ""),
                [{"name": "tmp", "mountPath": "/tmp"}, *self.token_mount()],
            ),
        }

    def secret_name(self) -> str:
        return f"{self.name}-token"

    def token_env(self) -> list:
        if not self.options.auth:
            return []
        return [{"name": TOKEN_FILE_VARIABLE, "value": TOKEN_MOUNT}]

    def token_mount(self) -> list:
        if not self.options.auth:
            return []
        folder = str(PurePosixPath(TOKEN_MOUNT).parent)
        return [{"name": "token", "mountPath": folder, "readOnly": True}]

    def pod_fields(self) -> dict:
        return {
            "automountServiceAccountToken": Comment(
                "The model server does not call the Kubernetes API.", False
            ),
            "securityContext": Comment(
                f"The user and group the generated Dockerfile sets (USER {RUN_AS}:{RUN_AS}).",
                {
                    "runAsNonRoot": True,
                    "runAsUser": RUN_AS,
                    "runAsGroup": RUN_AS,
                    "fsGroup": RUN_AS,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
            ),
        }

    def volumes(self) -> list:
        tmp = {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}
        if not self.options.auth:
            return [tmp]
        token = {
            "name": "token",
            "secret": Comment(
                "Every route but the probes needs `Authorization: Bearer <token>`. Create the "
                f"Secret once, never in these files: kubectl create secret generic "
                f'{self.secret_name()} --from-literal=token="$(openssl rand -base64 32)"',
                {
                    "secretName": self.secret_name(),
                    "items": [{"key": "token", "path": PurePosixPath(TOKEN_MOUNT).name}],
                    "defaultMode": 0o440,
                },
            ),
        }
        return [tmp, token]


def _deployment(plan: _Plan) -> dict:
    spec: dict = {}
    if plan.fixed is not None:
        spec["replicas"] = Comment("A fixed count (--replicas): no autoscaler.", plan.fixed)
    spec["selector"] = {"matchLabels": dict(plan.selector)}
    spec["strategy"] = Comment(
        "Start a new pod, wait until it is ready, then stop an old one: no capacity is lost.",
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
    )
    spec["template"] = {
        "metadata": {"labels": dict(plan.labels)},
        "spec": {
            **plan.pod_fields(),
            "containers": [plan.container("model")],
            "volumes": plan.volumes(),
        },
    }
    if plan.fixed is None:
        spec = {
            "replicas": Comment(
                "Left out on purpose: the HorizontalPodAutoscaler owns the count, and a replicas "
                "field here would reset it on every apply.",
                _OMIT,
            ),
            **spec,
        }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": plan.metadata(),
        "spec": spec,
    }


def _service(plan: _Plan) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": plan.metadata(),
        "spec": {
            "type": "ClusterIP",
            "selector": dict(plan.selector),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _hpa(plan: _Plan) -> dict:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": plan.metadata(),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": plan.name},
            "minReplicas": plan.low,
            "maxReplicas": plan.high,
            "metrics": Comment(
                f"Add replicas when the average CPU use passes {CPU_TARGET}% of the request.",
                [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": CPU_TARGET},
                        },
                    }
                ],
            ),
        },
    }


def _pdb(plan: _Plan) -> dict:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": plan.metadata(),
        "spec": {
            "maxUnavailable": Comment(
                "A node drain evicts one replica at a time; with a single replica that one still "
                "goes (minAvailable: 1 would block the drain for good).",
                1,
            ),
            "selector": {"matchLabels": dict(plan.selector)},
        },
    }


def _inference_service(plan: _Plan) -> dict:
    predictor = {
        "labels": dict(plan.labels),
        "minReplicas": Comment(
            "0 lets KServe scale to zero when idle (Serverless mode)." if plan.low == 0 else "",
            plan.low,
        ),
        "maxReplicas": plan.high,
        "scaleMetric": Comment(
            f"Scale on CPU at {CPU_TARGET}% of the request, as the Kubernetes target does. In "
            "Serverless mode, `concurrency` (in-flight requests) is Knative's own metric.",
            "cpu",
        ),
        "scaleTarget": CPU_TARGET,
        **plan.pod_fields(),
        "containers": Comment(
            "A custom predictor: the image serves its own HTTP API on port "
            f"{CONTAINER_PORT}. The /tmp emptyDir needs Knative's "
            "kubernetes.podspec-emptydir feature in Serverless mode.",
            [plan.container("kserve-container")],
        ),
        "volumes": plan.volumes(),
    }
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": plan.metadata(),
        "spec": {"predictor": predictor},
    }


def _kustomization(plan: _Plan, resources: list[str]) -> dict:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": Comment(
            "An overlay lists this folder in its resources and patches what differs: replicas, "
            "resources, a namespace.",
            list(resources),
        ),
    }


# -- a small YAML emitter that keeps comments -------------------------------------------------

_OMIT = object()  # a key that is only a comment
_PLAIN = re.compile(r"^[A-Za-z0-9/][A-Za-z0-9._/:@+-]*$")


def emit(document: dict) -> str:
    """Block-style YAML with two-space indents, keys in the given order, `Comment`s as `#`
    lines above their key, strings quoted only when plain style would read back otherwise."""
    return "\n".join(_mapping(document, 0)) + "\n"


def _comment_lines(text: str, indent: int) -> list[str]:
    import textwrap

    lines = []
    for paragraph in text.splitlines():
        wrapped = textwrap.wrap(paragraph, width=max(100 - indent - 2, 40)) or [""]
        lines.extend(" " * indent + "# " + line for line in wrapped)
    return lines


def _mapping(mapping: dict, indent: int, first_prefix: str = "") -> list[str]:
    lines: list[str] = []
    for key, value in mapping.items():
        if isinstance(value, Comment):
            if value.text:
                lines.extend(_comment_lines(value.text, indent))
            value = value.value
        if value is _OMIT:
            continue
        head = f"{key}:"
        if isinstance(value, dict) and value:
            lines.append(" " * indent + head)
            lines.extend(_mapping(value, indent + 2))
        elif isinstance(value, list) and value:
            lines.append(" " * indent + head)
            lines.extend(_sequence(value, indent + 2))
        else:
            lines.append(" " * indent + f"{head} {_scalar(value)}")
    return lines


def _sequence(items: list, indent: int) -> list[str]:
    lines: list[str] = []
    for item in items:
        if isinstance(item, dict) and item:
            body = _mapping(item, indent + 2)
            # The first key goes on the dash's line; comments before it stay above the dash.
            first = next(i for i, line in enumerate(body) if not line.lstrip().startswith("#"))
            lines.extend(line[2:] for line in body[:first])
            lines.append(" " * indent + "- " + body[first][indent + 2 :])
            lines.extend(body[first + 1 :])
        else:
            lines.append(" " * indent + f"- {_scalar(item)}")
    return lines


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    text = str(value)
    if _PLAIN.match(text) and not text.endswith(":") and yaml.safe_load(text) == text:
        return text
    return json.dumps(text)
