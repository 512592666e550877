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
    assert "duration (s): min" in out and "sample rates:" in out


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
        (["data", "prepare", "urbansound8k", "{tmp}/only_one"], "needs RAW_DIR and RUN_DIR"),
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
