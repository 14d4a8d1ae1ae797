"""`jupyter mlcontainer base-image`: the offline Python base image."""

from __future__ import annotations

from ..shared.terminal import TerminalProgress
from .progress import drain


def add_command(commands) -> None:
    from ..engine.baseimage import DEFAULT_MIRROR, DEFAULT_SUITE, PYTHON_OF_SUITE

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
    command.add_argument(
        "-q", "--quiet", action="store_true", help="hide debootstrap and build logs"
    )
    command.set_defaults(handler=run)


def run(args) -> int:
    from ..engine import open_engine
    from ..engine.baseimage import base_image_tag, build_base_image

    engine = open_engine()
    drain(
        build_base_image(engine, args.suite, args.mirror, args.force),
        TerminalProgress(verbose=not args.quiet),
    )
    print(base_image_tag(args.suite))
    return 0
