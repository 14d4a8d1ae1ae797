"""`jupyter mlcontainer run | ls | logs | stop | prune`: local serving instances and what
they leave behind, found by label."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import datetime, timezone

from ..deploy.plan import RunLimits
from ..engine.base import NOTEBOOK_LABEL, Instance
from ..shared.config import cache_dir
from ..shared.errors import RunFailed
from ..workflow.options import add_arguments, options_from

LS_COLUMNS = ("NAME", "IMAGE", "URL", "STATUS", "NOTEBOOK", "UPTIME")


def add_commands(commands) -> None:
    run_command = commands.add_parser(
        "run",
        help="start an image as a local serving instance and print its URL",
        description="Start IMAGE detached on 127.0.0.1, wait until it is ready, print its URL.",
    )
    run_command.add_argument("image")
    run_command.add_argument(
        "--port", type=int, help="host port on 127.0.0.1; 0 picks a free one (default: configured)"
    )
    run_command.add_argument("--name", help="instance name (default: <image name>-<4 hex>)")
    run_command.add_argument(
        "--timeout", type=float, default=60, help="seconds to wait for readiness (default: 60)"
    )
    add_arguments(run_command, RunLimits)
    run_command.add_argument(
        "--allow-foreign",
        action="store_true",
        help="start an image that jupyter-mlcontainer did not build (refused by default)",
    )
    run_command.add_argument("--json", action="store_true", help="print the instance as JSON")
    run_command.set_defaults(handler=run)

    ls_command = commands.add_parser("ls", help="list serving instances")
    ls_command.add_argument("-a", "--all", action="store_true", help="include stopped instances")
    add_label_option(ls_command, "only instances carrying this label (repeatable)")
    ls_command.add_argument("--json", action="store_true", help="print instances as JSON")
    ls_command.set_defaults(handler=ls)

    logs_command = commands.add_parser("logs", help="print an instance's log")
    logs_command.add_argument("name", help="instance name or id")
    logs_command.add_argument("--tail", type=int, default=200, help="last N lines (default: 200)")
    logs_command.set_defaults(handler=logs)

    stop_command = commands.add_parser("stop", help="stop and remove instances")
    which = stop_command.add_mutually_exclusive_group(required=True)
    which.add_argument("name", nargs="?", help="instance name or id")
    which.add_argument("--all", action="store_true", help="every instance")
    add_label_option(stop_command, "with --all: only instances carrying this label (repeatable)")
    stop_command.set_defaults(handler=stop)

    check_command = commands.add_parser(
        "check",
        help="does an image still match its notebook and the kernel's packages?",
        description="Compare what the image of instance (or image) NAME recorded at build time "
        "with the notebook on disk (which code cells changed) and with the packages of the "
        "interpreter that ran the notebook's kernel. Exit status with --json: 0 up to date, "
        "3 drifted (notebook changed or missing, environment drifted), 1 error.",
    )
    check_command.add_argument("name", help="instance name, or image name or reference")
    check_command.add_argument(
        "--python",
        metavar="PATH",
        help="interpreter whose packages to compare (default: the one the kernel ran)",
    )
    check_command.add_argument(
        "--notebook", metavar="PATH", help="notebook to compare (default: the one built from)"
    )
    check_command.add_argument(
        "--json", action="store_true", help="print the report as JSON; exit 3 on any drift"
    )
    check_command.set_defaults(handler=check)

    prune_command = commands.add_parser(
        "prune",
        help="remove stopped instances, superseded images, builder caches and build contexts",
        description="Remove stopped instances, built images that no :latest tag and no "
        "container refers to, the builder stages' cache (untagged images of several "
        "hundred MB each; the next build of a notebook then re-installs its packages), and "
        "the build contexts kept in the cache that no image left was built from.",
    )
    prune_command.add_argument(
        "--keep-cache",
        action="store_true",
        help="keep the builder caches and the cached build contexts for faster rebuilds",
    )
    add_label_option(
        prune_command, "only what carries this label (repeatable); build contexts stay"
    )
    prune_command.add_argument("--json", action="store_true", help="print the report as JSON")
    prune_command.set_defaults(handler=prune)


def add_label_option(command, help: str) -> None:
    command.add_argument(
        "--label", type=key_value, action="append", default=[], metavar="KEY=VALUE", help=help
    )


def key_value(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _engine():
    from ..engine import open_engine

    return open_engine()


def run(args) -> int:
    from ..running.readiness import wait_ready
    from ..running.tokens import lock_for, read_token, remember, shown_once
    from ..shared.config import load_config
    from ..trust.foreign import refuse_foreign

    engine = _engine()
    config = load_config()
    port = config.default_port if args.port is None else args.port
    refuse_foreign(engine, args.image, args.allow_foreign)
    limits = options_from(RunLimits, vars(args))
    options = limits.run_options(config)
    token_file = lock_for(engine, limits)
    instance = engine.run(
        args.image,
        port=port,
        name=args.name,
        labels=config.labels,
        token_file=token_file,
        **options,
    )
    if token_file is not None:
        remember(instance.url, token_file)
        print(shown_once(read_token(token_file)), file=sys.stderr)
    print(f"waiting for {instance.name} at {instance.url} ...", file=sys.stderr)
    try:
        instance = wait_ready(engine, instance, timeout=args.timeout)
    except RunFailed:
        engine.stop(instance.id)  # its log is in the error; free the name for the next try
        raise
    print(json.dumps(instance.to_dict(), indent=2) if args.json else instance.url)
    return 0


def ls(args) -> int:
    instances = _engine().list_instances(all=args.all, labels=dict(args.label))
    if args.json:
        print(json.dumps([instance.to_dict() for instance in instances], indent=2))
    elif instances:
        print(format_table(LS_COLUMNS, [_row(instance) for instance in instances]))
    else:
        print("No instances. Start one with `jupyter mlcontainer run IMAGE`.", file=sys.stderr)
    return 0


def logs(args) -> int:
    sys.stdout.write(_engine().logs(args.name, tail=args.tail))
    return 0


def stop(args) -> int:
    from ..running.tokens import forget

    engine = _engine()
    if args.all:
        names = engine.stop_all(labels=dict(args.label))
    else:
        url = engine.find_instance(args.name).url
        names = [engine.stop(args.name).name]
        if url:
            forget(url)
    for name in names:
        print(f"stopped {name}")
    return 0


def prune(args) -> int:
    from ..workflow.contexts import PrunedContexts, prune_contexts

    engine = _engine()
    report = engine.prune(labels=dict(args.label), keep_cache=args.keep_cache)
    # A context carries no labels: only a prune of everything can tell which are stale.
    with_contexts = not args.keep_cache and not args.label
    contexts = prune_contexts(engine.built_image_labels()) if with_contexts else PrunedContexts()
    if args.json:
        print(json.dumps({**report.to_dict(), **asdict(contexts)}, indent=2))
        return 0
    for name in report.instances:
        print(f"removed instance {name}")
    for tag in report.images:
        print(f"removed image {tag}")
    if not args.keep_cache:
        print(f"removed {report.caches} builder caches ({report.cache_bytes / 1e6:.1f} MB)")
    if with_contexts:
        print(
            f"removed {len(contexts.contexts)} build contexts "
            f"({contexts.context_bytes / 1e6:.1f} MB) from {cache_dir('contexts')}"
        )
    return 0


#: `check --json`'s exit status when the image no longer matches its notebook or environment.
DRIFT_EXIT = 3


def check(args) -> int:
    from ..trust.provenance import check_image

    report = check_image(_engine(), args.name, python=args.python, notebook=args.notebook)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return DRIFT_EXIT if report.drifted else 0
    print(f"{report.name}: {report.summary()}")
    print(f"  image     {report.image}")
    print(f"  notebook  {report.notebook or '-'}")
    print(f"  python    {report.python}")
    for line in report.details():
        print(f"  - {line}")
    return 0


def _row(instance: Instance) -> tuple:
    return (
        instance.name,
        instance.image,
        instance.url or "-",
        instance.state,
        instance.labels.get(NOTEBOOK_LABEL, "-"),
        uptime(instance.started) if instance.status == "running" else "-",
    )


def format_table(header: tuple, rows: list) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
        for row in [header, *rows]
    )


def uptime(started: str, now: datetime | None = None) -> str:
    """`5s`, `3m 2s`, `2h 5m`, `3d 4h` since Docker's StartedAt (nanosecond ISO time)."""
    start = datetime.strptime(started[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    seconds = max(0, int(((now or datetime.now(timezone.utc)) - start).total_seconds()))
    units = [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)]
    index = next(i for i, (_, size) in enumerate(units) if seconds >= size or size == 1)
    (suffix, size), smaller = units[index], units[index + 1 : index + 2]
    text = f"{seconds // size}{suffix}"
    for next_suffix, next_size in smaller:
        text += f" {seconds % size // next_size}{next_suffix}"
    return text
