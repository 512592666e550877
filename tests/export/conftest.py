"""Shared fixtures for the export tests: a tiny run, a random-weight student checkpoint, one export."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytest

from tests.conftest import make_run

HAVE_EXPORT = all(
    importlib.util.find_spec(m) is not None for m in ("onnxruntime", "litert_torch", "ai_edge_litert", "tflite_micro")
)
needs_export = pytest.mark.skipif(not HAVE_EXPORT, reason="needs the export extra: pip install -e '.[export]'")

for _name in ("jax", "root", "onnxscript", "onnx_ir", "torchao", "absl"):
    logging.getLogger(_name).setLevel(logging.ERROR)


def random_bn(model, seed: int = 0):
    """Give BatchNorm layers non-trivial statistics so BN folding is exercised (random weights otherwise)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model


def make_checkpoint(run: Path, name: str, seed: int = 0, *, window_size: float = 1.0, out_name: str | None = None,
                    sr: int = 8000) -> Path:  # fmt: skip
    """A random-weight student checkpoint in ``RUN/students/<out_name or name>/best.pt`` for ``window_size`` windows
    at ``sr`` Hz."""
    import torch

    from sea import students
    from sea.checkpoint import save_checkpoint
    from sea.layout import RunLayout
    from sea.students.frontend import frontend_params

    torch.manual_seed(seed)
    fe = frontend_params(window_size, sr)
    kwargs = {} if window_size == 1.0 else {"input_shape": tuple(fe["output_shape"])}
    m = random_bn(students.create(name, **kwargs).eval(), seed)
    path = RunLayout(run).checkpoint(out_name or name)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(
        path,
        {
            "model_name": name,
            "model_args": dict(getattr(m, "model_args", {})),
            "state_dict": m.state_dict(),
            "config": {},
            "target_spec": {"kind": "identity"},
            "teacher": {"variant": "test", "untrained": True},
            "frontend": fe,
        },
    )
    return path


def sea_cli(*args, env: dict | None = None, cwd=None, timeout: float = 600):
    """Run ``python -m sea ARGS`` in a subprocess (its own stderr, exit status and signals)."""
    import os
    import subprocess
    import sys

    full_env = {**os.environ, "SEA_NO_PROGRESS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "sea", *map(str, args)], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)  # fmt: skip


def small_config(**kw):
    from export import ExportConfig

    base = dict(
        int8=True,
        n_calibration=24,
        n_parity=12,
        n_parity_tflm=3,
        latency_repeats=3,
        teacher_latency=False,
        window_hop_size=0.5,
    )
    base.update(kw)
    return ExportConfig(**base)


@pytest.fixture(scope="session")
def export_run(tmp_path_factory) -> Path:
    """A 9-clip, 3-class, 2-s run with an 8 kHz cache (calibration + held-out clips)."""
    return make_run(tmp_path_factory.mktemp("exp") / "run", n_clips=9, srs=(8000,))


@pytest.fixture(scope="session")
def mcu_export(export_run) -> dict:
    """The smallest MCU student (random weights), exported with --int8 to every format."""
    if not HAVE_EXPORT:
        pytest.skip("needs the export extra")
    from export import export_student
    from sea.layout import RunLayout

    ckpt = make_checkpoint(export_run, "sea_mcu_xs")
    out = RunLayout(export_run).export("sea_mcu_xs")
    res = export_student(ckpt, out, small_config(calibration=str(export_run)))
    res["checkpoint"] = ckpt
    return res
