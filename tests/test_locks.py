"""One build at a time per context folder, across threads."""

from __future__ import annotations

import threading
import time

import pytest

from jupyter_mlcontainer.errors import JobCancelled
from jupyter_mlcontainer.locks import exclusive_folder


def test_a_second_holder_waits_until_the_first_leaves(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    order, waits = [], []
    first_in = threading.Event()

    def first():
        with exclusive_folder(tmp_path / "context", waiting=lambda: None):
            first_in.set()
            time.sleep(0.8)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(5)
    with exclusive_folder(tmp_path / "context", waiting=lambda: waits.append(1)):
        order.append("second in")
    thread.join()
    assert order == ["first out", "second in"]
    assert waits, "the second holder was told it waits"
    with exclusive_folder(tmp_path / "other", waiting=lambda: pytest.fail("no one holds it")):
        pass


def test_waiting_may_give_up(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def cancelled():
        raise JobCancelled("The build was cancelled.")

    with exclusive_folder(tmp_path / "context", waiting=lambda: None):
        with pytest.raises(JobCancelled):
            with exclusive_folder(tmp_path / "context", waiting=cancelled):
                pass
