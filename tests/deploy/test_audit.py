"""The bill of materials an image carries, and `audit` over it: pip-audit against the advisory
service through PyPI, and a clear error when that cannot be reached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_mlcontainer.cli import main
from jupyter_mlcontainer.deploy.audit import audit_image, read_report, run_pip_audit
from jupyter_mlcontainer.engine.base import SBOM_LABEL
from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.shared.config import MLContainerConfig
from jupyter_mlcontainer.shared.errors import AuditUnavailable
from jupyter_mlcontainer.workflow.build import containerize

from ports import free_port
from retrained import trained_notebook

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def built(base_image, test_labels, tmp_path_factory):
    folder = tmp_path_factory.mktemp("audit")
    notebook = trained_notebook(folder / "audited.ipynb", "v1")
    options = ExportOptions(notebook=str(notebook), entry="predict", sample="X[:2]")
    config = MLContainerConfig(labels=test_labels, base_image=base_image)
    return containerize(options, config=config, out_dir=str(folder / "context"))


def test_the_bill_of_materials_is_valid_cyclonedx_and_in_the_image(engine, built):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    path = engine.image_labels(built.tag)[SBOM_LABEL]
    inside = engine.run_command(built.tag, ["cat", path])
    assert inside == (Path(built.context) / "sbom.cdx.json").read_text()
    validator = JsonStrictValidator(SchemaVersion.V1_5)
    assert validator.validate_str(inside) is None
    broken = json.loads(inside)
    broken["components"][0]["unknown"] = True
    assert validator.validate_str(json.dumps(broken)) is not None  # the validator can refuse
    names = {c["name"] for c in json.loads(inside)["components"]}
    assert {"numpy", "uvicorn"} <= names


def test_audit_checks_the_image_or_says_that_nothing_could_be(engine, built, capsys):
    """Where the advisory service answers (pypi.org's per-release JSON), every distribution is
    checked; where a mirror does not serve it, the audit says so and exits 1, never 'no known
    vulnerabilities'."""
    lock = (Path(built.context) / "requirements.lock").read_text().splitlines()
    pins = [line for line in lock if line and not line.startswith("#")]
    try:
        report = audit_image(engine, built.tag)
    except AuditUnavailable as error:
        assert f"answered for none of the {len(pins)} distributions" in error.message
        assert main(["audit", built.tag]) == 1
        assert "nothing was checked" in capsys.readouterr().err
        return
    assert report.image == built.tag
    assert report.checked + len(report.not_checked) == len(pins)
    assert main(["audit", built.tag, "--json"]) == (3 if report.findings else 0)


PIP_AUDIT_JSON = {
    "dependencies": [
        {
            "name": "urllib3",
            "version": "1.26.4",
            "vulns": [{"id": "GHSA-q2q7-5pp4-w6pg", "fix_versions": ["1.26.5"]}],
        },
        {"name": "numpy", "version": "2.4.6", "vulns": []},
        {"name": "private-lib", "skip_reason": "Dependency not found on PyPI"},
    ],
    "fixes": [],
}


def test_findings_and_unchecked_distributions_are_read_from_pip_audit():
    findings, not_checked = read_report(PIP_AUDIT_JSON, asked=3)
    assert [(f.package, f.advisory, f.fixed_in) for f in findings] == [
        ("urllib3", "GHSA-q2q7-5pp4-w6pg", ("1.26.5",))
    ]
    assert not_checked == [("private-lib", "Dependency not found on PyPI")]
    none = {"dependencies": [PIP_AUDIT_JSON["dependencies"][2]]}
    with pytest.raises(AuditUnavailable, match="answered for none of the 1 distributions"):
        read_report(none, asked=1)


def test_an_unreachable_advisory_service_is_said_plainly(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(AuditUnavailable, match="could not be reached, so nothing was checked"):
        run_pip_audit(["numpy==2.0.0"])


def test_an_image_without_a_bill_of_materials_is_refused(engine, serving_image):
    with pytest.raises(AuditUnavailable, match="no bill of materials"):
        audit_image(engine, serving_image)
