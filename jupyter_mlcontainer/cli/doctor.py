"""`jupyter mlcontainer doctor`: which container engine the tool finds, what works with it, and
how to mend what does not."""

from __future__ import annotations

import json
import sys

MARKS = {True: "ok  ", False: "FAIL", None: "note"}


def add_command(commands) -> None:
    command = commands.add_parser(
        "doctor",
        help="say which container engine is found, what works with it and how to fix the rest",
        description=(
            "Find the container engine (DOCKER_HOST, else Docker's socket, Podman's, then your "
            "rootless Podman's), then start a container of the base image and publish a port "
            "with it. Exits 0 when everything a build and a run need works, 1 otherwise."
        ),
    )
    command.add_argument("--json", action="store_true", help="print the findings as JSON")
    command.set_defaults(handler=run)


def run(args) -> int:
    from ..engine import open_engine
    from ..engine.doctor import diagnose
    from ..shared.config import load_config

    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    diagnosis = diagnose(load_config(), python, open_engine)
    if args.json:
        print(json.dumps(diagnosis.to_dict(), indent=2))
    else:
        print(render(diagnosis))
    return 0 if diagnosis.healthy else 1


def render(diagnosis) -> str:
    lines = []
    for finding in diagnosis.findings:
        lines.append(f"{MARKS[finding.ok]}  {finding.check}: {finding.detail}")
        if finding.fix:
            lines.append(f"      fix: {finding.fix}")
    if not diagnosis.engine:
        lines.append(
            "No engine: `build` writes the build context and stops, printing the command that "
            "builds it on a machine with one."
        )
    return "\n".join(lines)
