import json

import pytest

from sea.cli import main
from sea.manifest import read_manifest
from tests.data_prep._trees import us8k_tree


def test_synth_prepare_info(tmp_path, capsys):
    raw, run = tmp_path / "raw", tmp_path / "run"
    assert main(["-q", "data", "synth", str(raw), "--n-clips", "12", "--seed", "5", "--duration", "1"]) == 0
    assert json.loads((raw / "synthetic.json").read_text())["seed"] == 5
    assert main(["-q", "data", "prepare", "urbansound8k", str(raw), str(run), "--cache-srs", "16000,8000"]) == 0
    recs = read_manifest(run)
    assert len(recs) == 12 and sorted(p.name for p in (run / "audio").iterdir()) == ["16000", "8000"]
    capsys.readouterr()
    assert main(["data", "info", str(run)]) == 0
    out = capsys.readouterr().out
    assert "12 clips (12 labeled), 0 skipped" in out and "fold1" in out and "air_conditioner" in out
    assert "duration (s): min" in out and "sample rates (Hz):" in out
    assert "table: clips per class (rows) and fold (columns)" in out and "'Nx V': N clips with value V" in out


def test_prepare_synthetic_into_run_raw(tmp_path):
    run = tmp_path / "run"
    assert main(["-q", "--seed", "2", "data", "prepare", "synthetic", str(run), "--n-clips", "8", "--duration", "1",
                 "--cache-srs", "8000"]) == 0  # fmt: skip
    assert json.loads((run / "raw" / "synthetic.json").read_text())["seed"] == 2
    recs = read_manifest(run)
    assert len(recs) == 8 and all(not r.path.startswith("/") for r in recs)  # raw inside run: relative paths
    stage = json.loads((run / "stage.json").read_text())
    assert stage["config"]["dataset"] == "synthetic" and stage["status"] == "done"
    # a rerun is a no-op
    assert main(["-q", "data", "prepare", "synthetic", str(run), "--cache-srs", "8000"]) == 0
    assert json.loads((run / "stage.json").read_text())["finished"] == stage["finished"]


def test_prepare_reports_and_strict(tmp_path, capsys):
    raw = tmp_path / "raw"
    us8k_tree(raw, class_header="class_name")
    assert main(["-q", "data", "prepare", "urbansound8k", str(raw), str(tmp_path / "run")]) == 0
    capsys.readouterr()
    assert main(["data", "info", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "skipped files (4):" in out and "103199-4-0-0.wav: unreadable / not audio" in out
    assert main(["-q", "data", "prepare", "urbansound8k", str(raw), str(tmp_path / "run2"), "--strict"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: urbansound8k: 4 file(s) cannot be used with --strict") and err.count("\n") == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["data", "prepare", "esc50", "{tmp}/nope", "{tmp}/run"], "esc50: raw folder"),
        (
            ["data", "prepare", "folder", "{tmp}", "{tmp}/run", "--cache-srs", "48000,x"],
            "cache_srs='x' has the wrong type",
        ),
        (
            ["data", "prepare", "folder", "{tmp}", "{tmp}/run", "--cache-srs", "500"],
            "cache rate 500 Hz is out of range",
        ),
        (["data", "prepare", "folder", "{tmp}", "{tmp}/run", "--esc10"], "esc10=True only applies to the esc50"),
        (["data", "prepare", "folder", "{tmp}", "{tmp}/run", "--config", "{tmp}/nope.yaml"], "does not exist"),
        (["data", "synth", "{tmp}/s", "--layout", "sonyc_ust", "--n-clips", "0"], "n_clips=0 must be >= 1"),
        (["data", "info", "{tmp}/nothing"], "no clip manifest"),
        (["data", "prepare", "folder", "{tmp}/empty", "{tmp}/run"], "no usable clip"),
    ],
)
def test_bad_input_exits_1_with_one_line(tmp_path, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_config_yaml_and_usage_errors(tmp_path, capsys):
    raw = tmp_path / "raw"
    us8k_tree(raw, bad=False)
    cfg = tmp_path / "prep.yaml"
    cfg.write_text("cache_srs: [16000]\nres_type: soxr_hq\n")
    assert main(["-q", "data", "prepare", "urbansound8k", str(raw), str(tmp_path / "run"), "--config", str(cfg)]) == 0
    stage = json.loads((tmp_path / "run" / "stage.json").read_text())
    assert stage["config"]["cache_srs"] == [16000] and stage["config"]["res_type"] == "soxr_hq"
    cfg.write_text("cache_rates: [16000]\n")
    assert main(["-q", "data", "prepare", "urbansound8k", str(raw), str(tmp_path / "r2"), "--config", str(cfg)]) == 1
    assert "unknown PrepareConfig key(s) 'cache_rates'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["data", "prepare", "nosuchset", str(raw), str(tmp_path / "r3")])
    assert e.value.code == 2


@pytest.mark.parametrize(
    "argv, message",
    [
        (["urbansound8k", "{tmp}/only_one"], "urbansound8k needs RAW_DIR and RUN_DIR (only 'synthetic' may leave"),
        (["folder", "a", "b", "c"], "expected RAW_DIR RUN_DIR, got 3 paths: a b c"),
        (["folder"], "the following arguments are required: [RAW_DIR] RUN_DIR"),
        (["folder", "a", "b", "--res-type", "kaiser"], "argument --res-type: invalid choice: 'kaiser'"),
    ],
)
def test_prepare_usage_errors_show_the_command_usage(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        main(["data", "prepare", *[a.replace("{tmp}", str(tmp_path)) for a in argv]])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("usage: sea data prepare [-h] [options] DATASET [RAW_DIR] RUN_DIR\n")
    assert message in err


def test_prepare_paths_around_options(tmp_path):
    """RAW_DIR and RUN_DIR are read wherever the options go; 'synthetic' may leave RAW_DIR out."""
    from sea.cli import build_parser

    parser = build_parser()
    a = parser.parse_args(["data", "prepare", "folder", "--csv", "x.csv", "raw", "run", "--strict"])
    assert (a.dataset, a.raw_dir, a.run_dir, a.csv, a.strict) == ("folder", "raw", "run", "x.csv", True)
    a = parser.parse_args(["data", "prepare", "synthetic", "run", "--n-clips", "8"])
    assert (a.raw_dir, a.run_dir, a.n_clips) == ("", "run", 8)


@pytest.mark.parametrize("command", [[], ["synth"], ["prepare"], ["info"], ["download"]])
def test_help_has_examples_choices_and_single_defaults(capsys, command):
    with pytest.raises(SystemExit) as e:
        main(["data", *command, "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "\nexamples:\n  sea data " in out
    assert "(default: None)" not in out
    for line in out.splitlines():
        assert line.count("(default:") <= 1, line
    if command == ["prepare"]:
        assert out.startswith("usage: sea data prepare [-h] [options] DATASET [RAW_DIR] RUN_DIR\n")
        assert "--res-type {soxr_vhq,soxr_hq,kaiser_best}" in out and "(default: kaiser_best)" in out
        assert "RAW_DIR RUN_DIR [RAW_DIR RUN_DIR ...]" not in out
