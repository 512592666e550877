"""Embedding adapters: every model maps 1-s windows of a dataset to per-frame features.

Model specs (``sea evaluate --models``)
---------------------------------------
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

Tests and notebooks can inject stand-ins: any :class:`EmbeddingModel`, or
:func:`model_from_callable` around a function / ``nn.Module`` mapping ``[B, sr]`` audio to ``[B, D]``.

Framing follows :mod:`sea.framing` (openl3 rules, ``hop_size`` 0.1 s and ``center=True`` by default),
so frame ``i`` of a clip covers the same time span for the teacher (48 kHz) and a student (8 kHz).

Cache
-----
``RUN/eval/<dataset>/emb/<model>.npz``: ``features`` [N, D] float32, ``clip_index`` [N] int32 (position
in ``clip_ids``), ``clip_ids`` [n_clips] str, ``frames`` [N] int32 (frame number within the clip),
``timestamps`` [N] float64 (s), ``key`` (JSON string: the model's fingerprint, framing, dataset
manifest hash). A cache whose key differs is recomputed. Memory while embedding is the output array
plus one batch of windows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import AudioCache
from ..errors import ConfigError, ManifestError, ParameterError, SeaError
from ..framing import frame_starts
from ..progress import progress
from ..utils import atomic_path, sha256_file

log = logging.getLogger(__name__)

__all__ = [
    "EmbeddingModel",
    "EmbeddingSet",
    "embed_dataset",
    "load_embeddings",
    "model_from_callable",
    "resolve_model",
    "safe_name",
]

TEACHER_SR = 48000
STUDENT_SR = 8000


def safe_name(name: str) -> str:
    """A file-system-safe model name (``teacher_pca:pca64`` -> ``teacher_pca-pca64``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "model"


@dataclass
class EmbeddingModel:
    """A model that embeds 1-s windows.

    Attributes
    ----------
    name : str
        Report name (unique per evaluation).
    kind : str
        ``teacher``, ``teacher_pca``, ``student`` or ``custom``.
    sr : int
        Rate of the windows it takes (48000 teacher, 8000 students).
    fn : callable or None
        ``[B, sr] float32 -> [B, D]`` (numpy in, numpy or tensor out).
    fingerprint : str
        Identifies weights and settings for the embedding cache.
    cost : dict or None
        :func:`sea.students.cost.model_cost` style numbers.
    store : object or None
        A :class:`sea.store.FrameStore` whose frames can be reused (teacher kinds).
    post : callable or None
        Applied to store frames (the reducer of ``teacher_pca``).
    reducer : object or None
        For students: the reducer of their distillation targets (fidelity reference).
    info : dict
    """

    name: str
    kind: str
    sr: int
    fn: Callable | None = None
    fingerprint: str = ""
    cost: dict | None = None
    store: Any = None
    post: Callable | None = None
    reducer: Any = None
    info: dict = field(default_factory=dict)
    cost_fn: Callable | None = None

    def get_cost(self) -> dict | None:
        if self.cost is None and self.cost_fn is not None:
            try:
                self.cost = self.cost_fn()
            except Exception as exc:  # cost is reported, never fatal
                log.warning("cost of %s could not be computed: %s", self.name, exc)
                self.cost = None
            self.cost_fn = None
        return self.cost


@dataclass
class EmbeddingSet:
    """Per-frame embeddings of a dataset (see the module docstring for the fields)."""

    features: np.ndarray
    clip_index: np.ndarray
    clip_ids: np.ndarray
    frames: np.ndarray
    timestamps: np.ndarray
    source: str = "model"
    seconds: float = 0.0

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    def __len__(self) -> int:
        return int(self.features.shape[0])


# -- model construction --------------------------------------------------------------


def _as_numpy(y) -> np.ndarray:
    if hasattr(y, "detach"):
        y = y.detach().float().cpu().numpy()
    return np.asarray(y, dtype=np.float32)


def model_from_callable(
    name: str,
    fn,
    *,
    sr: int,
    kind: str = "custom",
    fingerprint: str | None = None,
    cost: dict | None = None,
    reducer=None,
    device: str = "cpu",
) -> EmbeddingModel:
    """Wrap a function or ``nn.Module`` mapping ``[B, sr]`` audio to ``[B, D]`` (stand-ins, tests).

    ``nn.Module`` stand-ins get their cost computed with ``model_cost(module, (sr,))``.
    """
    import torch

    if isinstance(fn, torch.nn.Module):
        module = fn.to(device).eval()

        def call(x):
            with torch.no_grad():
                return module(torch.from_numpy(x).to(device))

        fp = fingerprint or _module_fingerprint(module)

        def cost_fn():
            from ..students.cost import model_cost

            return model_cost(module, (sr,))

        return EmbeddingModel(
            name, kind, sr, fn=call, fingerprint=fp, cost=cost, cost_fn=None if cost else cost_fn, reducer=reducer
        )
    if not callable(fn):
        raise ParameterError(f"stand-in model {name!r} must be callable ([B, {sr}] -> [B, D]), got {type(fn).__name__}")
    return EmbeddingModel(
        name, kind, sr, fn=fn, fingerprint=fingerprint or f"callable:{name}", cost=cost, reducer=reducer
    )


def _module_fingerprint(module) -> str:
    h = hashlib.sha256()
    for k, v in module.state_dict().items():
        h.update(k.encode())
        h.update(np.ascontiguousarray(v.detach().float().cpu().numpy()).tobytes())
    return h.hexdigest()[:16]


def _teacher_dir(run_dir: Path, teacher: str) -> Path | None:
    root = run_dir / "teacher"
    if teacher != "auto":
        return root / teacher if (root / teacher / "store.json").is_file() else None
    found = sorted(p for p in root.iterdir() if (p / "store.json").is_file()) if root.is_dir() else []
    if len(found) > 1:
        raise ConfigError(
            f"several teacher stores under {str(root)!r} ({', '.join(p.name for p in found)}); pass --teacher NAME"
        )
    return found[0] if found else None


def _teacher_cost_fn(module) -> Callable:
    """Cost of the teacher's CNN on its log-mel input, e.g. (1, 256, 199) for mel256 (front-end excluded,
    like the students' (1, 64, 50)); falls back to the whole module on (48000,) audio."""

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
        c["cost_scope"] = "teacher incl. front-end on (48000,)"
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


def _teacher_params(config, store) -> dict:
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


def _store_matches(store, config) -> bool:
    m = store.meta
    return abs(float(m.get("hop_size", -1)) - config.hop_size) < 1e-9 and bool(m.get("center", True)) == bool(
        config.center
    )


def teacher_model(run_dir: Path, dataset_dir: Path, config, *, device: str = "cpu") -> EmbeddingModel:
    """The ``teacher`` model (frame store reuse when the dataset is the run)."""
    from ..store import FrameStore

    tdir = _teacher_dir(run_dir, config.teacher)
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


def _target_names(run_dir: Path) -> list[str]:
    root = run_dir / "targets"
    return sorted(p.name for p in root.iterdir() if (p / "reducer.npz").is_file()) if root.is_dir() else []


def reduced_teacher_model(teacher: EmbeddingModel, run_dir: Path, name: str | None, spec: str) -> EmbeddingModel:
    """``teacher_pca[:NAME]``: the teacher followed by a fitted reducer."""
    from ..targets.reducers import load_reducer

    if not name:
        names = _target_names(run_dir)
        if len(names) != 1:
            raise ConfigError(
                f"model spec {spec!r} needs a target set name when the run has {len(names)} "
                f"({', '.join(names) or 'none'}); write teacher_pca:NAME (run 'sea targets fit' first if none)"
            )
        name = names[0]
    path = run_dir / "targets" / name / "reducer.npz"
    if not path.is_file():
        have = _target_names(run_dir)
        raise ManifestError(
            f"model spec {spec!r}: no reducer at {str(path)!r} (target sets: {', '.join(have) or 'none'}); "
            "run 'sea targets fit' first"
        )
    reducer = load_reducer(path)
    base_fn = teacher.fn

    def fn(x):
        return reducer.transform(_as_numpy(base_fn(x)))

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


def _checkpoint_path(run_dir: Path, spec: str) -> Path:
    for cand in (Path(spec), run_dir / "students" / spec):
        if cand.is_file():
            return cand
        if cand.is_dir():
            for n in ("best.pt", "ckpt.pt", "last.pt"):
                if (cand / n).is_file():
                    return cand / n
            pts = sorted(cand.glob("*.pt"))
            if len(pts) == 1:
                return pts[0]
    have = sorted(p.name for p in (run_dir / "students").iterdir()) if (run_dir / "students").is_dir() else []
    raise ConfigError(
        f"model spec {spec!r} is not 'teacher', 'teacher_pca[:NAME]', a checkpoint file or a student under "
        f"{str(run_dir / 'students')!r} (found: {', '.join(have) or 'none'})"
    )


def student_name(path: Path) -> str:
    return path.parent.name if path.stem in ("best", "ckpt", "last") else path.stem


def _student_reducer(run_dir: Path, ckpt: dict):
    from ..targets.reducers import load_reducer

    spec = ckpt.get("target_spec") or {}
    if spec.get("kind") == "identity":
        return "identity"
    for cand in (
        spec.get("path"),
        run_dir / "targets" / str(spec.get("name")) / "reducer.npz" if spec.get("name") else None,
    ):
        if cand and Path(cand).is_file():
            r = load_reducer(cand)
            if spec.get("sha256") and r.sha256_ != spec["sha256"]:
                log.warning("reducer %s differs from the one the student was trained on (sha256)", cand)
            return r
    return None


def student_model(run_dir: Path, spec: str, *, device: str = "cpu") -> EmbeddingModel:
    """A distilled student from its checkpoint (front-end + network, 8 kHz windows)."""
    import torch

    from ..checkpoint import load_student
    from ..students.frontend import StudentFrontend

    path = _checkpoint_path(run_dir, spec)
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
        reducer=_student_reducer(run_dir, ckpt),
    )


def resolve_model(
    spec: str,
    run_dir: Path,
    dataset_dir: Path,
    config,
    *,
    injected: dict | None = None,
    teacher: EmbeddingModel | None = None,
    device: str = "cpu",
) -> EmbeddingModel:
    """Build the :class:`EmbeddingModel` for one ``--models`` entry (injected stand-ins win)."""
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


# -- embedding ----------------------------------------------------------------------


def _dataset_key(dataset_dir: Path) -> str:
    return sha256_file(dataset_dir / "clips.jsonl")[:16]


def _cache_key(model: EmbeddingModel, dataset_dir: Path, hop_size: float, center: bool, clip_ids) -> str:
    h = hashlib.sha256("\n".join(clip_ids).encode()).hexdigest()[:16]
    return json.dumps(
        {
            "model": model.fingerprint,
            "sr": model.sr,
            "hop_size": hop_size,
            "center": center,
            "manifest": _dataset_key(dataset_dir),
            "clips": h,
        },
        sort_keys=True,
    )


def load_embeddings(path: str | Path) -> EmbeddingSet:
    """Read a cached ``emb/<model>.npz``."""
    with np.load(path, allow_pickle=False) as z:
        return EmbeddingSet(
            features=z["features"],
            clip_index=z["clip_index"].astype(np.int64),
            clip_ids=z["clip_ids"],
            frames=z["frames"].astype(np.int64),
            timestamps=z["timestamps"],
            source="cache",
        )


def _from_store(model: EmbeddingModel, clip_ids: list[str], batch_frames: int = 65536) -> EmbeddingSet | None:
    store = model.store
    slices = store.clip_slices()
    if any(c not in slices for c in clip_ids):
        return None
    rows = np.concatenate([np.arange(slices[c].start, slices[c].stop) for c in clip_ids])
    counts = np.asarray([slices[c].stop - slices[c].start for c in clip_ids])
    parts = []
    for a in range(0, rows.size, batch_frames):
        x = store.read(rows[a : a + batch_frames])
        parts.append(np.asarray(model.post(x) if model.post is not None else x, dtype=np.float32))
    feats = np.concatenate(parts) if parts else np.zeros((0, store.dim), np.float32)
    return EmbeddingSet(
        features=feats,
        clip_index=np.repeat(np.arange(len(clip_ids)), counts),
        clip_ids=np.asarray(clip_ids, dtype=str),
        frames=np.asarray(store.frames)[rows].astype(np.int64),
        timestamps=np.asarray(store.timestamps)[rows].astype(np.float64),
        source="store",
    )


def _embed_audio(
    model: EmbeddingModel, dataset_dir: Path, clip_ids: list[str], hop_size: float, center: bool, batch_size: int
) -> EmbeddingSet:
    cache = AudioCache(dataset_dir, model.sr)
    frame_len = model.sr  # 1-s windows
    starts = [frame_starts(cache.n_samples(c), model.sr, hop_size=hop_size, center=center) for c in clip_ids]
    counts = np.asarray([s.size for s in starts], dtype=np.int64)
    n = int(counts.sum())
    clip_index = np.repeat(np.arange(len(clip_ids)), counts)
    frames = np.concatenate([np.arange(k) for k in counts]) if n else np.zeros(0, np.int64)
    flat_starts = np.concatenate(starts) if n else np.zeros(0, np.int64)
    feats = None
    bar = progress(total=n, desc=f"embed {model.name}", unit="frame")
    try:
        for a in range(0, n, batch_size):
            b = min(a + batch_size, n)
            batch = np.stack(
                [cache.window(clip_ids[clip_index[i]], int(flat_starts[i]), frame_len) for i in range(a, b)]
            )
            emb = _as_numpy(model.fn(batch))
            if emb.ndim != 2 or emb.shape[0] != b - a:
                raise ParameterError(
                    f"model {model.name!r} must map [B, {frame_len}] to [B, D]; got {emb.shape} for B={b - a}"
                )
            if feats is None:
                feats = np.empty((n, emb.shape[1]), np.float32)
            feats[a:b] = emb
            bar.update(b - a)
    finally:
        bar.close()
    return EmbeddingSet(
        features=feats if feats is not None else np.zeros((0, 1), np.float32),
        clip_index=clip_index,
        clip_ids=np.asarray(clip_ids, dtype=str),
        frames=frames.astype(np.int64),
        timestamps=frames * float(hop_size),
        source="model",
    )


def embed_dataset(
    model: EmbeddingModel,
    dataset_dir: str | Path,
    clip_ids: list[str],
    *,
    cache_path: str | Path | None = None,
    hop_size: float = 0.1,
    center: bool = True,
    batch_size: int = 64,
    overwrite: bool = False,
) -> EmbeddingSet:
    """Per-frame embeddings of ``clip_ids`` (cached in ``cache_path`` when given).

    Returns
    -------
    EmbeddingSet
        ``source`` is ``cache``, ``store`` (teacher frames reused) or ``model``.
    """
    dataset_dir = Path(dataset_dir)
    key = _cache_key(model, dataset_dir, hop_size, center, clip_ids)
    if cache_path is not None and Path(cache_path).is_file() and not overwrite:
        try:
            with np.load(cache_path, allow_pickle=False) as z:
                ok = str(z["key"]) == key
        except Exception:  # unreadable cache: recompute
            ok = False
        if ok:
            return load_embeddings(cache_path)
    t0 = time.perf_counter()
    es = _from_store(model, clip_ids) if model.store is not None else None
    if es is None:
        if model.fn is None:
            raise SeaError(f"model {model.name!r} has no embedding function and no reusable frames")
        es = _embed_audio(model, dataset_dir, clip_ids, hop_size, center, batch_size)
    es.seconds = time.perf_counter() - t0
    if cache_path is not None:
        Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache_path, suffix=".npz") as tmp:
            np.savez(
                tmp,
                features=es.features,
                clip_index=es.clip_index.astype(np.int32),
                clip_ids=es.clip_ids,
                frames=es.frames.astype(np.int32),
                timestamps=es.timestamps,
                key=np.str_(key),
            )
    return es
