"""One configuration object, reachable from config files, the environment and each call."""

from __future__ import annotations

from traitlets.config import Config

from jupyter_mlcontainer.shared.config import MLContainerConfig


def test_default_base_image_follows_the_kernel_python(monkeypatch):
    monkeypatch.delenv("MLCONTAINER_BASE_IMAGE", raising=False)
    assert MLContainerConfig().base_image_for("3.11") == "python:3.11-slim"


def test_environment_variable_sets_the_base_image(monkeypatch):
    monkeypatch.setenv("MLCONTAINER_BASE_IMAGE", "registry.local/python:3.11")
    assert MLContainerConfig().base_image_for("3.11") == "registry.local/python:3.11"


def test_config_file_settings_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("MLCONTAINER_BASE_IMAGE", "from-env")
    config = Config({"MLContainerConfig": {"base_image": "from-file", "default_port": 9000}})
    settings = MLContainerConfig(config=config)
    assert settings.base_image_for("3.11") == "from-file"
    assert settings.default_port == 9000


def test_load_config_reads_jupyter_server_config(tmp_path, monkeypatch):
    from jupyter_mlcontainer.shared.config import load_config

    (tmp_path / "jupyter_server_config.py").write_text(
        "c.MLContainerConfig.base_image = 'configured:1'\n"
    )
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    assert load_config().base_image == "configured:1"


def test_a_cache_file_is_read_whole_while_others_write_it(tmp_path):
    """Two builds at once may compute the same cache entry: a reader never sees a partial one."""
    import threading

    from jupyter_mlcontainer.shared.config import write_cache_file

    path = tmp_path / "entry.json"
    whole = {"x" * 200_000, "y" * 200_000}
    stop = threading.Event()

    def write(text):
        while not stop.is_set():
            write_cache_file(path, text)

    write_cache_file(path, min(whole))  # readers start once an entry exists, as in a build
    writers = [threading.Thread(target=write, args=(text,)) for text in whole]
    for writer in writers:
        writer.start()
    try:
        seen = [path.read_text() for _ in range(300)]
    finally:
        stop.set()
        for writer in writers:
            writer.join()
    assert set(seen) <= whole
    assert [p.name for p in tmp_path.iterdir()] == ["entry.json"]  # no partial file left
