"""`sea run`: config validation, an end-to-end tiny run through every stage, caching and resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from sea.errors import ConfigError, UntrainedTeacherWarning
from sea.utils import read_json

ROOT = Path(__file__).resolve().parents[2]

# every stage, as small as it gets: 20 synthetic 2-s clips, hop 1 s, the cheapest teacher
TINY = {
    "seed": 0,
    "data": {"dataset": "synthetic", "n_clips": 20, "duration": 2.0},
    "teacher": {"input_repr": "mel128", "content_type": "music", "embedding_size": 512, "hop_size": 1.0,
                "untrained_teacher": "auto", "batch_size": 16},
    "targets": {"method": "pca", "dim": 8, "sampler": "random"},
    "students": [{"student": "sea_mcu_xs", "student_args": {"out_dim": 8}}],
    "distill": {"epochs": 3, "patience": 10, "batch_size": 16, "lr": 0.001},
    # evaluates on its own data: a transductive smoke run, so the overlap guard must be told
    "evaluate": {"classifiers": ["logreg"], "hop_size": 1.0, "protocol": "kfold", "n_folds": 2, "allow_overlap": True},
    "export": {"int8": True, "formats": ["onnx", "tflite", "mcu", "pi"], "n_calibration": 16, "n_parity": 8,
               "n_parity_tflm": 2, "latency_repeats": 3, "teacher_latency": False,
               "int8_cosine": 0.9},  # 16 calibration windows from 20 clips: a held-out outlier clips; quickstart checks 0.99
}  # fmt: skip


def write_config(path: Path, run_dir: Path, **changes) -> Path:
    cfg = json.loads(json.dumps(TINY))
    for key, value in changes.items():
        section, _, sub = key.partition("__")
        if sub:
            cfg[section][sub] = value
        else:
            cfg[section] = value
    cfg["run_dir"] = str(run_dir)
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("SEA_OFFLINE", "1")
    monkeypatch.setenv("SEA_NO_PROGRESS", "1")


# -- validation -------------------------------------------------------------------------------


def test_typo_in_top_level_key_lists_valid_keys(tmp_path):
    from sea.pipeline import load_run_config

    cfg = write_config(tmp_path / "c.yaml", tmp_path / "run")
    data = yaml.safe_load(cfg.read_text())
    data["distil"] = data.pop("distill")
    cfg.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"'distil'.*valid keys are: run_dir, seed, data, teacher, targets"):
        load_run_config(cfg)


@pytest.mark.parametrize(
    ("section", "key", "where"),
    [
        ("distill", "learning_rate", "'distill'"),
        ("teacher", "hopsize", "teacher"),
        ("evaluate", "classifier", "evaluate"),
        ("export", "int_8", "export"),
        ("data", "nclips", "data"),
        ("targets", "dims", "targets[0]"),
    ],
)
def test_typo_in_a_section_names_it_and_lists_valid_keys(tmp_path, section, key, where):
    from sea.pipeline import load_run_config

    cfg = write_config(tmp_path / "c.yaml", tmp_path / "run", **{f"{section}__{key}": 1})
    with pytest.raises(ConfigError) as err:
        load_run_config(cfg)
    msg = str(err.value)
    assert where in msg and repr(key) in msg and "valid keys are:" in msg
    if section == "data":
        assert "n_clips" in msg  # the synthetic generation keys are listed too


def test_bad_values_are_refused_before_anything_runs(tmp_path):
    from sea.pipeline import load_run_config

    run = tmp_path / "run"
    with pytest.raises(ConfigError, match="not_a_student|unknown student|registry"):
        load_run_config(write_config(tmp_path / "a.yaml", run, students=["not_a_student"]))
    with pytest.raises(ConfigError, match="pca8_random"):
        load_run_config(write_config(tmp_path / "b.yaml", run, students=[{"student": "sea_mcu_xs", "targets": "pca9"}]))
    with pytest.raises(ConfigError, match=r"64-d.*8-d.*out_dim: 8"):
        load_run_config(write_config(tmp_path / "e.yaml", run, students=["sea_mcu_xs"]))
    with pytest.raises(ConfigError, match="untrained_teacher"):
        load_run_config(write_config(tmp_path / "c.yaml", run, teacher__untrained_teacher="sometimes"))
    with pytest.raises(ConfigError, match="n_clips.*synthetic"):
        load_run_config(
            write_config(tmp_path / "d.yaml", run, data={"dataset": "folder", "raw_dir": str(tmp_path), "n_clips": 3})
        )
    with pytest.raises(ConfigError, match=r"targets\[0\].*600.*512"):
        load_run_config(write_config(tmp_path / "f.yaml", run, targets={"method": "pca", "dim": 600}))
    assert not run.exists()  # validation happens before any stage


def test_overlap_guard_refuses_before_any_teacher_frame(tmp_path):
    """Evaluating on the distillation corpus itself (no evaluate.datasets) is refused unless allow_overlap."""
    from sea.pipeline import load_run_config

    run = tmp_path / "run"
    evaluate = {k: v for k, v in TINY["evaluate"].items() if k != "allow_overlap"}
    plan = load_run_config(write_config(tmp_path / "c.yaml", run, evaluate=evaluate))
    with pytest.raises(ConfigError, match=r"shares the audio of 20 of its 20 clips.*allow_overlap: true"):
        _run(plan)
    assert (run / "clips.jsonl").is_file() and not (run / "teacher").exists()  # refused after prepare, before teacher

    # the same corpus named as an evaluation dataset is caught by md5, under another folder
    same = {"dataset": "synthetic", "n_clips": 20, "duration": 2.0, "synth_seed": 0, "name": "again"}
    plan = load_run_config(
        write_config(tmp_path / "d.yaml", tmp_path / "run2", evaluate={**evaluate, "datasets": [same]})
    )
    with pytest.raises(ConfigError, match=r"'again' shares the audio of 20 of its 20 clips"):
        _run(plan)
    # another seed is other audio: no overlap
    other = {**same, "synth_seed": 1, "name": "other"}
    plan = load_run_config(
        write_config(tmp_path / "e.yaml", tmp_path / "run3", evaluate={**evaluate, "datasets": [other]})
    )
    _run(plan, stop="prepare")
    from sea.pipeline import check_overlap

    assert check_overlap(plan) == {"other": 0}
    assert (tmp_path / "run3" / "datasets" / "other" / "clips.jsonl").is_file()

    # one set, split by folds: the corpus takes folds 1-5, the evaluation the others (this set has no fold 8)
    plan = load_run_config(
        write_config(
            tmp_path / "g.yaml",
            tmp_path / "run4",
            data={**TINY["data"], "folds": [1, 2, 3, 4, 5]},
            evaluate={**evaluate, "datasets": [{**same, "name": "held_out", "folds": [6, 7, 9, 10]}]},
        )
    )
    _run(plan, stop="prepare")
    assert check_overlap(plan) == {"held_out": 0}
    from sea.manifest import read_manifest

    corpus, held_out = read_manifest(tmp_path / "run4"), read_manifest(tmp_path / "run4" / "datasets" / "held_out")
    assert {r.fold for r in corpus} <= {1, 2, 3, 4, 5} and {r.fold for r in held_out} <= {6, 7, 8, 9, 10}
    assert len(corpus) + len(held_out) == 20


def test_eval_datasets_validate_with_their_section_named(tmp_path):
    from sea.pipeline import load_run_config

    bad = {**TINY["evaluate"], "datasets": [{"dataset": "synthetic", "n_clip": 3}]}
    with pytest.raises(ConfigError, match=r"evaluate.datasets\[0\].*'n_clip' \(did you mean 'n_clips'\?\)"):
        load_run_config(write_config(tmp_path / "a.yaml", tmp_path / "run", evaluate=bad))
    with pytest.raises(ConfigError, match="allow_overlap"):
        load_run_config(write_config(tmp_path / "b.yaml", tmp_path / "run", evaluate__allow_overlap="maybe"))


def test_cli_typo_exit_code_and_one_line(tmp_path):
    cfg = write_config(tmp_path / "c.yaml", tmp_path / "run", distill__epoch=3)
    p = subprocess.run(
        [sys.executable, "-m", "sea", "run", str(cfg)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert p.returncode == 1
    assert p.stderr.startswith("error: ") and "'epoch'" in p.stderr and "valid keys are:" in p.stderr
    assert "Traceback" not in p.stderr


def test_shipped_configs_validate(tmp_path):
    from sea.pipeline import load_run_config

    for name in sorted(p.name for p in (ROOT / "configs").glob("*.yaml")):
        plan = load_run_config(ROOT / "configs" / name, run_dir=tmp_path / name)
        assert plan.students and plan.targets
        for s in plan.students:
            assert s.targets in plan.target_names()
    qs = load_run_config(ROOT / "configs" / "quickstart.yaml", run_dir=tmp_path / "qs")
    assert qs.untrained == "auto" and qs.export.int8
    assert {"sea_student_3_lin"} <= set(qs.student_names())
    assert any(n.startswith("sea_mcu") for n in qs.student_names())


@pytest.mark.claim
def test_sea_paper_config_checks_offline_and_prints_the_plan():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SEA_OFFLINE": "1"}
    p = subprocess.run(
        [sys.executable, "-m", "sea", "run", "configs/sea_paper.yaml", "--check"], cwd=ROOT, env=env,
        capture_output=True, text=True,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    plan = json.loads(p.stdout)
    assert [d["name"] for d in plan["evaluate"]["datasets"]] == ["us8k", "esc50", "sonyc_ust"]
    assert {t["sampler"] for t in plan["targets"] if t["method"] == "pca"} == {"random", "spl", "dpp_div", "dpp"}
    assert {t["dim"] for t in plan["targets"] if t["method"] == "pca"} == {64, 128, 256}
    names = [s["student"] for s in plan["students"]]
    assert {"sea_student_0", "sea_student_1", "sea_student_2", "sea_student_3"} <= set(names)
    assert {"sea_student_1_lin", "sea_student_2_lin", "sea_student_3_lin"} <= set(names)
    assert not (ROOT / "runs" / "sea_paper").exists()  # --check runs nothing


# -- end to end ------------------------------------------------------------------------------


def _run(plan, **kw):
    from sea.pipeline import run_pipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_pipeline(plan, **kw)


def _ends(run: Path) -> dict[str, str]:
    out = {}
    for p in sorted(run.rglob("stage.json")):
        out[str(p.parent.relative_to(run))] = read_json(p)["finished"]
    assert out and all(out.values())
    return out


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    """One tiny end-to-end run shared by the tests below (~1-2 min on 2 cores)."""
    import torch

    from sea.pipeline import load_run_config

    torch.set_num_threads(2)
    tmp = tmp_path_factory.mktemp("pipeline")
    cfg = write_config(tmp / "tiny.yaml", tmp / "run")
    os.environ["SEA_OFFLINE"] = "1"
    plan = load_run_config(cfg)
    with pytest.warns(UntrainedTeacherWarning):
        from sea.pipeline import run_pipeline

        summary = run_pipeline(plan)
    return tmp, cfg, plan, summary


def test_end_to_end_every_stage(e2e):
    tmp, cfg, plan, summary = e2e
    run = plan.run_dir
    assert (run / "clips.jsonl").is_file() and (run / "audio" / "8000" / "samples.f32").is_file()
    assert (run / "teacher" / "mel128_music_512" / "stage.json").is_file()
    assert (run / "targets" / "pca8_random" / "reducer.npz").is_file()
    assert (run / "students" / "sea_mcu_xs" / "best.pt").is_file()
    assert (run / "eval" / "report.json").is_file()
    exp = run / "export" / "sea_mcu_xs"
    for name in ("model_int8.tflite", "model_fp32.onnx", "footprint.json", "parity.json"):
        assert (exp / name).is_file(), name
    assert (exp / "pi" / "sea_edge.py").is_file() and (exp / "mcu").is_dir()
    # a deployable linear head from the evaluation: downstream parity and labels on the Pi
    head = np.load(exp / "pi" / "classifier.npz")
    n_classes = len({r["label"] for r in map(json.loads, (run / "clips.jsonl").read_text().splitlines())})
    assert head["W"].shape == (8, n_classes) and len(head["labels"]) == n_classes
    down = read_json(exp / "parity.json")["downstream"]
    assert down["reference_accuracy"] is not None and "model_int8.tflite|ai-edge-litert" in down
    # the summary table: one row per model, with the student's footprint filled from the export
    rows = {r["model"]: r for r in summary["rows"]}
    assert {"teacher", "teacher_pca:pca8_random", "sea_mcu_xs"} <= set(rows) or {"teacher", "sea_mcu_xs"} <= set(rows)
    st = rows["sea_mcu_xs"]
    assert st["score"] is not None and 0.0 <= st["score"] <= 1.0
    assert st["weight_bytes"] == (exp / "model_int8.tflite").stat().st_size
    assert st["arena_bytes"] and st["arena_bytes"] < 64 * 1024
    assert st["macs"] and st["macs"] < 20e6
    assert st["latency_ms"] and st["latency_ms"] > 0
    assert st["distill_r2"] is not None
    assert summary["teacher_untrained"] is True
    md = (run / "summary.md").read_text()
    assert "UNTRAINED" in md and "sea_mcu_xs" in md and str(exp / "pi") in md
    assert read_json(run / "summary.json")["rows"] == json.loads(json.dumps(summary["rows"]))


def test_synthetic_run_teacher_above_chance_broken_student_lower(e2e):
    """On the synthetic dataset with the real (untrained) OpenL3 code, the teacher's embedding separates the
    classes well above chance, and a student with random weights does clearly worse under the same protocol."""
    from sea.evaluate import EvalConfig, evaluate, load_report
    from sea.evaluate.demo import broken_student
    from sea.manifest import read_manifest

    _, _, plan, _ = e2e
    run = plan.run_dir
    n_classes = len({r.label for r in read_manifest(run)})
    chance = 1.0 / n_classes
    out = evaluate(
        run,
        EvalConfig(
            models=("teacher", "broken"),
            dataset_name="broken_check",
            classifiers=("logreg",),
            hop_size=1.0,
            protocol="kfold",
            n_folds=2,
            untrained_teacher=True,
            teacher="mel128_music_512",
            plots=False,
        ),
        models={"broken": broken_student(out_dim=8)},
    )
    assert out.name == "broken_check"
    rep = load_report(run, "broken_check")
    acc = {m: rep["models"][m]["classifiers"]["logreg"]["scores"]["accuracy"]["mean"] for m in ("teacher", "broken")}
    assert acc["teacher"] >= chance + 0.3, (acc, chance)
    assert acc["broken"] <= acc["teacher"] - 0.2, acc


def test_rerun_is_a_noop_and_a_distill_change_reruns_only_downstream(e2e):
    from sea.pipeline import load_run_config

    tmp, cfg, plan, _ = e2e
    run = plan.run_dir
    before = _ends(run)
    summary = _run(load_run_config(cfg))
    assert _ends(run) == before  # nothing redone
    assert all("up to date" in v for v in summary["stages"].values()), summary["stages"]

    changed = write_config(tmp / "tiny2.yaml", run, distill__epochs=2)
    _run(load_run_config(changed))
    after = _ends(run)
    for key in ("teacher/mel128_music_512", "targets/pca8_random", "."):
        assert after[key] == before[key], key  # upstream untouched
    for key in ("students/sea_mcu_xs", "export/sea_mcu_xs"):
        assert after[key] != before[key], key  # the changed stage and everything after it
    assert any(k.startswith("eval/") and after[k] != before[k] for k in after)


def test_from_to_and_overwrite(e2e):
    from sea.pipeline import load_run_config

    tmp, cfg, plan, _ = e2e
    run = plan.run_dir
    before = _ends(run)
    summary = _run(load_run_config(cfg), start="targets", stop="targets", overwrite=("targets",))
    assert list(summary["stages"]) == ["targets"]
    after = _ends(run)
    assert after["targets/pca8_random"] != before["targets/pca8_random"]
    assert after["teacher/mel128_music_512"] == before["teacher/mel128_music_512"]
    with pytest.raises(ConfigError, match="comes after"):
        _run(load_run_config(cfg), start="export", stop="prepare")
    with pytest.raises(ConfigError, match="not a stage"):
        _run(load_run_config(cfg), overwrite=("distil",))


@pytest.mark.slow
def test_sigkill_during_distill_resumes_to_the_same_result(tmp_path):
    """Kill `sea run` while it distils, re-run: no re-extraction, same result as an uninterrupted run."""
    from sea.pipeline import load_run_config

    changes = {"distill__epochs": 6, "distill__patience": 100, "export": None}
    ref_cfg = write_config(tmp_path / "ref.yaml", tmp_path / "ref", **changes)
    _run(load_run_config(ref_cfg))
    ref = tmp_path / "ref"

    run = tmp_path / "killed"
    cfg = write_config(tmp_path / "killed.yaml", run, **changes)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SEA_OFFLINE": "1", "SEA_NO_PROGRESS": "1", "OMP_NUM_THREADS": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "sea", "-q", "run", str(cfg)], cwd=ROOT, env=env)
    ckpt = run / "students" / "sea_mcu_xs" / "ckpt.pt"
    deadline = time.time() + 600
    while not ckpt.is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "students" / "sea_mcu_xs" / "fidelity.json").is_file()
    teacher_end = read_json(run / "teacher" / "mel128_music_512" / "stage.json")["finished"]
    p = subprocess.run([sys.executable, "-m", "sea", "-q", "run", str(cfg)], cwd=ROOT, env=env)
    assert p.returncode == 0
    assert read_json(run / "teacher" / "mel128_music_512" / "stage.json")["finished"] == teacher_end  # not redone
    a = read_json(ref / "students" / "sea_mcu_xs" / "fidelity.json")
    b = read_json(run / "students" / "sea_mcu_xs" / "fidelity.json")
    ka = {k: v for k, v in a.items() if isinstance(v, float)}
    kb = {k: v for k, v in b.items() if isinstance(v, float)}
    assert ka.keys() == kb.keys() and ka
    for k in ka:
        assert np.isclose(ka[k], kb[k], rtol=1e-4, atol=1e-6), (k, ka[k], kb[k])
    ra = {r["model"]: r["score"] for r in read_json(ref / "summary.json")["rows"]}
    rb = {r["model"]: r["score"] for r in read_json(run / "summary.json")["rows"]}
    assert ra.keys() == rb.keys()
    for k in ra:
        assert ra[k] == pytest.approx(rb[k], abs=1e-6), k
    shutil.rmtree(ref, ignore_errors=True)


def test_a_wider_band_student_gets_its_audio_cache_and_a_matching_online_teacher(tmp_path):
    """``sr: 24000`` on a student: the run caches 24 kHz audio for it (and its evaluation sets follow the run's
    rates); an online teacher at another rate is refused before any stage."""
    from sea.pipeline import load_run_config

    wide = [{"student": "sea_mcu_xs", "student_args": {"out_dim": 8}, "sr": 24000},
            {"student": "sea_mcu_s", "student_args": {"out_dim": 8}}]  # fmt: skip
    plan = load_run_config(write_config(tmp_path / "a.yaml", tmp_path / "run", students=wide))
    assert plan.prepare.cache_srs == (48000, 24000, 8000) and [s.sr for s in plan.students] == [24000, 8000]
    with pytest.raises(ConfigError, match=r"lacks \[24000\] Hz"):
        load_run_config(write_config(tmp_path / "b.yaml", tmp_path / "run2", students=wide,
                                     data__cache_srs=[48000, 8000]))  # fmt: skip
    online = [{"student": "sea_mcu_xs", "student_args": {"out_dim": 8}, "sr": 16000, "online_teacher": True}]
    with pytest.raises(ConfigError, match=r"sr: 16000.*runs at 8000 Hz.*set sr: 8000"):
        load_run_config(write_config(tmp_path / "c.yaml", tmp_path / "run3", teacher={"model": "edgel3", "name": "sea_ust_64"},
                                     students=online))  # fmt: skip
    assert not (tmp_path / "run").exists()


def test_several_teachers_get_their_own_targets_students_and_evaluations(tmp_path):
    from sea.pipeline import load_run_config

    teachers = [
        {"input_repr": "mel128", "content_type": "music", "embedding_size": 512, "untrained_teacher": True},
        {"model": "edgel3", "name": "sea_ust_64"},
    ]
    targets = [{"method": "pca", "dim": 8}, {"method": "pca", "dim": 8, "teacher": "edgel3"}]
    students = [
        {"student": "sea_mcu_xs", "student_args": {"out_dim": 8}, "targets": "mel128_music_512_pca8_random"},
        {"student": "sea_mcu_s", "student_args": {"out_dim": 8}, "targets": "edgel3_sea_ust_64_pca8_random"},
    ]
    cfg = write_config(tmp_path / "c.yaml", tmp_path / "run", teacher=teachers, targets=targets, students=students)
    plan = load_run_config(cfg)
    assert plan.target_teachers == (0, 1)
    assert plan.prepare.cache_srs == (48000, 8000)  # OpenL3 reads 48 kHz, edgel3 and the students 8 kHz
    assert plan.student_teacher("sea_mcu_s") == 1
    assert [(e.name, e.teacher) for e in plan.evaluations()] == [
        ("run-mel128_music_512", 0), ("run-edgel3_sea_ust_64", 1)
    ]  # fmt: skip
    only_edgel3 = write_config(tmp_path / "d.yaml", tmp_path / "run2", teacher=teachers[1], targets={"method": "pca", "dim": 8},
                               students=[{"student": "sea_mcu_xs", "student_args": {"out_dim": 8}}])  # fmt: skip
    assert load_run_config(only_edgel3).prepare.cache_srs == (8000,)  # no 48 kHz cache for an 8 kHz teacher
    with pytest.raises(ConfigError, match=r"lacks \[8000\] Hz"):
        load_run_config(write_config(tmp_path / "e.yaml", tmp_path / "run3", data__cache_srs=[48000]))
    with pytest.raises(ConfigError, match=r"teacher='edgel4'.*did you mean 'edgel3"):
        bad = [{"method": "pca", "dim": 8, "teacher": "edgel4"}]
        load_run_config(write_config(tmp_path / "f.yaml", tmp_path / "run4", teacher=teachers, targets=bad))
