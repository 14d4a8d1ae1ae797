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

import pytest
from fuzzing import schemathesis_command
from test_server_xsrf import login

from jupyter_mlcontainer.server.handlers import ROUTES
from jupyter_mlcontainer.server.jobs import JobManager, JobRecord
from jupyter_mlcontainer.server.openapi import openapi_document

from test_server_api import call

#: Test cases per operation and phase: about 1,200 over the 21 operations schemathesis tests (all
#: but the document's own), 30 to 45 s.
MAX_EXAMPLES = 25
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
    from jupyter_mlcontainer.server.base import route_methods

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
def nothing_runs(monkeypatch, test_labels):
    """Queued jobs are recorded and ended as cancelled at once, not run; an instance asked to
    stop is looked up (so an unknown one is still 404), not stopped, and recorded when it is
    this session's (another test may be serving an example under the name a fuzzer tries)."""
    from jupyter_mlcontainer.engine.docker import DockerEngine

    queued, stopped = [], []

    def record(self, job: JobRecord) -> JobRecord:
        queued.append(job)
        self._jobs[job.id] = job
        job.finish("cancelled", None, {"message": "not run", "hint": "", "output": ""})
        return job

    def look_up(self, name_or_id):
        instance = self.find_instance(name_or_id)
        if test_labels.items() <= instance.labels.items():
            stopped.append(instance.name)
        return instance

    monkeypatch.setattr(JobManager, "_queue", record)
    monkeypatch.setattr(DockerEngine, "stop", look_up)
    return queued, stopped


#: Checks left out, and why. missing_required_header: it wants 401 for a request without the
#: Authorization header, and jupyter_server answers 403 (the tests above check that 403 on every
#: operation); use_after_free: DELETE on a job cancels it, and the cancelled job stays readable
#: (the frontend shows it).
EXCLUDED_CHECKS = ("missing_required_header", "use_after_free")
#: A request the document allows may still name what does not exist (404), a path outside the
#: root or hidden (403), or an image that jupyter-mlcontainer did not build (422): schemathesis's
#: default statuses, and 422.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2XX", "3XX", 401, 403, 404, 409, 422, 429, "5XX"]
"""


async def schemathesis(
    server, base_url: str, token: str, folder, config: str = "", examples: int = MAX_EXAMPLES
) -> str:
    """Run schemathesis's CLI over the document the server serves; its output, once it passed
    (at least 40 cases per operation, and every check passed)."""
    pytest.importorskip("schemathesis", reason="schemathesis is in the test extra")
    (folder / "schemathesis.toml").write_text(CONFIG + config)
    command = schemathesis_command(
        server.get_url(f"{base_url}mlcontainer/openapi.json"),
        examples,
        SEED,
        "--header",
        f"Authorization: token {token}",
        "--checks",
        "all",
        "--exclude-checks",
        ",".join(EXCLUDED_CHECKS),
        # more workers race in hypothesis's lambda descriptions (a SystemError on 3.11)
        workers=1,
        config=folder / "schemathesis.toml",
    )
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=folder,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await asyncio.wait_for(process.communicate(), 300))[0].decode(errors="replace")
    print(output)  # the run's summary, shown with -s or on failure
    cases = re.search(r"(\d+) generated", output)
    assert cases and int(cases.group(1)) > 40 * 21, output[-3000:]
    assert "ST101" not in output and "Server error" not in output, output[-6000:]
    assert process.returncode == 0, output[-6000:]
    return output


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
    assert not list(jp_root_dir.rglob("*.ipynb"))  # every build is refused before it starts
    token = jp_serverapp.identity_provider.token
    await schemathesis(http_server_client, jp_base_url, token, tmp_path)
    queued, stopped = nothing_runs
    assert {job.kind for job in queued} <= {"push", "deploy", "scale", "rollout", "undeploy"}
    assert not stopped


@pytest.fixture
def stub_instance(engine, serving_image, test_labels):
    """A running instance of the stub runtime (tests/stubs.py), removed afterwards."""
    from stubs import remove_instance

    instance = engine.run(serving_image, labels=test_labels, name=f"openapi-{secrets.token_hex(3)}")
    yield instance
    remove_instance(engine, instance)


async def test_schemathesis_with_a_running_instance_gets_no_server_error(
    jp_fetch,
    jp_serverapp,
    jp_base_url,
    http_server_client,
    stub_instance,
    nothing_runs,
    tmp_path,
):
    """Half the generated {name}s are a running instance's, so the instance routes answer
    200 (list, one, logs, predict through to the instance) and their answers meet the document.
    Its drift is 422 (the stub image was not built from a notebook), which schemathesis warns of
    as "mostly rejected"."""
    name = stub_instance.name
    config = f"""
[dictionaries.running]
values = ["{name}"]

[parameters]
"path.name" = {{ dictionary = "running", probability = 0.5 }}
"""
    token = jp_serverapp.identity_provider.token
    await schemathesis(http_server_client, jp_base_url, token, tmp_path, config, examples=15)
    status, reply = await call(jp_fetch, "GET", f"instances/{name}")
    assert status == 200 and reply["status"] == "running", reply  # DELETE was looked up only
    _, stopped = nothing_runs
    assert set(stopped) == {name}


# What the fuzzer found: GET /mlcontainer/instances/{name}/drift answered 500 for a name that no
# instance has and no image can have (Docker answers 400 to an uppercase or over-long image
# name), and for an image jupyter-mlcontainer did not build (a short id prefix of one on this
# machine: it has no serving.json to read).


@pytest.mark.parametrize("name", ["E", "Model", "a" * 238])
async def test_drift_of_a_name_no_image_can_have_is_404(jp_fetch, engine, name):
    status, body = await call(jp_fetch, "GET", f"instances/{name}/drift")
    assert status == 404, body
    assert name in body["message"] and body["hint"], body


async def test_drift_of_an_image_not_built_here_is_422(jp_fetch, engine, base_image):
    short_id = engine.image_id(base_image).removeprefix("sha256:")[:12]
    status, body = await call(jp_fetch, "GET", f"instances/{short_id}/drift")
    assert status == 422, body
    assert "not built by jupyter-mlcontainer" in body["message"] and body["hint"], body
