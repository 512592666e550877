"""The SEA paper's published students (edgel3 ``model_type='sea'``), read from their official Keras files.

``edgel3`` (the package that distributes the SEA students) ships each as a Keras 2.0.9 HDF5 file,
``edgel3_sea_ust_audio_emb_<D>.h5``: a kapre 0.1.x ``Melspectrogram`` (8 kHz, 1024-point DFT, hop 160, 64 HTK
mels, decibel output), an input BatchNorm and SEA Student 0-3 (``D`` = 512, 256, 128, 64). edgel3 needs
TensorFlow 2.0 / Keras 2.3 and does not install on current Python; sea reads the same files with h5py (never
TensorFlow) into its own modules:

* the weights are taken in ``model_config`` order (the file's layer list), each layer's tensors in its
  ``weight_names`` order (h5py iterates groups alphabetically; the names carry old Keras numbering: 8 convs named
  ``conv2d_1..7`` and ``audio_embedding_layer``, 9 BatchNorms ``batch_normalization_1..9`` where BN 1 is the input
  BN). The architecture in the file is checked layer by layer against Student 0-3 (a clear error otherwise);
* the network is sea's registered ``sea_student_N`` (post-ReLU, as published): Keras kernels ``(kh, kw, in, out)``
  become torch ``(out, in, kh, kw)`` (both cross-correlate; the file's backend is TensorFlow, so no flip);
* the front-end is :class:`EdgeL3Frontend`, sea's kapre-0.1.4 log-mel (:mod:`sea.students.frontend`). The DFT
  kernels and mel filterbank stored in the file are checked against sea's own to float32 rounding at load time.

Faithfulness: edgel3 computes its STFT as a float32 convolution in TensorFlow. On pure digital tones, mel bands far
from the tone hold that convolution's float32 round-off (mel power ~1e-15 of the window's peak, above kapre's
-80 dB floor at 1e-16), so an exact front-end differs there. :class:`EdgeL3Frontend` computes exactly (float64
FFT) and, for the frames that have a band below ``1e-12`` of the window's peak power (where round-off can show),
recomputes the DFT as TensorFlow 2.0's CPU convolution does: float32 fused multiply-adds in blocks of 256 taps.
That reproduces edgel3's conv output bit for bit on the reference machine, and costs nothing on real recordings
(no band is ever that far below the peak).

Weights resolve as OpenL3's do (:mod:`sea.teacher.weights`): an explicit ``weights=`` path (``.h5`` or ``.h5.gz``),
then the user cache (``$SEA_CACHE_DIR/edgel3`` or ``~/.cache/sea/edgel3``), then a download from edgel3's
``models`` branch (``https://github.com/ksangeeta2429/edgel3/raw/models/<file>.h5.gz``, overridable with
``$SEA_EDGEL3_URL``, disabled by ``SEA_OFFLINE=1``) checked against the pinned git blob ids (and sha256 where
known) before it is used, then a :class:`~sea.errors.WeightsError` naming ``--weights``.

The sparse EdgeL3 models (edgel3 ``model_type='sparse'``) are not supported: their weights are not available to
sea's developers, so nothing could check a loader against them.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, SeaWarning, WeightsError
from .frontend import StudentFrontend, dft_kernels_numpy, frontend_mel_basis, frontend_params
from .paper import PAPER_FILTERS
from .registry import create

log = logging.getLogger(__name__)

__all__ = [
    "EDGEL3_URL",
    "PUBLISHED",
    "EdgeL3Frontend",
    "PublishedStudent",
    "cache_dir",
    "load_embedding_model",
    "load_published",
    "published_checkpoint",
    "published_name",
    "read_published_h5",
    "resolve_published_weights",
]

#: edgel3's ``models`` branch; ``{file}`` is e.g. ``edgel3_sea_ust_audio_emb_64.h5.gz``.
EDGEL3_URL = "https://github.com/ksangeeta2429/edgel3/raw/models/{file}"

#: The published SEA students: embedding size, sea student, file stem, pinned git blob id of the ``.h5.gz`` on
#: edgel3's ``models`` branch (commit e65810196cd6), and sha256 of the ``.h5.gz`` / ``.h5`` where known.
PUBLISHED: dict[str, dict[str, Any]] = {
    "sea_ust_512": {"emb_dim": 512, "student": "sea_student_0", "git_sha1": "116703e97997cc316d7163ede5d2f5e4d4018f87"},
    "sea_ust_256": {"emb_dim": 256, "student": "sea_student_1", "git_sha1": "6be46fee2c278b79d9f77f064146a9493eff2f83"},
    "sea_ust_128": {"emb_dim": 128, "student": "sea_student_2", "git_sha1": "162576876259e8267eb6cefe09470dbf153ed6fc"},
    "sea_ust_64": {
        "emb_dim": 64,
        "student": "sea_student_3",
        "git_sha1": "f3535405c91fe8da71f6456adb8a061213324239",
        "sha256_gz": "d1cf0ce5640e93f07b3eef950f0694c40f3be33d8d7241deaea7f71e2f929a7f",
        "sha256_h5": "e8cd0eaac5d444c231d81940e30dc904ffed5cdafa632f7a5547142dc8283912",
    },
}
for _name, _rec in PUBLISHED.items():
    _rec["file"] = f"edgel3_sea_ust_audio_emb_{_rec['emb_dim']}.h5"

SR = 8000
WINDOW_SIZE = 1.0
#: A frame is recomputed with TensorFlow's float32 arithmetic when one of its mel bands is below this fraction of
#: the window's peak mel power (float32 round-off of the conv-STFT sits near 1e-15 of the peak).
ROUNDOFF_VISIBLE = 1e-12
#: Depth of the blocks in which TensorFlow 2.0's CPU convolution (Eigen) accumulates the 1024 DFT taps.
TF_DEPTH_BLOCK = 256


# -- names --------------------------------------------------------------------------------------------------------


def published_name(model: str | None = None, *, model_type: str | None = None, emb_dim: int | None = None) -> str:
    """The sea name of a published student, from sea's name or edgel3's ``model_type`` and ``emb_dim``.

    Parameters
    ----------
    model : str, optional
        ``sea_ust_64``, ``sea_ust_128``, ``sea_ust_256`` or ``sea_ust_512``.
    model_type : {"sea", "sparse"}, optional
        edgel3's selector; ``"sparse"`` (the EdgeL3 models) is refused: their weights are not available.
    emb_dim : {512, 256, 128, 64}, optional
        edgel3's embedding size for ``model_type="sea"`` (default 64 when ``model`` is not given).

    Returns
    -------
    name : str

    Raises
    ------
    ConfigError
        Unknown name (with the nearest one), sparse models, or an embedding size edgel3 does not publish.
    """
    from ..config import did_you_mean

    if model_type is not None and model_type != "sea":
        if model_type == "sparse":
            raise ConfigError(
                "edgel3 model_type='sparse' (the sparse EdgeL3 models) is not supported: their weights are not "
                "available to check a loader against; use model_type='sea' (the SEA students, emb_dim 64-512)"
            )
        raise ConfigError(
            f"model_type={model_type!r} must be 'sea' (edgel3's SEA students){did_you_mean(model_type, ['sea'])}"
        )
    if model is None:
        dim = 64 if emb_dim is None else emb_dim
        model = f"sea_ust_{dim}"
        if model not in PUBLISHED:
            raise ConfigError(f"emb_dim={emb_dim!r} must be one of 512, 256, 128, 64 (edgel3's SEA students)")
    elif emb_dim is not None and f"sea_ust_{emb_dim}" != model:
        raise ConfigError(f"model={model!r} and emb_dim={emb_dim!r} disagree; give one of them")
    if model not in PUBLISHED:
        raise ConfigError(
            f"unknown published SEA student {model!r}{did_you_mean(model, list(PUBLISHED))}; "
            f"choose one of {', '.join(PUBLISHED)}"
        )
    return model


# -- weights: resolution ------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """``$SEA_CACHE_DIR/edgel3``, else ``$XDG_CACHE_HOME/sea/edgel3``, else ``~/.cache/sea/edgel3``."""
    if os.environ.get("SEA_CACHE_DIR"):
        return Path(os.environ["SEA_CACHE_DIR"]).expanduser() / "edgel3"
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base).expanduser() / "sea" / "edgel3"


def _url(name: str) -> str:
    return (os.environ.get("SEA_EDGEL3_URL") or EDGEL3_URL).format(file=PUBLISHED[name]["file"] + ".gz")


def resolve_published_weights(name: str, weights: str | Path | None = None, *, download: bool | None = None) -> Path:
    """Find the weights file of a published student.

    Parameters
    ----------
    name : str
        ``sea_ust_64`` ... ``sea_ust_512``.
    weights : path, optional
        An explicit ``.h5`` or ``.h5.gz``; it must exist.
    download : bool, optional
        Allow the download; default: unless ``SEA_OFFLINE=1``.

    Returns
    -------
    path : Path
        The ``.h5`` or ``.h5.gz`` to read.

    Raises
    ------
    WeightsError
        Nothing found: the message names every place searched and ``--weights``.
    """
    name = published_name(name)
    file = PUBLISHED[name]["file"]
    if weights is not None:
        p = Path(weights).expanduser()
        if not p.is_file():
            raise WeightsError(f"--weights {str(p)!r} does not exist; pass edgel3's {file} or {file}.gz")
        return p
    for cand in (cache_dir() / file, cache_dir() / (file + ".gz")):
        if cand.is_file():
            return cand
    if download is None:
        download = os.environ.get("SEA_OFFLINE", "").strip() not in ("1", "true", "yes")
    reason = "downloads are disabled (SEA_OFFLINE=1)"
    if download:
        try:
            return _download(name)
        except WeightsError as exc:
            reason = str(exc)
    raise WeightsError(
        f"no weights for the published SEA student {name}: (1) no --weights given; (2) not in the cache "
        f"{cache_dir()} ({file} or {file}.gz); (3) download failed: {reason}. Fix: pass --weights PATH/{file}.gz, "
        f"or put {file}.gz (from {_url(name)}) into {cache_dir()} (or set SEA_CACHE_DIR), or connect to the internet"
    )


def _download(name: str) -> Path:
    """Download the official ``.h5.gz`` into the cache, refuse it unless it matches the pins; WeightsError on failure."""
    from ..teacher.weights import git_blob_sha1
    from ..utils import sha256_file

    try:
        import pooch
    except ImportError:
        raise WeightsError("downloading edgel3 weights needs pooch ('pip install pooch')") from None
    # pooch logs "Downloading data from ..." through its own handler, outside logging's tree; sea says it itself
    pooch.get_logger().setLevel("WARNING")
    rec, url, d = PUBLISHED[name], _url(name), cache_dir()
    target = d / (rec["file"] + ".gz")
    try:
        d.mkdir(parents=True, exist_ok=True)
        part = pooch.retrieve(url, known_hash=None, fname=target.name + ".part", path=d,
                              downloader=pooch.HTTPDownloader(timeout=15, progressbar=False))  # fmt: skip
    except Exception as exc:  # pooch/requests raise many types for a failed download; all mean the same here
        raise WeightsError(f"could not download {url} ({type(exc).__name__}: {str(exc)[:200]})") from None
    try:
        blob = git_blob_sha1(part)
        if blob != rec["git_sha1"]:
            raise WeightsError(
                f"downloaded {url} has git blob id {blob}, but edgel3's file is pinned as {rec['git_sha1']}; refusing "
                "to use it (truncated download, or not the official file). Retry, or pass --weights with a file you trust"
            )
        digest = sha256_file(part)
        if rec.get("sha256_gz") and digest != rec["sha256_gz"]:
            raise WeightsError(
                f"downloaded {url} has sha256 {digest}, but edgel3's file is pinned as {rec['sha256_gz']}; refusing it"
            )
        read_published_h5(part)  # layout check before it enters the cache
        os.replace(part, target)
    finally:
        Path(part).unlink(missing_ok=True)
    log.info("downloaded %s (git blob %s)", target.name, blob)
    return target


# -- weights: reading ---------------------------------------------------------------------------------------------


def _str(x) -> str:
    return x.decode("utf-8") if isinstance(x, (bytes, np.bytes_)) else str(x)


def _open_h5(path: Path) -> tuple[Any, str]:
    """An open h5py file of ``path`` (``.h5`` or gzip-compressed) and the sha256 of the ``.h5`` bytes."""
    import hashlib

    import h5py

    try:
        with open(path, "rb") as fh:
            data = fh.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        return h5py.File(io.BytesIO(data), "r"), hashlib.sha256(data).hexdigest()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise WeightsError(
            f"{str(path)!r} is not a readable Keras HDF5 file ({type(exc).__name__}: {exc}); expected edgel3's "
            "edgel3_sea_ust_audio_emb_<D>.h5 or .h5.gz"
        ) from None


def _layer_arrays(group, layer: str, path: Path) -> dict[str, np.ndarray]:
    """One layer's tensors by their short name (``kernel``, ``gamma``, ``real_kernels``...), in weight_names order."""
    out = {}
    for w in (_str(n) for n in group.attrs.get("weight_names", [])):
        try:
            arr = np.asarray(group[w], dtype=np.float32)
        except (KeyError, OSError, ValueError) as exc:
            raise WeightsError(
                f"cannot read tensor {layer}/{w} of {str(path)!r} ({exc}); the file is damaged"
            ) from None
        if not np.all(np.isfinite(arr)):
            raise WeightsError(f"{str(path)!r}: tensor {layer}/{w} holds NaN/Inf values; the file is corrupt")
        out[w.rsplit("/", 1)[-1].split(":")[0]] = arr
    return out


def read_published_h5(path: str | Path) -> dict[str, Any]:
    """Read an edgel3 SEA student file (``.h5`` or ``.h5.gz``) with h5py, in ``model_config`` order.

    Parameters
    ----------
    path : path

    Returns
    -------
    spec : dict
        ``layers``: list of ``(class_name, layer_name, config, {tensor: array})`` in model_config order;
        ``keras_version``, ``backend``, ``sha256`` (of the ``.h5`` bytes), ``filters`` (C1..C4) and ``emb_dim``.

    Raises
    ------
    WeightsError
        Not HDF5, no model_config, damaged tensors, or not a SEA student (the layer that differs is named).
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise WeightsError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    return _read_published_h5(str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_published_h5(name: str, size: int, mtime_ns: int) -> dict[str, Any]:
    """:func:`read_published_h5` of a file in a given state (size and mtime): each file is parsed once."""
    path = Path(name)
    f, digest = _open_h5(path)
    with f:
        if "model_config" not in f.attrs or "model_weights" not in f:
            raise WeightsError(
                f"{str(path)!r} has no Keras model_config/model_weights, so it is not a full Keras model file; "
                "expected edgel3's edgel3_sea_ust_audio_emb_<D>.h5"
            )
        backend = _str(f.attrs.get("backend", "tensorflow"))
        if backend != "tensorflow":
            raise WeightsError(
                f"{str(path)!r} was saved with the Keras {backend} backend; only tensorflow files are read"
            )
        cfg = json.loads(_str(f.attrs["model_config"]))
        mw, layers = f["model_weights"], []
        for layer in cfg.get("config", {}).get("layers", []):
            lname = layer["name"]
            arrays = _layer_arrays(mw[lname], lname, path) if lname in mw else {}
            layers.append((layer["class_name"], lname, layer.get("config", {}), arrays))
        keras_version = _str(f.attrs.get("keras_version", "?"))
    filters = _check_architecture(layers, path)
    return {"layers": layers, "keras_version": keras_version, "backend": backend, "sha256": digest,
            "filters": filters, "emb_dim": filters[3]}  # fmt: skip


_BLOCK = ["Conv2D", "BatchNormalization", "Activation"] * 2
_SEA_LAYERS = (
    ["InputLayer", "Melspectrogram", "BatchNormalization"]
    + (_BLOCK + ["MaxPooling2D"]) * 3
    + _BLOCK
    + ["MaxPooling2D", "Flatten"]
)
_MEL_CONFIG = {"sr": SR, "n_dft": 1024, "n_hop": 160, "n_mels": 64, "fmin": 0.0, "fmax": 4000.0, "htk": True,
               "norm": 1, "padding": "same", "power_spectrogram": 2.0, "power_melgram": 1.0,
               "return_decibel_melgram": True}  # fmt: skip
_CONV_CONFIG = {"kernel_size": [3, 3], "strides": [1, 1], "padding": "same", "activation": "linear", "use_bias": True}


def _check_architecture(layers: list, path: Path) -> tuple[int, int, int, int]:
    """Compare the file's layers with a SEA student's; return its filters (C1..C4) or raise a WeightsError."""
    classes = [c for c, *_ in layers]
    if classes != _SEA_LAYERS:
        at = next(
            (i for i, (a, b) in enumerate(zip(classes, _SEA_LAYERS)) if a != b), min(len(classes), len(_SEA_LAYERS))
        )
        raise WeightsError(
            f"{str(path)!r} is not a SEA student: layer {at} is "
            f"{classes[at] if at < len(classes) else 'missing'}, expected "
            f"{_SEA_LAYERS[at] if at < len(_SEA_LAYERS) else 'the end'} (a SEA student has {len(_SEA_LAYERS)} layers: "
            "Melspectrogram, BatchNormalization, 4 blocks of 2 x Conv2D/BatchNormalization/ReLU, max-pools, Flatten)"
        )
    bad = []
    for cls, name, cfg, _ in layers:
        want = _MEL_CONFIG if cls == "Melspectrogram" else _CONV_CONFIG if cls == "Conv2D" else {}
        bad += [f"{name}.{k}={cfg.get(k)!r} (expected {v!r})" for k, v in want.items() if cfg.get(k) != v]
        if cls == "Activation" and cfg.get("activation") != "relu":
            bad.append(f"{name}.activation={cfg.get('activation')!r} (expected 'relu')")
        if cls == "BatchNormalization" and not (cfg.get("center", True) and cfg.get("scale", True)):
            bad.append(f"{name}: center/scale off (expected both on)")
    convs = [cfg["filters"] for cls, _, cfg, _ in layers if cls == "Conv2D"]
    filters = tuple(int(c) for c in convs[::2])
    if convs[1::2] != convs[::2] or filters not in PAPER_FILTERS.values():
        bad.append(f"conv filters {convs} are not a SEA student's ({', '.join(map(str, PAPER_FILTERS.values()))})")
    if bad:
        raise WeightsError(f"{str(path)!r} is not a SEA student as published: {'; '.join(bad[:4])}")
    return filters  # type: ignore[return-value]


# -- the model ----------------------------------------------------------------------------------------------------


class EdgeL3Frontend(StudentFrontend):
    """kapre-0.1.4 log-mel as edgel3 computes it: exact, except where TensorFlow's float32 round-off shows.

    Parameters
    ----------
    real_kernels, imag_kernels : np.ndarray [shape=(1024, 513)], optional
        The float32 DFT kernels stored in the model file (kapre's); default: sea's, rounded as kapre rounds them.

    Notes
    -----
    ``[B, 8000] -> [B, 1, 64, 50]``. The power spectrogram is a float64 FFT; frames that have a mel band below
    :data:`ROUNDOFF_VISIBLE` of the window's peak (pure digital tones) are recomputed as TensorFlow 2.0's CPU
    ``conv2d`` does, with float32 fused multiply-adds over blocks of :data:`TF_DEPTH_BLOCK` taps.
    """

    def __init__(self, real_kernels: np.ndarray | None = None, imag_kernels: np.ndarray | None = None):
        super().__init__(mode="stft", dtype=torch.float64, params=frontend_params(WINDOW_SIZE))
        if real_kernels is None or imag_kernels is None:
            real_kernels, imag_kernels = kapre_dft_kernels()
        k = np.concatenate([np.asarray(real_kernels, np.float32), np.asarray(imag_kernels, np.float32)], axis=1)
        self.tf_kernel = k.astype(np.float64)  # [1024, 1026], numpy: the emulation runs on the CPU

    def power_spectrogram(self, y):
        """``|X|^2`` as ``[B, 513, 50]`` float64; TensorFlow-float32 frames where round-off is visible."""
        power = super().power_spectrogram(y)
        mel = torch.matmul(self.mel_basis, power)  # [B, M, T]
        peak = mel.amax(dim=(1, 2), keepdim=True)
        need = ((mel > 0) & (mel < ROUNDOFF_VISIBLE * peak)).any(dim=1)  # [B, T]
        if bool(need.any()):
            b, t = need.nonzero(as_tuple=True)
            yp = torch.nn.functional.pad(y.to(torch.float32), (self.pad_left, self.pad_right))
            frames = yp.unfold(-1, self.n_dft, self.hop_length)[b, t].cpu().numpy()  # [N, 1024] float32
            # the frames that need it are pure digital tones: most repeat exactly, compute each once
            uniq, inverse = np.unique(frames, axis=0, return_inverse=True)
            z = _tf_conv_float32(uniq.astype(np.float64), self.tf_kernel)[inverse.reshape(-1)]
            z = torch.from_numpy(z).to(power.device)
            power[b, :, t] = z[:, : self.n_bins] ** 2 + z[:, self.n_bins :] ** 2
        return power


def _tf_conv_float32(frames: np.ndarray, kernel: np.ndarray, block: int = TF_DEPTH_BLOCK) -> np.ndarray:
    """``frames @ kernel`` as TensorFlow 2.0's CPU conv computes it: float32 FMAs, sequential within depth blocks.

    Each output is ``sum_b (sum_{n in block b} x[n] k[n])`` with one float32 rounding per multiply-add (an FMA:
    the product of two float32 values is exact in float64, the float64 sum is rounded once to float32) and per
    block addition.

    Parameters
    ----------
    frames : np.ndarray [shape=(N, n_dft)], float64 holding float32 values
    kernel : np.ndarray [shape=(n_dft, K)], float64 holding float32 values

    Returns
    -------
    out : np.ndarray [shape=(N, K)], float64 holding float32 values
    """
    out = np.zeros((frames.shape[0], kernel.shape[1]))
    acc, prod = np.empty_like(out), np.empty_like(out)
    r32 = np.empty(out.shape, dtype=np.float32)
    for k0 in range(0, frames.shape[1], block):
        acc[...] = 0.0
        for n in range(k0, min(k0 + block, frames.shape[1])):
            np.multiply(frames[:, n : n + 1], kernel[n], out=prod)
            np.add(acc, prod, out=acc)
            r32[...] = acc  # round to float32
            acc[...] = r32
        np.add(out, acc, out=out)
        r32[...] = out
        out[...] = r32
    return out


def kapre_dft_kernels(n_dft: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Kapre 0.1.4's float32 DFT kernels ``[n_dft, 1 + n_dft // 2]``, rounded exactly as kapre rounds them.

    kapre builds ``cos(w_k t)`` and ``-sin(w_k t)`` in float64 with ``w_k = k * 2 pi / n_dft`` (the phase is a
    float64 product, not reduced modulo ``n_dft``), multiplies them by the periodic Hann window already rounded to
    float32, and rounds the products to float32. The result equals the kernels stored in edgel3's files bit for bit;
    it differs from sea's exact kernels (:func:`sea.students.frontend.dft_kernels_numpy`) by float32 rounding only.

    Returns
    -------
    real, imag : np.ndarray [shape=(n_dft, 1 + n_dft // 2)], float32
    """
    from .frontend import hann_periodic

    t = np.arange(n_dft)
    w = np.arange(n_dft // 2 + 1) * 2 * np.pi / float(n_dft)
    win = hann_periodic(n_dft).astype(np.float32)
    real = (np.cos(w[:, None] * t[None, :]) * win[None, :]).T.astype(np.float32)
    imag = (-np.sin(w[:, None] * t[None, :]) * win[None, :]).T.astype(np.float32)
    return real, imag


class PublishedStudent(nn.Module):
    """A published SEA student: edgel3's front-end and network, ``[B, 8000]`` audio at 8 kHz -> ``[B, D]``.

    Attributes
    ----------
    frontend : EdgeL3Frontend
        ``[B, 8000] -> [B, 1, 64, 50]`` log-mel.
    student : SeaStudent
        The registered ``sea_student_N`` with the published weights (post-ReLU output); what export and
        fine-tuning use.
    name, sr, window_length, embedding_dim, info

    Notes
    -----
    In eval mode the forward pass runs a copy of ``student`` with each BatchNorm folded into its convolution, in
    channels-last layout (about 2x faster on CPU; equal to float32 rounding). The copy is rebuilt whenever a
    parameter or buffer of ``student`` changes (or moves); in training mode ``student`` itself runs.
    """

    def __init__(self, name: str, student: nn.Module, frontend: EdgeL3Frontend, info: dict[str, Any]):
        super().__init__()
        self.name, self.info = name, info
        self.frontend, self.student = frontend, student
        self.sr, self.window_length = SR, int(frontend.window_length)
        self.embedding_dim = int(student.embedding_dim)
        self._fused: tuple[tuple, nn.Module] | None = None  # (state key, folded copy): not a submodule

    def _inference_net(self) -> nn.Module:
        tensors = [*self.student.parameters(), *self.student.buffers()]
        key = tuple((t.data_ptr(), t._version, t.device, t.dtype) for t in tensors)
        if self._fused is None or self._fused[0] != key:
            self._fused = (key, _fold_batchnorm(self.student).to(memory_format=torch.channels_last))
        return self._fused[1]

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """``[B, 8000]`` float audio at 8 kHz -> ``[B, D]`` float32 embeddings (>= 0)."""
        logmel = self.frontend(audio)
        if self.training or torch.is_grad_enabled() and any(p.requires_grad for p in self.student.parameters()):
            return self.student(logmel)
        return self._inference_net()(logmel.contiguous(memory_format=torch.channels_last))


def _fold_batchnorm(student: nn.Module) -> nn.Module:
    """An eval-mode copy of ``student`` whose BatchNorms that follow a convolution are folded into it."""
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    net = copy.deepcopy(student).eval()
    for seq in [m for m in net.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            if isinstance(seq[i], nn.Conv2d) and isinstance(seq[i + 1], nn.BatchNorm2d):
                seq[i] = fuse_conv_bn_eval(seq[i], seq[i + 1])
                seq[i + 1] = nn.Identity()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _build_student(name: str, spec: dict[str, Any]) -> nn.Module:
    """Sea's ``sea_student_N`` with the file's BatchNorm and conv tensors, in model_config order."""
    with torch.random.fork_rng(devices=[]):  # building draws random initial weights: leave the caller's RNG alone
        student = create(PUBLISHED[name]["student"]).eval()
    ours = [m for m in student.features if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
    theirs = [(c, cfg, a) for c, _, cfg, a in spec["layers"] if c in ("Conv2D", "BatchNormalization")]
    with torch.no_grad():
        for module, (cls, cfg, arrays) in zip(ours, theirs, strict=True):
            if cls == "Conv2D":
                module.weight.copy_(torch.from_numpy(arrays["kernel"].transpose(3, 2, 0, 1).copy()))
                module.bias.copy_(torch.from_numpy(arrays["bias"]))
                continue
            if np.any(arrays["moving_variance"] < 0):
                raise WeightsError(f"{spec['path']}: a BatchNorm has a negative moving variance; the file is corrupt")
            module.eps = float(cfg.get("epsilon", module.eps))
            for t, key in zip((module.weight, module.bias, module.running_mean, module.running_var),
                              ("gamma", "beta", "moving_mean", "moving_variance")):  # fmt: skip
                t.copy_(torch.from_numpy(arrays[key]))
    return student


def _check_frontend_tensors(arrays: dict[str, np.ndarray], path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The stored DFT kernels ``[1024, 513]``, after checking them and the mel filterbank against sea's."""
    mel = next((a for k, a in arrays.items() if k not in ("real_kernels", "imag_kernels")), None)
    try:
        re, im = arrays["real_kernels"][:, 0, 0, :], arrays["imag_kernels"][:, 0, 0, :]
    except (KeyError, IndexError):
        raise WeightsError(f"{str(path)!r}: the Melspectrogram layer has no real/imag DFT kernels") from None
    ours_re, ours_im = dft_kernels_numpy(1024)
    ours_mel = frontend_mel_basis(frontend_params(WINDOW_SIZE)).T
    for what, stored, ours in (("real DFT kernels", re, ours_re.T), ("imaginary DFT kernels", im, ours_im.T),
                               ("mel filterbank", mel, ours_mel)):  # fmt: skip
        if stored is None or stored.shape != ours.shape or not np.allclose(stored, ours, rtol=2.5e-7, atol=1e-9):
            raise WeightsError(f"{str(path)!r}: the stored {what} are not kapre 0.1.4's (sea's front-end differs)")
    return re, im


def load_published(name: str = "sea_ust_64", weights: str | Path | None = None) -> tuple[PublishedStudent, dict]:
    """Load a published SEA student from edgel3's official file, without TensorFlow.

    Parameters
    ----------
    name : {"sea_ust_64", "sea_ust_128", "sea_ust_256", "sea_ust_512"}
        edgel3's ``model_type='sea', emb_dim=D``.
    weights : path, optional
        edgel3's ``edgel3_sea_ust_audio_emb_<D>.h5`` or ``.h5.gz``; default: the cache, then a pinned download.

    Returns
    -------
    model : PublishedStudent
        In eval mode: ``[B, 8000]`` float audio at 8 kHz -> ``[B, D]``; ``model.student`` is the ``sea_student_N``
        (log-mel ``[B, 1, 64, 50]`` in), ``model.frontend`` the log-mel.
    info : dict
        The teacher identity (``family`` "edgel3", ``name``, ``sr``, ``window_size``, ``hop_size``,
        ``embedding_size``, ``weights``, ``weights_sha256`` of the ``.h5``, ``untrained`` False) plus ``student``,
        ``keras_version``, ``source`` and ``frontend`` (params).

    Raises
    ------
    ConfigError
        Unknown name.
    WeightsError
        No weights found, or a file that is not this SEA student.
    """
    name = published_name(name)
    path = resolve_published_weights(name, weights)
    spec = {**read_published_h5(path), "path": repr(str(path))}
    if spec["emb_dim"] != PUBLISHED[name]["emb_dim"]:
        raise WeightsError(f"{str(path)!r} holds the {spec['emb_dim']}-d SEA student, not {name}")
    pinned = PUBLISHED[name].get("sha256_h5")
    if pinned and spec["sha256"] != pinned:
        warnings.warn(f"{str(path)!r} is a valid {name} file but not edgel3's published one (sha256 {spec['sha256'][:12]}"
                      f"... != {pinned[:12]}...)", SeaWarning, stacklevel=2)  # fmt: skip
    mel_layer = next(a for c, _, _, a in spec["layers"] if c == "Melspectrogram")
    frontend = EdgeL3Frontend(*_check_frontend_tensors(mel_layer, path))
    info = {"family": "edgel3", "name": name, "sr": SR, "window_size": WINDOW_SIZE, "hop_size": 0.1,
            "embedding_size": PUBLISHED[name]["emb_dim"], "weights": str(path), "weights_sha256": spec["sha256"],
            "untrained": False, "student": PUBLISHED[name]["student"], "keras_version": spec["keras_version"],
            "source": EDGEL3_URL.format(file=PUBLISHED[name]["file"] + ".gz"), "frontend": frontend.params}  # fmt: skip
    model = PublishedStudent(name, _build_student(name, spec), frontend, info)
    return model.eval(), info


def published_checkpoint(name: str = "sea_ust_64", weights: str | Path | None = None) -> dict[str, Any]:
    """A sea student checkpoint dict of a published student, for :func:`sea.checkpoint.save_checkpoint` and export.

    Parameters
    ----------
    name : str
    weights : path, optional
        See :func:`load_published`.

    Returns
    -------
    ckpt : dict
        ``model_name`` (``sea_student_N``), ``model_args`` ({}), ``state_dict``, ``frontend`` (1-s params),
        ``teacher`` (the edgel3 identity) and ``published`` (the same, for readers that look for it). The exported
        student runs sea's exact front-end, which equals edgel3's except in the float32 round-off of pure tones.
    """
    model, info = load_published(name, weights)
    ident = {k: v for k, v in info.items() if k != "frontend"}
    return {"model_name": info["student"], "model_args": {}, "state_dict": model.student.state_dict(),
            "frontend": info["frontend"], "teacher": ident, "published": ident}  # fmt: skip


def load_embedding_model(model_type: str = "sea", emb_dim: int = 64, retrain_type: str = "ft",
                         sparsity: float = 95.45, *, weights: str | Path | None = None) -> PublishedStudent:  # fmt: skip
    """edgel3's ``edgel3.models.load_embedding_model``: the published SEA student of ``emb_dim`` dimensions.

    Parameters
    ----------
    model_type : {"sea"}
        edgel3's ``"sparse"`` models are not supported.
    emb_dim : {512, 256, 128, 64}
    retrain_type, sparsity
        Accepted for edgel3's signature; they select sparse models only.
    weights : path, optional
        See :func:`load_published`.

    Returns
    -------
    model : PublishedStudent
    """
    return load_published(published_name(model_type=model_type, emb_dim=emb_dim), weights)[0]
