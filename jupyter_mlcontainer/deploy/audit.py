"""Known vulnerabilities of what an image installs: its bill of materials read out of the image,
checked by pip-audit against the Python Packaging Advisory Database (through PyPI)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..engine.base import SBOM_LABEL, ContainerEngine
from ..pipeline.supply import requirements_of
from ..shared.errors import AuditUnavailable, last_lines
from .push import resolve_image

#: Seconds pip-audit may take (it asks the advisory service once per distribution).
AUDIT_TIMEOUT = 300


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    advisory: str  # e.g. GHSA-… or PYSEC-…
    fixed_in: tuple  # versions that fix it; empty when none does yet
    description: str = ""


@dataclass(frozen=True)
class AuditReport:
    image: str
    checked: int  # distributions the advisory service answered for
    findings: tuple = field(default_factory=tuple)
    not_checked: tuple = field(default_factory=tuple)  # (distribution, why) it could not answer

    def to_dict(self) -> dict:
        return asdict(self)


def audit_image(engine: ContainerEngine, source: str) -> AuditReport:
    """Read the image's bill of materials and run pip-audit over the distributions it lists."""
    image = resolve_image(engine, source)
    path = engine.image_labels(image).get(SBOM_LABEL)
    if not path:
        raise AuditUnavailable(
            f"{image} has no bill of materials (no {SBOM_LABEL} label).",
            "Images built by this version of jupyter-mlcontainer carry one: build it again.",
        )
    bill = json.loads(engine.run_command(image, ["cat", path]))
    findings, not_checked = run_pip_audit(requirements_of(bill))
    checked = len(requirements_of(bill)) - len(not_checked)
    return AuditReport(image, checked, tuple(findings), tuple(not_checked))


def run_pip_audit(requirements: list[str]) -> tuple[list[Finding], list[tuple]]:
    """pip-audit over pinned requirements, without installing them (`--no-deps`: the list is
    already closed over dependencies): the findings, and the distributions it could not check.
    AuditUnavailable when it cannot run, or when the advisory service answered for none."""
    with tempfile.TemporaryDirectory(prefix="mlcontainer-audit-") as folder:
        listing = Path(folder) / "requirements.txt"
        listing.write_text("".join(f"{line}\n" for line in requirements))
        command = [sys.executable, "-m", "pip_audit", "--requirement", str(listing)]
        command += ["--no-deps", "--disable-pip", "--format", "json", "--progress-spinner", "off"]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=AUDIT_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            raise AuditUnavailable(
                f"The audit did not finish in {AUDIT_TIMEOUT} s.",
                "Check the connection to pypi.org (the advisory service), then try again.",
            ) from None
    if "No module named pip_audit" in done.stderr:
        raise AuditUnavailable(
            "pip-audit is not installed.", "Install it: pip install 'jupyter-mlcontainer[audit]'."
        )
    try:
        report = json.loads(done.stdout)
    except ValueError:
        raise AuditUnavailable(
            "The advisory service could not be reached, so nothing was checked.",
            "pip-audit asks pypi.org for known vulnerabilities: check the connection (or "
            "HTTPS_PROXY) and try again.",
            output=last_lines(done.stderr, 1),
        ) from None
    return read_report(report, len(requirements))


def read_report(report: dict, asked: int) -> tuple[list[Finding], list[tuple]]:
    """pip-audit's JSON → (findings, not checked); none checked at all is AuditUnavailable, so
    that a silent advisory service never reads as 'no known vulnerabilities'."""
    dependencies = report.get("dependencies", ())
    not_checked = [(d["name"], d["skip_reason"]) for d in dependencies if "skip_reason" in d]
    if asked and len(not_checked) == asked:
        raise AuditUnavailable(
            f"The advisory service answered for none of the {asked} distributions, so nothing "
            f"was checked ({not_checked[0][1]}).",
            "pip-audit reads known vulnerabilities from pypi.org's per-release JSON; this "
            "network or index mirror does not serve it. Run the audit where pypi.org is reachable.",
        )
    findings = [
        Finding(
            dependency["name"],
            dependency["version"],
            vulnerability["id"],
            tuple(vulnerability.get("fix_versions", ())),
            vulnerability.get("description", "")[:300],
        )
        for dependency in dependencies
        for vulnerability in dependency.get("vulns", ())
    ]
    return findings, not_checked
