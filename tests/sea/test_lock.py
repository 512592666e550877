"""sea.lock: one writer per run directory; a dead holder's lock is taken over with a warning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import pytest

from sea.errors import SeaWarning
from sea.lock import LOCK_NAME, RunLockedError, run_lock

HOLD = """
import sys, time
from sea.lock import run_lock
with run_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(run_dir, seconds):
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_second_process_is_refused_with_the_holders_pid(tmp_path):
    p = _holder(tmp_path, 30)
    try:
        with pytest.raises(RunLockedError, match=rf"locked by pid {p.pid}\b"), run_lock(tmp_path):
            pass
    finally:
        p.kill()
        p.wait()


def test_lock_of_a_killed_process_is_taken_over_with_a_warning(tmp_path):
    p = _holder(tmp_path, 30)
    p.kill()  # SIGKILL: no cleanup ran
    p.wait()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == p.pid
    with pytest.warns(SeaWarning, match=rf"stale lock of pid {p.pid}"), run_lock(tmp_path):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_reentrant_in_one_process_and_released_after(tmp_path):
    with run_lock(tmp_path), run_lock(tmp_path):
        pass
    assert (tmp_path / LOCK_NAME).read_text() == ""  # a clean exit leaves no holder record: no stale warning next
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with run_lock(tmp_path):
            pass
    # released: another process can take it now
    p = _holder(tmp_path, 0.1)
    p.wait()
    assert p.returncode == 0


def test_other_ranks_of_a_torchrun_job_do_not_lock(tmp_path, monkeypatch):
    p = _holder(tmp_path, 30)
    try:
        monkeypatch.setenv("RANK", "1")
        with run_lock(tmp_path):
            entered_while_held = p.poll() is None  # rank 0's holder still has the lock
        assert entered_while_held
    finally:
        p.kill()
        p.wait()
