"""The kaniko Job that docs/jupyterhub.md shows for building in a cluster: a valid Kubernetes
object, validated offline as the generated manifests are, and one that needs no host socket."""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import yaml

DOC = Path(__file__).resolve().parents[2] / "docs" / "jupyterhub.md"
K8S_VERSION = kubernetes_validate.latest_version()


def documented_objects() -> list[dict]:
    """Every Kubernetes object in the page's YAML blocks."""
    blocks = re.findall(r"^```yaml\n(.*?)^```", DOC.read_text(), flags=re.DOTALL | re.MULTILINE)
    return [doc for block in blocks for doc in yaml.safe_load_all(block) if doc and "kind" in doc]


def test_the_documented_kaniko_job_validates_strictly():
    objects = documented_objects()
    assert [o["kind"] for o in objects] == ["Job"]
    for document in objects:
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)


def test_the_build_needs_no_privilege_and_no_engine_socket():
    (job,) = documented_objects()
    pod = job["spec"]["template"]["spec"]
    (kaniko,) = pod["containers"]
    assert kaniko["image"].startswith("gcr.io/kaniko-project/executor:v")
    assert kaniko["securityContext"] == {"allowPrivilegeEscalation": False}
    assert not any("hostPath" in volume for volume in pod["volumes"])
    assert pod["automountServiceAccountToken"] is False
    args = dict(arg.removeprefix("--").split("=", 1) for arg in kaniko["args"])
    assert args["context"].startswith("tar:///contexts/") and args["context"].endswith(".tar.gz")
    mounts = {mount["mountPath"]: mount for mount in kaniko["volumeMounts"]}
    assert mounts["/kaniko/.docker"]["readOnly"], "push credentials where kaniko reads them"
