"""What every benchmark does last: remove the images it built, found by its label."""

from __future__ import annotations


def remove_images(engine, label: str) -> None:
    """Remove every image carrying `label` ("key" or "key=value"), tagged or not."""
    for image in engine.client.images.list(filters={"label": label}):
        engine.client.images.remove(image.id, force=True)
