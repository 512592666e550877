"""The frame store: teacher embeddings of every frame of a run, memory-mapped.

One directory (``RUN/teacher/<variant>/``) holds::

    emb-00000.npy   float16 (default) or float32 [n_k, D] embeddings (np.save format: np.load(mmap_mode="r"))
    idx-00000.npz   the shard's index: clips [u] (str, first-appearance order), clip_code [n_k] int32
                    (into ``clips``), frames [n_k] int64 (frame index within the clip), timestamps [n_k]
                    float64 (s), plus the shard's sha256 and sampled sha256, n_frames, dim and dtype
    ...
    store.json      written last: format, dim, dtype, n_frames, n_clips, shard_size, the shard list
                    (file names, first frame, frame count, bytes, sha256, sampled_sha256) and the
                    producer's meta (for the teacher: sr, hop_size, center, frame_size/window_size and
                    the teacher's identity: family, name, sr, window_size, hop_size, embedding_size,
                    weights, weights_sha256, untrained; :attr:`FrameStore.teacher`)

A shard is committed by writing its index and then renaming its embedding file
into place, so a present ``emb-k.npy`` with a matching ``idx-k.npz`` is always
complete; ``store.json`` exists only once every shard is.

Integrity: opening a store checks every shard against ``store.json`` (size and
the sampled hash of :mod:`sea.integrity`; the full sha256 too under ``--verify``),
and reads check that the rows they return are finite. A truncated, altered or
NaN-filled shard is named in one line with the command that rebuilds it.

Rows are global frame indices ``0 .. n_frames - 1`` in shard order; the
frames of one clip are contiguous. Reading is memory-bounded: :meth:`FrameStore.read`
opens (memory-maps) only the shards its indices fall into and copies only the
requested rows, converted to float32.

Examples
--------
>>> w = FrameStoreWriter(out_dir, 512, meta={"hop_size": 0.1})
>>> w.add(["a"] * 3, [0, 1, 2], [0.0, 0.1, 0.2], emb)  # emb: [3, 512]
>>> w.close()
>>> store = FrameStore(out_dir)
>>> store.read([2, 0]).shape
(2, 512)
"""

from __future__ import annotations

import glob
import os
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import integrity
from .errors import ManifestError, ParameterError
from .utils import atomic_path, read_json, sha256_file, write_json

STORE_FILE = "store.json"
STORE_FORMAT = "sea-frame-store"
STORE_VERSION = 1
DTYPES = ("float16", "float32")
#: store.json keys owned by the store; producer meta may not override them.
RESERVED_KEYS = ("format", "version", "dim", "dtype", "n_frames", "n_clips", "shard_size", "shards")

__all__ = [
    "DTYPES",
    "STORE_FILE",
    "FrameStore",
    "FrameStoreWriter",
    "ShardWriter",
    "clear_store_files",
    "emb_name",
    "idx_name",
    "read_shard_record",
    "write_store_json",
]


def emb_name(k: int) -> str:
    """File name of shard ``k``'s embeddings."""
    return f"emb-{k:05d}.npy"


def idx_name(k: int) -> str:
    """File name of shard ``k``'s index."""
    return f"idx-{k:05d}.npz"


def _check_dtype(dtype: Any) -> np.dtype:
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in DTYPES:
        raise ParameterError(f"store dtype={dtype!r} is not supported; choose one of {', '.join(DTYPES)}")
    return np.dtype(name)


def clear_store_files(out_dir: str | Path, *, temporaries_only: bool = False) -> int:
    """Delete a store's files (shards, indices, store.json and leftover temporaries).

    Only files named like a store's are touched; anything else in the
    directory (``stage.json``, user files) stays. Returns how many were removed.
    """
    out_dir = Path(out_dir)
    patterns = [".emb-*", ".idx-*", f".{STORE_FILE}.*"]
    if not temporaries_only:
        patterns += ["emb-[0-9]*.npy", "idx-[0-9]*.npz", STORE_FILE]
    n = 0
    for pat in patterns:
        for f in glob.glob(str(out_dir / pat)):
            try:
                os.unlink(f)
                n += 1
            except FileNotFoundError:  # another process cleaned it first
                pass
    return n


class ShardWriter:
    """Write one shard ``k`` of ``n_frames`` rows in place, then commit it atomically.

    Rows go into a memory-mapped temporary ``.npy`` (so memory stays bounded by
    the caller's batch, not by the shard); :meth:`commit` hashes it, writes the
    index and renames the embeddings into place.

    Parameters
    ----------
    out_dir : path
    k : int
        Shard number.
    n_frames : int
        Rows of this shard (fixed up front).
    dim : int
        Embedding dimension D.
    dtype : {"float16", "float32"}
    """

    def __init__(self, out_dir: str | Path, k: int, n_frames: int, dim: int, dtype: str = "float16"):
        if n_frames < 1 or dim < 1:
            raise ParameterError(f"shard {k}: n_frames={n_frames} and dim={dim} must both be >= 1")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.k, self.n_frames, self.dim = int(k), int(n_frames), int(dim)
        self.dtype = _check_dtype(dtype)
        # pid + random in the name: no two writers (ranks, the short-shard copy) share a temporary
        self._tmp = self.out_dir / f".{emb_name(self.k)}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial.npy"
        # Plain positional writes, not a memmap: dirty pages of a mapped shard would count
        # against the process's RSS (805 MB for a 65536 x 6144 float16 shard).
        self._fh = open(self._tmp, "w+b")
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (self.n_frames, self.dim),
        }
        np.lib.format.write_array_header_1_0(self._fh, header)  # a 2-D header is far below the 64 KiB limit
        self._data_offset = self._fh.tell()
        self._row_bytes = self.dim * self.dtype.itemsize
        self._fh.truncate(self._data_offset + self.n_frames * self._row_bytes)
        self._written = 0

    def write(self, offset: int, emb: np.ndarray) -> None:
        """Store rows ``[offset, offset + len(emb))`` of the shard.

        Raises ParameterError on a wrong shape or on values that are not
        finite once cast to the store dtype (float16 overflows above 65504).
        """
        emb = np.asarray(emb)
        if emb.ndim != 2 or emb.shape[1] != self.dim:
            raise ParameterError(f"shard {self.k}: embeddings must have shape (n, {self.dim}), got {emb.shape}")
        if offset < 0 or offset + emb.shape[0] > self.n_frames:
            raise ParameterError(
                f"shard {self.k}: rows [{offset}, {offset + emb.shape[0]}) fall outside its {self.n_frames} frames"
            )
        with np.errstate(over="ignore"):
            cast = emb.astype(self.dtype, copy=False)
        if not np.isfinite(cast).all():
            hint = "; use dtype float32" if self.dtype == np.float16 and np.isfinite(emb).all() else ""
            raise ParameterError(f"shard {self.k}: embeddings hold non-finite values as {self.dtype.name}{hint}")
        os.pwrite(self._fh.fileno(), np.ascontiguousarray(cast).tobytes(), self._data_offset + offset * self._row_bytes)
        self._written += emb.shape[0]

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` written so far (before :meth:`commit`)."""
        raw = os.pread(self._fh.fileno(), (stop - start) * self._row_bytes, self._data_offset + start * self._row_bytes)
        return np.frombuffer(raw, dtype=self.dtype).reshape(stop - start, self.dim)

    def commit(self, clip_ids: Sequence[str] | np.ndarray, frames: np.ndarray, timestamps: np.ndarray) -> dict:
        """Write the index and move the embeddings into place; returns the shard record."""
        clip_ids = np.asarray(clip_ids).astype(str)
        frames = np.asarray(frames, dtype=np.int64)
        timestamps = np.asarray(timestamps, dtype=np.float64)
        if not (clip_ids.shape == frames.shape == timestamps.shape == (self.n_frames,)):
            raise ParameterError(
                f"shard {self.k}: index arrays must all have shape ({self.n_frames},), got clip_ids {clip_ids.shape}, "
                f"frames {frames.shape}, timestamps {timestamps.shape}"
            )
        if self._written < self.n_frames:
            raise ParameterError(f"shard {self.k}: only {self._written} of {self.n_frames} rows were written")
        self._fh.flush()
        os.fsync(self._fh.fileno())  # the rename below must never expose unwritten rows
        self._fh.close()
        sha = sha256_file(self._tmp)
        sampled = integrity.sampled_sha256(self._tmp)
        clips, first, code = np.unique(clip_ids, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")  # clip table in first-appearance order
        remap = np.empty_like(order)
        remap[order] = np.arange(order.size)
        with atomic_path(self.out_dir / idx_name(self.k), suffix=".npz") as tmp:
            np.savez(
                tmp,
                clips=clips[order],
                clip_code=remap[code.reshape(-1)].astype(np.int32),
                frames=frames,
                timestamps=timestamps,
                sha256=np.str_(sha),
                sampled_sha256=np.str_(sampled),
                n_frames=np.int64(self.n_frames),
                dim=np.int64(self.dim),
                dtype=np.str_(self.dtype.name),
            )
        os.replace(self._tmp, self.out_dir / emb_name(self.k))
        return read_shard_record(self.out_dir, self.k)

    def abort(self) -> None:
        """Drop the temporary file (after an error)."""
        if not self._fh.closed:
            self._fh.close()
        if self._tmp.exists():
            self._tmp.unlink()


def read_shard_record(out_dir: str | Path, k: int, *, n_frames: int | None = None, check: bool = False) -> dict | None:
    """The record of a committed shard ``k``, or None when it is missing, incomplete or (``check``) damaged.

    Complete means: the index loads, the embedding file exists and its header
    and size agree with the index (and with ``n_frames`` when given). With
    ``check``, the embedding file must also match the hash its index recorded:
    the sampled hash (:func:`sea.integrity.sampled_sha256`), or the full sha256
    under ``--verify`` or for indexes written before sampled hashes.
    """
    out_dir = Path(out_dir)
    ef, xf = out_dir / emb_name(k), out_dir / idx_name(k)
    if not (ef.is_file() and xf.is_file()):
        return None
    try:
        with np.load(xf, allow_pickle=False) as z:
            rec = {
                "emb": ef.name,
                "index": xf.name,
                "n_frames": int(z["n_frames"]),
                "dim": int(z["dim"]),
                "dtype": str(z["dtype"]),
                "sha256": str(z["sha256"]),
            }
            if "sampled_sha256" in z.files:
                rec["sampled_sha256"] = str(z["sampled_sha256"])
        mm = np.load(ef, mmap_mode="r", allow_pickle=False)
        ok = mm.shape == (rec["n_frames"], rec["dim"]) and mm.dtype.name == rec["dtype"]
        del mm
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # missing, truncated or garbage files
        return None
    if not ok or (n_frames is not None and rec["n_frames"] != n_frames):
        return None
    rec["bytes"] = ef.stat().st_size
    if check and not _shard_matches(ef, rec):
        import logging

        logging.getLogger(__name__).warning("shard %s does not match its recorded hash; embedding it again", ef)
        return None
    return rec


def _shard_matches(path: Path, rec: dict) -> bool:
    if rec.get("sampled_sha256") and integrity.sampled_sha256(path) != rec["sampled_sha256"]:
        return False
    if integrity.full_verify() or not rec.get("sampled_sha256"):
        return sha256_file(path) == rec["sha256"]
    return True


def write_store_json(
    out_dir: str | Path, records: list[dict], *, shard_size: int, meta: dict | None = None, n_clips: int | None = None
) -> dict:
    """Write ``store.json`` for committed shard ``records`` (in shard order); returns it."""
    if not records:
        raise ParameterError("a frame store needs at least one shard; nothing was written")
    meta = dict(meta or {})
    clash = sorted(set(meta) & set(RESERVED_KEYS))
    if clash:
        raise ParameterError(f"store meta key(s) {clash} are reserved; reserved keys are {list(RESERVED_KEYS)}")
    dims, dtypes = {r["dim"] for r in records}, {r["dtype"] for r in records}
    if len(dims) != 1 or len(dtypes) != 1:
        raise ParameterError(f"shards disagree on dim {sorted(dims)} or dtype {sorted(dtypes)}")
    shards, start = [], 0
    for r in records:
        keys = ("emb", "index", "n_frames", "bytes", "sha256", "sampled_sha256")
        shards.append({k: r[k] for k in keys if k in r} | {"start": start})
        start += r["n_frames"]
    if n_clips is None:
        seen: set[str] = set()
        for r in records:
            with np.load(Path(out_dir) / r["index"], allow_pickle=False) as z:
                seen.update(z["clips"].tolist())
        n_clips = len(seen)
    doc = {
        "format": STORE_FORMAT,
        "version": STORE_VERSION,
        "dim": dims.pop(),
        "dtype": dtypes.pop(),
        "n_frames": start,
        "n_clips": int(n_clips),
        "shard_size": int(shard_size),
        "shards": shards,
        **meta,
    }
    write_json(Path(out_dir) / STORE_FILE, doc)
    return doc


class FrameStoreWriter:
    """Append frames to a new store; shards are committed as they fill.

    Parameters
    ----------
    out_dir : path
        Store directory; any previous store files in it are removed first.
    dim : int
        Embedding dimension D.
    dtype : {"float16", "float32"}
        On-disk dtype (reads always return float32).
    shard_size : int
        Frames per shard (the last one may be shorter).
    meta : dict
        Extra keys for ``store.json`` (e.g. sr, hop_size, center, frame_size, teacher).

    Notes
    -----
    Memory is bounded by the rows passed to :meth:`add` plus the index of the
    current shard: rows go straight into a memory-mapped shard file.
    """

    def __init__(
        self,
        out_dir: str | Path,
        dim: int,
        *,
        dtype: str = "float16",
        shard_size: int = 65536,
        meta: dict | None = None,
    ):
        if int(dim) < 1:
            raise ParameterError(f"dim={dim} must be >= 1")
        if int(shard_size) < 1:
            raise ParameterError(f"shard_size={shard_size} must be >= 1 frames, e.g. 65536")
        self.out_dir = Path(out_dir)
        self.dim, self.shard_size = int(dim), int(shard_size)
        self.dtype = _check_dtype(dtype)
        self.meta = dict(meta or {})
        clash = sorted(set(self.meta) & set(RESERVED_KEYS))
        if clash:
            raise ParameterError(f"store meta key(s) {clash} are reserved; reserved keys are {list(RESERVED_KEYS)}")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        clear_store_files(self.out_dir)  # an old store.json must never describe the new shards
        self._records: list[dict] = []
        self._clips: set[str] = set()
        self._shard: ShardWriter | None = None
        self._fill = 0
        self._ids: list[np.ndarray] = []
        self._frames: list[np.ndarray] = []
        self._ts: list[np.ndarray] = []
        self._closed = False
        self.n_frames = 0

    def __enter__(self) -> FrameStoreWriter:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def add(self, clip_ids, frames, timestamps, embeddings) -> None:
        """Append ``n`` frames.

        Parameters
        ----------
        clip_ids : str or array of str, shape (n,)
            One id for all rows, or one per row.
        frames : array of int, shape (n,)
            Frame index within the clip.
        timestamps : array of float, shape (n,)
            Seconds (openl3: ``frame * hop_size``).
        embeddings : array, shape (n, D)
        """
        if self._closed:
            raise ParameterError("this FrameStoreWriter is closed")
        emb = np.asarray(embeddings)
        if emb.ndim != 2 or emb.shape[1] != self.dim:
            raise ParameterError(f"embeddings must have shape (n, {self.dim}), got {emb.shape}")
        n = emb.shape[0]
        ids = np.asarray(clip_ids).astype(str)
        if ids.ndim == 0:
            ids = np.full(n, ids.item(), dtype=ids.dtype)
        frames = np.asarray(frames, dtype=np.int64).reshape(-1)
        ts = np.asarray(timestamps, dtype=np.float64).reshape(-1)
        if not (ids.shape[0] == frames.shape[0] == ts.shape[0] == n):
            raise ParameterError(
                f"add(): clip_ids ({ids.shape[0]}), frames ({frames.shape[0]}), timestamps ({ts.shape[0]}) and "
                f"embeddings ({n}) must have the same length"
            )
        pos = 0
        while pos < n:
            if self._shard is None:
                self._shard = ShardWriter(self.out_dir, len(self._records), self.shard_size, self.dim, self.dtype.name)
                self._fill = 0
            take = min(n - pos, self.shard_size - self._fill)
            self._shard.write(self._fill, emb[pos : pos + take])
            self._ids.append(ids[pos : pos + take])
            self._frames.append(frames[pos : pos + take])
            self._ts.append(ts[pos : pos + take])
            self._fill += take
            pos += take
            if self._fill == self.shard_size:
                self._commit()
        self.n_frames += n

    def _commit(self) -> None:
        shard, n = self._shard, self._fill
        ids, frames, ts = np.concatenate(self._ids), np.concatenate(self._frames), np.concatenate(self._ts)
        if n < shard.n_frames:
            # Last, short shard: copy its rows into a file of the right shape, chunk by chunk.
            short = ShardWriter(self.out_dir, shard.k, n, self.dim, self.dtype.name)
            step = max(1, (1 << 24) // (self.dim * self.dtype.itemsize))
            for a in range(0, n, step):
                short.write(a, shard.read_rows(a, min(a + step, n)))
            shard.abort()
            shard = short
        self._records.append(shard.commit(ids, frames, ts))
        self._clips.update(np.unique(ids).tolist())
        self._shard, self._fill = None, 0
        self._ids, self._frames, self._ts = [], [], []

    def close(self) -> Path:
        """Commit the last shard and write ``store.json``; returns the store directory."""
        if self._closed:
            return self.out_dir
        if self._shard is not None and self._fill:
            self._commit()
        write_store_json(
            self.out_dir, self._records, shard_size=self.shard_size, meta=self.meta, n_clips=len(self._clips)
        )
        self._closed = True
        return self.out_dir

    def abort(self) -> None:
        """Drop the shard in progress; no store.json is written."""
        if self._shard is not None:
            self._shard.abort()
            self._shard = None
        self._closed = True


class FrameStore:
    """Read-only, memory-mapped view of a frame store.

    Parameters
    ----------
    path : path
        The store directory (``RUN/teacher/<variant>``).

    Attributes
    ----------
    n_frames, dim : int
    dtype : np.dtype
        On-disk dtype; reads return float32.
    meta : dict
        The whole ``store.json`` (sr, hop_size, center, frame_size, teacher, shards...).
    clip_ids : np.ndarray [shape=(N,), dtype=str]
    frames : np.ndarray [shape=(N,), dtype=int64]
    timestamps : np.ndarray [shape=(N,), dtype=float64]
        The index, loaded on first use (about 20 bytes per frame, plus the clip table).
    """

    def __init__(self, path: str | Path):
        self.dir = Path(path)
        meta_file = self.dir / STORE_FILE
        hint = _extract_hint(self.dir)
        if not self.dir.is_dir():
            raise ManifestError(f"frame store {str(self.dir)!r} does not exist; {hint}")
        if not meta_file.is_file():
            raise ManifestError(f"frame store {str(self.dir)!r} is incomplete (no {STORE_FILE}); {hint}")
        meta = _read_meta(meta_file, hint)
        if int(meta.get("version", 0)) > STORE_VERSION:
            raise ManifestError(
                f"frame store {str(self.dir)!r} has version {meta['version']}, newer than this sea reads "
                f"({STORE_VERSION}); upgrade sea"
            )
        fix = _rebuild_hint(self.dir)
        for s in meta["shards"]:
            if not (self.dir / s["index"]).is_file():
                raise integrity.DamagedFileError(
                    f"frame store index {str(self.dir / s['index'])!r} is missing; rebuild it: {fix}"
                )
            rec = {"size": s["bytes"], "sampled_sha256": s.get("sampled_sha256"), "sha256": s.get("sha256")}
            integrity.check(self.dir / s["emb"], rec, fix=fix, what="frame store shard")
        self.meta: dict[str, Any] = meta
        self.n_frames = int(meta["n_frames"])
        self.dim = int(meta["dim"])
        self.dtype = np.dtype(meta["dtype"])
        self.shards: list[dict] = meta["shards"]
        self._starts = np.asarray([s["start"] for s in self.shards] + [self.n_frames], dtype=np.int64)
        self._mmaps: dict[int, np.ndarray] = {}
        self._index: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._clip_ids: np.ndarray | None = None

    @property
    def teacher(self) -> dict[str, Any]:
        """The teacher that made the store: ``family, name, sr, window_size, hop_size, embedding_size, weights,
        weights_sha256, untrained`` (and more), as :meth:`sea.teacher.registry.TeacherSpec.identity` records it.

        Stores written before the teacher registry hold OpenL3's fields only; the missing keys are filled
        from the store (family ``openl3``, its rate, the 1-s window).
        """
        t = dict(self.meta.get("teacher") or {})
        t.setdefault("family", "openl3")
        if t["family"] == "openl3" and "name" not in t:
            t["name"] = (
                f"{t.get('input_repr', 'mel256')}_{t.get('content_type', 'music')}_{t.get('embedding_size', self.dim)}"
            )
        t.setdefault("sr", int(self.meta.get("sr", 48000)))
        t.setdefault("window_size", float(self.meta.get("window_size", self.meta.get("frame_size", 1.0))))
        t.setdefault("hop_size", self.meta.get("hop_size"))
        t.setdefault("embedding_size", self.dim)
        t.setdefault("weights", t.get("weights_path"))
        t.setdefault("weights_sha256", None)
        t.setdefault("untrained", False)
        return t

    @property
    def window_size(self) -> float:
        """The teacher's window in seconds (1.0 for OpenL3 and edgel3, 3.0 for BirdNET)."""
        return float(self.teacher["window_size"])

    @property
    def sr(self) -> int:
        """The teacher's sample rate (Hz)."""
        return int(self.teacher["sr"])

    def __len__(self) -> int:
        return self.n_frames

    def __repr__(self) -> str:
        return f"FrameStore({str(self.dir)!r}, n_frames={self.n_frames}, dim={self.dim}, dtype={self.dtype.name})"

    # -- index -----------------------------------------------------------------

    def _load_index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self._index is None:
            table: dict[str, int] = {}
            codes, frames, ts = [], [], []
            for s in self.shards:
                with np.load(self.dir / s["index"], allow_pickle=False) as z:
                    local = np.asarray([table.setdefault(c, len(table)) for c in z["clips"].tolist()], dtype=np.int32)
                    codes.append(local[z["clip_code"]])
                    frames.append(z["frames"])
                    ts.append(z["timestamps"])
            clip_table = np.asarray(list(table), dtype=str)
            self._index = (clip_table, np.concatenate(codes), np.concatenate(frames), np.concatenate(ts))
            if self._index[1].shape[0] != self.n_frames:
                raise ManifestError(
                    f"frame store {str(self.dir)!r}: the index has {self._index[1].shape[0]} rows, "
                    f"store.json says {self.n_frames}; {_extract_hint(self.dir)}"
                )
        return self._index

    @property
    def clip_table(self) -> np.ndarray:
        """Distinct clip ids in store order, shape (n_clips,)."""
        return self._load_index()[0]

    @property
    def clip_index(self) -> np.ndarray:
        """Per frame, the position of its clip in :attr:`clip_table`, int32 (N,)."""
        return self._load_index()[1]

    @property
    def clip_ids(self) -> np.ndarray:
        """Per-frame clip id, shape (N,) str (built from the compact index on first use)."""
        if self._clip_ids is None:
            table, codes, _, _ = self._load_index()
            self._clip_ids = table[codes]
        return self._clip_ids

    @property
    def frames(self) -> np.ndarray:
        return self._load_index()[2]

    @property
    def timestamps(self) -> np.ndarray:
        return self._load_index()[3]

    def clip_slices(self) -> dict[str, slice]:
        """Row range of every clip (clips are contiguous in the store)."""
        table, codes, _, _ = self._load_index()
        if codes.size == 0:
            return {}
        cut = np.flatnonzero(np.diff(codes)) + 1
        starts = np.concatenate([[0], cut])
        stops = np.concatenate([cut, [codes.size]])
        run_codes = codes[starts]
        if np.unique(run_codes).size != run_codes.size:
            raise ManifestError(f"frame store {str(self.dir)!r}: the frames of some clip are not contiguous")
        return {str(table[c]): slice(int(a), int(b)) for c, a, b in zip(run_codes, starts, stops)}

    # -- embeddings ------------------------------------------------------------

    def shard(self, k: int) -> np.ndarray:
        """Shard ``k``'s embeddings as a read-only memmap, shape (n_k, D), on-disk dtype."""
        mm = self._mmaps.get(k)
        if mm is None:
            mm = np.load(self.dir / self.shards[k]["emb"], mmap_mode="r", allow_pickle=False)
            if mm.shape != (self.shards[k]["n_frames"], self.dim):
                raise ManifestError(
                    f"frame store {str(self.dir)!r}: shard {k} has shape {mm.shape}, expected "
                    f"({self.shards[k]['n_frames']}, {self.dim})"
                )
            self._mmaps[k] = mm
        return mm

    def read(self, indices, *, check_finite: bool = True) -> np.ndarray:
        """Rows ``indices`` (any order, repeats allowed) as float32, shape (k, D).

        Only the shards the indices fall into are opened, and only the
        requested rows are copied. With ``check_finite`` (default) a NaN or Inf
        row raises :class:`~sea.integrity.DamagedFileError` naming the shard, row,
        clip and frame.
        """
        idx = np.asarray(indices)
        if idx.ndim != 1:
            idx = idx.reshape(-1)
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise ParameterError(f"store indices must be integers, got dtype {idx.dtype}")
        idx = idx.astype(np.int64, copy=False)
        out = np.empty((idx.shape[0], self.dim), dtype=np.float32)
        if idx.size == 0:
            return out
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= self.n_frames:
            raise ParameterError(f"store index {lo if lo < 0 else hi} is out of range [0, {self.n_frames})")
        if idx.size > 1 and np.all(idx[1:] > idx[:-1]):
            order, sidx = None, idx
        else:
            order = np.argsort(idx, kind="stable")
            sidx = idx[order]
        bounds = np.searchsorted(sidx, self._starts)
        for k in range(len(self.shards)):
            a, b = int(bounds[k]), int(bounds[k + 1])
            if a == b:
                continue
            local = sidx[a:b] - self._starts[k]
            mm = self.shard(k)
            if int(local[-1]) - int(local[0]) + 1 == local.size:  # a contiguous run: slice, no gather
                rows = mm[int(local[0]) : int(local[-1]) + 1]
            else:
                rows = mm[local]
            if order is None:
                out[a:b] = rows
            else:
                out[order[a:b]] = rows
        if check_finite and not np.isfinite(out).all():
            self._non_finite(idx, out)
        return out

    def _non_finite(self, idx: np.ndarray, out: np.ndarray) -> None:
        row = int(idx[int(np.flatnonzero(~np.isfinite(out).all(axis=1))[0])])
        k = int(np.searchsorted(self._starts, row, side="right") - 1)
        raise integrity.DamagedFileError(
            f"frame store shard {str(self.dir / self.shards[k]['emb'])!r} holds NaN/Inf at row {row} "
            f"(clip {str(self.clip_ids[row])!r}, frame {int(self.frames[row])}); rebuild it: {_rebuild_hint(self.dir)}"
        )

    def read_range(self, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` as float32, shape (stop - start, D)."""
        if not (0 <= start <= stop <= self.n_frames):
            raise ParameterError(f"range [{start}, {stop}) is outside [0, {self.n_frames}]")
        return self.read(np.arange(start, stop, dtype=np.int64))

    def iter_batches(
        self, batch_size: int, *, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first_row, float32 [b, D])`` over rows ``[start, stop)`` in order."""
        if int(batch_size) < 1:
            raise ParameterError(f"batch_size={batch_size} must be >= 1")
        stop = self.n_frames if stop is None else int(stop)
        for a in range(int(start), stop, int(batch_size)):
            yield a, self.read_range(a, min(a + int(batch_size), stop))

    def verify(self) -> None:
        """Recompute every shard's full sha256 against store.json; DamagedFileError (one line) on a mismatch."""
        fix = _rebuild_hint(self.dir)
        for s in self.shards:
            if sha256_file(self.dir / s["emb"]) != s["sha256"]:
                raise integrity.DamagedFileError(
                    f"frame store shard {str(self.dir / s['emb'])!r} does not match its sha256 (altered after it was "
                    f"written); rebuild it: {fix}"
                )

    def close(self) -> None:
        """Release the memory maps (they reopen on demand)."""
        self._mmaps.clear()


def _run_of(store_dir: Path) -> str:
    return str(store_dir.parent.parent) if store_dir.parent.name == "teacher" else "RUN_DIR"


def _extract_hint(store_dir: Path) -> str:
    return f"run 'sea teacher extract {_run_of(store_dir)}' first"


def _rebuild_hint(store_dir: Path) -> str:
    return f"sea teacher extract {_run_of(store_dir)} --overwrite (or sea run CONFIG --overwrite teacher)"


def _read_meta(meta_file: Path, hint: str) -> dict[str, Any]:
    """store.json, or one ManifestError naming it when it is not a store description."""
    try:
        meta = read_json(meta_file)
    except (OSError, ValueError) as exc:
        meta, why = None, f"unreadable ({type(exc).__name__})"
    else:
        why = "not a sea frame store description"
    ok = isinstance(meta, dict) and meta.get("format") == STORE_FORMAT and isinstance(meta.get("shards"), list)
    if ok:
        try:
            int(meta["n_frames"]), int(meta["dim"]), np.dtype(meta["dtype"]), int(meta.get("version", 0))
            ok = all(
                isinstance(s, dict) and {"emb", "index", "bytes", "start", "n_frames"} <= set(s) for s in meta["shards"]
            )
        except (KeyError, TypeError, ValueError):
            ok = False
    if not ok:
        rebuild = _rebuild_hint(meta_file.parent)
        raise ManifestError(f"{str(meta_file)!r} is {why}; rebuild the store: {rebuild}")
    return meta
