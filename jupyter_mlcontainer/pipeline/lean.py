"""Lean images for a CPU: leave out what only a GPU would load, as the trial run shows it.

Some wheels drag in GPU runtimes (xgboost on Linux requires `nvidia-nccl-cu12`, ~470 MB), and
some projects publish a CPU-only build of the same code (`xgboost-cpu`: the same `xgboost`
module without CUDA kernels, 5 MB instead of 230). Serving on a CPU needs neither.
"""

from __future__ import annotations

import re

#: Distributions that only a GPU uses: CUDA runtimes and libraries, and GPU kernel compilers.
GPU_ONLY = re.compile(r"^(nvidia-.+|cuda-.+|cupy-cuda.+|.+-cu\d+|triton)$")
#: Distribution → its CPU-only build on PyPI, which installs the same modules.
CPU_VARIANTS = {"xgboost": "xgboost-cpu"}


def lean_for_cpu(packages: dict, loaded: frozenset) -> tuple[dict, list[str]]:
    """`packages` without the GPU-only distributions the trial never loaded, and with CPU-only
    builds in place of GPU ones; plus one line per change for the build log."""
    kept, notes = {}, []
    for name, version in sorted(packages.items()):
        if GPU_ONLY.match(name) and name not in loaded:
            notes.append(f"left out {name}=={version}: GPU-only, never loaded by the trial run")
        elif name in CPU_VARIANTS:
            variant = CPU_VARIANTS[name]
            kept[variant] = version
            notes.append(f"{name}=={version} installed as {variant}=={version}, its CPU-only build")
        else:
            kept[name] = version
    if notes:
        notes.append("pass --keep-gpu-packages to keep them")
    return kept, notes


def cpu_providers(providers: dict) -> dict:
    """Module → distributions, with each CPU-only build beside the one it replaces: the image's
    `xgboost` module comes from `xgboost-cpu`."""
    return {
        module: [*names, *(CPU_VARIANTS[n] for n in names if n in CPU_VARIANTS)]
        for module, names in providers.items()
    }
