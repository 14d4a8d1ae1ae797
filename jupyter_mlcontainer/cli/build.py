"""`jupyter mlcontainer build`: notebook → build context → image → (instance + parity check)."""

from __future__ import annotations

import json

from ..pipeline.plan import ExportOptions
from ..shared.terminal import TerminalProgress
from ..workflow.options import add_arguments, options_from


def add_command(commands) -> None:
    command = commands.add_parser(
        "build",
        help="turn a notebook into a serving image (and run it with --run)",
        description=(
            "Extract the serving code and the trained model from a notebook (executing it "
            "headless), pin its environment, write a build context and build the image. With "
            "--run, start it on 127.0.0.1 and check that it answers the sample exactly as the "
            "notebook did. With --explain, print what would go into the image and why, and "
            "stop before building."
        ),
    )
    command.add_argument("notebook", help="path to the .ipynb file")
    add_arguments(command, ExportOptions)
    command.add_argument(
        "--context-only", action="store_true", help="write the build context, do not build"
    )
    command.add_argument("--out", metavar="DIR", help="where to write the build context")
    command.add_argument(
        "--json", action="store_true", help="print one JSON object with the result"
    )
    command.add_argument("-q", "--quiet", action="store_true", help="hide build logs")
    command.set_defaults(handler=run)


def run(args) -> int:
    from ..workflow.build import containerize

    result = containerize(
        options_from(ExportOptions, vars(args), notebook=args.notebook),
        on_event=TerminalProgress(verbose=not (args.quiet or args.json)),
        context_only=args.context_only,
        out_dir=args.out,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    elif args.explain:
        print(result.report.text(), end="")
    else:
        print(summary(result))
    return 0 if result.parity is None or result.parity.passed else 1


def summary(result) -> str:
    lines = [f"context: {result.context}"]
    if result.tag:
        lines.append(f"image:   {result.tag} ({result.size / 1e6:.0f} MB)")
    if result.sizes:
        parts = ", ".join(f"{k.replace('_', ' ')} {v / 1e6:.2f}" for k, v in result.sizes.items())
        lines.append(f"sizes:   {parts} MB")
    if result.instance:
        lines.append(f"url:     {result.instance.url}  (instance {result.instance.name})")
    if result.token:
        from ..running.tokens import shown_once

        lines.append(shown_once(result.token))
    if result.replacement:
        from ..workflow.replace import summary as replacement_summary

        lines.append(replacement_summary(result.replacement))
    if result.parity:
        lines.append(f"parity:  {'PASS' if result.parity.passed else 'FAIL'}")
        lines += ["  " + line for line in result.parity.render().splitlines()]
    return "\n".join(lines)
