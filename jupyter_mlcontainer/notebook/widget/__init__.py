"""ipywidgets for the notebook: the build's progress and the panel that tests an instance."""

from .panel import TestPanel
from .progress import BuildProgress

__all__ = ["BuildProgress", "TestPanel"]
