"""What the manifests need from the engine: the image a name stands for, the reference a
cluster can pull, and figures measured from the image running (start-up time, idle memory).

Over the engine protocol, like `deploy/push.py`; `deploy/manifests.py` stays pure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..engine.base import ContainerEngine, Instance, split_image_ref
from ..running.client import ServingClient
from ..shared.errors import InstanceNotFound, InstanceUnreachable, ManifestError, PushFailed
from .manifests import (
    ManifestOptions,
    Measurements,
    name_of_image,
    pushed_reference,
    render_manifests,
    tagged_image_reference,
)
from .push import content_tag, resolve_image

#: Seconds a throwaway instance (--measure) gets to become ready.
MEASURE_TIMEOUT = 300


@dataclass(frozen=True)
class ManifestSet:
    files: dict  # file name → text
    image: str  # the reference the manifests name
    warnings: tuple  # for a person: printed, not written


def manifests_for(
    engine: ContainerEngine,
    source: str,
    target: str = "kubernetes",
    image: str | None = None,
    measure: bool = False,
    labels: dict | None = None,
    **options,
) -> ManifestSet:
    """Manifests for `source` (an instance's name, a notebook's image name or an image
    reference), naming `image` or else the reference the image was pushed under."""
    warnings = []
    if image is not None:
        tagged_image_reference(image)
    try:
        local = resolve_image(engine, source)
    except PushFailed as error:
        if image is None:
            raise ManifestError(error.message, error.hint) from None
        local = None  # not on this machine: the manifests name --image and measure nothing
    pushed = True
    if image is None:
        refs = engine.image_refs(local)
        tag = content_tag(engine, local)
        image = pushed_reference(refs, prefer_tag=tag)
        if image is None:
            # Name the content-hash tag rather than `:latest`, which moves with the next build.
            pinned = [ref for ref in sorted(refs) if split_image_ref(ref)[1] == tag]
            image, pushed = (pinned or [local])[0], False
            warnings.append(
                f"{local} is only on this machine: a cluster cannot pull it. Push it first "
                f"(`jupyter mlcontainer push {source} --to REGISTRY/REPO`) and generate again, "
                "or pass --image."
            )
    name = name_of_image(local or image)
    measured = Measurements()
    if local is None and measure:
        warnings.append(
            f"--measure needs {source} on this machine; the figures in the manifests are defaults."
        )
    if local is not None:
        if measure:
            measured = measure_image(engine, local, labels)
        else:
            instance = running_instance(engine, source, local)
            if instance is not None:
                measured = measure_instance(engine, instance)
    files = render_manifests(
        ManifestOptions(name=name, image=image, target=target, pushed=pushed, **options),
        measured,
    )
    return ManifestSet(files, image, tuple(warnings))


def running_instance(engine: ContainerEngine, source: str, image: str) -> Instance | None:
    """The instance `source` names, else a running instance of `image` (the first by name)."""
    try:
        instance = engine.find_instance(source)
        return instance if instance.url else None
    except InstanceNotFound:
        pass
    refs = set(engine.image_refs(image)) | {image}
    running = sorted(
        (i for i in engine.list_instances() if i.image in refs and i.url), key=lambda i: i.name
    )
    return running[0] if running else None


def measure_instance(engine: ContainerEngine, instance: Instance) -> Measurements:
    """Memory in use now, and the model load time the runtime reports on /ready."""
    memory = engine.memory_usage(instance.id)
    load = None
    try:
        answer = ServingClient(instance.url, timeout=5).request("GET", "/ready")
        if answer.ok and isinstance(answer.body, dict):
            load = answer.body.get("load_seconds")
    except InstanceUnreachable:
        pass
    return Measurements(
        startup_seconds=float(load) if isinstance(load, (int, float)) else None,
        startup_how=(
            f"the model load time instance {instance.name} reports on /ready (the "
            "interpreter's own start is not in it; the margin covers it)"
        ),
        idle_memory_bytes=memory,
        memory_how=f"what instance {instance.name} used when the manifests were generated",
    )


def measure_image(engine: ContainerEngine, image: str, labels: dict | None = None) -> Measurements:
    """Start `image` once on this machine, time it from start to /ready answering 200, read
    its memory once ready, and stop it."""
    from ..running.readiness import wait_ready

    started = time.monotonic()
    instance = engine.run(image, port=0, labels=labels)
    try:
        instance = wait_ready(engine, instance, timeout=MEASURE_TIMEOUT, interval=0.1)
        seconds = time.monotonic() - started
        memory = engine.memory_usage(instance.id)
    finally:
        engine.stop(instance.id)
    return Measurements(
        startup_seconds=seconds,
        startup_how="from container start to /ready answering, measured by starting the image "
        "once on this machine (--measure)",
        idle_memory_bytes=memory,
        memory_how="just after it became ready (--measure)",
    )
