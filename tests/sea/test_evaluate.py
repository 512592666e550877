"""End-to-end evaluation on a synthetic run: teacher vs broken student, caches, multi-label, CLI, reports."""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pytest
import torch

from sea.cli import main
from sea.errors import ConfigError, SeaError
from sea.evaluate import EvalConfig, evaluate, load_embeddings, load_report, model_from_callable, report_rows
from sea.evaluate.demo import StandinTeacher, broken_student, make_demo_run
from sea.manifest import read_manifest, write_manifest

FAST = dict(
    hop_size=0.5, mlp_epochs=30, mlp_patience=10, mlp_lr=1e-3, mlp_hidden=(64, 32), classifiers=("mlp", "logreg")
)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_run(tmp_path_factory.mktemp("eval") / "run", n_clips=24, n_folds=4, pca_dims=(8,))


def _acc(rep, model, clf="mlp"):
    return rep["models"][model]["classifiers"][clf]["scores"]["accuracy"]["mean"]


def test_teacher_above_chance_broken_student_clearly_lower(demo):
    out = evaluate(
        demo,
        EvalConfig(models=("teacher", "teacher_pca:pca8", "s3_random", "broken"), **FAST),
        models={"broken": broken_student()},
    )
    rep = load_report(demo)
    assert rep["dataset"]["protocol"] == "folds" and len(rep["dataset"]["splits"]) == 4
    chance = 1 / 3
    for clf in ("mlp", "logreg"):
        assert _acc(rep, "teacher", clf) >= 0.8 > chance + 0.4
        assert _acc(rep, "broken", clf) <= _acc(rep, "teacher", clf) - 0.3
        assert _acc(rep, "broken", clf) < 0.6
    # teacher frames came from the run's frame store; students were embedded from the 8 kHz cache
    assert rep["models"]["teacher"]["embed_source"] == "store"
    assert rep["models"]["s3_random"]["embed_source"] == "model"
    # fidelity: CKA everywhere, cosine/R2 for the checkpointed student against its reduced teacher
    fid = rep["models"]["s3_random"]["fidelity"]
    assert 0 <= fid["cka"] <= 1 and -1 <= fid["cosine"] <= 1 and np.isfinite(fid["r2"])
    assert fid["target"].endswith("pca8/reducer.npz")
    assert rep["models"]["teacher_pca:pca8"]["fidelity"]["cka"] > rep["models"]["broken"]["fidelity"]["cka"]
    assert rep["models"]["broken"]["fidelity"]["agreement"]["mlp"] < 0.7
    # cost: student numbers equal the registry's cost model
    from sea.students import create
    from sea.students.cost import model_cost

    c = rep["models"]["s3_random"]["cost"]
    ref = model_cost(create("sea_student_3_lin", out_dim=8), (1, 64, 50))
    assert {k: c[k] for k in ("params", "macs", "weight_bytes_int8", "peak_activation_bytes_int8")} == {
        k: ref[k] for k in ("params", "macs", "weight_bytes_int8", "peak_activation_bytes_int8")
    }
    assert rep["models"]["teacher"]["cost"] is None  # a stand-in teacher has no OpenL3 cost
    # confusion matrices cover every test clip once
    cm = np.asarray(rep["models"]["teacher"]["classifiers"]["mlp"]["confusion"])
    assert cm.sum() == 24 and cm.shape == (3, 3)
    # reports and plots
    for f in (
        "report.md",
        "report.json",
        "score_vs_weight_bytes.png",
        "score_vs_macs.png",
        "per_fold.png",
        "confusion_teacher.png",
        "confusion_s3_random.png",
        "confusion_teacher_pca-pca8.png",
    ):
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
    md = (out / "report.md").read_text()
    assert "| `teacher` |" in md and "± " in md
    assert (demo / "eval" / "report.md").is_file()
    rows = report_rows(rep)
    assert {r["model"] for r in rows} == {"teacher", "teacher_pca:pca8", "s3_random", "broken"}
    # predictions were saved per model
    z = np.load(out / "pred" / "teacher.npz")
    assert z["scores_mlp"].shape == (24, 3) and set(z["test_fold"]) == {"1", "2", "3", "4"}


def test_embedding_cache_reused_and_invalidated(demo, tmp_path):
    cfg = EvalConfig(models=("s3_random",), dataset_name="cachetest", **{**FAST, "classifiers": ("logreg",)})
    out = evaluate(demo, cfg)
    emb = out / "emb" / "s3_random.npz"
    es = load_embeddings(emb)
    assert es.features.shape == (96, 8) and es.features.dtype == np.float32
    assert es.clip_index.tolist() == sorted(es.clip_index.tolist())
    np.testing.assert_allclose(es.timestamps[:4], [0.0, 0.5, 1.0, 1.5])
    mtime = emb.stat().st_mtime_ns
    evaluate(demo, cfg, overwrite=True, models=None)  # overwrite recomputes
    assert emb.stat().st_mtime_ns != mtime
    mtime = emb.stat().st_mtime_ns
    # same config: the stage is a no-op; a different classifier reruns but reuses the embedding cache
    evaluate(demo, cfg)
    assert emb.stat().st_mtime_ns == mtime
    evaluate(demo, EvalConfig(**{**cfg.__dict__, "classifiers": ("svm",)}))
    assert emb.stat().st_mtime_ns == mtime
    assert load_report(demo, "cachetest")["models"]["s3_random"]["embed_source"] == "cache"
    # a different hop invalidates the cache key
    evaluate(demo, EvalConfig(**{**cfg.__dict__, "hop_size": 0.25}))
    assert load_embeddings(emb).features.shape[0] > 96


def test_injected_teacher_on_external_dataset_and_agreement(demo, tmp_path):
    """A downstream dataset that is not the run: the teacher embeds its 48 kHz cache (no store reuse)."""
    ds = make_demo_run(tmp_path / "downstream", n_clips=16, n_folds=4, pca_dims=(8,), students={}, seed=5)
    teacher = model_from_callable("teacher", StandinTeacher(32), sr=48000, kind="teacher")
    out = evaluate(
        demo, EvalConfig(models=("teacher", "teacher_pca:pca8"), dataset=str(ds), **FAST), models={"teacher": teacher}
    )
    rep = load_report(demo, "downstream")
    assert out.name == "downstream"
    assert rep["models"]["teacher"]["embed_source"] == "model"
    assert rep["models"]["teacher"]["cost"]["macs"] > 0  # nn.Module stand-ins get a cost
    assert rep["models"]["teacher_pca:pca8"]["dim"] == 8
    assert _acc(rep, "teacher") > 0.8
    assert rep["models"]["teacher_pca:pca8"]["fidelity"]["agreement"]["mlp"] > 0.6


def _multilabel(run):
    recs = read_manifest(run)
    out = []
    for i, r in enumerate(recs):
        split = "test" if i % 4 == 0 else ("validate" if i % 4 == 1 else "train")
        extra = [2] if (i % 3 == 0 and r.label_id != 2) else []
        out.append(
            r.__class__(
                **{
                    **r.to_dict(),
                    "fold": None,
                    "split": split,
                    "label": [r.label] + [f"class{k}" for k in extra],
                    "label_id": [r.label_id] + extra,
                }
            )
        )
    write_manifest(out, run / "clips.jsonl")
    (run / "data_report.json").write_text(json.dumps({"dataset": "sonyc_ust"}))


def test_sonyc_protocol_autopool_and_mean(tmp_path):
    run = make_demo_run(tmp_path / "ml", n_clips=32, n_folds=2, pca_dims=(8,), students={})
    _multilabel(run)
    cfg = EvalConfig(models=("teacher",), autopool_preset="fast", **{**FAST, "mlp_epochs": 30, "mlp_lr": 1e-3})
    out = evaluate(run, cfg)
    rep = load_report(run)
    assert rep["dataset"]["protocol"] == "sonyc" and rep["dataset"]["multilabel"]
    assert rep["primary"] == {"classifier": "mlp_autopool", "metric": "micro_auprc"}
    clfs = rep["models"]["teacher"]["classifiers"]
    assert set(clfs) == {"mlp_autopool", "mlp_mean", "logreg"}
    y = np.load(out / "pred" / "teacher.npz")["y"]
    prevalence = y.mean()  # the micro-AUPRC of an uninformative scorer is about the positive rate
    for name, res in clfs.items():
        s = res["scores"]
        assert s["micro_auprc"]["mean"] > prevalence + 0.2, name
        assert 0 <= s["macro_auprc"]["mean"] <= 1 and 0 <= s["micro_f1"]["mean"] <= 1
        assert s["micro_ap"]["mean"] is not None
    fold = clfs["mlp_autopool"]["folds"][0]
    assert len(fold["alpha"]) == 8 and min(fold["alpha"]) >= 0  # alpha >= 0, as SEA's AutoPool
    assert fold["preset"] == "fast" and [c["hidden"] for c in fold["grid"]] == [[], [128]]
    assert fold["selected_hidden"] in ([], [128])
    chosen = min(fold["grid"], key=lambda c: c["best_val_loss"])  # selected on the validate split
    assert chosen["hidden"] == fold["selected_hidden"]
    md = (out / "report.md").read_text()
    assert "Tagging metrics" in md and "FAST preset" in md  # labelled wherever it is used
    assert any("FAST" in n for n in rep["notes"])
    assert (out / "confusion_teacher.png").is_file()  # per-class AUPRC bars for multi-label sets


def test_cli_writes_report_and_pngs(demo, capsys):
    rc = main(
        [
            "evaluate",
            str(demo),
            "--models",
            "teacher,s3_random",
            "--dataset-name",
            "cli",
            "--hop-size",
            "0.5",
            "--mlp-epochs",
            "5",
            "--mlp-hidden",
            "32",
            "--classifiers",
            "mlp,logreg",
        ]
    )
    assert rc == 0
    out = demo / "eval" / "cli"
    printed = capsys.readouterr().out
    assert "teacher\tmlp accuracy" in printed and str(out / "report.md") in printed
    assert (out / "report.md").is_file()
    assert sorted(p.name for p in out.glob("*.png")) == sorted(
        [
            "classifiers.png",
            "confusion_s3_random.png",
            "confusion_teacher.png",
            "per_fold.png",
            "score_vs_macs.png",
            "score_vs_weight_bytes.png",
        ]
    )
    assert json.loads((out / "stage.json").read_text())["status"] == "done"


def test_bad_input_errors(demo, tmp_path, capsys):
    with pytest.raises(ConfigError, match="classifiers"):
        EvalConfig(classifiers=("mlp", "knn")).validate()
    with pytest.raises(ConfigError, match="not 'teacher'.*did you mean 's3_random'"):
        evaluate(demo, EvalConfig(models=("s3_randon",), **FAST))
    with pytest.raises(ConfigError, match="needs a target set name|teacher_pca"):
        d = make_demo_run(tmp_path / "two", n_clips=6, n_folds=2, pca_dims=(4, 8), students={})
        evaluate(d, EvalConfig(models=("teacher_pca",), **FAST))
    with pytest.raises(SeaError, match="clips.jsonl"):
        evaluate(demo, EvalConfig(dataset=str(tmp_path / "nowhere"), **FAST))
    assert main(["evaluate", str(demo), "--protocol", "sonyc", "--hop-size", "0.5"]) == 1
    err = capsys.readouterr().err
    assert "needs 'train' and 'test' clips" in err and "Traceback" not in err


def test_real_untrained_openl3_teacher_vs_broken_student(tmp_path):
    """The acceptance check with the real teacher code (untrained OpenL3 mel128/512) at hop 0.5."""
    try:
        from sea.teacher import load_teacher  # noqa: F401
    except ImportError:
        pytest.skip("sea.teacher.load_teacher is not available in this checkout")
    run = make_demo_run(tmp_path / "r", n_clips=16, n_folds=4, duration=1.5, pca_dims=(8,), students={})
    import shutil

    shutil.rmtree(run / "teacher")  # force the real teacher
    t0 = time.perf_counter()
    evaluate(
        run,
        EvalConfig(
            models=("teacher", "broken"),
            input_repr="mel128",
            embedding_size=512,
            untrained_teacher=True,
            embed_batch_size=16,
            **FAST,
        ),
        models={"broken": broken_student()},
    )
    rep = load_report(run)
    seconds = time.perf_counter() - t0
    assert rep["models"]["teacher"]["info"]["untrained"] is True
    assert _acc(rep, "teacher", "logreg") >= 0.8
    assert _acc(rep, "broken", "logreg") <= _acc(rep, "teacher", "logreg") - 0.3
    cost = rep["models"]["teacher"]["cost"]
    assert cost["macs"] > 1e9 and "spectrogram" in cost["cost_scope"]
    assert seconds < 120


def test_help_lists_choices_and_examples_with_paths_the_pipeline_creates(capsys):
    """Issue 19 §6: examples that use paths the pipeline creates; choices listed; each default shown once."""
    from pathlib import Path

    import yaml

    from sea.layout import RunLayout

    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "{auto,us8k,esc50,sonyc,sonyc_sea,folds,split,kfold}" in text and "{paper,fast}" in text
    assert "mlp, logreg, svm" in text and "{coarse,fine}" in text
    for line in text.splitlines():
        assert line.count("default") <= 1, line
    configs = Path(__file__).resolve().parents[2] / "configs"
    quick = yaml.safe_load((configs / "quickstart.yaml").read_text())
    run = RunLayout(quick["run_dir"])
    eval_ds = quick["evaluate"]["datasets"][0]["name"]
    assert f"sea evaluate {quick['run_dir']} --models teacher,teacher_pca:pca64_random,students/sea_mcu_s" in text
    assert f"--dataset {run.dataset(eval_ds)}" in text
    paper = yaml.safe_load((configs / "sea_paper.yaml").read_text())
    names = {d["name"] for d in paper["evaluate"]["datasets"]}
    for name in ("us8k", "sonyc_ust"):
        assert name in names and f"--dataset {RunLayout(paper['run_dir']).dataset(name)}" in text
    assert any(s == "sea_mcu_s" or (isinstance(s, dict) and s.get("student") == "sea_mcu_s") for s in paper["students"])


def _band_energies(lo_hz: float, hi_hz: float, n_bands: int = 16):
    """A stand-in teacher at 48 kHz: log energies of ``n_bands`` equal bands between lo_hz and hi_hz."""

    def fn(x):
        power = np.abs(np.fft.rfft(np.asarray(x, dtype=np.float64), axis=-1)) ** 2
        freqs = np.fft.rfftfreq(x.shape[-1], 1 / 48000)
        edges = np.linspace(lo_hz, hi_hz, n_bands + 1)
        bands = [power[:, (freqs >= a) & (freqs < b)].sum(axis=1) for a, b in zip(edges[:-1], edges[1:])]
        return np.log(np.stack(bands, axis=1) + 1e-6).astype(np.float32)

    return fn


@pytest.mark.parametrize(
    "band, expect_equal", [((50.0, 3900.0), True), ((50.0, 16000.0), False)], ids=["low-band", "full-band"]
)
def test_teacher_8k_hears_what_an_8k_student_hears(demo, band, expect_equal):
    """teacher_8k equals a teacher that only listens below 4 kHz, and departs from one that listens above."""
    teacher = model_from_callable("teacher", _band_energies(*band), sr=48000, kind="teacher")
    name = f"band_{'low' if expect_equal else 'full'}"
    cfg = EvalConfig(models=("teacher", "teacher_8k"), dataset_name=name, **{**FAST, "classifiers": ("logreg",)})
    evaluate(demo, cfg, models={"teacher": teacher})
    rep = load_report(demo, name)["models"]["teacher_8k"]
    assert rep["kind"] == "teacher_band" and rep["info"]["band_hz"] == 4000
    assert rep["embed_source"] == "model"  # never the teacher's stored (full-band) frames
    fid = rep["fidelity"]
    if expect_equal:
        assert fid["r2"] > 0.999 and fid["cosine"] > 0.999
    else:  # the demo's tones reach 4.8 kHz and beyond: bands above 4 kHz fall silent
        assert fid["r2"] < 0.5


def test_teacher_16k_is_the_band_of_a_16k_student(demo):
    """``teacher_<N>k`` for a wider-band student: a teacher listening below 7.9 kHz is whole under teacher_16k (an
    8-kHz low-pass) and loses its upper bands under teacher_8k."""
    teacher = model_from_callable("teacher", _band_energies(50.0, 7900.0), sr=48000, kind="teacher")
    cfg = EvalConfig(models=("teacher", "teacher_16k", "teacher_8k"), dataset_name="band16",
                     **{**FAST, "classifiers": ("logreg",)})  # fmt: skip
    evaluate(demo, cfg, models={"teacher": teacher})
    reps = load_report(demo, "band16")["models"]
    assert reps["teacher_16k"]["kind"] == "teacher_band" and reps["teacher_16k"]["info"]["band_hz"] == 8000
    assert reps["teacher_16k"]["fidelity"]["r2"] > 0.999 and reps["teacher_8k"]["fidelity"]["r2"] < 0.5
    for bad, rate in (("teacher_96k", 96000), ("teacher_0k", 0)):
        with pytest.raises(ConfigError, match=rf"{bad}.*a student rate of {rate} Hz is outside 8000..48000"):
            evaluate(demo, EvalConfig(models=("teacher", bad), dataset_name="band_bad", **FAST),
                     models={"teacher": teacher})  # fmt: skip


def test_teacher_8k_with_targets_and_its_refusals(demo):
    teacher = model_from_callable("teacher", StandinTeacher(32), sr=48000, kind="teacher")
    cfg = EvalConfig(
        models=("teacher", "teacher_8k:pca8"), dataset_name="band_pca", **{**FAST, "classifiers": ("logreg",)}
    )
    evaluate(demo, cfg, models={"teacher": teacher})
    rep = load_report(demo, "band_pca")["models"]["teacher_8k:pca8"]
    assert rep["dim"] == 8 and rep["info"]["targets"] == "pca8"
    assert {"r2", "cosine"} <= set(rep["fidelity"])  # against the reduced teacher, like a student
    slow = model_from_callable("teacher", StandinTeacher(32), sr=8000, kind="teacher")
    with pytest.raises(ConfigError, match="would equal 'teacher'"):
        evaluate(
            demo, EvalConfig(models=("teacher", "teacher_8k"), dataset_name="band8k", **FAST), models={"teacher": slow}
        )
    frames_only = dataclasses.replace(teacher, fn=None)
    with pytest.raises(ConfigError, match="only has stored frames"):
        evaluate(
            demo,
            EvalConfig(models=("teacher", "teacher_8k"), dataset_name="band_fo", **FAST),
            models={"teacher": frames_only},
        )
    with pytest.raises(ConfigError, match="no fitted target set 'pca9'"):
        evaluate(demo, EvalConfig(models=("teacher", "teacher_8k:pca9"), dataset_name="band9", **FAST))


def test_band_ceiling_adds_teacher_8k_for_fast_teachers_only(demo, caplog):
    """evaluate.band_ceiling (sea run and sea evaluate alike): one teacher_8k per teacher_pca for a 48 kHz teacher;
    for an 8 kHz one, no row and a log line saying why. The rows it adds sit with the teacher's, before students."""
    fast = model_from_callable("teacher", StandinTeacher(32), sr=48000, kind="teacher")
    cfg = EvalConfig(
        models=("teacher", "teacher_pca:pca8", "s3_random"),
        dataset_name="ceiling",
        band_ceiling=True,
        **{**FAST, "classifiers": ("logreg",)},
    )
    evaluate(demo, cfg, models={"teacher": fast})
    assert list(load_report(demo, "ceiling")["models"]) == [
        "teacher",
        "teacher_pca:pca8",
        "teacher_8k:pca8",
        "s3_random",
    ]
    slow = model_from_callable("teacher", StandinTeacher(32), sr=8000, kind="teacher")
    with caplog.at_level("INFO", logger="sea.evaluate.stage"):
        evaluate(demo, dataclasses.replace(cfg, dataset_name="ceiling8k"), models={"teacher": slow})
    assert list(load_report(demo, "ceiling8k")["models"]) == ["teacher", "teacher_pca:pca8", "s3_random"]
    assert "no teacher_8k row" in caplog.text


def test_band_ceiling_adds_a_row_per_student_rate(tmp_path):
    """A 16 kHz student in the list brings teacher_16k beside teacher_8k (one per teacher_pca); each is the teacher
    on its windows low-passed at half that rate, listed with the teacher's rows, before the students."""
    from sea.cache import AudioCache, CacheWriter

    demo = make_demo_run(tmp_path / "run", n_clips=12, n_folds=3, pca_dims=(8,))
    full, writer = AudioCache(demo, 48000), CacheWriter(demo, 16000)
    for clip_id in full.clip_ids:  # the stand-in student does not care how 16 kHz audio was made
        writer.add(clip_id, full.get(clip_id)[::3])
    writer.close()
    fast = model_from_callable("teacher", StandinTeacher(32), sr=48000, kind="teacher")
    wide = model_from_callable("wide", StandinTeacher(8, seed=3), sr=16000, kind="student")
    cfg = EvalConfig(
        models=("teacher", "teacher_pca:pca8", "wide"),
        dataset_name="ceiling16k",
        band_ceiling=True,
        **{**FAST, "classifiers": ("logreg",)},
    )
    evaluate(demo, cfg, models={"teacher": fast, "wide": wide})
    reps = load_report(demo, "ceiling16k")["models"]
    assert list(reps) == ["teacher", "teacher_pca:pca8", "teacher_8k:pca8", "teacher_16k:pca8", "wide"]
    assert reps["teacher_8k:pca8"]["info"]["band_hz"] == 4000 and reps["teacher_16k:pca8"]["info"]["band_hz"] == 8000
