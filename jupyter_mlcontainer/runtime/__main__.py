"""`python -m mlcontainer_runtime [serve|check|healthcheck]`: the image's entry point and probes."""

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
        choices=["serve", "check", "healthcheck"],
        help="serve on 0.0.0.0:$PORT (default); check: predict sample.json in-process and compare; "
        "healthcheck: exit 0 when the local server is ready",
    )
    command = parser.parse_args(argv).command
    return {"serve": serve, "check": check, "healthcheck": healthcheck}[command]()


def _port() -> int:
    return int(os.environ.get("PORT", "8080"))


def serve() -> int:
    import uvicorn

    from .app import DEFAULT_MAX_BODY_BYTES, App
    from .model import ModelService
    from .paths import root

    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s:     %(message)s", stream=sys.stderr
    )
    max_body = int(os.environ.get("MLCONTAINER_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))
    uvicorn.run(
        App(ModelService(root()), max_body_bytes=max_body),
        host=os.environ.get("MLCONTAINER_HOST", "0.0.0.0"),
        port=_port(),
        workers=1,
        lifespan="on",
        access_log=False,
        server_header=False,
        log_level=os.environ.get("MLCONTAINER_LOG_LEVEL", "info"),
    )
    return 0


def check() -> int:
    from .model import ModelService
    from .parity import compare
    from .paths import root

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
    report = compare(service.sample["expected"]["predictions"], answer["predictions"])
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
