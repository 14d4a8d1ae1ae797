"""The serving runtime copied into every image as the top-level package `mlcontainer_runtime`.

It imports nothing from Jupyter or from the build side, only relative modules, so the same files
run inside the image and (for `parity`) on the host as `jupyter_mlcontainer.runtime`.
"""
