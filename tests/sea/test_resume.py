"""kill -9 at every long stage of a tiny `sea run`, then the same command again: it resumes, and the results
equal an uninterrupted run's (issue 18). The kill comes from sea's own fault hook (SEA_FAULT_KILL, see
sea/progress.py), at a known step of the stage's progress bar, so every case really dies mid-stage."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from sea.utils import read_json

ROOT = Path(__file__).resolve().parents[2]

CONFIG = {
    "seed": 0,
    "data": {"dataset": "synthetic", "n_clips": 16, "duration": 2.0},
    "teacher": {"input_repr": "mel128", "content_type": "music", "embedding_size": 512, "hop_size": 1.0,
                "untrained_teacher": True, "batch_size": 4, "shard_size": 8},
    "targets": {"method": "pca", "dim": 8, "sampler": "random", "batch_size": 16},
    "students": [{"student": "sea_mcu_xs", "student_args": {"out_dim": 8}}],
    "distill": {"epochs": 3, "patience": 10, "batch_size": 8, "lr": 0.001},
    "evaluate": {"classifiers": ["logreg"], "hop_size": 1.0, "protocol": "kfold", "n_folds": 2, "allow_overlap": True},
    "export": None,
}  # fmt: skip

# stage -> the progress bar to die in, and at which step
KILLS = {
    "prepare": "prepare synthetic:5",
    "teacher": "teacher mel128:12",
    "targets": "fit pca:1",
    "distill": "sea_mcu_xs 2/3:2",
    "evaluate": "embed sea_mcu_xs:8",
}

# files whose bytes are results (timings, logs and records with timestamps or absolute paths are not)
RESULT_GLOBS = ("clips.jsonl", "audio/*/samples.f32", "teacher/*/emb-*.npy", "targets/*/reducer.npz",
                "targets/*/sample_indices.npy")  # fmt: skip


def _sea(cfg: Path, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SEA_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1", **(env_extra or {})}
    env.pop("SEA_FAULT_KILL", None) if not env_extra else None
    return subprocess.run([sys.executable, "-m", "sea", "-q", "run", str(cfg)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)  # fmt: skip


def _write(path: Path, run: Path) -> Path:
    path.write_text(yaml.safe_dump({**CONFIG, "run_dir": str(run)}))
    return path


def _results(run: Path) -> dict[str, str]:
    """Hashes of the result files, of the students' weights and of the evaluation embeddings (their arrays)."""
    import torch

    out = {}
    for pattern in RESULT_GLOBS:
        for f in sorted(run.glob(pattern)):
            out[str(f.relative_to(run))] = hashlib.sha256(f.read_bytes()).hexdigest()
    for f in sorted(run.glob("students/*/best.pt")):
        sd = torch.load(f, weights_only=True)["state_dict"]
        h = hashlib.sha256()
        for k in sorted(sd):
            h.update(k.encode() + sd[k].numpy().tobytes())
        out[str(f.relative_to(run)) + ":weights"] = h.hexdigest()
    for f in sorted(run.glob("eval/*/emb/*.npz")):
        with np.load(f, allow_pickle=False) as z:  # "key" records the run's own file hashes: not a result
            h = hashlib.sha256()
            for k in sorted(k for k in z.files if k != "key"):
                h.update(k.encode() + z[k].tobytes())
        out[str(f.relative_to(run))] = h.hexdigest()
    return out


def _scores(run: Path) -> dict:
    return {r["model"]: r["score"] for r in read_json(run / "summary.json")["rows"]}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resume_ref")
    run = tmp / "run"
    r = _sea(_write(tmp / "c.yaml", run))
    assert r.returncode == 0, r.stderr[-2000:]
    return run


@pytest.mark.claim
@pytest.mark.parametrize("stage", list(KILLS))
def test_kill9_mid_stage_then_rerun_equals_an_uninterrupted_run(reference, tmp_path, stage):
    run = tmp_path / "run"
    cfg = _write(tmp_path / "c.yaml", run)
    killed = _sea(cfg, {"SEA_FAULT_KILL": KILLS[stage]})
    assert killed.returncode == -signal.SIGKILL, f"the run was not killed in {stage}: {killed.stderr[-1500:]}"
    again = _sea(cfg)
    assert again.returncode == 0, again.stderr[-2000:]
    ref, got = _results(reference), _results(run)
    assert ref.keys() == got.keys()
    assert {k for k in ref if ref[k] != got[k]} == set()
    a, b = _scores(reference), _scores(run)
    assert a.keys() == b.keys() and all(np.isclose(a[k], b[k], rtol=0, atol=0) for k in a), (a, b)
