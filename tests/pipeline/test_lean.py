"""Lean images for a CPU: GPU-only packages the trial never loaded are left out."""

from __future__ import annotations

from jupyter_mlcontainer.pipeline.lean import cpu_providers, lean_for_cpu


def test_gpu_runtimes_never_loaded_are_left_out_and_xgboost_becomes_its_cpu_build():
    packages = {
        "numpy": "2.4.6",
        "nvidia-nccl-cu12": "2.32.3",
        "scipy": "1.17.1",
        "xgboost": "3.2.0",
    }
    loaded = frozenset({"numpy", "scipy", "xgboost"})
    kept, notes = lean_for_cpu(packages, loaded)
    assert kept == {"numpy": "2.4.6", "scipy": "1.17.1", "xgboost-cpu": "3.2.0"}
    assert any("nvidia-nccl-cu12" in note and "never loaded" in note for note in notes)
    assert notes[-1] == "pass --keep-gpu-packages to keep them"


def test_a_gpu_package_the_trial_loaded_stays():
    packages = {"cupy-cuda12x": "13.0", "torch": "2.13.0"}
    kept, notes = lean_for_cpu(packages, frozenset({"cupy-cuda12x", "torch"}))
    assert kept == packages and notes == []


def test_the_cpu_build_provides_the_module_of_the_build_it_replaces():
    providers = {"xgboost": ["xgboost"], "numpy": ["numpy"]}
    assert cpu_providers(providers) == {"xgboost": ["xgboost", "xgboost-cpu"], "numpy": ["numpy"]}
