"""The OpenAPI document of /mlcontainer/ (server/openapi.py): it describes every registered
route, it is valid, every operation in it refuses a request without the token (and, when it
changes something, a cookie session's request without the XSRF token), and schemathesis, driving
a real Jupyter server with the extension from it, gets no 5xx.

Nothing the fuzzer sends can start real work: the server's root holds no notebook (so every
build is refused, 404), queued jobs (push, deploy, scale, rollout, undeploy) are recorded and
ended at once instead of run, and stopping an instance is only looked up and recorded (a
generated name could be another instance's unique id prefix on this machine)."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sys
import time

import pytest

from jupyter_mlcontainer.server.handlers import ROUTES
from jupyter_mlcontainer.server.jobs import JobManager, JobRecord
from jupyter_mlcontainer.server.openapi import openapi_document

from test_server_api import call
from test_server_xsrf import login

#: Test cases per operation and phase: about 30 s for the 22 operations.
MAX_EXAMPLES = 20
SEED = 20261207
#: What a path parameter is filled with where a test names one (none of them exists).
EXAMPLES = {"job_id": "abc123", "name": "some-name"}

DOCUMENT = openapi_document(ROUTES)
OPERATIONS = [
    (method.upper(), path.removeprefix("/mlcontainer/").format(**EXAMPLES))
    for path, item in DOCUMENT["paths"].items()
    for method in item
]
CHANGING = [(method, route) for method, route in OPERATIONS if method != "GET"]


def registered(rules, found=None) -> list:
    """(pattern, handler) of every rule of a tornado router, nested routers followed."""
    found = [] if found is None else found
    for rule in rules:
        target = rule.target
        if hasattr(target, "rules"):
            registered(target.rules, found)
        elif isinstance(target, type):
            found.append((rule.matcher.regex.pattern, target))
    return found


async def test_the_document_describes_every_route_the_extension_registers(
    jp_fetch, jp_serverapp, jp_base_url
):
    from jupyter_mlcontainer.server.openapi import route_methods

    status, document = await call(jp_fetch, "GET", "openapi.json")
    assert status == 200, document
    assert document["servers"] == [{"url": jp_base_url.rstrip("/")}]
    prefix = f"{jp_base_url}mlcontainer/"
    served = {
        (pattern.removeprefix(prefix).removesuffix("$"), method)
        for pattern, handler in registered(jp_serverapp.web_app.default_router.rules)
        if pattern.startswith(prefix)
        for method in route_methods(handler)
    }
    group = re.compile(r"\(\?P<(\w+)>[^()]*\)")
    described = {
        (path.removeprefix("/mlcontainer/"), method)
        for path, item in document["paths"].items()
        for method in item
    }
    assert {(group.sub(r"{\1}", pattern), method) for pattern, method in served} == described
    assert len(described) == len(OPERATIONS) > 20


def test_the_document_is_valid_openapi():
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(json.loads(json.dumps(DOCUMENT)))
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            assert "403" in operation["responses"], (method, path)
            assert any(code < "300" for code in operation["responses"]), (method, path)


def test_bodies_come_from_the_declarations_the_handlers_validate_with():
    from jupyter_mlcontainer.deploy.plan import DeployOptions
    from jupyter_mlcontainer.workflow.options import declared_options

    def schema(path, method):
        body = DOCUMENT["paths"][path][method]["requestBody"]
        return body["content"]["application/json"]["schema"]

    deploy = schema("/mlcontainer/deployments", "post")
    assert set(deploy["properties"]) == {o.name for o in declared_options(DeployOptions)}
    assert deploy["required"] == ["source"] and deploy["additionalProperties"] is False
    assert deploy["properties"]["contract"]["enum"] == ["enforce", "warn", "off", None]
    build = schema("/mlcontainer/jobs", "post")
    assert build["properties"]["run"]["default"] is True  # the REST default, not the CLI's
    assert build["properties"]["port"]["maximum"] == 65535
    assert schema("/mlcontainer/deployments/{name}", "patch")["required"] == ["replicas"]


@pytest.mark.parametrize("method,route", OPERATIONS)
async def test_every_operation_refuses_a_request_without_the_token(jp_fetch, method, route):
    status, body = await call(jp_fetch, method, route, headers={"Authorization": ""})
    assert status == 403, body
    status, body = await call(
        jp_fetch, method, route, headers={"Authorization": f"token {secrets.token_hex(8)}"}
    )
    assert status == 403, body


@pytest.mark.parametrize("method,route", CHANGING)
async def test_every_changing_operation_refuses_a_session_without_the_xsrf_token(
    jp_fetch, jp_serverapp, method, route
):
    session = await login(jp_fetch, jp_serverapp)
    status, body = await call(jp_fetch, method, route, headers=dict(session))
    assert status == 403 and "XSRF" in body["message"].upper(), body
    xsrf = secrets.token_hex(16)
    checked = {**session, "Cookie": f"{session['Cookie']}; _xsrf={xsrf}", "X-XSRFToken": xsrf}
    status, body = await call(jp_fetch, method, route, headers=checked)
    token_status, _ = await call(jp_fetch, method, route)
    assert status == token_status != 403, body  # the session is logged in: only XSRF was missing


@pytest.fixture
def nothing_runs(monkeypatch):
    """Queued jobs are recorded and ended as cancelled at once, not run; an instance asked to
    stop is looked up (so an unknown one is still 404) and recorded, not stopped."""
    from jupyter_mlcontainer.engine.docker import DockerEngine

    queued, stopped = [], []

    def record(self, job: JobRecord) -> JobRecord:
        queued.append(job)
        self._jobs[job.id] = job
        job.finish("cancelled", None, {"message": "not run", "hint": "", "output": ""})
        return job

    def look_up(self, name_or_id):
        instance = self.find_instance(name_or_id)
        stopped.append(instance.name)
        return instance

    monkeypatch.setattr(JobManager, "_queue", record)
    monkeypatch.setattr(DockerEngine, "stop", look_up)
    return queued, stopped


#: Checks left out, and why. use_after_free: DELETE on a job cancels it, and the cancelled job
#: stays readable (the frontend shows it); unsupported_method: a method a route does not answer
#: gets 405 from tornado without the Allow header RFC 9110 asks for (reported, not fixed here).
EXCLUDED_CHECKS = ("use_after_free", "unsupported_method")
#: jupyter_server answers 403, not 401, to a request without its token; a request the
#: document allows may still name what does not exist (404) or an image jupyter-mlcontainer
#: did not build (422).
CONFIG = """
[checks.missing_required_header]
expected-statuses = [403]

[checks.positive_data_acceptance]
expected-statuses = ["2XX", 404, 422]
"""


async def test_schemathesis_gets_no_server_error(
    jp_fetch,
    jp_serverapp,
    jp_base_url,
    jp_root_dir,
    http_server_client,
    engine,
    nothing_runs,
    tmp_path,
):
    pytest.importorskip("schemathesis", reason="schemathesis is in the test extra")
    assert not list(jp_root_dir.rglob("*.ipynb"))  # every build is refused before it starts
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    url = http_server_client.get_url(f"{jp_base_url}mlcontainer/openapi.json")
    token = jp_serverapp.identity_provider.token
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(tmp_path / "schemathesis.toml"),
        "run",
        url,
        "--header",
        f"Authorization: token {token}",
        "--checks",
        "all",
        "--exclude-checks",
        ",".join(EXCLUDED_CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "4",
        "--request-timeout",
        "10",
        "--generation-database",
        "none",
        "--no-color",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await asyncio.wait_for(process.communicate(), 300))[0].decode(errors="replace")
    open("/tmp/st_out.txt", "w").write(output)
    cases = re.search(r"(\d+) generated", output)
    assert cases and int(cases.group(1)) > 500, output[-3000:]
    assert "ST101" not in output and "Server error" not in output, output[-6000:]
    assert process.returncode == 0, output[-6000:]
    queued, stopped = nothing_runs
    assert {job.kind for job in queued} <= {"push", "deploy", "scale", "rollout", "undeploy"}
    assert not stopped
