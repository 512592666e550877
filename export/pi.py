"""Raspberry Pi bundle: model files, frontend.json and the self-contained ``sea_edge.py`` runner."""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

from sea.utils import write_text_atomic

TEMPLATES = Path(__file__).parent / "templates"
BEGIN = "# ---- BEGIN SEA FRONTEND (copied verbatim from sea.students.frontend by `sea export`) ----\n"
END = "# ---- END SEA FRONTEND ----\n"
# The numpy twin in sea.students.frontend, copied so the runner never imports sea.
FRONTEND_FUNCTIONS = (
    "hann_periodic",
    "_hz_to_mel",
    "_mel_to_hz",
    "mel_filterbank_numpy",
    "frontend_mel_basis",
    "logmel_numpy",
)

__all__ = ["runner_source", "write_pi_bundle"]


def runner_source() -> str:
    """``sea_edge.py`` with the current ``sea.students.frontend`` numpy functions pasted in."""
    from sea.students import frontend_numpy as frontend

    text = (TEMPLATES / "sea_edge.py").read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    body = "\n\n".join(inspect.getsource(getattr(frontend, name)) for name in FRONTEND_FUNCTIONS)
    return head + BEGIN + "\n" + body + "\n\n" + END + tail


def write_pi_bundle(
    out_dir: str | Path,
    models: dict[str, Path],
    frontend_json: Path,
    *,
    classifier: Path | None = None,
    model_name: str = "student",
) -> dict:
    """Copy ``models`` (file name -> path), frontend.json, the runner and a README into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name, src in models.items():
        shutil.copyfile(src, out / name)
        files.append(name)
    shutil.copyfile(frontend_json, out / "frontend.json")
    write_text_atomic(out / "sea_edge.py", runner_source())
    (out / "sea_edge.py").chmod(0o755)
    files += ["frontend.json", "sea_edge.py"]
    if classifier is not None:
        shutil.copyfile(classifier, out / "classifier.npz")
        files.append("classifier.npz")
    readme = (TEMPLATES / "README_pi.md").read_text(encoding="utf-8").replace("{{MODEL_NAME}}", model_name)
    readme = readme.replace("{{MODELS}}", "\n".join(f"- `{n}`" for n in models))
    write_text_atomic(out / "README.md", readme)
    files.append("README.md")
    for f in out.iterdir():  # atomic writes create 0600 files; bundles are meant to be shared
        f.chmod(0o755 if f.name.endswith(".py") else 0o644)
    return {"dir": str(out), "files": files}
