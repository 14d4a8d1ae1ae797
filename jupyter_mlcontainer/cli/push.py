"""`jupyter mlcontainer push`: a built image to a registry."""

from __future__ import annotations

import json

from ..deploy.plan import PushOptions
from ..shared.terminal import TerminalProgress
from ..workflow.options import add_arguments, options_from


def add_command(commands) -> None:
    command = commands.add_parser(
        "push",
        help="push a built image to a registry",
        description=(
            "Push an instance's image, a notebook's image (by name) or any image to "
            "REGISTRY/REPOSITORY[:TAG] (default tag: the image's content hash), with the "
            "credentials of your Docker configuration (`docker login REGISTRY`)."
        ),
    )
    add_arguments(command, PushOptions)
    command.add_argument("--json", action="store_true", help="print the result as JSON")
    command.set_defaults(handler=run)


def run(args) -> int:
    from ..deploy.push import push_image
    from ..engine import open_engine

    options = options_from(PushOptions, vars(args))
    result = push_image(open_engine(), options, TerminalProgress(verbose=not args.json))
    print(
        json.dumps(result.to_dict(), indent=2) if args.json else f"{result.target}@{result.digest}"
    )
    return 0
