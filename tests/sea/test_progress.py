"""sea.progress: the SEA_FAULT_KILL hook kills the process at a known step (what the resume tests rely on)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

CODE = """
import sys
from sea.progress import progress
for i in progress(range(10), desc=sys.argv[1]):
    print(i, flush=True)
bar = progress(total=10, desc=sys.argv[1] + " bar")
for i in range(10):
    bar.update(1)
    print("u", i, flush=True)
"""


@pytest.mark.parametrize(
    ("desc", "kill", "printed"), [("teacher x", "teacher:3", ["0", "1", "2"]), ("other", "teacher:3", None)]
)
def test_fault_hook_kills_at_the_step_asked(desc, kill, printed):
    env = {**os.environ, "SEA_FAULT_KILL": kill, "SEA_NO_PROGRESS": "1"}
    r = subprocess.run([sys.executable, "-c", CODE, desc], capture_output=True, text=True, env=env)
    if printed is None:  # another bar: untouched
        assert r.returncode == 0 and r.stdout.split("\n")[:10] == [str(i) for i in range(10)]
    else:
        assert r.returncode == -signal.SIGKILL
        assert r.stdout.split() == printed


def test_update_bars_are_killed_too():
    env = {**os.environ, "SEA_FAULT_KILL": "x bar:2", "SEA_NO_PROGRESS": "1"}
    r = subprocess.run([sys.executable, "-c", CODE, "x"], capture_output=True, text=True, env=env)
    assert r.returncode == -signal.SIGKILL and r.stdout.splitlines()[-1] == "u 0"
