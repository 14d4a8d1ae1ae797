"""`python -m mlcontainer_runtime [serve|check|healthcheck|predict]`: the image's entry point,
its probes, and batch scoring."""

import argparse
import logging
import os
import sys
import traceback
import urllib.error
import urllib.request


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlcontainer_runtime",
        description="Serve the notebook's model over HTTP, or check it against sample.json.",
    )
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "check", "healthcheck", "predict"],
        help="serve on 0.0.0.0:$PORT (default); check: predict sample.json in-process and compare; "
        "healthcheck: exit 0 when the local server is ready; predict: score rows from stdin (or "
        "--input) to stdout",
    )
    parser.add_argument(
        "--format", default="csv", choices=["csv", "jsonl", "parquet"], help="predict's input"
    )
    parser.add_argument("--input", help="predict: a file to read instead of stdin")
    parser.add_argument("--chunk-rows", type=int, default=10_000, help="predict: rows at once")
    args = parser.parse_args(argv)
    if args.command == "predict":
        return predict(args)
    return {"serve": serve, "check": check, "healthcheck": healthcheck}[args.command]()


def _port() -> int:
    return int(os.environ.get("PORT", "8080"))


#: Worker processes unless MLCONTAINER_WORKERS says otherwise (docs/performance.md has figures).
DEFAULT_WORKERS = 1


def serve() -> int:
    import uvicorn

    from .app import DEFAULT_BODY_TIMEOUT_SECONDS, DEFAULT_MAX_BODY_BYTES, App
    from .auth import TokenError
    from .draining import drain_before_stopping, drain_seconds
    from .handover import hand_over_when_asked, reuses_port, shared_socket
    from .model import ModelService
    from .paths import root
    from .stack import serving_stack

    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s:     %(message)s", stream=sys.stderr
    )
    max_body = int(os.environ.get("MLCONTAINER_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))
    body_timeout = float(
        os.environ.get("MLCONTAINER_BODY_TIMEOUT_SECONDS", DEFAULT_BODY_TIMEOUT_SECONDS)
    )
    workers = int(os.environ.get("MLCONTAINER_WORKERS", DEFAULT_WORKERS))
    stack = serving_stack()
    logging.getLogger("mlcontainer").info(
        "serving with %s", ", ".join(f"{k} {v}" for k, v in stack.items())
    )
    service = ModelService(root())
    hand_over = reuses_port()
    try:
        app = App(
            service,
            max_body_bytes=max_body,
            body_timeout=body_timeout,
            load_before_listening=hand_over,
        )
    except TokenError as error:  # named but unusable: never serve the API unlocked instead
        logging.getLogger("mlcontainer").error("%s; not serving", error)
        return 2
    host = os.environ.get("MLCONTAINER_HOST", "0.0.0.0")
    config = uvicorn.Config(
        app,
        host=host,
        port=_port(),
        loop=stack["loop"],
        http=stack["http"],
        lifespan="on",
        access_log=False,
        server_header=False,
        timeout_keep_alive=5,  # an idle connection is closed after 5 s
        log_level=os.environ.get("MLCONTAINER_LOG_LEVEL", "info"),
    )

    def make_server(config):
        server = drain_before_stopping(uvicorn.Server(config), app, drain_seconds())
        if hand_over:
            hand_over_when_asked(server, app)
        return server

    sock = shared_socket(host, _port()) if hand_over else None
    if workers > 1:
        from .workers import run_workers

        return run_workers(make_server, config, service, workers, sock)
    server = make_server(config)
    server.run(sockets=[sock] if sock else None)
    return 0 if server.started else 3  # uvicorn's own code for a server that could not start


def check() -> int:
    from .model import CHECK_AT, CHECK_AT_START, ModelService
    from .paths import root

    if os.environ.get(CHECK_AT) == CHECK_AT_START:
        print(f"{CHECK_AT}={CHECK_AT_START}: each instance checks sample.json when it starts")
        return 0
    service = ModelService(root())
    if service.sample is None:
        print(f"FAIL: no sample.json in {service.root}", file=sys.stderr)
        return 1
    try:
        service.load(warm_up=False)
        answer = service.predict(service.sample["request"])
    except Exception as error:  # noqa: BLE001 (any failure of the model is a FAIL)
        traceback.print_exc()
        print(f"FAIL: {type(error).__name__}: {error}", file=sys.stderr)
        print(_what_is_missing(error), file=sys.stderr)
        return 1
    report = service.sample_parity(answer)
    print(report.render())
    print("PASS" if report.passed else "FAIL")
    return 0 if report.passed else 1


def _what_is_missing(error: Exception) -> str:
    """A hint for a model that loads in the notebook but not here."""
    if isinstance(error, ModuleNotFoundError):
        return (
            f"The image lacks the module {error.name!r}: list its distribution in a "
            "requirements.txt beside the notebook, then rebuild."
        )
    if isinstance(error, OSError) and ".so" in str(error):
        return (
            "The image lacks a shared library: rebuild with --system-package NAME, NAME being "
            "the Debian package that provides it."
        )
    return "The traceback above shows where the served code failed (app/notebook_code.py)."


def predict(args) -> int:
    from .batch import BatchError, score
    from .model import ModelService
    from .paths import root

    service = ModelService(root())
    service.load(warm_up=False)
    source = open(args.input, "rb") if args.input else sys.stdin.buffer  # noqa: SIM115
    try:
        score(service, source, sys.stdout, args.format, args.chunk_rows)
    except BatchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        sys.stdout.flush()
    return 0


def healthcheck() -> int:
    url = f"http://127.0.0.1:{_port()}/ready"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 0 if response.status == 200 else 1
    except (OSError, urllib.error.URLError) as error:
        print(f"not ready: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
