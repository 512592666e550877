"""sea.evaluate.report: Pareto front, markdown tables and PNG plots from report dicts."""

from __future__ import annotations

import numpy as np
import pytest

from sea.evaluate import report as R


def _report():
    """A hand-written report.json dict with two models, two classifiers and three folds."""

    def clf(accs, cm):
        a = np.asarray(accs)
        return {
            "classifier": "mlp",
            "pooling": "mean",
            "train_seconds": 1.0,
            "confusion": cm,
            "scores": {"accuracy": {"mean": float(a.mean()), "std": float(a.std()), "per_fold": accs}},
            "folds": [],
        }

    cost = {
        "params": 1000,
        "macs": 2_000_000,
        "weight_bytes_fp32": 4000,
        "weight_bytes_int8": 1100,
        "peak_activation_bytes_fp32": 800,
        "peak_activation_bytes_int8": 200,
    }
    return {
        "format": "sea-eval-report",
        "dataset": {
            "name": "toy",
            "protocol": "folds",
            "n_clips": 12,
            "n_classes": 2,
            "class_names": ["a", "b"],
            "multilabel": False,
            "splits": [{"test_fold": f, "name": f"fold{f}"} for f in (1, 2, 3)],
        },
        "primary": {"classifier": "mlp", "metric": "accuracy"},
        "config": {"hop_size": 0.1, "center": True, "min_threshold": 0.01},
        "timing": {"embed_seconds": 1.0, "train_seconds": 2.0},
        "models": {
            "teacher": {
                "kind": "teacher",
                "dim": 512,
                "cost": {**cost, "macs": 10**9, "weight_bytes_int8": 10**6},
                "classifiers": {
                    "mlp": clf([0.9, 1.0, 0.8], [[6, 0], [1, 5]]),
                    "logreg": clf([0.7, 0.8, 0.9], [[5, 1], [1, 5]]),
                },
            },
            "s3": {
                "kind": "student",
                "dim": 64,
                "cost": cost,
                "fidelity": {"cka": 0.5, "cosine": 0.9, "r2": 0.7, "agreement": {"mlp": 0.75}},
                "classifiers": {
                    "mlp": clf([0.5, 0.6, 0.7], [[4, 2], [2, 4]]),
                    "logreg": clf([0.5, 0.5, 0.5], [[3, 3], [3, 3]]),
                },
            },
        },
    }


def test_pareto_front():
    rows = [
        {"m": "a", "x": 10, "y": 0.9},
        {"m": "b", "x": 1, "y": 0.5},
        {"m": "c", "x": 5, "y": 0.4},  # dominated by b
        {"m": "d", "x": 5, "y": 0.7},
        {"m": "e", "x": 20, "y": 0.9},  # dominated by a (same y, larger x)
        {"m": "f", "x": None, "y": 1.0},  # ignored
    ]
    assert [rows[i]["m"] for i in R.pareto_front(rows, "x", "y")] == ["b", "d", "a"]
    assert [rows[i]["m"] for i in R.pareto_front(rows, "x", "y", minimize_x=False)] == ["e"]


def test_markdown_tables():
    rep = _report()
    table = R.results_table(rep)
    assert "| `teacher` | 512 | 0.900 ± 0.082 |" in table
    assert "| 1.00 k | 2.00 M |" in table and "| 0.500 | 0.900 | 0.700 | 0.750 |" in table  # cost, CKA, cos, R2, agree
    md = R.classifier_table(rep)
    assert "logreg" in md and "(1.0 s)" in md
    summary = R.summary_markdown([rep])
    assert "toy (accuracy)" in summary and "`s3`" in summary
    assert R.fmt_bytes(1536) == "1.5 KiB" and R.fmt_count(2_500_000) == "2.50 M"
    assert "| 1.1 KiB |" in table and " KB" not in table  # one unit convention: KiB


def test_every_table_column_has_a_legend(tmp_path):
    """Issue 19 §2: every column of report.md's tables is explained under it."""
    rep = _report()
    R.write_markdown(tmp_path / "report.md", rep)
    md = (tmp_path / "report.md").read_text()
    header = R.results_table(rep).splitlines()[0]
    columns = [c.strip() for c in header.strip("|").split("|")]
    legend = md.split("Columns:")[1]
    for col in columns:
        if col.startswith(("mlp ", "logreg ")):
            col = "<classifier> <metric>"
        elif col in ("weights fp32", "weights int8"):
            col = "weights fp32 / int8"
        elif col in ("peak act fp32", "peak act int8"):
            col = "peak act fp32 / int8"
        assert f"**{col}**" in legend, col
    assert md.count("Columns:") >= 3  # results, classifiers, per fold
    summary = R.summary_markdown([rep])
    assert "Columns:" in summary and "**<dataset> (<metric>)**" in summary


def test_report_header_names_corpus_teacher_and_notes():
    rep = _report()
    rep["dataset"].update(path="/data/us8k", kind="urbansound8k", n_recordings=65, protocol_detail={"description": "d"})
    rep["distillation_corpus"] = {"path": "/runs/x", "kind": "folder", "n_clips": 100, "allow_overlap": False}
    rep["teacher"] = {
        "family": "edgel3",
        "name": "sea_ust_64",
        "weights_sha256": "ab" * 32,
        "sr": 8000,
        "window_size": 1.0,
    }
    rep["notes"] = ["OVERLAP ALLOWED: x"]
    lines = "\n".join(R.header_lines(rep))
    assert "evaluated on: **toy** (urbansound8k, 12 clips, 65 recordings" in lines
    assert "specialised on: the folder corpus at `/runs/x` (100 clips)" in lines
    assert "teacher: edgel3 `sea_ust_64`; weights sha256 abababababab…; 8000 Hz, 1-s windows" in lines
    assert "**note:** OVERLAP ALLOWED" in lines and "UNTRAINED" not in lines
    rep["teacher"]["untrained"] = True
    assert "**UNTRAINED (random weights)**" in "\n".join(R.header_lines(rep))


def _all_figures(rep):
    rows = R.report_rows(rep)
    return [
        R.plot_score_vs_cost(rep, "weight_bytes_int8"),
        R.plot_score_vs_cost(rep, "macs"),
        R.plot_per_fold(rep),
        R.plot_classifier_comparison(rep),
        R.plot_confusion(rep, "teacher"),
        R.plot_pareto(rows, "weight_bytes_int8", "score"),
    ]


def test_untrained_teacher_marked_on_every_plot():
    pytest.importorskip("matplotlib")
    rep = _report()
    for fig in _all_figures(rep):
        assert fig._suptitle is None or "UNTRAINED" not in fig._suptitle.get_text()
    rep["teacher"] = {"family": "openl3", "name": "mel256_music_512", "untrained": True}
    for fig in _all_figures(rep):
        assert fig._suptitle is not None and "UNTRAINED TEACHER" in fig._suptitle.get_text()


def test_teacher_and_teacher_pca_labels_do_not_overlap():
    """The teacher and its PCA sit at almost the same cost and score: their labels must stay apart."""
    pytest.importorskip("matplotlib")
    rep = _report()
    t = rep["models"]["teacher"]
    for k, name in enumerate(("teacher_pca:pca64_random", "teacher_pca:pca128_random", "teacher_pca:pca256_random")):
        rep["models"][name] = {
            **t,
            "kind": "teacher_pca",
            "cost": {**t["cost"], "macs": t["cost"]["macs"] + 33_000 * (k + 1)},
        }
    rows = [r for r in R.report_rows(rep) if r["classifier"] == "mlp"]
    for fig in (R.plot_score_vs_cost(rep, "macs"), R.plot_pareto(rows, "macs", "score")):
        renderer = fig.canvas.get_renderer()
        texts = [a for a in fig.axes[0].texts if a.get_text().startswith("teacher")]
        assert len(texts) == 4
        boxes = [a.get_window_extent(renderer) for a in texts]
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                assert not boxes[i].overlaps(boxes[j]), (texts[i].get_text(), texts[j].get_text())


def test_plots_write_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    rep = _report()
    paths = R.write_plots(tmp_path, rep)
    names = sorted(p.name for p in paths)
    assert names == sorted(
        [
            "score_vs_weight_bytes.png",
            "score_vs_macs.png",
            "per_fold.png",
            "classifiers.png",
            "confusion_teacher.png",
            "confusion_s3.png",
        ]
    )
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = R.plot_confusion(rep, "s3", normalize=False)
    img = fig.axes[0].images[0].get_array()
    np.testing.assert_array_equal(np.asarray(img), [[4, 2], [2, 4]])
    fig = R.plot_score_vs_cost(rep, "macs")
    assert fig.axes[0].get_xscale() == "log"
    rows = [
        {"model": "a", "weight_bytes_int8": 100, "score": 0.5},
        {"model": "b", "weight_bytes_int8": 1000, "score": 0.9},
    ]
    fig = R.plot_pareto(rows)
    assert len(fig.axes[0].lines) >= 1  # the front's step line
    R.write_markdown(tmp_path / "report.md", rep)
    assert "![per_fold.png](per_fold.png)" in (tmp_path / "report.md").read_text()


def test_report_module_imports_no_matplotlib_at_import():
    import subprocess
    import sys

    code = "import sys, sea.evaluate.report, sea.evaluate; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
