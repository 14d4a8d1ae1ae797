"""`jupyter mlcontainer …`: the command-line front door, for terminals and CI."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Iterable

from . import __version__
from .errors import MLContainerError
from .events import ProgressEvent
from .terminal import TerminalProgress


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
    _add_base_image(commands)
    return parser


def drain(events: Iterable[ProgressEvent], sink: Callable[[ProgressEvent], None]) -> None:
    for event in events:
        sink(event)


def _add_base_image(commands) -> None:
    from .engine.baseimage import DEFAULT_MIRROR, DEFAULT_SUITE, PYTHON_OF_SUITE

    command = commands.add_parser(
        "base-image",
        help="build a Python base image from Debian packages (no container registry needed)",
        description=(
            "Build a Python base image from Debian packages with debootstrap, for machines "
            "that cannot pull from a container registry. Needs root and debootstrap. "
            "Prints the tag it made; skips the work when the tag already exists."
        ),
    )
    command.add_argument("--suite", default=DEFAULT_SUITE, choices=sorted(PYTHON_OF_SUITE))
    command.add_argument("--mirror", default=DEFAULT_MIRROR, help="Debian mirror URL")
    command.add_argument("--force", action="store_true", help="rebuild even if the tag exists")
    command.add_argument("-q", "--quiet", action="store_true", help="hide debootstrap and build logs")
    command.set_defaults(handler=_run_base_image)


def _run_base_image(args) -> int:
    from .engine import DockerEngine
    from .engine.baseimage import base_image_tag, build_base_image

    engine = DockerEngine()
    drain(
        build_base_image(engine, args.suite, args.mirror, args.force),
        TerminalProgress(verbose=not args.quiet),
    )
    print(base_image_tag(args.suite))
    return 0


if __name__ == "__main__":
    sys.exit(main())
