"""Models of an evaluation, resolved from their ``sea evaluate --models`` specs.

Model specs
-----------
``teacher``
    The OpenL3 teacher. When the evaluated dataset *is* the run (same directory) and the run has a
    frame store ``RUN/teacher/<variant>/`` with the same hop and centring, its frames are reused;
    otherwise the teacher is loaded (``sea.teacher.load_teacher``, variant from the store's meta or
    the config) and the 48 kHz cache of the dataset is embedded.
``teacher_pca`` / ``teacher_pca:NAME``
    The teacher followed by the reducer ``RUN/targets/NAME/reducer.npz`` (NAME may be omitted when the
    run has exactly one target set).
a student checkpoint
    A ``.pt`` file, a directory holding ``best.pt``/``ckpt.pt``, or a name under ``RUN/students/``.
    Windows come from the 8 kHz cache through :class:`sea.students.frontend.StudentFrontend`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..constants import STUDENT_SR, TEACHER_SR
from ..errors import ConfigError, ManifestError, SeaError
from ..layout import RunLayout
from ..store import STORE_FILE, FrameStore
from ..utils import sha256_file
from .embed import EmbeddingModel, as_numpy, model_from_callable

if TYPE_CHECKING:
    from .config import EvalConfig

log = logging.getLogger(__name__)

__all__ = ["reduced_teacher_model", "resolve_model", "student_model", "student_name", "teacher_model"]

#: Checkpoint files looked for, in order, in a student directory (which need not be in a run).
CHECKPOINT_FILES = ("best.pt", "ckpt.pt", "last.pt")


def _teacher_dir(run: RunLayout, teacher: str) -> Path | None:
    root = run.teacher_root
    if teacher != "auto":
        return run.teacher(teacher) if (run.teacher(teacher) / STORE_FILE).is_file() else None
    found = sorted(p for p in root.iterdir() if (p / STORE_FILE).is_file()) if root.is_dir() else []
    if len(found) > 1:
        raise ConfigError(
            f"several teacher stores under {str(root)!r} ({', '.join(p.name for p in found)}); pass --teacher NAME"
        )
    return found[0] if found else None


def _teacher_cost_fn(module) -> Callable:
    """Return a function computing the cost of the teacher's CNN on its log-mel input.

    E.g. (1, 256, 199) for mel256, front-end excluded like the students' (1, 64, 50); it falls
    back to the whole module on (48000,) audio.
    """

    def cost():
        import torch

        from ..students.cost import model_cost

        if hasattr(module, "embed_spectrogram") and hasattr(module, "spectrogram"):

            class _CNN(torch.nn.Module):
                def __init__(self, m):
                    super().__init__()
                    self.m = m

                def forward(self, s):
                    return self.m.embed_spectrogram(s)

            with torch.no_grad():
                shape = tuple(module.spectrogram(torch.zeros(1, TEACHER_SR)).shape[1:])
            c = model_cost(_CNN(module).eval(), shape)
            c["cost_scope"] = f"teacher CNN on its {shape} spectrogram"
            return c
        c = model_cost(module, (TEACHER_SR,))
        c["cost_scope"] = f"teacher incl. front-end on ({TEACHER_SR},)"
        return c

    return cost


def _load_teacher_module(params: dict, device: str):
    try:
        from ..teacher import load_teacher
    except ImportError as exc:
        raise SeaError(f"the OpenL3 teacher is not available in this sea ({exc}); pass a stand-in model") from None
    return load_teacher(
        params["input_repr"],
        params["content_type"],
        params["embedding_size"],
        frontend=params.get("frontend", "kapre"),
        weights=params.get("weights"),
        untrained=bool(params.get("untrained", False)),
        device=device,
    )


class _LazyTeacher:
    """Loads the teacher on first use (store reuse needs it only for its cost)."""

    def __init__(self, params: dict, device: str):
        self.params, self.device = params, device
        self._module = None
        self.info: dict = {}

    def module(self):
        if self._module is None:
            import torch

            torch.manual_seed(int(self.params.get("seed", 0)))
            self._module, info = _load_teacher_module(self.params, self.device)
            self._module = self._module.to(self.device).eval()
            self.info = dict(info or {})
        return self._module

    def __call__(self, x):
        import torch

        with torch.no_grad():
            return self.module()(torch.from_numpy(x).to(self.device))

    def cost(self):
        """Architecture cost: an untrained copy when the weights are not loaded (no download for a number)."""
        if self.params.get("standin"):
            return None
        module = self._module
        if module is None:
            module, _ = _load_teacher_module({**self.params, "untrained": True}, "cpu")
        return _teacher_cost_fn(module)()


def _teacher_params(config: EvalConfig, store: FrameStore | None) -> dict:
    t = (store.meta.get("teacher") or {}) if store is not None else {}
    return {
        "input_repr": t.get("input_repr", config.input_repr),
        "content_type": t.get("content_type", config.content_type),
        "embedding_size": int(t.get("embedding_size", config.embedding_size)),
        "frontend": t.get("frontend", config.teacher_frontend),
        "weights": config.teacher_weights,
        "untrained": bool(t.get("untrained", config.untrained_teacher)),
        "seed": config.seed,
        "standin": bool(t.get("standin", False)),
    }


def _store_matches(store: FrameStore, config: EvalConfig) -> bool:
    m = store.meta
    return abs(float(m.get("hop_size", -1)) - config.hop_size) < 1e-9 and bool(m.get("center", True)) == bool(
        config.center
    )


def teacher_model(run_dir: Path, dataset_dir: Path, config: EvalConfig, *, device: str = "cpu") -> EmbeddingModel:
    """Build the ``teacher`` model; it reuses the run's frame store when the dataset is the run.

    Parameters
    ----------
    run_dir : Path
        The run whose ``teacher/<variant>/`` store describes (and may serve) the teacher.
    dataset_dir : Path
        The evaluated dataset.
    config : EvalConfig
        ``teacher`` picks the store; the teacher fields apply when no store describes it.
    device : str
        Torch device of the teacher, loaded on first use.

    Returns
    -------
    model : EmbeddingModel
    """
    tdir = _teacher_dir(RunLayout(run_dir), config.teacher)
    store = FrameStore(tdir) if tdir is not None else None
    params = _teacher_params(config, store)
    lazy = _LazyTeacher(params, device)
    same = dataset_dir.resolve() == run_dir.resolve()
    reuse = store if (store is not None and same and _store_matches(store, config)) else None
    variant = (
        tdir.name if tdir is not None else f"{params['input_repr']}_{params['content_type']}_{params['embedding_size']}"
    )
    fp = json.dumps(
        {"teacher": params, "store": store.meta.get("config_hash") if store is not None else None}, sort_keys=True
    )
    info = {"variant": variant, "untrained": params["untrained"], "store": str(tdir) if tdir else None}
    return EmbeddingModel(
        "teacher", "teacher", TEACHER_SR, fn=lazy, fingerprint=fp, store=reuse, info=info, cost_fn=lazy.cost
    )


def _target_names(run: RunLayout) -> list[str]:
    root = run.targets_root
    return sorted(p.name for p in root.iterdir() if run.reducer(p.name).is_file()) if root.is_dir() else []


def reduced_teacher_model(teacher: EmbeddingModel, run_dir: Path, name: str | None, spec: str) -> EmbeddingModel:
    """Build ``teacher_pca[:NAME]``: the teacher followed by a fitted reducer.

    Parameters
    ----------
    teacher : EmbeddingModel
        The teacher it builds on (its store frames are reused, then reduced).
    run_dir : Path
        The run holding ``targets/<NAME>/reducer.npz``.
    name : str or None
        The target set; None when the run has exactly one.
    spec : str
        The ``--models`` entry, for the report name and messages.

    Returns
    -------
    model : EmbeddingModel
    """
    from ..targets.reducers import load_reducer

    run = RunLayout(run_dir)
    if not name:
        names = _target_names(run)
        if len(names) != 1:
            raise ConfigError(
                f"model spec {spec!r} needs a target set name when the run has {len(names)} "
                f"({', '.join(names) or 'none'}); write teacher_pca:NAME (run 'sea targets fit' first if none)"
            )
        name = names[0]
    path = run.reducer(name)
    if not path.is_file():
        have = _target_names(run)
        raise ManifestError(
            f"model spec {spec!r}: no reducer at {str(path)!r} (target sets: {', '.join(have) or 'none'}); "
            "run 'sea targets fit' first"
        )
    reducer = load_reducer(path)
    base_fn = teacher.fn

    def fn(x):
        return reducer.transform(as_numpy(base_fn(x)))

    def cost():
        c = dict(teacher.get_cost() or {})
        if not c:
            return None
        d_in, d_out = int(reducer.n_features_in_), int(reducer.out_dim)
        c["params"] = c.get("params", 0) + d_in * d_out + d_in
        c["macs"] = c.get("macs", 0) + d_in * d_out
        c["weight_bytes_fp32"] = c.get("weight_bytes_fp32", 0) + 4 * (d_in * d_out + d_in)
        c["weight_bytes_int8"] = c.get("weight_bytes_int8", 0) + d_in * d_out + 4 * d_out
        c["output_dim"] = d_out
        return c

    model_name = "teacher_pca" if spec == "teacher_pca" else f"teacher_pca:{name}"
    return EmbeddingModel(
        model_name,
        "teacher_pca",
        TEACHER_SR,
        fn=fn,
        fingerprint=teacher.fingerprint + f"|reducer:{reducer.sha256_}",
        store=teacher.store,
        post=reducer.transform,
        info={**teacher.info, "targets": name, "dim": int(reducer.out_dim)},
        cost_fn=cost,
        reducer=reducer,
    )


def _checkpoint_path(run: RunLayout, spec: str) -> Path:
    for cand in (Path(spec), run.student(spec)):
        if cand.is_file():
            return cand
        if cand.is_dir():
            for n in CHECKPOINT_FILES:
                if (cand / n).is_file():
                    return cand / n
            pts = sorted(cand.glob("*.pt"))
            if len(pts) == 1:
                return pts[0]
    root = run.students_root
    have = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    raise ConfigError(
        f"model spec {spec!r} is not 'teacher', 'teacher_pca[:NAME]', a checkpoint file or a student under "
        f"{str(root)!r} (found: {', '.join(have) or 'none'})"
    )


def student_name(path: Path) -> str:
    """Return the report name of a student checkpoint.

    Parameters
    ----------
    path : Path
        A ``.pt`` file.

    Returns
    -------
    name : str
        The folder's name for ``<name>/best.pt`` (``ckpt.pt``, ``last.pt``), else the file's stem.
    """
    return path.parent.name if path.stem in {Path(n).stem for n in CHECKPOINT_FILES} else path.stem


def _student_reducer(run: RunLayout, ckpt: dict):
    from ..targets.reducers import load_reducer

    spec = ckpt.get("target_spec") or {}
    if spec.get("kind") == "identity":
        return "identity"
    for cand in (spec.get("path"), run.reducer(str(spec.get("name"))) if spec.get("name") else None):
        if cand and Path(cand).is_file():
            r = load_reducer(cand)
            if spec.get("sha256") and r.sha256_ != spec["sha256"]:
                log.warning("reducer %s differs from the one the student was trained on (sha256)", cand)
            return r
    return None


def student_model(run_dir: Path, spec: str, *, device: str = "cpu") -> EmbeddingModel:
    """Load a distilled student from its checkpoint: front-end and network on 8 kHz windows.

    Parameters
    ----------
    run_dir : Path
        The run whose ``students/`` and ``targets/`` resolve names and the student's reducer.
    spec : str
        A ``.pt`` file, a directory holding one, or a student name under ``RUN/students/``.
    device : str
        Torch device.

    Returns
    -------
    model : EmbeddingModel
        Its ``reducer`` is the one the student was distilled towards (fidelity reference), if found.
    """
    import torch

    from ..checkpoint import load_student
    from ..students.frontend import StudentFrontend

    run = RunLayout(run_dir)
    path = _checkpoint_path(run, spec)
    model, ckpt = load_student(path, device=device)
    frontend = StudentFrontend(mode="stft").to(device)

    def fn(x):
        with torch.no_grad():
            return model(frontend(torch.from_numpy(x).to(device)))

    def cost():
        from ..students.cost import model_cost

        return model_cost(model, (1, 64, 50))

    info = {
        "checkpoint": str(path),
        "model_name": ckpt.get("model_name"),
        "target_spec": ckpt.get("target_spec"),
        "teacher": ckpt.get("teacher"),
    }
    return EmbeddingModel(
        student_name(path),
        "student",
        STUDENT_SR,
        fn=fn,
        fingerprint=f"{sha256_file(path)[:16]}",
        info=info,
        cost_fn=cost,
        reducer=_student_reducer(run, ckpt),
    )


def resolve_model(
    spec: str,
    run_dir: Path,
    dataset_dir: Path,
    config: EvalConfig,
    *,
    injected: dict | None = None,
    teacher: EmbeddingModel | None = None,
    device: str = "cpu",
) -> EmbeddingModel:
    """Build the :class:`EmbeddingModel` of one ``--models`` entry.

    Parameters
    ----------
    spec : str
        ``teacher``, ``teacher_pca[:NAME]`` or a student checkpoint (see the module docstring).
    run_dir : Path
        The run whose teacher store, targets and students resolve the spec.
    dataset_dir : Path
        The evaluated dataset (the teacher reuses the run's frames only when it is the run).
    config : EvalConfig
        The evaluation's config (teacher variant and store).
    injected : dict, optional
        Stand-ins by spec: an :class:`EmbeddingModel`, or a function / ``nn.Module`` mapping
        ``[B, sr]`` to ``[B, D]``. A stand-in wins over the run's model.
    teacher : EmbeddingModel, optional
        An already resolved teacher, shared by ``teacher`` and ``teacher_pca``.
    device : str
        Torch device.

    Returns
    -------
    model : EmbeddingModel
    """
    injected = injected or {}
    if spec in injected:
        m = injected[spec]
        if isinstance(m, EmbeddingModel):
            return m
        sr = STUDENT_SR if not spec.startswith("teacher") else TEACHER_SR
        return model_from_callable(spec, m, sr=sr, kind="teacher" if spec == "teacher" else "custom", device=device)
    if spec == "teacher":
        return teacher if teacher is not None else teacher_model(run_dir, dataset_dir, config, device=device)
    if spec == "teacher_pca" or spec.startswith("teacher_pca:"):
        base = (
            teacher
            if teacher is not None
            else resolve_model("teacher", run_dir, dataset_dir, config, injected=injected, device=device)
        )
        return reduced_teacher_model(base, run_dir, spec.partition(":")[2] or None, spec)
    return student_model(run_dir, spec, device=device)
