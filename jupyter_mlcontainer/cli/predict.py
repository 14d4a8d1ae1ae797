"""`jupyter mlcontainer predict`: score a file of rows with a built image, from the host."""

from __future__ import annotations

import sys
from pathlib import Path

from ..engine import open_engine
from ..shared.errors import PredictionFailed

#: Input formats by file extension; the image writes CSV for CSV and Parquet, JSON lines for JSON lines.
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def add_command(commands) -> None:
    command = commands.add_parser(
        "predict",
        help="score a CSV, JSON-lines or Parquet file with an image (batch, bounded memory)",
        description=(
            "Run the image's batch scorer over ROWS in a throwaway container without network "
            "(the file is mounted read-only), in chunks, with progress on stderr. The same as "
            "`docker run --rm -i IMAGE predict < rows.csv > predictions.csv`."
        ),
    )
    command.add_argument("source", metavar="NAME|IMAGE", help="instance, image name or reference")
    command.add_argument("rows", type=Path, help="a .csv (with a header), .jsonl or .parquet file")
    command.add_argument("-o", "--output", type=Path, help="where to write (default: stdout)")
    command.add_argument(
        "--allow-foreign",
        action="store_true",
        help="start an image that jupyter-mlcontainer did not build (refused by default)",
    )
    command.set_defaults(handler=run)


def run(args) -> int:
    from ..deploy.push import resolve_image
    from ..trust.foreign import refuse_foreign

    fmt = FORMATS.get(args.rows.suffix.lower())
    if fmt is None:
        raise PredictionFailed(
            f"{args.rows} is not a file of rows this can read.",
            f"Give a file ending in one of {', '.join(FORMATS)}.",
        )
    if not args.rows.is_file():
        raise PredictionFailed(f"There is no file {args.rows}.")
    engine = open_engine()
    image = resolve_image(engine, args.source)
    refuse_foreign(engine, image, args.allow_foreign)
    last = []

    def progress(line: str) -> None:
        last[:] = [line]
        print(line, file=sys.stderr, flush=True)

    output = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
    try:
        code = engine.run_batch(image, args.rows, fmt, output, progress)
    finally:
        if args.output:
            output.close()
    if code:
        raise PredictionFailed(
            f"Scoring {args.rows} failed: {last[0] if last else f'exit code {code}'}",
            "Fix the row it names (or its column), then run again.",
        )
    return 0
