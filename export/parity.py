"""Parity of exported artifacts with the PyTorch fp32 model, on held-out real windows.

Like optimum's ``validate_model_outputs``: every artifact is run in the runtime a
device would use, each comparison is logged with ``-[✓]`` / ``-[x]``, all failures
are gathered and one :class:`~sea.errors.ParityError` lists them with their tolerances.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sea.errors import ExportError, ParityError

from .calibration import Windows
from .config import ExportConfig

log = logging.getLogger("sea.export")

__all__ = [
    "compare",
    "cosine_rows",
    "downstream",
    "downstream_accuracy",
    "measure",
    "parity_report",
    "raise_failures",
    "runtime_errors",
    "tflite_runtime_status",
]


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
    except (ImportError, AttributeError, RuntimeError) as exc:  # not installed, or its numpy-1.x ABI under numpy 2
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
        if r.get("skipped"):  # recorded in parity.json; not worth a line of its own (tflite-runtime under numpy 2)
            log.debug("\t-[-] %s: skipped (%s)", key, r["skipped"])
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


def runtime_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "this runtime cannot run this model": recorded as that artifact's parity failure.

    ai-edge-litert, tflite-runtime and tflite-micro raise ``RuntimeError`` / ``ValueError``; onnxruntime its own
    ``Fail`` / ``InvalidArgument`` / ``RuntimeException`` classes; sea raises :class:`~sea.errors.SeaError`. Anything
    else (``TypeError``, ``AttributeError``, ``KeyError``...) is a bug and propagates with its traceback.
    """
    from sea.errors import SeaError

    errors: tuple[type[BaseException], ...] = (RuntimeError, ValueError, OSError, MemoryError, SeaError)
    try:
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

        errors += tuple(getattr(ort_state, n) for n in ("Fail", "InvalidArgument", "RuntimeException",
                                                        "InvalidGraph", "NotImplemented") if hasattr(ort_state, n))  # fmt: skip
    except ImportError:
        pass
    return errors


class _Recorder:
    """Runs each artifact in a runtime and gathers the comparisons (a runtime's failure is recorded, not raised)."""

    def __init__(self, ref: np.ndarray):
        self.ref = ref
        self.results: dict[str, dict] = {}
        self.runs: dict[str, np.ndarray] = {}

    def record(self, name: str, runtime: str, fn: Callable[[], np.ndarray], tol: float) -> None:
        key = f"{name}|{runtime}"
        try:
            y = fn()
        except runtime_errors() as exc:  # the runtime refused the model: gathered, reported with the others
            self.results[key] = {
                "passed": False,
                "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
                "tolerance_mean_cosine": tol,
            }
            return
        self.runs[key] = y
        self.results[key] = compare(self.ref[: y.shape[0]], y, tolerance=tol)


def measure(
    ref: np.ndarray, artifacts: dict[str, Path], x_held: np.ndarray, config: ExportConfig
) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """Run every artifact in the runtimes a device would use and compare it with the PyTorch reference.

    ONNX models run in onnxruntime; TFLite models in ai-edge-litert, int8 ones also in
    tflite-micro (on the first ``config.n_parity_tflm`` windows), and all in tflite-runtime
    when it can be imported (else a ``skipped`` entry says why).

    Parameters
    ----------
    ref : np.ndarray [shape=(n, D)]
        PyTorch fp32 embeddings of the held-out windows.
    artifacts : dict of str to Path
        Model file name -> path.
    x_held : np.ndarray [shape=(n, ...)]
        The held-out model inputs.
    config : ExportConfig
        Tolerances (``fp32_cosine``, ``int8_cosine``) and ``n_parity_tflm``.

    Returns
    -------
    results : dict of str to dict
        ``"<file>|<runtime>"`` -> :func:`compare` metrics, an ``error`` or a ``skipped`` reason.
    runs : dict of str to np.ndarray [shape=(n_k, D)]
        The embeddings of each run that finished.
    """
    from . import onnx as eonnx
    from . import tflite as etfl

    rec = _Recorder(ref)
    tol = {"fp32": config.fp32_cosine, "int8": config.int8_cosine}
    x_tflm = x_held[: config.n_parity_tflm]
    for name, path in artifacts.items():
        kind = "int8" if "int8" in name else "fp32"
        if name.endswith(".onnx"):
            rec.record(name, "onnxruntime", lambda p=path: eonnx.run_onnx(p, x_held), tol[kind])
        else:
            rec.record(name, "ai-edge-litert", lambda p=path: etfl.run_litert(p, x_held), tol[kind])
            if kind == "int8" and config.n_parity_tflm > 0:
                rec.record(name, "tflite-micro", lambda p=path: etfl.run_tflm(p, x_tflm), tol[kind])
    _tflite_runtime(rec, artifacts, x_held, tol)
    return rec.results, rec.runs


def _tflite_runtime(rec: _Recorder, artifacts: dict[str, Path], x_held: np.ndarray, tol: dict[str, float]) -> None:
    tfr = tflite_runtime_status()
    tflite = {name: path for name, path in artifacts.items() if name.endswith(".tflite")}
    if not tfr["available"]:
        for name in tflite:
            rec.results[f"{name}|tflite-runtime"] = {"skipped": tfr["reason"]}
        return
    from tflite_runtime.interpreter import Interpreter as TfrInterpreter

    from .tflite import run_litert

    for name, path in tflite.items():

        def _tfr(p=path):
            it = TfrInterpreter(model_path=str(p), num_threads=1)
            it.allocate_tensors()
            return run_litert(it, x_held)

        rec.record(name, "tflite-runtime", _tfr, tol["int8" if "int8" in name else "fp32"])


def downstream(path: str | Path, ref: np.ndarray, runs: dict[str, np.ndarray], labels: np.ndarray,
               label_names: list[str] | None = None) -> dict:  # fmt: skip
    """Accuracy of a linear head on each runtime's embeddings, against the PyTorch reference.

    The figure is only meaningful when the held-out windows carry the head's label set: a head fitted on
    another dataset (``sea run`` fits it on the primary evaluation dataset, which may not be the run's own
    clips) is compared by its ``labels`` with the run's class names, and the figure is skipped, saying why,
    when they differ or when the run is unlabelled.

    Parameters
    ----------
    path : path
        ``.npz`` with ``W`` [D, C] (or [C, D]), ``b`` [C] and optionally ``labels`` [C].
    ref : np.ndarray [shape=(n, D)]
        PyTorch fp32 embeddings of the held-out windows.
    runs : dict of str to np.ndarray [shape=(n_k, D)]
        Embeddings of each artifact/runtime (the first ``n_k`` held-out windows).
    labels : np.ndarray [shape=(n,), dtype=int64]
        Class id of each window; -1 where unknown.
    label_names : list of str, optional
        The run's class names by id (None: not known, the head is assumed to share the windows' classes).

    Returns
    -------
    report : dict
        ``reference_accuracy``, ``n_labelled`` and per run ``accuracy`` and ``delta_vs_reference``;
        ``{"skipped": ...}`` when no window has a label or the head's classes are not the run's.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            head = {k: z[k] for k in z.files}
    except Exception as exc:
        raise ExportError(f"cannot read classifier {path!r}: {exc}; expected an .npz with W [D, C] and b [C]") from None
    if "W" not in head:
        raise ExportError(f"classifier {path!r} has no 'W' array (keys: {', '.join(head)})")
    mismatch = _label_mismatch(head, label_names, labels)
    if mismatch:
        return {"skipped": mismatch}
    base = downstream_accuracy(ref, labels, head)
    if base is None:
        return {"skipped": "held-out windows have no labels"}
    out = {"reference_accuracy": base, "n_labelled": int((labels >= 0).sum())}
    for key, y in runs.items():
        acc = downstream_accuracy(y, labels[: y.shape[0]], head)
        ref_acc = downstream_accuracy(ref[: y.shape[0]], labels[: y.shape[0]], head)
        out[key] = {"accuracy": acc, "delta_vs_reference": None if acc is None else acc - ref_acc}
    return out


def _label_mismatch(head: dict, label_names: list[str] | None, labels: np.ndarray) -> str | None:
    """Why the head's accuracy on these windows would mean nothing, or None when the label sets agree."""
    if not np.any(labels >= 0):
        return "held-out windows have no labels (the run is unlabelled); the head is still shipped in the Pi bundle"
    if label_names is None:  # labelled windows of unknown class names: nothing to check against
        return None
    n_classes = int(np.asarray(head["b"]).shape[-1]) if "b" in head else min(np.asarray(head["W"]).shape)
    if "labels" in head:
        head_names = [str(v) for v in np.asarray(head["labels"]).ravel()]
        if head_names != list(label_names):
            return (f"the head's labels ({', '.join(head_names[:6])}{', ...' if len(head_names) > 6 else ''}) are not "
                    f"the run's ({', '.join(label_names[:6])}{', ...' if len(label_names) > 6 else ''}): it was fitted "
                    "on another dataset, so its accuracy on the run's windows means nothing; the head is still "
                    "shipped in the Pi bundle")  # fmt: skip
    elif n_classes != len(label_names):
        return f"the head has {n_classes} classes, the run {len(label_names)}; accuracy skipped"
    return None


def parity_report(
    results: dict[str, dict],
    *,
    held: Windows,
    calib: Windows | None,
    source: str | Path | None,
    config: ExportConfig,
    downstream_report: dict | None = None,
) -> dict:
    """Build the ``parity.json`` document.

    Parameters
    ----------
    results : dict of str to dict
        From :func:`measure`.
    held : Windows
        The held-out windows the artifacts ran on.
    calib : Windows or None
        The calibration windows (None without a calibration source).
    source : path or None
        Where the windows came from; None means synthetic tones.
    config : ExportConfig
        Its tolerances are recorded.
    downstream_report : dict, optional
        From :func:`downstream`.

    Returns
    -------
    doc : dict
        ``reference``, ``windows``, ``tolerances``, ``results``, ``downstream`` and ``passed``.
    """
    return {
        "reference": "PyTorch fp32 (torch CPU)",
        "windows": {
            "n": int(len(held)),
            "n_clips": len(set(held.clip_ids)),
            "synthetic": source is None,
            "source": str(source) if source is not None else None,
            "calibration_clips_excluded": True,
            "n_calibration": 0 if calib is None else int(len(calib)),
        },
        "tolerances": {"fp32_mean_cosine": config.fp32_cosine, "int8_mean_cosine": config.int8_cosine},
        "results": results,
        "downstream": downstream_report,
        "passed": all(r.get("passed", True) for r in results.values() if not r.get("skipped")),
    }
