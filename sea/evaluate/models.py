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
``teacher_8k`` / ``teacher_8k:NAME`` (``teacher_16k``, ``teacher_24k``, ... for other student rates)
    The teacher hearing only what an 8 kHz student hears (its windows low-passed at 4 kHz, see
    :func:`sea.audio.band_limit`), then NAME's reducer if given. Its fidelity (R², cosine to the reduced
    teacher) and accuracy are the ceiling of every 8 kHz student of a faster teacher (BirdNET, OpenL3).
    ``teacher_<N>k`` is the same for a student at N kHz (``sr`` of ``sea distill``): low-passed at N/2 kHz.
a student checkpoint
    A ``.pt`` file, a directory holding ``best.pt``/``ckpt.pt``, or a name under ``RUN/students/``.
    Windows come from the dataset's cache at the student's rate (its checkpoint's front-end: 8 kHz for SEA's)
    through :class:`sea.students.frontend.StudentFrontend`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..audio import band_limit
from ..config import did_you_mean
from ..constants import STUDENT_SR, TEACHER_SR
from ..errors import ConfigError, ManifestError, SeaError
from ..layout import RunLayout
from ..store import STORE_FILE, FrameStore
from ..utils import sha256_file
from .embed import EmbeddingModel, as_numpy, model_from_callable

if TYPE_CHECKING:
    from .config import EvalConfig

log = logging.getLogger(__name__)

__all__ = [
    "BAND_SPEC",
    "band_rate",
    "band_spec",
    "band_limited_teacher_model",
    "check_spec",
    "reduced_teacher_model",
    "resolve_model",
    "student_model",
    "student_name",
    "teacher_identity",
    "teacher_model",
]

#: The ``--models`` spec of the teacher on the student's band (``teacher_8k[:NAME]``).
_BAND_RE = re.compile(r"teacher_(\d+(?:\.\d+)?)k(?::|$)")


def band_spec(sr: int) -> str:
    """The ``--models`` spec of the teacher on an ``sr``-Hz student's band: ``teacher_8k``, ``teacher_22.05k``."""
    return f"teacher_{sr / 1000:g}k"


BAND_SPEC = band_spec(STUDENT_SR)


def band_rate(spec: str) -> int | None:
    """The student rate in Hz a ``teacher_<N>k[:NAME]`` spec names (``teacher_16k`` -> 16000), else None."""
    m = _BAND_RE.match(spec)
    return int(round(float(m.group(1)) * 1000)) if m else None


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


def _load_openl3(params: dict, device: str):
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


def _registry():
    """``sea.teacher.registry`` (every teacher family), or a one-line error."""
    try:
        from ..teacher import registry
    except ImportError as exc:
        raise SeaError(f"this sea has no teacher registry (sea.teacher.registry: {exc})") from None
    return registry


def _standin(params: dict):
    from .demo import StandinTeacher

    return StandinTeacher(int(params["embedding_size"]), seed=int(params.get("seed") or 0))


def _load_teacher_module(params: dict, device: str):
    """The teacher mapping ``[B, window_length]`` at its rate to ``[B, D]`` (torch module or numpy callable)."""
    if params.get("standin"):  # the demo run's stand-in: rebuilt from its seed
        return _standin(params), {"untrained": False}
    record = params.get("record")
    if record is None:  # no frame store describes the teacher: OpenL3 from the config's fields
        return _load_openl3(params, device)
    overrides = {"weights": params["weights"]} if params.get("weights") else {}
    model, spec = _registry().load_teacher_model({**record, **overrides}, device=device)
    return model, {"spec": spec, "untrained": bool(spec.untrained)}


class _LazyTeacher:
    """Loads the teacher on first use (store reuse needs it only for its cost)."""

    def __init__(self, params: dict, device: str):
        self.params, self.device = params, device
        self._module = None
        self.info: dict = {}

    def module(self):
        if self._module is None:
            import torch

            torch.manual_seed(int(self.params.get("seed") or 0))
            self._module, info = _load_teacher_module(self.params, self.device)
            if isinstance(self._module, torch.nn.Module):
                self._module = self._module.to(self.device).eval()
            self.info = dict(info or {})
        return self._module

    def __call__(self, x):
        import torch

        module = self.module()
        if not isinstance(module, torch.nn.Module):  # the registry's numpy interface
            return module(x)
        with torch.no_grad():
            return module(torch.from_numpy(x).to(self.device))

    def cost(self):
        """Params and MACs per window; OpenL3's in detail (an untrained copy: no download for a number)."""
        if self.params.get("standin"):
            return None
        if self.params["family"] != "openl3":
            registry = _registry()
            c = dict(registry.teacher_cost(self.info.get("spec") or self.params["record"]))
            c["cost_scope"] = f"{self.params['family']} teacher, counted by sea.teacher.registry.teacher_cost"
            return c
        module = self._module
        if module is None or not hasattr(module, "embed_spectrogram"):
            module, _ = _load_openl3({**self.params, "untrained": True}, "cpu")
        return _teacher_cost_fn(module)()


def _teacher_params(config: EvalConfig, store: FrameStore | None) -> dict:
    """The teacher's identity: the run's frame store record first (any registry family), else the config."""
    if store is not None:
        t = store.teacher
        params = {
            **t,
            "record": {k: v for k, v in t.items() if k != "standin"},
            "input_repr": t.get("input_repr", config.input_repr),
            "content_type": t.get("content_type", config.content_type),
            "frontend": t.get("frontend", config.teacher_frontend),
            "embedding_size": int(t.get("embedding_size") or store.dim),
            "weights": config.teacher_weights,
            "seed": t.get("seed", config.seed),
            "standin": bool(t.get("standin", False)),
        }
        params["window_size"] = float(params.get("window_size") or 1.0)
        params["sr"] = int(params.get("sr") or TEACHER_SR)
        return params
    params = {
        "family": "openl3",
        "sr": TEACHER_SR,
        "window_size": 1.0,
        "input_repr": config.input_repr,
        "content_type": config.content_type,
        "embedding_size": int(config.embedding_size),
        "frontend": config.teacher_frontend,
        "weights": config.teacher_weights,
        "weights_sha256": None,
        "untrained": bool(config.untrained_teacher),
        "seed": config.seed,
        "standin": False,
    }
    params["name"] = f"{params['input_repr']}_{params['content_type']}_{params['embedding_size']}"
    return params


def teacher_identity(params: dict, variant: str) -> dict:
    """The teacher identity every report carries (family, name, weights hash, rate, window, untrained).

    Parameters
    ----------
    params : dict
        The resolved teacher parameters (from the frame store or the config).
    variant : str
        The teacher store's directory name.

    Returns
    -------
    identity : dict
        ``family, name, variant, sr, window_size, embedding_size, weights, weights_sha256, untrained``
        (and ``standin`` for test stand-ins).
    """
    keys = ("family", "name", "sr", "window_size", "embedding_size", "weights", "weights_sha256", "untrained")
    out = {k: params.get(k) for k in keys}
    out["variant"] = variant
    if params.get("standin"):
        out["standin"] = True
    return out


def _store_matches(store: FrameStore, config: EvalConfig) -> bool:
    m = store.meta
    return abs(float(m.get("hop_size", -1)) - config.hop_size) < 1e-9 and bool(m.get("center", True)) == bool(
        config.center
    )


def teacher_model(run_dir: Path, dataset_dir: Path, config: EvalConfig, *, device: str = "cpu") -> EmbeddingModel:
    """Build the ``teacher`` model; it reuses the run's frame store when the dataset is the run.

    The teacher is rebuilt from the identity its frame store records (family, name, weights, rate,
    window), so a run specialised with an edgel3, BirdNET, TFLite or ONNX teacher evaluates that
    teacher on any other prepared dataset.

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
        Its ``info["identity"]`` is :func:`teacher_identity`.
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
        {"teacher": params, "store": store.meta.get("config_hash") if store is not None else None},
        sort_keys=True,
        default=str,
    )
    identity = teacher_identity(params, variant)
    info = {"variant": variant, "untrained": params["untrained"], "store": str(tdir) if tdir else None}
    info["identity"] = identity
    return EmbeddingModel(
        "teacher",
        "teacher",
        params["sr"],
        fn=lazy,
        fingerprint=fp,
        store=reuse,
        info=info,
        cost_fn=lazy.cost,
        window_size=params["window_size"],
    )


def _load_reducer(path: Path, run: RunLayout):
    """A fitted reducer; a damaged file is named in one line with the command that rebuilds it."""
    from ..targets.reducers import load_reducer

    try:
        return load_reducer(path)
    except SeaError as exc:
        raise ManifestError(str(exc).splitlines()[0]) from None
    except Exception as exc:  # a truncated or foreign .npz: zipfile, numpy or key errors
        raise ManifestError(
            f"reducer {str(path)!r} is damaged ({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}); "
            f"rebuild it: sea targets fit {run.root} --overwrite"
        ) from None


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
    reducer = _load_reducer(path, run)
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
        teacher.sr,
        fn=fn,
        fingerprint=teacher.fingerprint + f"|reducer:{reducer.sha256_}",
        store=teacher.store,
        post=reducer.transform,
        info={**teacher.info, "targets": name, "dim": int(reducer.out_dim)},
        cost_fn=cost,
        reducer=reducer,
        window_size=teacher.window_size,
    )


def band_limited_teacher_model(teacher: EmbeddingModel, run_dir: Path, name: str | None, spec: str) -> EmbeddingModel:
    """Build ``teacher_<N>k[:NAME]``: the teacher on its windows low-passed at an N-kHz student's Nyquist frequency.

    Parameters
    ----------
    teacher : EmbeddingModel
        The teacher (its rate must exceed the student's, else the spec would equal it).
    run_dir : Path
        The run holding ``targets/<NAME>/reducer.npz``.
    name : str or None
        The target set whose reducer follows (its fidelity is then measured against those targets, like a
        student's); None: the raw embedding, compared with the teacher's.
    spec : str
        The ``--models`` entry (the report name), ``teacher_8k[:NAME]`` for SEA's 8 kHz students.

    Returns
    -------
    model : EmbeddingModel
        Kind ``teacher_band``; it never reuses stored frames (they heard the full band).
    """
    rate = band_rate(spec)
    student_sr = STUDENT_SR if rate is None else rate
    if not 8000 <= student_sr <= 48000:
        raise ConfigError(
            f"model spec {spec!r}: a student rate of {student_sr} Hz is outside 8000..48000; e.g. teacher_8k, "
            "teacher_16k or teacher_24k"
        )
    if teacher.sr <= student_sr:
        raise ConfigError(
            f"model spec {spec!r}: the teacher runs at {teacher.sr} Hz, all of which a {student_sr} Hz student "
            "hears; it would equal 'teacher': drop it"
        )
    if teacher.fn is None:
        raise ConfigError(
            f"model spec {spec!r} needs a teacher that embeds audio; {teacher.name!r} only has stored frames "
            "(they heard the full band): give the teacher model"
        )
    base_fn, sr, cutoff = teacher.fn, teacher.sr, student_sr / 2

    def fn(x):
        return base_fn(band_limit(x, sr, cutoff))

    info = {**teacher.info, "band_hz": cutoff}
    limited = dataclasses.replace(
        teacher, name=spec, kind="teacher_band", fn=fn, fingerprint=f"{teacher.fingerprint}|band:{cutoff:g}",
        store=None, post=None, info=info, reducer="identity",
    )  # fmt: skip
    if not name:
        return limited
    reduced = reduced_teacher_model(limited, run_dir, name, spec)
    return dataclasses.replace(reduced, name=spec, kind="teacher_band", store=None, post=None)


def _student_candidates(run: RunLayout, spec: str) -> list[Path]:
    """Where a student spec may point: a path, ``RUN/students/<spec>``, or ``students/<name>`` under the run."""
    cands = [Path(spec), run.student(spec)]
    if Path(spec).parts[:1] == (run.students_root.name,):
        cands.append(run.root / spec)
    return cands


def _spec_error(run: RunLayout, spec: str) -> ConfigError:
    root = run.students_root
    have = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    prefix = f"{root.name}/" if spec.startswith(f"{root.name}/") else ""
    names = [f"{prefix}{h}" for h in have] + ["teacher", "teacher_pca", BAND_SPEC]
    return ConfigError(
        f"model spec {spec!r} is not 'teacher', 'teacher_pca[:NAME]', '{BAND_SPEC}[:NAME]' (or teacher_16k, ... "
        "for wider-band students), a checkpoint file or "
        "a student of "
        f"{str(run.root)!r}{did_you_mean(spec, names)}; students there: {', '.join(have) or 'none'}"
    )


def _checkpoint_path(run: RunLayout, spec: str) -> Path:
    for cand in _student_candidates(run, spec):
        if cand.is_file():
            return cand
        if cand.is_dir():
            for n in CHECKPOINT_FILES:
                if (cand / n).is_file():
                    return cand / n
            pts = sorted(cand.glob("*.pt"))
            if len(pts) == 1:
                return pts[0]
    raise _spec_error(run, spec)


def check_spec(spec: str, run_dir: Path) -> None:
    """Check that a ``--models`` entry names something, before anything is written.

    Parameters
    ----------
    spec : str
        ``teacher``, ``teacher_pca[:NAME]`` or a student checkpoint.
    run_dir : Path
        The run.

    Raises
    ------
    ConfigError
        An unknown student (suggesting the nearest), or a ``teacher_pca`` without a fitted reducer.
    """
    run = RunLayout(run_dir)
    if spec == "teacher":
        return
    if spec == "teacher_pca" or spec.startswith("teacher_pca:") or band_rate(spec) is not None:
        name = spec.partition(":")[2]
        names = _target_names(run)
        if name and name not in names:
            raise ConfigError(
                f"model spec {spec!r}: no fitted target set {name!r}{did_you_mean(name, names)}; "
                f"target sets: {', '.join(names) or 'none'} (run 'sea targets fit {run.root}' first)"
            )
        return
    _checkpoint_path(run, spec)


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

    spec = ckpt.get("target_spec") or {}
    if spec.get("kind") == "identity":
        return "identity"
    for cand in (spec.get("path"), run.reducer(str(spec.get("name"))) if spec.get("name") else None):
        if cand and Path(cand).is_file():
            r = _load_reducer(Path(cand), run)
            if spec.get("sha256") and r.sha256_ != spec["sha256"]:
                log.warning("reducer %s differs from the one the student was trained on (sha256)", cand)
            return r
    return None


def _verify_checkpoint(path: Path) -> None:
    """Check a run's checkpoint against its distill stage's record (size, sampled hash), when there is one."""
    from ..integrity import check
    from ..runs import read_stage

    student_dir = path.parent
    rec = ((read_stage(student_dir) or {}).get("files") or {}).get(path.name)
    if rec:
        where = student_dir.parent.parent
        fix = f"re-run the distillation of {student_dir.name} ('sea run CONFIG --overwrite distill', or 'sea distill {where} ... --overwrite')"
        check(path, rec, fix=fix, what="student checkpoint")


def _load_student(path: Path, device: str):
    """The student and its checkpoint dict; a file that does not load is named with the reason, in one line."""
    from ..checkpoint import load_student

    _verify_checkpoint(path)
    try:
        return load_student(path, device=device)
    except SeaError as exc:
        raise ManifestError(str(exc).splitlines()[0]) from None
    except Exception as exc:  # a state dict that does not fit its architecture, an unknown student name...
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ManifestError(
            f"student checkpoint {str(path)!r} does not load ({type(exc).__name__}: {reason}); "
            "re-run its 'sea distill' or pass another checkpoint"
        ) from None


def student_model(run_dir: Path, spec: str, *, device: str = "cpu") -> EmbeddingModel:
    """Load a distilled student from its checkpoint: front-end and network on 8 kHz windows.

    The window (1 s, or the teacher's window the student was distilled on, e.g. 3 s for BirdNET)
    comes from the checkpoint's ``frontend`` record.

    Parameters
    ----------
    run_dir : Path
        The run whose ``students/`` and ``targets/`` resolve names and the student's reducer.
    spec : str
        A ``.pt`` file, a directory holding one, a student name under ``RUN/students/`` or
        ``students/<name>``.
    device : str
        Torch device.

    Returns
    -------
    model : EmbeddingModel
        Its ``reducer`` is the one the student was distilled towards (fidelity reference), if found.
    """
    import torch

    from ..students.frontend import StudentFrontend, frontend_params, params_window_size

    run = RunLayout(run_dir)
    path = _checkpoint_path(run, spec)
    model, ckpt = _load_student(path, device)
    params = ckpt.get("frontend") or frontend_params(1.0)
    window_size = params_window_size(params)
    frontend = StudentFrontend(mode="stft", params=params).to(device)
    n_frames = int(params.get("n_frames") or frontend_params(window_size)["n_frames"])

    def fn(x):
        with torch.no_grad():
            return model(frontend(torch.from_numpy(x).to(device)))

    def cost():
        from ..students.cost import model_cost

        return model_cost(model, (1, 64, n_frames))

    info = {
        "checkpoint": str(path),
        "model_name": ckpt.get("model_name"),
        "target_spec": ckpt.get("target_spec"),
        "teacher": ckpt.get("teacher"),
        "window_size": window_size,
    }
    return EmbeddingModel(
        student_name(path),
        "student",
        int(params.get("sr") or STUDENT_SR),
        fn=fn,
        fingerprint=f"{sha256_file(path)[:16]}",
        info=info,
        cost_fn=cost,
        reducer=_student_reducer(run, ckpt),
        window_size=window_size,
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
    band = band_rate(spec)
    for prefix, build in (
        ("teacher_pca", reduced_teacher_model),
        (None if band is None else spec.partition(":")[0], band_limited_teacher_model),
    ):
        if prefix and (spec == prefix or spec.startswith(prefix + ":")):
            base = (
                teacher
                if teacher is not None
                else resolve_model("teacher", run_dir, dataset_dir, config, injected=injected, device=device)
            )
            return build(base, run_dir, spec.partition(":")[2] or None, spec)
    return student_model(run_dir, spec, device=device)
