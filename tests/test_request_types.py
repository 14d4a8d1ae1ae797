"""The frontend's request types (labextension/src/requests.ts) are generated from the Python
declarations by scripts/request_types.py; the committed file must be what it writes now."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

from jupyter_mlcontainer.deploy.front import MAX_REPLICAS
from jupyter_mlcontainer.deploy.plan import DeployOptions
from jupyter_mlcontainer.server.validation import DEPLOY_FIELDS, JOB_FIELDS, PUSH_FIELDS

SCRIPT = runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "request_types.py"))
COMMITTED = SCRIPT["TARGET"].read_text()


def test_the_committed_request_types_are_up_to_date():
    assert COMMITTED == SCRIPT["render"](), (
        "labextension/src/requests.ts is stale: run `python scripts/request_types.py`"
    )


def test_each_request_interface_has_the_fields_the_server_checks():
    interfaces = {
        name: set(re.findall(r"^  (\w+)\??:", body, re.MULTILINE))
        for name, body in re.findall(r"export interface (\w+) \{\n(.*?)\n\}", COMMITTED, re.DOTALL)
    }
    assert interfaces == {
        "IJobRequest": set(JOB_FIELDS),
        "IDeployRequest": set(DEPLOY_FIELDS),
        "IPushRequest": set(PUSH_FIELDS),
    }
    assert {"allow_secrets", "no_cache"} <= interfaces["IJobRequest"]


def test_the_deploy_dialog_starts_from_the_declared_defaults():
    defaults = re.search(r"DEPLOY_DEFAULTS = \{(.*?)\}", COMMITTED, re.DOTALL).group(1)
    assert f"replicas: {DeployOptions.replicas}," in defaults
    assert f"MAX_REPLICAS = {MAX_REPLICAS};" in COMMITTED
