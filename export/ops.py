"""Map converter failures on unsupported ops to an :class:`ExportError` naming the fix."""

from __future__ import annotations

import re

from sea.errors import ExportError

# aten op -> the drop-in replacement that every converter here lowers.
REPLACEMENTS = {
    "adaptive_max_pool2d": "torch.amax(x, dim=(2, 3)) (global max pool) or a fixed nn.MaxPool2d",
    "adaptive_max_pool1d": "torch.amax(x, dim=-1) or a fixed nn.MaxPool1d",
    "adaptive_avg_pool2d": "x.mean(dim=(2, 3), keepdim=True) or a fixed nn.AvgPool2d",
    "stft": "the real-valued Conv1d-DFT front-end (sea.students.frontend.StudentFrontend)",
    "view_as_real": "the real-valued Conv1d-DFT front-end (sea.students.frontend.StudentFrontend)",
    "complex": "real-valued arithmetic (e.g. re**2 + im**2 from a Conv1d-DFT)",
    "fft_rfft": "the real-valued Conv1d-DFT front-end (sea.students.frontend.StudentFrontend)",
    "upsample_bicubic2d": "F.interpolate(mode='nearest') or 'bilinear'",
    "grid_sampler_2d": "fixed-index gathers or a strided convolution",
    "nonzero": "masking with torch.where (static shapes)",
}
# Ops known to fail in litert-torch (checked before conversion so the error is immediate).
KNOWN_UNSUPPORTED = (
    "adaptive_max_pool2d",
    "adaptive_max_pool1d",
    "stft",
    "fft_rfft",
    "view_as_real",
    "grid_sampler_2d",
)

_PATTERNS = (
    re.compile(r"Lowering not found: aten\.([A-Za-z0-9_]+)"),
    re.compile(r"aten::([A-Za-z0-9_]+)\b[^\n]*(?:not supported|unsupported|is not implemented)", re.I),
    re.compile(r"(?:Unsupported|unsupported)[^\n]*aten\.([A-Za-z0-9_]+)"),
    re.compile(r"No decomposition[^\n]*aten\.([A-Za-z0-9_]+)"),
)

__all__ = ["REPLACEMENTS", "check_ops", "explain", "graph_ops"]


def _suggest(op: str) -> str:
    base = op.split(".")[0]
    fix = REPLACEMENTS.get(base)
    return f"; replace it with {fix}" if fix else "; rewrite that layer with standard conv/pool/matmul ops"


def graph_ops(model, example) -> set[str]:
    """Return the aten op names (``adaptive_max_pool2d``...) of ``model`` traced on ``example``."""
    import torch

    ep = torch.export.export(model, (example,))
    names = set()
    for node in ep.graph.nodes:
        if node.op == "call_function":
            t = getattr(node.target, "__name__", str(node.target))
            names.add(t.split(".")[0])
    return names


def check_ops(model, example, *, target: str) -> None:
    """Raise ExportError before conversion if the traced graph uses an op ``target`` cannot lower."""
    try:
        ops = graph_ops(model, example)
    except Exception as exc:  # tracing itself failed: report the torch.export message
        raise ExportError(f"the model cannot be traced with torch.export for {target}: {_first_line(exc)}") from exc
    bad = sorted(o for o in ops if o in KNOWN_UNSUPPORTED)
    if bad:
        op = bad[0]
        raise ExportError(f"{target} export failed: op aten.{op} is not supported{_suggest(op)}")
    if "complex" in " ".join(ops):
        raise ExportError(f"{target} export failed: complex tensors are not supported{_suggest('complex')}")


def _first_line(exc: BaseException) -> str:
    s = str(exc).strip().splitlines()
    return s[0][:300] if s else type(exc).__name__


def explain(exc: BaseException, target: str) -> ExportError:
    """Turn a converter exception into an ExportError naming the op and its replacement."""
    chain, e = [], exc
    while e is not None and len(chain) < 6:
        chain.append(f"{type(e).__name__}: {e}")
        e = e.__cause__ or e.__context__
    text = "\n".join(chain)
    for pat in _PATTERNS:
        m = pat.search(text)
        if m:
            op = m.group(1)
            return ExportError(f"{target} export failed: op aten.{op} has no lowering{_suggest(op)}")
    if "complex" in text.lower():
        return ExportError(f"{target} export failed: complex tensors are not supported{_suggest('complex')}")
    return ExportError(f"{target} export failed: {_first_line(exc)}")
