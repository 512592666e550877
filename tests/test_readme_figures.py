"""The README's result tables equal what sea renders from the committed run records (benchmarks/records)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("readme_figures", ROOT / "benchmarks" / "README_figures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.claim
def test_readme_figures_match_the_records():
    tool = _tool()
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    names = [m.group("name") for m in tool.BLOCK.finditer(text)]
    assert names, "the README has no generated figures block"
    for name in names:
        assert (tool.RECORDS / f"{name}.json").is_file(), f"no record for README block {name!r}"
    assert tool.main(["check"]) == 0, (
        "README.md drifted from benchmarks/records: run benchmarks/README_figures.py write"
    )


def test_check_fails_when_a_figure_drifts(tmp_path, monkeypatch):
    tool = _tool()
    rec = {"name": "demo", "command": "sea run demo.yaml", "recorded": "2026-01-01", "machine": {"cpu": "X", "cores": 2},
           "timing": {"wall_s": 60.0, "cpu_s": 100.0}, "rows": [{"model": "m", "metric": "accuracy", "score": 0.5,
           "std": 0.1, "fidelity_r2": None, "fidelity_cosine": None, "distill_r2": None, "int8_cosine": None,
           "parity_passed": None, "weight_bytes": 2048, "weight_kind": "int8 tflite", "arena_bytes": None,
           "macs": 1e6, "latency_ms": None}]}  # fmt: skip
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "demo.json").write_text(json.dumps(rec))
    readme = tmp_path / "README.md"
    monkeypatch.setattr(tool, "RECORDS", tmp_path / "records")
    monkeypatch.setattr(tool, "README", readme)
    readme.write_text("intro\n<!-- figures: demo -->\nold\n<!-- /figures -->\nend\n")
    assert tool.main(["check"]) == 1
    assert tool.main(["write"]) == 0 and tool.main(["check"]) == 0
    assert "2.0 KiB" in readme.read_text() and "0.500 ± 0.100" in readme.read_text()
    readme.write_text(re.sub(r"0\.500", "0.600", readme.read_text()))  # a hand-edited figure
    assert tool.main(["check"]) == 1
