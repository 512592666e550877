"""sea evaluate's inputs: validated before anything is written, broken upstream files named, other datasets, windows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from sea.cli import main
from sea.errors import SeaError
from sea.evaluate import EvalConfig, evaluate, load_report, model_from_callable
from sea.evaluate.demo import StandinTeacher, make_demo_run
from sea.layout import RunLayout

FAST = dict(hop_size=0.5, classifiers=("logreg",), plots=False)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_run(tmp_path_factory.mktemp("inputs") / "run", n_clips=16, n_folds=4, pca_dims=(8,))


def _stage(out):
    return (out / "stage.json").read_bytes()


@pytest.mark.claim
def test_unknown_student_fails_before_writing_and_leaves_evaluation_finished(demo, capsys):
    """Issue 19 §4: `sea evaluate RUN --models students/nope` must not rewrite a finished stage.json."""
    args = ["evaluate", str(demo), "--hop-size", "0.5", "--classifiers", "logreg", "--no-plots"]
    assert main([*args, "--models", "teacher,students/s3_random", "--dataset-name", "v"]) == 0
    out = RunLayout(demo).eval("v")
    before, report_mtime = _stage(out), (out / "report.json").stat().st_mtime_ns
    assert json.loads(before)["status"] == "done"
    capsys.readouterr()
    assert main([*args, "--models", "students/nope", "--dataset-name", "v"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "'students/nope'" in err and "did you mean 'students/s3_random'" in err
    assert _stage(out) == before  # not 'running', not the bad config: the evaluation stays finished
    # so the next run of the same command finds it up to date and redoes nothing
    assert main([*args, "--models", "teacher,students/s3_random", "--dataset-name", "v"]) == 0
    assert _stage(out) == before and (out / "report.json").stat().st_mtime_ns == report_mtime
    # a bad config value is refused the same way
    assert main([*args, "--models", "teacher", "--classifiers", "logrg", "--dataset-name", "v"]) == 1
    assert "did you mean 'logreg'" in capsys.readouterr().err and _stage(out) == before


@pytest.fixture
def copy(demo, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(demo, dst, ignore=shutil.ignore_patterns("eval"))
    return dst


def _refused(run, cfg, match, capsys=None):
    """The evaluation fails with one line matching ``match`` and writes no stage.json."""
    with pytest.raises(SeaError, match=match) as exc:
        evaluate(run, cfg)
    assert len(str(exc.value).splitlines()) == 1
    assert not (RunLayout(run).eval(cfg.dataset_name or run.name) / "stage.json").exists()
    return str(exc.value)


def test_truncated_checkpoint_named_with_reason(copy):
    ckpt = RunLayout(copy).checkpoint("s3_random")
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    msg = _refused(copy, EvalConfig(models=("s3_random",), **FAST), "best.pt")
    assert "weights_only=False" not in msg


def test_recorded_checkpoint_checked_against_its_stage(copy):
    """A checkpoint whose distill stage recorded it: an altered file is named with the fix, before loading."""
    from sea import integrity

    student = RunLayout(copy).student("s3_random")
    rec = integrity.record(student / "best.pt")
    (student / "stage.json").write_text(json.dumps({"stage": "distill", "status": "done", "files": {"best.pt": rec}}))
    data = bytearray((student / "best.pt").read_bytes())
    data[-200] ^= 0xFF  # same size, altered bytes
    (student / "best.pt").write_bytes(bytes(data))
    msg = _refused(copy, EvalConfig(models=("s3_random",), **FAST), r"student checkpoint .*best\.pt.*altered.*overwrite")
    assert "s3_random" in msg  # names the student whose file changed


def test_missing_and_damaged_audio_cache_named(copy):
    samples = RunLayout(copy).audio(8000) / "samples.f32"
    samples.write_bytes(samples.read_bytes()[:100])
    damaged = _refused(copy, EvalConfig(models=("s3_random",), **FAST), r"samples\.f32")
    shutil.rmtree(RunLayout(copy).audio(8000))
    missing = _refused(copy, EvalConfig(models=("s3_random",), **FAST), "no 8000 Hz audio cache")
    assert "8000" in damaged and damaged != missing


def test_unfinished_prepare_stage_refused(copy):
    (copy / "stage.json").write_text(json.dumps({"stage": "prepare", "status": "running"}))
    msg = _refused(copy, EvalConfig(models=("teacher",), **FAST), "did not finish.*sea data prepare")
    assert str(copy) in msg or copy.name in msg  # names the run


def test_non_finite_embedding_names_clip_and_frame(demo):
    def nan_model(x):
        out = np.ones((x.shape[0], 4), np.float32)
        out[-1, 0] = np.nan
        return out

    with pytest.raises(SeaError, match=r"non-finite embedding for clip 'clip\d+' frame \d+"):
        evaluate(
            demo,
            EvalConfig(models=("nan",), dataset_name="nan", **FAST),
            models={"nan": model_from_callable("nan", nan_model, sr=8000)},
        )


def test_other_dataset_report_says_corpus_teacher_and_overlap(demo, tmp_path):
    """A prepared evaluation dataset apart from the distillation corpus: the header names both, and the teacher."""
    ds = make_demo_run(tmp_path / "us8k", n_clips=12, n_folds=3, pca_dims=(8,), students={}, seed=3)
    teacher = model_from_callable("teacher", StandinTeacher(32), sr=48000, kind="teacher")
    cfg = EvalConfig(models=("teacher", "s3_random"), dataset=str(ds), dataset_name="us8k", **FAST)
    out = evaluate(demo, cfg, models={"teacher": teacher})
    rep = load_report(demo, "us8k")
    assert rep["distillation_corpus"]["path"] == str(demo.resolve())
    assert rep["distillation_corpus"]["evaluated_on_distillation_corpus"] is False
    assert rep["dataset"]["path"] == str(ds.resolve()) and rep["teacher"]["family"] == "custom"
    assert rep["models"]["s3_random"]["embed_source"] == "model"
    md = (out / "report.md").read_text()
    assert "specialised on" in md and str(demo.resolve()) in md and "evaluated on" in md and "us8k" in md
    assert "OVERLAP" not in md
    evaluate(demo, EvalConfig(**{**cfg.__dict__, "allow_overlap": True}), models={"teacher": teacher})
    md = (out / "report.md").read_text()
    assert "OVERLAP ALLOWED" in md.split("## Results")[0]  # in the header
    # the run-level summary repeats it
    assert "OVERLAP ALLOWED" in (RunLayout(demo).eval_root / "report.md").read_text()


def test_separate_dataset_holding_corpus_files_is_refused_unless_allowed(demo, copy):
    """A standalone evaluation on a 'separate' dataset that holds the corpus's files (md5) would report a
    transductive score as an out-of-corpus one: refused, naming the count, an example and the flag."""
    from sea.manifest import read_manifest

    assert sum(bool(r.md5) for r in read_manifest(copy)) == len(read_manifest(demo)) > 0
    cfg = EvalConfig(models=("teacher",), dataset=str(copy), dataset_name="dup", **FAST)
    msg = _refused(demo, cfg, "shares the audio of 16 clips with the distillation corpus")
    assert "--allow-overlap" in msg and "by md5" in msg
    out = evaluate(demo, EvalConfig(**{**cfg.__dict__, "allow_overlap": True}))
    assert "OVERLAP ALLOWED" in (out / "report.md").read_text().split("## Results")[0]


def test_own_corpus_evaluation_says_transductive_and_teacher_identity(demo):
    evaluate(demo, EvalConfig(models=("teacher",), dataset_name="own", **FAST))
    rep = load_report(demo, "own")
    assert rep["distillation_corpus"]["evaluated_on_distillation_corpus"] is True
    assert any("transductive" in n for n in rep["notes"])
    t = rep["teacher"]
    assert t["family"] == "standin" and t["variant"] == "standin" and t["untrained"] is False
    md = (RunLayout(demo).eval("own") / "report.md").read_text()
    assert "teacher: standin" in md and "transductive" in md


EDGEL3 = Path(__file__).resolve().parents[2] / ".." / "shared" / "models" / "edgel3_sea_ust_audio_emb_64.h5.gz"


@pytest.mark.claim
def test_registry_teacher_rebuilt_from_store_identity_on_another_dataset(tmp_path):
    """A run specialised with the published SEA student (edgel3 family) as teacher: evaluating it on another
    prepared dataset rebuilds that teacher from the store's record and embeds the dataset's 8 kHz audio."""
    if not EDGEL3.is_file():
        pytest.skip("../shared/models/edgel3_sea_ust_audio_emb_64.h5.gz is absent (a user's clone has no ../shared)")
    from sea.store import FrameStoreWriter
    from sea.teacher.registry import resolve_teacher

    spec = resolve_teacher({"model": "edgel3", "name": "sea_ust_64", "weights": str(EDGEL3)})
    run = make_demo_run(tmp_path / "run", n_clips=6, n_folds=3, pca_dims=(8,), students={})
    shutil.rmtree(RunLayout(run).teacher_root)
    meta = {"sr": spec.sr, "hop_size": 0.5, "center": True, "window_size": 1.0, "teacher": spec.identity()}
    with FrameStoreWriter(RunLayout(run).teacher(spec.variant), 64, dtype="float32", meta=meta) as w:
        w.add(["clip000"], np.arange(1), np.zeros(1), np.zeros((1, 64), np.float32))
    ds = make_demo_run(tmp_path / "us8k", n_clips=16, n_folds=4, pca_dims=(8,), students={}, seed=4)
    evaluate(run, EvalConfig(models=("teacher",), dataset=str(ds), **FAST))
    rep = load_report(run, "us8k")
    t = rep["teacher"]
    assert (t["family"], t["name"], t["sr"]) == ("edgel3", "sea_ust_64", 8000)
    assert t["weights_sha256"] == spec.weights_sha256 and t["untrained"] is False
    m = rep["models"]["teacher"]
    assert m["embed_source"] == "model" and m["dim"] == 64
    assert m["cost"]["macs"] > 0 and m["cost"]["params"] > 0  # every teacher row carries its cost
    assert m["classifiers"]["logreg"]["scores"]["accuracy"]["mean"] > 0.6  # tones: a real teacher separates them


def test_three_second_window_student_from_its_checkpoint(demo, tmp_path):
    """A student distilled on a 3-s teacher window (BirdNET) is evaluated on 3-s windows (150 mel frames)."""
    from sea.checkpoint import save_checkpoint
    from sea.framing import n_frames
    from sea.students import create
    from sea.students.frontend import frontend_params

    torch.manual_seed(0)
    net = create("sea_mcu_s", input_shape=(1, 64, 150), out_dim=8)
    ckpt = tmp_path / "birdnet_student" / "best.pt"
    save_checkpoint(
        ckpt,
        {
            "model_name": "sea_mcu_s",
            "model_args": {"input_shape": [1, 64, 150], "out_dim": 8},
            "state_dict": net.state_dict(),
            "frontend": frontend_params(3.0),
            "teacher": {"family": "birdnet", "window_size": 3.0},
        },
    )
    out = evaluate(demo, EvalConfig(models=(str(ckpt),), dataset_name="w3", fidelity=False, **FAST))
    rep = load_report(demo, "w3")
    m = rep["models"]["birdnet_student"]
    want = 16 * n_frames(16000, 8000, hop_size=0.5, center=True, frame_size=3.0)  # 2-s clips at 8 kHz
    assert m["n_frames"] == want and m["info"]["window_size"] == 3.0
    from sea.students.cost import model_cost

    assert m["cost"]["macs"] == model_cost(net, (1, 64, 150))["macs"]
    assert np.load(out / "emb" / "birdnet_student.npz")["features"].shape == (want, 8)


def test_truncated_reducer_named_with_fix(copy):
    reducer = RunLayout(copy).reducer("pca8")
    reducer.write_bytes(reducer.read_bytes()[:200])
    msg = _refused(
        copy, EvalConfig(models=("teacher_pca:pca8",), **FAST), r"reducer .*reducer\.npz.* is damaged.*sea targets fit"
    )
    assert "pca8" in msg  # names the target set
