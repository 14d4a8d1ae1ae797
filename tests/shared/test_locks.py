"""One build at a time per context folder, across threads."""

from __future__ import annotations

import errno
import subprocess
import sys
import threading
import time

import pytest

from jupyter_mlcontainer.shared import locks
from jupyter_mlcontainer.shared.errors import JobCancelled
from jupyter_mlcontainer.shared.locks import exclusive_folder


def _cancelled():
    raise JobCancelled("The build was cancelled.")


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
    with exclusive_folder(tmp_path / "context", waiting=lambda: None):
        with pytest.raises(JobCancelled):
            with exclusive_folder(tmp_path / "context", waiting=_cancelled):
                pass


def test_another_process_holding_the_folder_is_waited_for(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from jupyter_mlcontainer.shared.locks import exclusive_folder\n"
            f"with exclusive_folder({str(tmp_path / 'context')!r}, waiting=lambda: None):\n"
            "    print('in', flush=True)\n"
            "    time.sleep(1.5)\n"
            f"    open({str(tmp_path / 'leaving')!r}, 'w').close()\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "in"
        waits = []
        with exclusive_folder(tmp_path / "context", waiting=lambda: waits.append(1)):
            assert (tmp_path / "leaving").exists(), "entered while the other process held it"
        assert waits
    finally:
        holder.kill()
        holder.wait()


def test_without_flock_the_in_process_lock_still_holds(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def no_flock(handle, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(locks.fcntl, "flock", no_flock)
    with exclusive_folder(tmp_path / "context", waiting=lambda: None):
        with pytest.raises(JobCancelled):
            with exclusive_folder(tmp_path / "context", waiting=_cancelled):
                pass
