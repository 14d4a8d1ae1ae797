"""Schemathesis's command line over a served `/openapi.json`, for the tests that fuzz the runtime
(a root served on the host, or a real image)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def schemathesis_command(
    document: str, examples: int, seed: int, *options, workers: int = 1, config: Path | None = None
):
    """`schemathesis run DOCUMENT` with `examples` cases per operation and mode, `options`, and
    the settings of a `config` file."""
    return [
        sys.executable,
        "-m",
        "schemathesis.cli",
        *(["--config-file", str(config)] if config else []),
        "run",
        document,
        "--max-examples",
        str(examples),
        "--seed",
        str(seed),
        "--workers",
        str(workers),
        "--request-timeout",
        "10",
        "--generation-database",
        "none",
        "--no-color",
        *options,
    ]


def run_schemathesis(url: str, folder: Path, examples: int, seed: int, *options, workers: int = 1):
    """(exit status, report) of Schemathesis over URL/openapi.json; the report is also kept in
    `folder`/schemathesis.log for a failure."""
    command = schemathesis_command(f"{url}/openapi.json", examples, seed, *options, workers=workers)
    run = subprocess.run(
        command, cwd=folder, capture_output=True, text=True, timeout=900, check=False
    )
    output = run.stdout + run.stderr
    (folder / "schemathesis.log").write_text(output)
    return run.returncode, output


def assert_found_nothing(output: str, examples: int) -> None:
    """Every check passed on more than ten cases per operation: no 5xx, no body the document
    allows refused, none it refuses served, no answer it does not describe."""
    cases = re.search(r"(\d+) generated", output)
    assert cases and int(cases.group(1)) > 10 * examples, output[-3000:]
    assert not re.findall(r"❌ (ST\d+)", output), output[-6000:]
    assert "unique failure" not in output, output[-6000:]
