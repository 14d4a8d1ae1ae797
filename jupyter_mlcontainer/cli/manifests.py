"""`jupyter mlcontainer manifests`: Kubernetes or KServe manifests for a pushed image."""

from __future__ import annotations

import sys
from pathlib import Path


def add_command(commands) -> None:
    command = commands.add_parser(
        "manifests",
        help="write Kubernetes or KServe manifests for a pushed image",
        description=(
            "Write one YAML file per object (and a kustomization.yaml) for an instance's image, a "
            "notebook's image (by name) or an image reference: a Deployment, Service, "
            "HorizontalPodAutoscaler and PodDisruptionBudget, or a KServe InferenceService. "
            "They name the image as pushed (`jupyter mlcontainer push`), size the startup probe "
            "and the memory request from a running instance when there is one (or --measure), "
            "and say in comments where figures are defaults."
        ),
    )
    command.add_argument("source", metavar="NAME|IMAGE", help="instance, image name or reference")
    command.add_argument(
        "--target", required=True, choices=("kubernetes", "kserve"), help="what to write"
    )
    command.add_argument(
        "--image", metavar="REGISTRY/REPO:TAG", help="the image to name (default: the pushed one)"
    )
    command.add_argument(
        "--replicas", type=int, metavar="N", help="a fixed number of replicas (no autoscaler)"
    )
    command.add_argument("--min", type=int, metavar="N", help="fewest replicas (default 2)")
    command.add_argument("--max", type=int, metavar="N", help="most replicas (default 5)")
    command.add_argument("--cpu", metavar="QUANTITY", help="CPU request (default 500m)")
    command.add_argument(
        "--memory", metavar="QUANTITY", help="memory request (default: 1.5x the measured idle)"
    )
    command.add_argument(
        "--measure",
        action="store_true",
        help="start the image once on this machine to measure start-up time and idle memory",
    )
    command.add_argument(
        "--auth",
        choices=("token",),
        help="lock every route but the probes with a bearer token the pods read from the "
        "Secret NAME-token (created with kubectl; never written into these files)",
    )
    command.add_argument(
        "--no-kustomization", action="store_true", help="do not write kustomization.yaml"
    )
    command.add_argument(
        "--out", metavar="DIR", help="folder to write into (default: print the objects)"
    )
    command.set_defaults(handler=run)


def run(args) -> int:
    from ..deploy.measure import manifests_for
    from ..engine import open_engine

    result = manifests_for(
        open_engine(),
        args.source,
        target=args.target,
        image=args.image,
        measure=args.measure,
        replicas=args.replicas,
        min_replicas=args.min,
        max_replicas=args.max,
        cpu=args.cpu,
        memory=args.memory,
        kustomization=not args.no_kustomization,
        auth=args.auth,
    )
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.out is None:  # for `kubectl apply -f -`, which has no use for a kustomization
        objects = [text for name, text in result.files.items() if name != "kustomization.yaml"]
        print("---\n".join(objects), end="")
        return 0
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in result.files.items():
        (folder / name).write_text(text, encoding="utf-8")
        print(folder / name)
    return 0
