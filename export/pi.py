"""Raspberry Pi bundle: model files, frontend.json, the ``sea_edge.py`` runner and its numpy front-end."""

from __future__ import annotations

import shutil
from pathlib import Path

from sea.utils import read_json, write_text_atomic

TEMPLATES = Path(__file__).parent / "templates"
RUNNER = "sea_edge.py"
# sea's numpy twin of the student front-end imports nothing but numpy, so the runner imports the
# very file sea computes with, shipped unchanged beside it.
FRONTEND_MODULE = "frontend_numpy.py"

__all__ = ["write_pi_bundle"]


def write_pi_bundle(
    out_dir: str | Path,
    models: dict[str, Path],
    frontend_json: Path,
    *,
    classifier: Path | None = None,
    model_name: str = "student",
) -> dict:
    """Copy the models, frontend.json, the runner, its front-end module and a README into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        The bundle folder (``RUN/export/<name>/pi``).
    models : dict of str to Path
        Model file name -> path (``.tflite`` and ``.onnx``).
    frontend_json : Path
        The export's ``frontend.json``.
    classifier : Path, optional
        A linear head ``.npz`` (``W``, ``b``, ``labels``), shipped as ``classifier.npz``.
    model_name : str
        The student's registry name, for the README.

    Returns
    -------
    bundle : dict
        ``dir`` and the ``files`` written.
    """
    from sea.students import frontend_numpy

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name, src in models.items():
        shutil.copyfile(src, out / name)
        files.append(name)
    shutil.copyfile(frontend_json, out / "frontend.json")
    shutil.copyfile(TEMPLATES / RUNNER, out / RUNNER)
    shutil.copyfile(frontend_numpy.__file__, out / FRONTEND_MODULE)
    files += ["frontend.json", RUNNER, FRONTEND_MODULE]
    if classifier is not None:
        shutil.copyfile(classifier, out / "classifier.npz")
        files.append("classifier.npz")
    readme = (TEMPLATES / "README_pi.md").read_text(encoding="utf-8").replace("{{MODEL_NAME}}", model_name)
    readme = readme.replace("{{MODELS}}", "\n".join(f"- `{n}`" for n in models))
    fe = read_json(frontend_json).get("frontend", {})
    readme = readme.replace("{{WINDOW}}", f"{float(fe.get('window_length', 8000)) / float(fe.get('sr', 8000)):g}")
    readme = readme.replace("{{SR}}", str(int(fe.get("sr", 8000))))
    write_text_atomic(out / "README.md", readme)
    files.append("README.md")
    for f in out.iterdir():  # atomic writes create 0600 files; bundles are meant to be shared
        f.chmod(0o755 if f.name == RUNNER else 0o644)
    return {"dir": str(out), "files": files}
