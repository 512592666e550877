"""The run directory: every path a stage reads or writes, spelled in one place.

A run directory holds one experiment. Stages hand work to each other through
it, so its layout is a contract; :class:`RunLayout` is the only code that
spells its paths::

    RUN/
      clips.jsonl            manifest, one clip per line            (prepare)
      data_report.json       counts, skipped files with reasons     (prepare)
      stage.json             the prepare stage's record
      raw/                   generated raw audio of the synthetic set
      audio/<sr>/            samples.f32 + index.npz                (prepare)
      teacher/<variant>/     frame store: shards, index, store.json (teacher)
      targets/<name>/        reducer.npz, sample indices, report    (targets)
      students/<name>/       ckpt.pt, best.pt, log.csv, tb/, fidelity.json (distill)
      eval/<name>/           report.json, report.md, *.png, emb/, heads/   (evaluate)
      export/<name>/         model_*.onnx|tflite, frontend.json, parity.json, footprint.json, mcu/, firmware/, pi/
      datasets/<name>/       an evaluation dataset, prepared as a run of its own (clips.jsonl, audio/<sr>/)
      run_config.json        the resolved ``sea run`` plan
      summary.json, summary.md

Examples
--------
>>> run = RunLayout("runs/quickstart")
>>> run.checkpoint("sea_mcu_s")
PosixPath('runs/quickstart/students/sea_mcu_s/best.pt')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .utils import Pathlike

__all__ = ["STAGE_FILE", "RunLayout", "safe_name"]

STAGE_FILE = "stage.json"


def safe_name(name: str) -> str:
    """A file-system-safe name for one path component (``teacher_pca:pca64`` -> ``teacher_pca-pca64``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(name)).strip("-") or "model"


@dataclass(frozen=True)
class RunLayout:
    """Paths of one run directory.

    Parameters
    ----------
    root : path
        The run directory (need not exist yet).
    """

    root: Path

    def __init__(self, root: Pathlike):
        object.__setattr__(self, "root", Path(root))

    # -- prepare -----------------------------------------------------------------------------------
    @property
    def manifest(self) -> Path:
        """``clips.jsonl``: the clip manifest."""
        return self.root / "clips.jsonl"

    @property
    def data_report(self) -> Path:
        return self.root / "data_report.json"

    @property
    def raw_dir(self) -> Path:
        """Where ``sea run`` writes the synthetic set's raw audio."""
        return self.root / "raw"

    @property
    def audio_root(self) -> Path:
        return self.root / "audio"

    def audio(self, sr: int) -> Path:
        """``audio/<sr>``: the packed audio cache at rate ``sr``."""
        return self.audio_root / str(int(sr))

    # -- teacher -----------------------------------------------------------------------------------
    @property
    def teacher_root(self) -> Path:
        return self.root / "teacher"

    def teacher(self, variant: str) -> Path:
        """``teacher/<variant>``: a teacher's frame store."""
        return self.teacher_root / variant

    # -- targets -----------------------------------------------------------------------------------
    @property
    def targets_root(self) -> Path:
        return self.root / "targets"

    def targets(self, name: str) -> Path:
        return self.targets_root / name

    def reducer(self, name: str) -> Path:
        """``targets/<name>/reducer.npz``: the fitted reduction φ."""
        return self.targets(name) / "reducer.npz"

    # -- distill -----------------------------------------------------------------------------------
    @property
    def students_root(self) -> Path:
        return self.root / "students"

    def student(self, name: str) -> Path:
        return self.students_root / name

    #: File names inside ``students/<name>/``.
    CHECKPOINT_NAME = "best.pt"
    LAST_CHECKPOINT_NAME = "ckpt.pt"
    FIDELITY_NAME = "fidelity.json"

    def checkpoint(self, name: str) -> Path:
        """``students/<name>/best.pt``: the weights of the best validation epoch."""
        return self.student(name) / self.CHECKPOINT_NAME

    def last_checkpoint(self, name: str) -> Path:
        """``students/<name>/ckpt.pt``: the resumable state after the last finished epoch."""
        return self.student(name) / self.LAST_CHECKPOINT_NAME

    def fidelity(self, name: str) -> Path:
        return self.student(name) / self.FIDELITY_NAME

    def student_names(self) -> list[str]:
        """Students of this run that have a best checkpoint, sorted."""
        root = self.students_root
        return sorted(p.parent.name for p in root.glob("*/best.pt")) if root.is_dir() else []

    # -- evaluate ----------------------------------------------------------------------------------
    @property
    def eval_root(self) -> Path:
        return self.root / "eval"

    def eval(self, name: str) -> Path:
        """``eval/<name>``: the reports of one downstream dataset."""
        return self.eval_root / safe_name(name)

    @property
    def eval_summary_json(self) -> Path:
        """``eval/report.json``: every evaluation of the run in one file."""
        return self.eval_root / "report.json"

    @property
    def eval_summary_md(self) -> Path:
        return self.eval_root / "report.md"

    def eval_embeddings(self, name: str, model: str) -> Path:
        return self.eval(name) / "emb" / f"{safe_name(model)}.npz"

    def eval_head(self, name: str, student: str) -> Path:
        return self.eval(name) / "heads" / f"{student}.npz"

    # -- export ------------------------------------------------------------------------------------
    @property
    def export_root(self) -> Path:
        return self.root / "export"

    def export(self, name: str) -> Path:
        return self.export_root / name

    # -- evaluation datasets -----------------------------------------------------------------------
    @property
    def datasets_root(self) -> Path:
        return self.root / "datasets"

    def dataset(self, name: str) -> Path:
        """``datasets/<name>``: an evaluation dataset of ``sea run``, prepared as a run of its own."""
        return self.datasets_root / safe_name(name)

    # -- run ---------------------------------------------------------------------------------------
    @property
    def run_config(self) -> Path:
        return self.root / "run_config.json"

    @property
    def summary_json(self) -> Path:
        return self.root / "summary.json"

    @property
    def summary_md(self) -> Path:
        return self.root / "summary.md"

    @staticmethod
    def stage_file(stage_dir: Pathlike) -> Path:
        """``<stage dir>/stage.json``."""
        return Path(stage_dir) / STAGE_FILE

    def is_prepared(self) -> bool:
        """True when the directory looks like a prepared run (manifest and audio caches)."""
        return self.manifest.is_file() and (self.root / "audio").is_dir()

    @classmethod
    def of_checkpoint(cls, checkpoint: Pathlike) -> tuple[RunLayout, str] | None:
        """``(run, student name)`` for ``RUN/students/<name>/<file>.pt`` (or that folder), else None.

        A checkpoint copied out of its run has no run: callers then need the
        calibration audio given explicitly.
        """
        path = Path(checkpoint)
        student_dir = path if path.is_dir() or not path.suffix else path.parent
        if student_dir.parent.name != "students":
            return None
        run = cls(student_dir.parent.parent)
        return (run, student_dir.name) if run.is_prepared() else None
