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


def test_usage_error_shows_the_subcommands_usage(capsys):
    # an unknown flag of a subcommand is reported by that subcommand, not by the root parser
    import pytest

    with pytest.raises(SystemExit) as e:
        main(["students", "show", "sea_mcu_s", "--no-such-flag"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: sea students show") and "unrecognized arguments: --no-such-flag" in err


def test_verify_flag_turns_on_full_hash_checks(monkeypatch):
    from sea import integrity

    seen = []
    monkeypatch.setattr(integrity, "set_full_verify", lambda on: seen.append(on))
    assert main(["--verify", "students", "list", "--pattern", "sea_mcu_xs"]) == 0
    assert seen == [True]


def test_third_party_log_chatter_is_hidden_but_sea_speaks(tmp_path):
    code = (
        "import logging, sys; from sea.cli import main; "
        "main(['students', 'list', '--pattern', 'sea_mcu_xs']); "
        "logging.getLogger('absl').warning('ABSL CHATTER'); logging.getLogger().warning('ROOT CHATTER'); "
        "logging.getLogger('sea.x').warning('SEA SPEAKS'); logging.getLogger('jax').error('JAX ERROR')"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "SEA SPEAKS" in r.stderr and "JAX ERROR" in r.stderr
    assert "ABSL CHATTER" not in r.stderr and "ROOT CHATTER" not in r.stderr
