"""Parity of exported artifacts with the PyTorch fp32 model, on held-out real windows.

Like optimum's ``validate_model_outputs``: every artifact is run in the runtime a
device would use, each comparison is logged with ``-[✓]`` / ``-[x]``, all failures
are gathered and one :class:`~sea.errors.ParityError` lists them with their tolerances.
"""

from __future__ import annotations

import logging

import numpy as np

from sea.errors import ParityError

log = logging.getLogger("sea.export")

__all__ = ["compare", "cosine_rows", "downstream_accuracy", "raise_failures", "tflite_runtime_status"]


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity; two all-zero rows count as identical (post-ReLU embeddings can be 0)."""
    a = np.asarray(a, np.float64).reshape(a.shape[0], -1)
    b = np.asarray(b, np.float64).reshape(b.shape[0], -1)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    cos = (a * b).sum(1) / np.maximum(na * nb, 1e-30)
    both_zero = (na < 1e-12) & (nb < 1e-12)
    cos[both_zero] = 1.0
    cos[(na < 1e-12) ^ (nb < 1e-12)] = 0.0
    return cos


def compare(ref: np.ndarray, out: np.ndarray, *, tolerance: float) -> dict:
    """Metrics of one artifact/runtime against the reference embeddings [n, D]."""
    if out.shape != ref.shape:
        return {
            "passed": False,
            "error": f"output shape {out.shape} != reference {ref.shape}",
            "tolerance_mean_cosine": tolerance,
        }
    if not np.all(np.isfinite(out)):
        return {"passed": False, "error": "non-finite outputs (NaN/inf)", "tolerance_mean_cosine": tolerance}
    cos = cosine_rows(ref, out)
    return {
        "n_windows": int(ref.shape[0]),
        "mean_cosine": float(cos.mean()),
        "min_cosine": float(cos.min()),
        "max_abs_diff": float(np.max(np.abs(ref - out))) if ref.size else 0.0,
        "mean_abs_diff": float(np.mean(np.abs(ref - out))) if ref.size else 0.0,
        "tolerance_mean_cosine": float(tolerance),
        "passed": bool(cos.mean() >= tolerance),
    }


def downstream_accuracy(emb: np.ndarray, labels: np.ndarray, head: dict) -> float | None:
    """Accuracy of a linear head (W [D, C] or [C, D], b [C]) on windows with known labels."""
    W, b = np.asarray(head["W"], np.float64), np.asarray(head.get("b", 0.0), np.float64)
    mask = labels >= 0
    if not mask.any():
        return None
    if W.shape[0] != emb.shape[1]:
        W = W.T
    pred = np.argmax(emb[mask] @ W + b, axis=1)
    return float(np.mean(pred == labels[mask]))


def tflite_runtime_status() -> dict:
    """Whether tflite-runtime is usable here (it needs numpy < 2; see edge_toolchain.md)."""
    try:
        from tflite_runtime.interpreter import Interpreter  # noqa: F401
    except Exception as exc:  # ImportError, or the numpy-1.x ABI error under numpy 2
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        if np.__version__.split(".")[0] >= "2":
            reason += (
                f"; tflite-runtime 2.14.0 (last release) is built against numpy 1.x and cannot run under numpy "
                f"{np.__version__}; ai-edge-litert is its drop-in replacement"
            )
        return {"available": False, "reason": reason}
    return {"available": True, "reason": ""}


def raise_failures(results: dict) -> None:
    """Log every comparison, then raise one ParityError listing all failures."""
    failures = []
    for key, r in results.items():
        if r.get("skipped"):
            log.info("\t-[-] %s: skipped (%s)", key, r["skipped"])
            continue
        if r.get("passed"):
            log.info(
                "\t-[✓] %s: mean cosine %.6f >= %.4f (min %.6f, max abs diff %.3g)",
                key,
                r["mean_cosine"],
                r["tolerance_mean_cosine"],
                r["min_cosine"],
                r["max_abs_diff"],
            )
        elif "error" in r:
            log.error("\t-[x] %s: %s", key, r["error"])
            failures.append(f"- {key}: {r['error']}")
        else:
            log.error(
                "\t-[x] %s: mean cosine %.6f < %.4f (min %.6f, max abs diff %.3g)",
                key,
                r["mean_cosine"],
                r["tolerance_mean_cosine"],
                r["min_cosine"],
                r["max_abs_diff"],
            )
            failures.append(
                f"- {key}: mean cosine {r['mean_cosine']:.6f} < tolerance {r['tolerance_mean_cosine']} "
                f"(min cosine {r['min_cosine']:.6f}, max abs diff {r['max_abs_diff']:.4g})"
            )
    if failures:
        raise ParityError(
            f"{len(failures)} exported artifact(s) disagree with the PyTorch fp32 model on held-out windows:\n"
            + "\n".join(failures)
            + "\nsee parity.json; for int8, try more --n-calibration windows, --calibrate-method entropy or QAT"
        )
