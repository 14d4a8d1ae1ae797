"""Kubernetes and KServe manifests: every Kubernetes object validated strictly against the
Kubernetes schemas (kubernetes-validate), the InferenceService's pod part likewise plus
structural checks of its KServe fields, the errors, and the image named after a real push."""

from __future__ import annotations

import copy
import math
import uuid

import kubernetes_validate
import pytest
import yaml

from jupyter_mlcontainer.cli import main
from jupyter_mlcontainer.deploy.manifests import (
    ManifestOptions,
    Measurements,
    emit,
    parse_quantity,
    pushed_reference,
    render_manifests,
)
from jupyter_mlcontainer.shared.errors import ManifestError

#: The newest Kubernetes whose schemas kubernetes-validate ships.
K8S_VERSION = kubernetes_validate.latest_version()
IMAGE = "registry.example.com/team/iris:3f2a9c1e0b7d"
MEASURED = Measurements(4.2, "from container start to /ready", 180 * 1024**2, "at idle")
RECOMMENDED = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
)
#: PredictorSpec fields KServe adds to a PodSpec (kserve SDK's V1beta1PredictorSpec), of those
#: the manifests use, and the values scaleMetric takes.
KSERVE_PREDICTOR_FIELDS = {"minReplicas", "maxReplicas", "scaleMetric", "scaleTarget", "labels"}
SCALE_METRICS = {"concurrency", "rps", "cpu", "memory"}


def render(**options) -> dict[str, dict]:
    measured = options.pop("measured", MEASURED)
    files = render_manifests(
        ManifestOptions(name="iris_classifier", image=IMAGE, **options), measured
    )
    return {name: yaml.safe_load(text) for name, text in files.items()}


def prose(text: str) -> str:
    """The `#` comments of a file as one line, wherever they were wrapped."""
    return " ".join(line.strip()[2:] for line in text.splitlines() if line.strip().startswith("# "))


def validate(document: dict) -> None:
    kubernetes_validate.validate(document, K8S_VERSION, strict=True)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"replicas": 3, "cpu": "1", "memory": "2Gi"},
        {"min_replicas": 1, "max_replicas": 10, "measured": Measurements()},
        {"auth": "token"},
    ],
    ids=["autoscaled-measured", "fixed-replicas", "defaults", "locked"],
)
def test_every_kubernetes_object_validates_strictly(options):
    documents = render(**options)
    kinds = {}
    for name, document in documents.items():
        if name == "kustomization.yaml":
            continue
        validate(document)
        kinds[document["kind"]] = name
    expected = {"Deployment", "Service", "PodDisruptionBudget"}
    if "replicas" not in options:
        expected.add("HorizontalPodAutoscaler")
    assert set(kinds) == expected
    assert documents["kustomization.yaml"]["resources"] == list(kinds.values())


def test_strict_validation_rejects_what_the_schema_does_not_know():
    """The check above can fail: a misspelt field or a wrong type is refused."""
    deployment = render()["deployment.yaml"]
    misspelt = copy.deepcopy(deployment)
    misspelt["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(misspelt)
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "x"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(wrong_type)


def test_a_locked_pod_reads_its_token_from_a_secret_no_file_holds():
    from jupyter_mlcontainer.runtime.auth import TOKEN_FILE_VARIABLE, TOKEN_MOUNT

    files = render_manifests(
        ManifestOptions(name="iris_classifier", image=IMAGE, auth="token"), MEASURED
    )
    pod = yaml.safe_load(files["deployment.yaml"])["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert {"name": TOKEN_FILE_VARIABLE, "value": TOKEN_MOUNT} in container["env"]
    assert {"name": "token", "mountPath": "/run/secrets", "readOnly": True} in container[
        "volumeMounts"
    ]
    (secret,) = [v["secret"] for v in pod["volumes"] if "secret" in v]
    assert secret["secretName"] == "iris-classifier-token"
    assert secret["items"] == [{"key": "token", "path": "mlcontainer-token"}]
    assert not any(document.get("kind") == "Secret" for document in render(auth="token").values())
    assert "kubectl create secret generic iris-classifier-token" in prose(files["deployment.yaml"])
    kserve = yaml.safe_load(
        render_manifests(
            ManifestOptions(name="iris_classifier", image=IMAGE, target="kserve", auth="token"),
            MEASURED,
        )["inferenceservice.yaml"]
    )
    assert "token" in {v["name"] for v in kserve["spec"]["predictor"]["volumes"]}


def test_the_pod_is_what_the_restricted_standard_admits():
    pod = render()["deployment.yaml"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"][0]["name"] == "tmp" and "emptyDir" in pod["volumes"][0]
    assert container["ports"][0]["containerPort"] == 8080
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert container["image"] == IMAGE
    # A rolling update loses no request: a stopping pod drains, within the grace period.
    assert {"name": "MLCONTAINER_DRAIN_SECONDS", "value": "5"} in container["env"]
    assert pod.get("terminationGracePeriodSeconds", 30) > 5


def test_recommended_labels_on_every_object_and_selector():
    documents = render()
    for name, document in documents.items():
        if name == "kustomization.yaml":
            continue
        labels = document["metadata"]["labels"]
        assert tuple(labels) == RECOMMENDED, name
        assert labels["app.kubernetes.io/name"] == "iris-classifier"
        assert labels["app.kubernetes.io/version"] == "3f2a9c1e0b7d"
        assert labels["app.kubernetes.io/managed-by"] == "jupyter-mlcontainer"
    deployment = documents["deployment.yaml"]["spec"]
    selector = deployment["selector"]["matchLabels"]
    assert set(selector) == set(RECOMMENDED[:2]), "no version: a selector cannot change"
    assert (
        deployment["template"]["metadata"]["labels"]
        == documents["service.yaml"]["metadata"]["labels"]
    )
    assert documents["service.yaml"]["spec"]["selector"] == selector
    assert documents["poddisruptionbudget.yaml"]["spec"]["selector"]["matchLabels"] == selector
    assert "replicas" not in deployment, "the autoscaler owns the count"
    hpa = documents["horizontalpodautoscaler.yaml"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 5)
    assert hpa["scaleTargetRef"]["name"] == documents["deployment.yaml"]["metadata"]["name"]


def test_figures_come_from_the_measurements_and_say_so():
    files = render_manifests(ManifestOptions(name="iris", image=IMAGE), MEASURED)
    deployment = files["deployment.yaml"]
    container = yaml.safe_load(deployment)["spec"]["template"]["spec"]["containers"][0]
    # 3 × 4.2 s + 10 s = 22.6 s → 5 periods of 5 s.
    assert container["startupProbe"]["failureThreshold"] == 5
    # 180 MiB idle × 1.5 = 270 MiB → 272Mi (16 MiB steps); the limit is twice that.
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "272Mi"},
        "limits": {"memory": "544Mi"},
    }
    assert "Start-up: 4.2 s, from container start to /ready. failureThreshold 5" in prose(
        deployment
    )
    assert "Measured at idle: 180 MiB, at idle." in prose(deployment)
    assert "DEFAULT" not in deployment


def test_unmeasured_figures_are_defaults_and_say_how_to_measure():
    text = render_manifests(ManifestOptions(name="iris", image=IMAGE), Measurements())[
        "deployment.yaml"
    ]
    container = yaml.safe_load(text)["spec"]["template"]["spec"]["containers"][0]
    assert container["startupProbe"]["failureThreshold"] == 60
    assert container["resources"]["requests"]["memory"] == "512Mi"
    comments = prose(text)
    assert "Memory request 512Mi is a DEFAULT, not a measurement" in comments
    assert "failureThreshold 60 x 5 s = 300 s is a DEFAULT" in comments
    assert "Run the instance first (`jupyter mlcontainer run IMAGE`)" in comments


def test_same_inputs_give_byte_identical_output():
    first = render_manifests(ManifestOptions(name="iris", image=IMAGE, target="kserve"), MEASURED)
    again = render_manifests(ManifestOptions(name="iris", image=IMAGE, target="kserve"), MEASURED)
    assert first == again
    assert render_manifests(ManifestOptions(name="iris", image=IMAGE), MEASURED) == (
        render_manifests(ManifestOptions(name="iris", image=IMAGE), MEASURED)
    )


def test_the_inference_service():
    """No KServe CRD ships on PyPI, so: the predictor's pod part (a PodSpec with KServe's fields
    inline) strictly as a core/v1 Pod, and KServe's own fields checked by structure."""
    documents = render(target="kserve", min_replicas=0, max_replicas=3)
    assert list(documents) == ["inferenceservice.yaml", "kustomization.yaml"]
    service = documents["inferenceservice.yaml"]
    assert service["apiVersion"] == "serving.kserve.io/v1beta1"
    assert service["kind"] == "InferenceService"
    assert tuple(service["metadata"]["labels"]) == RECOMMENDED
    assert list(service["spec"]) == ["predictor"]
    predictor = dict(service["spec"]["predictor"])
    assert predictor["minReplicas"] == 0 and predictor["maxReplicas"] == 3
    assert predictor["scaleMetric"] in SCALE_METRICS and predictor["scaleMetric"] == "cpu"
    assert isinstance(predictor["scaleTarget"], int) and 0 < predictor["scaleTarget"] <= 100
    assert predictor["labels"] == service["metadata"]["labels"]
    (container,) = predictor["containers"]
    assert container["name"] == "kserve-container", "KServe's name for a custom container"
    assert container["ports"][0]["containerPort"] == 8080
    assert container["image"] == IMAGE
    pod_spec = {k: v for k, v in predictor.items() if k not in KSERVE_PREDICTOR_FIELDS}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": service["metadata"],
        "spec": pod_spec,
    }
    validate(pod)
    pod["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(pod)


@pytest.mark.parametrize(
    "options, message, hint",
    [
        ({"cpu": "lots"}, "not a Kubernetes CPU quantity", "--cpu 500m"),
        ({"cpu": "0.0001"}, "less than one millicore", "at least 1m"),
        ({"memory": "512m"}, "the suffix m is a thousandth", "--memory 512Mi"),
        ({"memory": "2GB"}, "not a Kubernetes memory quantity", "--memory 2Gi"),
        ({"memory": "1Mi"}, "less than 16Mi", "--memory 512Mi"),
        ({"min_replicas": 4, "max_replicas": 2}, "--max 2 is less than --min 4", "--max 4"),
        ({"min_replicas": 7}, None, None),  # --max follows a --min above its default
        ({"max_replicas": 1}, "--max 1 is less than --min 2 (the default)", "--max 2"),
        ({"min_replicas": 0}, "keeps at least one replica", "--min 1"),
        ({"replicas": 2, "max_replicas": 4}, "--replicas fixes", "either --replicas N"),
        ({"replicas": 0}, "at least one replica", "--replicas 1"),
        ({"target": "nomad"}, "Unknown target 'nomad'", "kubernetes, kserve"),
    ],
)
def test_invalid_options_say_what_to_do(options, message, hint):
    if message is None:
        hpa = render(**options)["horizontalpodautoscaler.yaml"]["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (7, 7)
        return
    with pytest.raises(ManifestError) as caught:
        render(**options)
    assert message in caught.value.message
    assert hint in caught.value.hint


def test_quantities_and_pushed_references():
    assert parse_quantity("500m") * 1000 == 500
    assert parse_quantity("1.5Gi") == 1.5 * 1024**3
    assert parse_quantity("1e3") == 1000
    refs = [
        "mlcontainer/iris:abc",
        "mlcontainer/iris:latest",
        "127.0.0.1:5000/team/iris:v1",
        "127.0.0.1:5000/team/iris:abc",
    ]
    assert pushed_reference(refs, prefer_tag="abc") == "127.0.0.1:5000/team/iris:abc"
    assert pushed_reference(refs, prefer_tag="zzz") == "127.0.0.1:5000/team/iris:abc"
    assert pushed_reference(refs[:2]) is None


@pytest.mark.parametrize("text", ["yes", "1.0", "a: b", "#x", "", "null", "-", "x #y", "~", "08"])
def test_the_emitter_reads_back_as_written(text):
    document = {"key": text, "list": [text, {"nested": text, "n": 1, "b": False}], "empty": {}}
    assert yaml.safe_load(emit(document)) == document


# -- against a real image, pushed to a real registry ---------------------------------------


@pytest.fixture(scope="module")
def stub_image(engine, serving_image, test_labels, tmp_path_factory) -> str:
    """The stub image made unique to this module (another label): other tests push the shared
    stub image, and a pushed image is named by its registry reference."""
    from jupyter_mlcontainer.engine.base import image_tags

    folder = tmp_path_factory.mktemp("manifests-stub")
    unique = uuid.uuid4().hex[:8]
    (folder / "Dockerfile").write_text(
        f"FROM {serving_image}\nLABEL io.mlcontainer.test-unique={unique}\n"
    )
    tag, latest = image_tags(f"stub-manifests-{unique}", "v1")
    list(engine.build(folder, tag, labels=test_labels))
    engine.tag_image(tag, latest)
    return latest


@pytest.mark.engine
def test_an_unpushed_image_names_its_local_tag_with_a_warning(engine, stub_image, capsys, tmp_path):
    # Before the push below: afterwards the image has a registry reference.
    code = main(["manifests", stub_image, "--target", "kubernetes", "--out", str(tmp_path)])
    assert code == 0
    err = capsys.readouterr().err
    assert "a cluster cannot pull it" in err
    assert f"jupyter mlcontainer push {stub_image} --to REGISTRY/REPO" in err
    deployment = (tmp_path / "deployment.yaml").read_text()
    assert "WARNING: this image is only on the machine that built it" in prose(deployment)
    local = stub_image.replace(":latest", ":v1")  # its content tag, not the moving :latest
    assert f"image: {local}\n" in deployment
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "deployment.yaml",
        "horizontalpodautoscaler.yaml",
        "kustomization.yaml",
        "poddisruptionbudget.yaml",
        "service.yaml",
    ]


@pytest.mark.engine
def test_a_pushed_image_is_named_as_pushed_and_sized_from_its_running_instance(
    engine, stub_image, registry, test_labels
):
    from jupyter_mlcontainer.deploy.measure import manifests_for
    from jupyter_mlcontainer.deploy.plan import PushOptions
    from jupyter_mlcontainer.deploy.push import push_image
    from jupyter_mlcontainer.running.readiness import wait_ready

    pushed = push_image(engine, PushOptions(stub_image, f"{registry}/k8s/stub")).target
    assert pushed == f"{registry}/k8s/stub:v1"
    instance = wait_ready(engine, engine.run(stub_image, port=0, labels=test_labels))
    try:
        idle = engine.memory_usage(instance.id)
        result = manifests_for(engine, instance.name, target="kserve")
    finally:
        engine.stop(instance.id)
    assert 1024**2 < idle < 1024**3, "a small Python server at idle"
    assert result.image == pushed and result.warnings == ()
    text = result.files["inferenceservice.yaml"]
    service = yaml.safe_load(text)
    (container,) = service["spec"]["predictor"]["containers"]
    assert container["image"] == pushed
    comments = prose(text)
    assert f"what instance {instance.name} used when the manifests were generated" in comments
    # The stub's /ready reports no load time: that figure stays a default, and says so.
    assert "is a DEFAULT, not a measurement: the start-up time was not measured" in comments
    assert "Memory request 512Mi is a DEFAULT" not in comments


@pytest.mark.engine
def test_an_unknown_name_is_an_error_with_a_hint(engine):
    from jupyter_mlcontainer.deploy.measure import manifests_for

    with pytest.raises(ManifestError) as caught:
        manifests_for(engine, "no-such-thing-anywhere", target="kubernetes")
    assert "No instance or image is named" in caught.value.message
    assert "jupyter mlcontainer ls" in caught.value.hint
    # With --image, the name need not be on this machine: nothing is measured then.
    result = manifests_for(engine, "no-such-thing-anywhere", image=IMAGE, measure=True)
    assert yaml.safe_load(result.files["deployment.yaml"])["metadata"]["name"] == "iris"
    assert result.warnings == (
        "--measure needs no-such-thing-anywhere on this machine; the figures in the manifests "
        "are defaults.",
    )
    assert "is a DEFAULT" in prose(result.files["deployment.yaml"])


@pytest.mark.engine
def test_measure_starts_the_image_once_and_times_it(engine, stub_image, test_labels):
    from jupyter_mlcontainer.deploy.measure import manifests_for

    before = {i.id for i in engine.list_instances(all=True, labels=test_labels)}
    result = manifests_for(engine, stub_image, measure=True, labels=test_labels)
    after = {i.id for i in engine.list_instances(all=True, labels=test_labels)}
    assert after == before, "it stops what it started"
    text = result.files["deployment.yaml"]
    comments = prose(text)
    # The stub listens after 1 s and answers /ready half a second later.
    seconds = float(comments.split("Start-up: ")[1].split(" s,")[0])
    assert 1.5 <= seconds < 30
    assert "measured by starting the image once on this machine (--measure)" in comments
    container = yaml.safe_load(text)["spec"]["template"]["spec"]["containers"][0]
    low, high = (math.ceil((3 * (seconds + d) + 10) / 5) for d in (-0.05, 0.05))  # 1 decimal
    assert low <= container["startupProbe"]["failureThreshold"] <= high
    assert "DEFAULT" not in comments


@pytest.mark.engine
def test_without_out_the_objects_go_to_stdout_as_one_stream(engine, capsys):
    assert main(["manifests", "nowhere-local", "--target", "kubernetes", "--image", IMAGE]) == 0
    documents = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in documents] == [
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    ], "no Kustomization: `kubectl apply -f -` would refuse it"
