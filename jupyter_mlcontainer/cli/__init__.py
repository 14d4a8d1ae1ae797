"""`jupyter mlcontainer …`: the command-line front door, for terminals and CI."""

from __future__ import annotations

import argparse
import sys

from ..shared.errors import MLContainerError
from ..shared.version import __version__
from . import audit, base_image, build, ci, deploy, doctor, instances, manifests, predict, push


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        return args.handler(args) or 0
    except MLContainerError as error:
        print(f"error: {error}", file=sys.stderr)
        if getattr(error, "output", ""):
            print(error.output.rstrip(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jupyter mlcontainer",
        description="Turn a Jupyter notebook into a running model-serving container.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    build.add_command(commands)
    base_image.add_command(commands)
    instances.add_commands(commands)
    push.add_command(commands)
    deploy.add_commands(commands)
    ci.add_command(commands)
    manifests.add_command(commands)
    audit.add_command(commands)
    predict.add_command(commands)
    doctor.add_command(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
