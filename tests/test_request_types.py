"""The frontend's request types (labextension/src/requests.ts) are generated from the Python
declarations by scripts/request_types.py; the committed file must be what it writes now."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

SCRIPT = runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "request_types.py"))
COMMITTED = SCRIPT["TARGET"].read_text()


def test_the_committed_request_types_are_up_to_date():
    assert COMMITTED == SCRIPT["render"](), (
        "labextension/src/requests.ts is stale: run `python scripts/request_types.py`"
    )


def test_the_hand_written_frontend_takes_its_defaults_and_limits_from_the_generated_file():
    """The deploy dialog must not carry its own copy of the default or the limit."""
    dialog = (SCRIPT["TARGET"].parent / "deploy.ts").read_text()
    assert "String(DEPLOY_DEFAULTS.replicas)" in dialog
    assert "String(MAX_REPLICAS)" in dialog
    assert not re.search(r"replicas: '\d+'|replicas: \d+|max = '\d+'", dialog)
