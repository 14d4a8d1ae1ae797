"""`jupyter mlcontainer deploy | scale | rollout | undeploy | deployments`: replicas behind one
URL on Docker's swarm mode (deploy/replicas.py)."""

from __future__ import annotations

import json
import sys

from ..deploy.plan import DeployOptions
from ..engine import open_engine
from ..shared.terminal import TerminalProgress
from ..workflow.options import add_arguments, options_from
from .instances import format_table

COLUMNS = ("NAME", "URL", "REPLICAS", "IMAGE", "LAST ROLLOUT")


def add_commands(commands) -> None:
    deploy_command = commands.add_parser(
        "deploy",
        help="serve an image from N replicas behind one URL (Docker swarm mode)",
        description=(
            "Start REPLICAS copies of an instance's image, a notebook's image (by name) or any "
            "image as a swarm-mode service, behind an HAProxy front on 127.0.0.1:PORT. Swarm "
            "mode must be on (`docker swarm init`), or pass --init-swarm."
        ),
    )
    add_arguments(deploy_command, DeployOptions)
    add_json_option(deploy_command)
    deploy_command.set_defaults(handler=deploy)

    scale_command = commands.add_parser("scale", help="change a deployment's replica count")
    scale_command.add_argument("name", help="deployment name")
    scale_command.add_argument("replicas", type=int, help="replicas wanted")
    add_json_option(scale_command)
    scale_command.set_defaults(handler=scale)

    rollout_command = commands.add_parser(
        "rollout",
        help="replace a deployment's replicas with a new image, two at a time, no request lost",
        description=(
            "Roll a deployment out to IMAGE, or to the latest build of its notebook. New "
            "replicas start before old ones stop; at the first that fails, every replica is rolled "
            "back and this exits non-zero with the failed replica's log."
        ),
    )
    rollout_command.add_argument("name", help="deployment name")
    rollout_command.add_argument("--image", help="image to roll out (default: the latest build)")
    add_json_option(rollout_command)
    rollout_command.set_defaults(handler=rollout)

    undeploy_command = commands.add_parser("undeploy", help="remove a deployment")
    undeploy_command.add_argument("name", help="deployment name")
    undeploy_command.set_defaults(handler=undeploy)

    list_command = commands.add_parser("deployments", help="list deployments")
    add_json_option(list_command, "print deployments as JSON")
    list_command.set_defaults(handler=deployments)


def add_json_option(command, help: str = "print the deployment as JSON") -> None:
    command.add_argument("--json", action="store_true", help=help)


def deploy(args) -> int:
    from ..deploy.replicas import deploy as deploy_replicas

    options = options_from(DeployOptions, vars(args))
    return _print(args, deploy_replicas(open_engine(), options, on_event=_progress(args)))


def scale(args) -> int:
    from ..deploy.replicas import scale as scale_replicas

    return _print(args, scale_replicas(open_engine(), args.name, args.replicas, _progress(args)))


def rollout(args) -> int:
    from ..deploy.replicas import rollout as roll_out

    return _print(args, roll_out(open_engine(), args.name, args.image, _progress(args)))


def undeploy(args) -> int:
    from ..deploy.replicas import undeploy as remove

    remove(open_engine(), args.name, TerminalProgress(verbose=False))
    return 0


def deployments(args) -> int:
    from ..deploy.replicas import list_deployments

    found = list_deployments(open_engine())
    if args.json:
        print(json.dumps([d.to_dict() for d in found], indent=2))
        return 0
    if not found:
        print("No deployments. Make one with `jupyter mlcontainer deploy NAME`.", file=sys.stderr)
        return 0
    rows = [
        (d.name, d.url or "-", f"{d.running}/{d.replicas}", d.image, d.update or "-") for d in found
    ]
    print(format_table(COLUMNS, rows))
    return 0


def _progress(args) -> TerminalProgress:
    return TerminalProgress(verbose=not args.json)


def _print(args, deployment) -> int:
    if args.json:
        print(json.dumps(deployment.to_dict(), indent=2))
    else:
        print(
            f"{deployment.name}: {deployment.running}/{deployment.replicas} replicas at "
            f"{deployment.url} ({deployment.image})"
        )
        if deployment.token:
            from ..running.tokens import shown_once

            print(shown_once(deployment.token))
    return 0
