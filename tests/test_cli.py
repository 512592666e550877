import subprocess
import sys

from sea.cli import GROUPS, main


def test_help_lists_groups(capsys):
    try:
        main(["--help"])
    except SystemExit as e:
        assert e.code == 0
    out = capsys.readouterr().out
    for name, _ in GROUPS:
        assert name in out


def test_usage_error_exits_2():
    r = subprocess.run([sys.executable, "-m", "sea", "--no-such-flag"], capture_output=True, text=True)
    assert r.returncode == 2 and "usage:" in r.stderr


def test_sea_error_is_one_line_exit_1(tmp_path):
    r = subprocess.run([sys.executable, "-m", "sea", "data", "info", str(tmp_path / "nope")], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "sea", "-v", "data", "info", str(tmp_path / "nope")], capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" in r.stderr
