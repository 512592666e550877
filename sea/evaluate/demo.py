"""A small synthetic evaluation run for tests, notebooks, benchmarks and docs (no downloads, no OpenL3).

:func:`make_demo_run` writes a complete run that ``sea evaluate`` can read without the real teacher:

* ``clips.jsonl`` + ``audio/48000`` + ``audio/8000``: class ``c`` is a noisy tone near ``300 * 2**c`` Hz
  with a random envelope; clip ``i`` is in fold ``i % n_folds + 1``;
* ``teacher/standin/``: a frame store of :class:`StandinTeacher` embeddings (hop ``hop_size``), so the
  ``teacher`` and ``teacher_pca`` specs reuse frames;
* ``targets/pca<d>/reducer.npz`` for every ``d`` of ``pca_dims``;
* ``students/<name>/best.pt``: student checkpoints with **random weights** (``sea_student_*_lin`` with a
  ``d``-dim head) whose ``target_spec`` points at ``targets/pca<d>``.

:class:`StandinTeacher` is an informative, cheap teacher substitute (log band energies of the 1-s window
through a fixed random projection). :func:`broken_student` is a deliberately broken student: its weights
are re-drawn at random on every forward call, so its embedding carries no stable information (a fixed
random network is still a useful random-feature extractor on tones, see the evaluation tests).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..constants import STUDENT_SR, TEACHER_SR, WINDOW_SIZE
from ..layout import RunLayout
from ..utils import Pathlike

__all__ = ["StandinTeacher", "broken_student", "make_demo_run"]


def _torch():
    import torch

    return torch


def StandinTeacher(dim: int = 32, n_bands: int = 48, seed: int = 0):  # noqa: N802 (a module factory)
    """Build a cheap, informative stand-in teacher, deterministic for a seed.

    Log energies of ``n_bands`` log-spaced bands (1024-point frames, averaged over the window)
    through a fixed random linear map.

    Parameters
    ----------
    dim : int
        Embedding size.
    n_bands : int
        Bands between 50 Hz and 20 kHz.
    seed : int
        Seed of the projection.

    Returns
    -------
    teacher : torch.nn.Module
        ``[B, 48000] -> [B, dim]``, in eval mode.
    """
    torch = _torch()

    class _Standin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            g = torch.Generator().manual_seed(seed)
            n_fft = 1024
            freqs = torch.fft.rfftfreq(n_fft, 1 / TEACHER_SR)
            edges = torch.logspace(np.log10(50.0), np.log10(20000.0), n_bands + 1)
            fb = ((freqs[None, :] >= edges[:-1, None]) & (freqs[None, :] < edges[1:, None])).float()
            fb = fb / fb.sum(1, keepdim=True).clamp(min=1)
            self.register_buffer("fb", fb)
            self.register_buffer("window", torch.hann_window(n_fft))
            self.proj = torch.nn.Linear(n_bands, dim)
            with torch.no_grad():
                self.proj.weight.copy_(torch.randn(dim, n_bands, generator=g) / np.sqrt(n_bands))
                self.proj.bias.zero_()

        def forward(self, x):
            frames = x.float().unfold(1, 1024, 1024)  # [B, 46, 1024]
            spec = torch.fft.rfft(frames * self.window, dim=-1).abs() ** 2  # [B, 46, 513]
            bands = torch.log(spec.mean(1) @ self.fb.T + 1e-6)  # [B, n_bands]
            return self.proj(bands)

    return _Standin().eval()


def broken_student(
    name: str = "broken", student: str = "sea_student_3_lin", out_dim: int | None = 8, device: str = "cpu"
):
    """Build a student whose weights are re-randomised on every call (its embedding carries no information).

    Parameters
    ----------
    name : str
        Report name.
    student : str
        Registry name of the architecture.
    out_dim : int or None
        Embedding size; None keeps the architecture's default.
    device : str
        Torch device.

    Returns
    -------
    model : EmbeddingModel
    """
    torch = _torch()
    from ..students import create
    from ..students.frontend import StudentFrontend
    from .embed import EmbeddingModel

    net = create(student, **({"out_dim": out_dim} if out_dim else {})).to(device).eval()
    frontend = StudentFrontend(mode="stft").to(device)

    def fn(x):
        with torch.no_grad():
            for m in net.modules():
                if hasattr(m, "reset_parameters") and m is not net:
                    m.reset_parameters()  # fresh random weights for every batch
            return net(frontend(torch.from_numpy(x).to(device)))

    def cost():
        from ..students.cost import model_cost

        return model_cost(net, (1, 64, 50))

    return EmbeddingModel(
        name,
        "student",
        STUDENT_SR,
        fn=fn,
        fingerprint=f"broken:{student}:{out_dim}",
        cost_fn=cost,
        info={"model_name": student, "broken": "weights re-randomised per call"},
    )


def _clip(c: int, duration: float, sr: int, rng: np.random.Generator, i: int) -> np.ndarray:
    t = np.arange(int(round(duration * sr))) / sr
    f = 300.0 * 2**c * (1 + 0.05 * rng.standard_normal())
    y = (0.3 + 0.3 * rng.random()) * np.sin(2 * np.pi * f * t)
    y = y + 0.02 * rng.standard_normal(t.size)
    y *= np.linspace(0.2, 1.0, t.size) ** (1 + (i % 2))
    return y.astype(np.float32)


def _write_clips(
    layout: RunLayout, n_clips: int, n_classes: int, n_folds: int, duration: float, rng: np.random.Generator
) -> list:
    """Write the clips' audio caches at the teacher's and the students' rate, and the manifest."""
    from ..audio import resample
    from ..cache import CacheWriter
    from ..manifest import ClipRecord, write_manifest

    writers = {sr: CacheWriter(layout.root, sr) for sr in (TEACHER_SR, STUDENT_SR)}
    records = []
    for i in range(n_clips):
        c = i % n_classes
        y = _clip(c, duration, TEACHER_SR, rng, i)
        cid = f"clip{i:03d}"
        writers[TEACHER_SR].add(cid, y)
        writers[STUDENT_SR].add(cid, resample(y, TEACHER_SR, STUDENT_SR))
        records.append(
            ClipRecord(
                clip_id=cid,
                path=f"{layout.raw_dir.name}/{cid}.wav",
                duration=duration,
                sr=TEACHER_SR,
                channels=1,
                label=f"class{c}",
                label_id=c,
                fold=(i % n_folds) + 1,
                md5=hashlib.md5(y.astype("<f4").tobytes()).hexdigest(),  # of its audio: there is no file
            )
        )
    for w in writers.values():
        w.close()
    write_manifest(records, layout.manifest)
    return records


def _write_teacher_store(
    layout: RunLayout, records: list, teacher_dim: int, hop_size: float, seed: int
) -> tuple[np.ndarray, dict]:
    """Write the stand-in teacher's frame store, framed exactly like ``sea teacher extract``; return (frames, meta)."""
    torch = _torch()
    from ..cache import AudioCache
    from ..framing import frame_starts
    from ..store import FrameStoreWriter

    teacher = StandinTeacher(teacher_dim, seed=seed)
    cache = AudioCache(layout.root, TEACHER_SR)
    meta = {
        "sr": TEACHER_SR,
        "hop_size": hop_size,
        "center": True,
        "frame_size": WINDOW_SIZE,
        "window_size": WINDOW_SIZE,
        "teacher": {
            "family": "standin",
            "name": "standin",
            "variant": "standin",
            "sr": TEACHER_SR,
            "window_size": WINDOW_SIZE,
            "hop_size": hop_size,
            "embedding_size": teacher_dim,
            "weights": None,
            "weights_sha256": None,
            "untrained": False,
            "standin": True,
            "seed": seed,
        },
    }
    all_frames = []
    with FrameStoreWriter(layout.teacher("standin"), teacher_dim, dtype="float32", meta=meta) as w:
        for r in records:
            starts = frame_starts(cache.n_samples(r.clip_id), TEACHER_SR, hop_size=hop_size)
            win = np.stack([cache.window(r.clip_id, int(s), TEACHER_SR) for s in starts])
            with torch.no_grad():
                emb = teacher(torch.from_numpy(win)).numpy()
            w.add([r.clip_id] * len(starts), np.arange(len(starts)), np.arange(len(starts)) * hop_size, emb)
            all_frames.append(emb)
    return np.concatenate(all_frames), meta


def _write_students(
    layout: RunLayout, students: dict[str, tuple[str, int]], specs: dict[int, dict], teacher: dict, seed: int
) -> None:
    """Write randomly initialised student checkpoints whose targets are ``targets/pca<d>``."""
    torch = _torch()
    from ..checkpoint import save_checkpoint
    from ..students import create

    for name, (model_name, d) in students.items():
        torch.manual_seed(seed)
        net = create(model_name, out_dim=int(d))
        save_checkpoint(
            layout.checkpoint(name),
            {
                "model_name": model_name,
                "model_args": {"out_dim": int(d)},
                "state_dict": net.state_dict(),
                "target_spec": specs[int(d)],
                "teacher": teacher,
                "config": {"note": "random weights (demo)"},
            },
        )


def make_demo_run(
    run_dir: Pathlike,
    *,
    n_clips: int = 24,
    n_classes: int = 3,
    n_folds: int = 4,
    duration: float = 2.0,
    hop_size: float = 0.5,
    teacher_dim: int = 32,
    pca_dims: tuple[int, ...] = (8,),
    students: dict[str, tuple[str, int]] | None = None,
    seed: int = 0,
) -> Path:
    """Write the synthetic run described in the module docstring.

    Parameters
    ----------
    run_dir : path
        The run directory to write (created if missing).
    n_clips, n_classes, n_folds : int
        Clip ``i`` has class ``i % n_classes`` and fold ``i % n_folds + 1``.
    duration : float
        Clip length in seconds.
    hop_size : float
        Hop of the teacher store's frames in seconds.
    teacher_dim : int
        Output size of the stand-in teacher.
    pca_dims : tuple of int
        One PCA target set ``targets/pca<d>`` per entry.
    students : dict, optional
        Name -> ``(registry model, pca dim)``; default ``{"s3_random": ("sea_student_3_lin", pca_dims[0])}``.
    seed : int
        Seed of the audio, the stand-in teacher, the PCA and the students' weights.

    Returns
    -------
    run_dir : Path
    """
    from ..targets.reducers import PCAReducer, save_reducer

    layout = RunLayout(run_dir)
    layout.root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    records = _write_clips(layout, n_clips, n_classes, n_folds, duration, rng)
    frames, meta = _write_teacher_store(layout, records, teacher_dim, hop_size, seed)
    specs = {}
    for d in pca_dims:
        red = PCAReducer(int(d), seed=seed).fit(frames)
        path = save_reducer(red, layout.reducer(f"pca{d}"))
        specs[int(d)] = {**red.spec(), "name": f"pca{d}", "path": str(path)}
    students = students if students is not None else {"s3_random": ("sea_student_3_lin", int(pca_dims[0]))}
    _write_students(layout, students, specs, meta["teacher"], seed)
    return layout.root
