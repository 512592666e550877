"""Execute the notebooks on a small synthetic evaluated run (nbclient)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.notebooks

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory):
    import torch

    from sea.evaluate import EvalConfig, evaluate, model_from_callable
    from sea.evaluate.demo import StandinTeacher, broken_student, make_demo_run

    torch.set_num_threads(1)
    run = make_demo_run(
        tmp_path_factory.mktemp("nb") / "run",
        n_clips=16,
        n_folds=4,
        pca_dims=(4, 8),
        students={"s3_random": ("sea_student_3_lin", 8), "s2_random": ("sea_student_2_lin", 4)},
    )
    # an nn.Module stand-in teacher gets a cost, so teacher_pca points land on the Pareto plots
    teacher = model_from_callable("teacher", StandinTeacher(32), sr=48000, kind="teacher")
    cfg = EvalConfig(
        models=("teacher", "teacher_pca:pca4", "teacher_pca:pca8", "s3_random", "s2_random", "broken"),
        hop_size=0.5,
        mlp_epochs=10,
        mlp_lr=1e-3,
        mlp_hidden=(32,),
        classifiers=("mlp", "logreg"),
    )
    evaluate(run, cfg, models={"teacher": teacher, "broken": broken_student()})
    return run


@pytest.mark.parametrize("name", ["01_downstream_classifiers.ipynb", "02_compression_tradeoffs.ipynb"])
def test_notebook_executes(name, evaluated_run, monkeypatch, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("SEA_RUN_DIR", str(evaluated_run))
    monkeypatch.setenv("SEA_NO_PROGRESS", "1")
    monkeypatch.delenv("SEA_RUN_DIRS", raising=False)
    monkeypatch.delenv("SEA_DATASET", raising=False)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert "parameters" in nb.cells[0].metadata.get("tags", [])
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # the plots rendered
    text = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/markdown", "")) for o in outputs)
    assert "s3_random" in text and "teacher" in text
