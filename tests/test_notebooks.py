"""Execute the notebooks as a user does: from the repository root, SEA_RUN_DIR relative, on a tiny evaluated run."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.notebooks

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"


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


@pytest.fixture
def in_repo_runs(evaluated_run):
    """``runs/<unique>`` under the repository root, pointing at the evaluated run (runs/ is git-ignored)."""
    link = REPO / "runs" / f"_nbtest-{uuid.uuid4().hex[:8]}"
    link.parent.mkdir(exist_ok=True)
    link.symlink_to(evaluated_run, target_is_directory=True)
    yield link.relative_to(REPO)
    link.unlink()


def _execute(name, monkeypatch, cwd: Path, run_dir: str | None):
    """Run a notebook as `jupyter nbconvert --execute` started in ``cwd`` would: the kernel in notebooks/."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.chdir(cwd)
    monkeypatch.setenv("PWD", str(cwd))  # what the user's shell exports to Jupyter and its kernels
    monkeypatch.setenv("SEA_NO_PROGRESS", "1")
    for var in ("SEA_RUN_DIRS", "SEA_DATASET", "SEA_RUN_DIR"):
        monkeypatch.delenv(var, raising=False)
    if run_dir is not None:
        monkeypatch.setenv("SEA_RUN_DIR", run_dir)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert "parameters" in nb.cells[0].metadata.get("tags", [])
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
    return nb, client


def _outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


@pytest.mark.claim
@pytest.mark.parametrize("name", ["01_downstream_classifiers.ipynb", "02_compression_tradeoffs.ipynb"])
def test_notebook_executes_from_repo_root(name, in_repo_runs, monkeypatch):
    assert not (NOTEBOOKS / in_repo_runs).exists()  # so the path only resolves against the caller's directory
    nb, client = _execute(name, monkeypatch, REPO, str(in_repo_runs))
    client.execute()
    outputs = _outputs(nb)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # the plots rendered
    text = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/markdown", "")) for o in outputs)
    assert "s3_random" in text and "teacher" in text
    assert "KB" not in text.replace("KiB", "")  # one unit convention


def test_notebook_default_is_the_quickstart_run(evaluated_run, monkeypatch, tmp_path):
    """Without SEA_RUN_DIR the notebooks read runs/quickstart of the directory Jupyter was started in."""
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "quickstart").symlink_to(evaluated_run, target_is_directory=True)
    nb, client = _execute("02_compression_tradeoffs.ipynb", monkeypatch, tmp_path, None)
    client.execute()
    assert not [o for o in _outputs(nb) if o.get("output_type") == "error"]
    assert "1 evaluation report(s): run" in "".join(str(o.get("text", "")) for o in _outputs(nb))


@pytest.mark.parametrize("name", ["01_downstream_classifiers.ipynb", "02_compression_tradeoffs.ipynb"])
def test_notebook_with_nothing_to_show_says_what_to_run(name, monkeypatch, tmp_path):
    """An empty run (or none at all): one message saying what to run, never '0 evaluations' or empty plots."""
    from nbclient.exceptions import CellExecutionError

    (tmp_path / "runs" / "empty").mkdir(parents=True)
    for run_dir in ("runs/empty", "runs/missing"):
        nb, client = _execute(name, monkeypatch, tmp_path, run_dir)
        with pytest.raises(CellExecutionError):
            client.execute()
        (err,) = [o for o in _outputs(nb) if o.get("output_type") == "error"]
        assert err["ename"] == "NothingToShowError" and "make demo" in err["evalue"]
        assert err["evalue"].startswith("nothing to show") and str(tmp_path) in err["evalue"]
        assert len(err["traceback"]) == 1  # one message, no traceback
        assert not [o for o in _outputs(nb) if "image/png" in o.get("data", {})]
        assert "0 evaluation" not in str(err)
    assert os.getcwd() == str(tmp_path)
