"""Push a built image to a registry, under its content-hash tag unless told otherwise.

The engine does the pushing with the user's own Docker credentials (`docker login`); nothing
here reads or stores them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..engine.base import IMAGE_NAMESPACE, ContainerEngine, docker_name, split_push_target
from ..engine.pushstream import PushTally
from ..shared.errors import InstanceNotFound, PushFailed
from ..shared.events import EventSink, ProgressEvent, ignore_events
from .plan import PushOptions


@dataclass(frozen=True)
class PushResult:
    image: str  # the local image pushed
    target: str  # registry/repository:tag
    digest: str  # the manifest's digest in the registry
    layers: int
    layers_sent: int  # the others were there already
    bytes_sent: int

    def to_dict(self) -> dict:
        return asdict(self)


def push_image(
    engine: ContainerEngine, options: PushOptions, on_event: EventSink = ignore_events
) -> PushResult:
    """The one way every front door pushes: `options.source` (an instance's name, an image name
    like `iris_classifier`, or an image reference) to `options.to` (`REGISTRY/REPOSITORY[:TAG]`)."""
    try:
        registry, repository, tag = split_push_target(options.to)
    except ValueError as error:
        raise PushFailed(str(error), "For example: 127.0.0.1:5000/team/iris") from None
    image = resolve_image(engine, options.source)
    tag = tag or content_tag(engine, image)
    on_event(ProgressEvent("stage", f"Pushing {image} to {repository}:{tag}", "push"))
    tally = PushTally()
    for event in engine.push(image, repository, tag, tally):
        on_event(event)
    result = PushResult(
        image=image,
        target=f"{repository}:{tag}",
        digest=tally.digest,
        layers=tally.layers,
        layers_sent=tally.layers_sent,
        bytes_sent=tally.bytes_sent,
    )
    summary = f"{result.target} ({result.layers_sent} of {result.layers} layers sent, {result.bytes_sent / 1e6:.1f} MB)"
    on_event(ProgressEvent("done", summary, "push"))
    return result


def resolve_image(engine: ContainerEngine, source: str) -> str:
    """An instance's image, an image reference that exists, or `mlcontainer/<name>:latest`."""
    try:
        return engine.find_instance(source).image
    except InstanceNotFound:
        pass
    for candidate in (source, f"{IMAGE_NAMESPACE}/{docker_name(source)}:latest"):
        if engine.image_exists(candidate):
            return candidate
    raise PushFailed(
        f"No instance or image is named {source!r}.",
        "Give an instance's name (`jupyter mlcontainer ls`), a notebook's image name, or an "
        "image reference (`docker images`).",
    )


def content_tag(engine: ContainerEngine, image: str) -> str:
    """The image's content-hash tag (`mlcontainer/<name>:<hash>`), else its own tag."""
    for ref in engine.image_refs(image):
        repository, _, tag = ref.rpartition(":")
        if repository.startswith(f"{IMAGE_NAMESPACE}/") and tag != "latest":
            return tag
    return image.rpartition(":")[2] if ":" in image.rsplit("/", 1)[-1] else "latest"
