"""`jupyter mlcontainer build`: notebook → build context → image → (instance + parity check)."""

from __future__ import annotations

import json

from ..pipeline.plan import OPTION_HELP
from ..terminal import TerminalProgress


def add_command(commands) -> None:
    command = commands.add_parser(
        "build",
        help="turn a notebook into a serving image (and run it with --run)",
        description=(
            "Extract the serving code and the trained model from a notebook (executing it "
            "headless), pin its environment, write a build context and build the image. With --run, start it "
            "on 127.0.0.1 and check that it answers the sample exactly as the notebook did."
        ),
    )
    command.add_argument("notebook", help="path to the .ipynb file")
    entry = command.add_mutually_exclusive_group()
    entry.add_argument("--model", metavar="VAR", help="serve VAR.<method>(inputs)")
    entry.add_argument(
        "--entry", metavar="NAME", help="serve the function NAME(inputs) (default: predict)"
    )
    command.add_argument("--method", default="predict", help=OPTION_HELP["method"])
    command.add_argument("--sample", metavar="EXPR", help=OPTION_HELP["sample"])
    command.add_argument("--name", help=OPTION_HELP["name"])
    command.add_argument("--base-image", metavar="IMG", help=OPTION_HELP["base_image"])
    command.add_argument(
        "--system-package",
        metavar="NAME",
        action="append",
        default=[],
        dest="system_packages",
        help=OPTION_HELP["system_package"],
    )
    command.add_argument(
        "--keep-gpu-packages", action="store_true", help=OPTION_HELP["keep_gpu_packages"]
    )
    command.add_argument(
        "--context-only", action="store_true", help="write the build context, do not build"
    )
    command.add_argument("--out", metavar="DIR", help="where to write the build context")
    command.add_argument("--no-cache", action="store_true", help="rebuild every image layer")
    command.add_argument("--run", action="store_true", help="start the image and check parity")
    command.add_argument("--port", type=int, help=OPTION_HELP["port"])
    command.add_argument(
        "--json", action="store_true", help="print one JSON object with the result"
    )
    command.add_argument("-q", "--quiet", action="store_true", help="hide build logs")
    command.set_defaults(handler=run)


def run(args) -> int:
    from ..pipeline.plan import ExportOptions
    from ..workflow import containerize

    options = ExportOptions(
        notebook=args.notebook,
        model=args.model,
        entry=args.entry,
        method=args.method,
        sample=args.sample,
        name=args.name,
        base_image=args.base_image,
        run=args.run,
        port=args.port,
        system_packages=tuple(args.system_packages),
        keep_gpu_packages=args.keep_gpu_packages,
    )
    result = containerize(
        options,
        on_event=TerminalProgress(verbose=not (args.quiet or args.json)),
        context_only=args.context_only,
        out_dir=args.out,
        no_cache=args.no_cache,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print(summary(result))
    return 0 if result.parity is None or result.parity["passed"] else 1


def summary(result) -> str:
    lines = [f"context: {result.context}"]
    if result.tag:
        lines.append(f"image:   {result.tag} ({result.size / 1e6:.0f} MB)")
    if result.sizes:
        parts = ", ".join(f"{k.replace('_', ' ')} {v / 1e6:.2f}" for k, v in result.sizes.items())
        lines.append(f"sizes:   {parts} MB")
    if result.instance:
        lines.append(f"url:     {result.instance.url}  (instance {result.instance.name})")
    if result.parity:
        from ..runtime.parity import ParityReport, ParityRow

        rows = [ParityRow(**row) for row in result.parity["rows"]]
        verdict = "PASS" if result.parity["passed"] else "FAIL"
        lines.append(f"parity:  {verdict}")
        lines += [
            "  " + line
            for line in ParityReport(rows, result.parity["passed"]).render().splitlines()
        ]
    return "\n".join(lines)
