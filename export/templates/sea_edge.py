#!/usr/bin/env python3
"""sea_edge: run an exported SEA student on a Raspberry Pi (or any host) with numpy, soundfile and ONE runtime.

Runtimes, in order of preference: ai-edge-litert (``pip install ai-edge-litert``; 64-bit OS, numpy 2 OK),
tflite-runtime (numpy < 2 only), onnxruntime (for ``.onnx`` models). No torch, librosa or sea needed: the
student log-mel front-end is ``frontend_numpy.py`` next to this script (sea's own ``sea.students.frontend_numpy``,
copied unchanged), driven by frontend.json.

Examples::

    python sea_edge.py model_int8.tflite audio.wav                   # embeddings with timestamps on stdout
    python sea_edge.py model_int8.tflite audio.wav --hop-size 0.5 --out emb.npz
    python sea_edge.py model_int8.tflite recordings/*.wav --out emb/ -q   # emb/<stem>.npy + <stem>_timestamps.npy
    arecord -q -t raw -f S16_LE -r 8000 -c 1 | python sea_edge.py model_int8.tflite --stream
    python sea_edge.py . audio.wav --timing                          # pick the best model here; per-window latency

Windows are the student's (frontend.json: 1 s for OpenL3/edgel3 students, 3 s for BirdNET ones), framed like
openl3 / sea. Timestamps are window centres, in seconds from the start of the audio, in both modes: in file mode
window i is centred on i * hop (it starts half a window earlier, zero-padded at the start); in ``--stream`` mode a
window is embedded as soon as it is complete, and its timestamp is its centre (the first one is half a window).
With ``--no-center`` (file mode) windows start at i * hop and the timestamps are those starts, as openl3's.
Audio at another rate is resampled to the student's rate (frontend.json's ``sr``: 8 kHz for SEA's students), with a
warning. Files holding NaN or Inf samples are refused, as
sea's training stages refuse them. With ``classifier.npz`` (W [D, C], b [C], labels [C]) beside the model, each
window's label is printed as well. Several files: the good ones are embedded, the bad ones listed, exit status 1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings

import numpy as np

# The student front-end: sea's numpy module, shipped unchanged next to this script by `sea export`.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
from frontend_numpy import MAX_SR, frontend_mel_basis, logmel_numpy  # noqa: E402

__version__ = "2"
TARGET_SR = 8000  # SEA's students; a student distilled at a wider band records its own rate in frontend.json
#: frontend.json keys the runner needs.
FRONTEND_KEYS = ("sr", "window_length", "n_dft", "hop_length", "n_frames", "n_mels", "fmin", "fmax", "htk", "norm")


class EdgeError(Exception):
    """A one-line error about the user's input or options (printed as ``error: ...``, exit status 1)."""


# ------------------------------------------------------------------------------------------------
# resampling (scipy if present, else a numpy windowed-sinc interpolator)
# ------------------------------------------------------------------------------------------------


def resample(y, orig_sr, target_sr=TARGET_SR, half_width=32):
    """Band-limited resampling of mono ``y`` from ``orig_sr`` to ``target_sr``.

    Output length ``floor(len(y) * target_sr / orig_sr)`` (sea/openl3's rule). Uses
    ``scipy.signal.resample_poly`` when scipy is installed, otherwise a Kaiser-windowed sinc
    (``half_width`` zero crossings each side, cutoff at the lower Nyquist frequency).
    """
    y = np.asarray(y, dtype=np.float64)
    orig_sr, target_sr = int(orig_sr), int(target_sr)
    if orig_sr == target_sr:
        return y.astype(np.float32)
    n_out = int(math.floor(y.shape[0] * target_sr / orig_sr))
    try:
        from scipy.signal import resample_poly

        g = math.gcd(orig_sr, target_sr)
        out = resample_poly(y, target_sr // g, orig_sr // g)
        out = out[:n_out] if out.shape[0] >= n_out else np.pad(out, (0, n_out - out.shape[0]))
        return out.astype(np.float32)
    except ImportError:
        pass
    ratio = target_sr / orig_sr
    cutoff = min(1.0, ratio)  # relative to the input Nyquist
    beta = 8.6
    out = np.empty(n_out, dtype=np.float64)
    offsets = np.arange(-half_width, half_width + 1)
    ypad = np.pad(y, (half_width + 1, half_width + 1))
    step = 4096
    for s in range(0, n_out, step):
        m = np.arange(s, min(s + step, n_out))
        pos = m / ratio  # position in input samples
        base = np.floor(pos).astype(np.int64)
        frac = pos - base
        k = base[:, None] + offsets[None, :]  # input indices
        d = frac[:, None] - offsets[None, :]  # distance to each tap
        x = d / (half_width + 1)
        win = np.i0(beta * np.sqrt(np.clip(1.0 - x * x, 0.0, 1.0))) / np.i0(beta)
        h = cutoff * np.sinc(cutoff * d) * win
        out[m - 0] = (ypad[k + half_width + 1] * h).sum(axis=1)
    return out.astype(np.float32)


# ------------------------------------------------------------------------------------------------
# framing (openl3 / sea.framing rules)
# ------------------------------------------------------------------------------------------------


def frame_starts(n_samples, sr, hop_size=1.0, center=True, frame_size=1.0):
    """First sample of each window (negative: zero-padded), as ``sea.framing.frame_starts``."""
    frame_len = int(round(frame_size * sr))
    hop_length = int(hop_size * sr)
    if hop_length < 1:
        raise EdgeError(f"--hop-size {hop_size} is shorter than one sample at {sr} Hz")
    offset = frame_len // 2 if center else 0
    n = n_samples + offset
    count = 1 + math.ceil(max(0, n - frame_len) / hop_length)
    return np.arange(count, dtype=np.int64) * hop_length - offset


def cut_window(y, start, length):
    """Samples ``[start, start + length)`` of ``y``, zero-padded outside it."""
    out = np.zeros(length, dtype=np.float32)
    lo, hi = max(start, 0), min(start + length, y.shape[0])
    if hi > lo:
        out[lo - start : hi - start] = y[lo:hi]
    return out


# ------------------------------------------------------------------------------------------------
# runtimes
# ------------------------------------------------------------------------------------------------


def _quantize(x, scale, zero_point, dtype):
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def _tflite_interpreter():
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai-edge-litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, "tflite-runtime"
    except ImportError:
        raise EdgeError(
            "no TFLite runtime; install one: pip install ai-edge-litert "
            "(or tflite-runtime with numpy<2), or pass the .onnx model with onnxruntime installed"
        ) from None


class TFLiteModel:
    """A .tflite model in ai-edge-litert (preferred) or tflite-runtime."""

    def __init__(self, path, threads=1):
        Interpreter, self.runtime = _tflite_interpreter()
        try:
            self.it = Interpreter(model_path=str(path), num_threads=threads)
            self.it.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise EdgeError(f"cannot load the model {path!r}: {exc}") from None
        self.inp = self.it.get_input_details()[0]
        self.out = self.it.get_output_details()[0]
        self.input_shape = [int(v) for v in self.inp["shape"]]

    def __call__(self, x):
        """x: float32 array of the model's input shape without batch -> float32 embedding [D]."""
        x = np.asarray(x, np.float32).reshape(self.input_shape)
        if np.issubdtype(self.inp["dtype"], np.integer):
            scale, zp = self.inp["quantization"]
            x = _quantize(x, scale, zp, self.inp["dtype"])
        self.it.set_tensor(self.inp["index"], np.ascontiguousarray(x.astype(self.inp["dtype"])))
        self.it.invoke()
        y = self.it.get_tensor(self.out["index"])
        if np.issubdtype(self.out["dtype"], np.integer):
            scale, zp = self.out["quantization"]
            y = (y.astype(np.float32) - zp) * scale
        return np.asarray(y, np.float32).reshape(-1)


class OnnxModel:
    """An .onnx model in onnxruntime (float input; int8 QDQ models quantize inside)."""

    def __init__(self, path, threads=1):
        try:
            import onnxruntime as ort
        except ImportError:
            raise EdgeError("onnxruntime is not installed; pip install onnxruntime, or use the .tflite model") from None
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.log_severity_level = 3
        try:
            self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own error classes: a corrupt or foreign file
            raise EdgeError(f"cannot load the model {path!r}: {type(exc).__name__}: {str(exc)[:200]}") from None
        self.name = self.sess.get_inputs()[0].name
        shape = self.sess.get_inputs()[0].shape
        self.input_shape = [1] + [int(v) for v in shape[1:]]
        self.runtime = "onnxruntime"

    def __call__(self, x):
        x = np.asarray(x, np.float32).reshape(self.input_shape)
        return np.asarray(self.sess.run(None, {self.name: x})[0], np.float32).reshape(-1)


def _have(mod):
    import importlib.util

    return importlib.util.find_spec(mod) is not None


def find_model(path):
    """A model file: ``path`` itself, or the best one in the folder ``path`` for the runtimes installed."""
    if os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        raise EdgeError(f"model {path!r} does not exist")
    tfl = _have("ai_edge_litert") or _have("tflite_runtime")
    order = (["model_int8.tflite", "model_fp32.tflite"] if tfl else []) + ["model_int8.onnx", "model_fp32.onnx"]
    for name in order:
        if os.path.isfile(os.path.join(path, name)):
            return os.path.join(path, name)
    raise EdgeError(f"no model in {path!r} that an installed runtime can run (looked for {', '.join(order)})")


def load_model(path, threads=1):
    """The model in the runtime its extension needs."""
    return OnnxModel(path, threads) if str(path).endswith(".onnx") else TFLiteModel(path, threads)


# ------------------------------------------------------------------------------------------------
# embedding
# ------------------------------------------------------------------------------------------------


def read_frontend(path):
    """frontend.json, checked: a JSON object whose ``frontend`` holds every constant the runner needs."""
    if not os.path.isfile(path):
        raise EdgeError(f"{path!r} not found; it is written next to the model by `sea export`")
    try:
        with open(path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, ValueError) as exc:
        raise EdgeError(f"{path!r} is not a valid frontend.json ({exc}); copy it again from the export") from None
    params = meta.get("frontend") if isinstance(meta, dict) else None
    missing = [k for k in FRONTEND_KEYS if not isinstance(params, dict) or k not in params]
    if missing:
        raise EdgeError(f"{path!r} has no frontend.{missing[0]}; copy frontend.json again from the export")
    if not TARGET_SR <= int(params["sr"]) <= MAX_SR or int(params["window_length"]) < int(params["n_dft"]):
        raise EdgeError(f"{path!r}: frontend.sr must be {TARGET_SR}..{MAX_SR} Hz and window_length >= n_dft")
    return meta


class Embedder:
    """Audio window [window_length] at ``sr`` (frontend.json's) -> embedding [D], with the front-end from frontend.json.

    ``timings`` collects (front-end ms, model ms) per window when ``timing`` is on.
    """

    def __init__(self, model_path, frontend_json=None, threads=1, timing=False):
        self.model_path = find_model(model_path)
        folder = os.path.dirname(os.path.abspath(self.model_path))
        self.meta = read_frontend(frontend_json or os.path.join(folder, "frontend.json"))
        self.params = self.meta["frontend"]
        self.mel_basis = frontend_mel_basis(self.params)
        self.model = load_model(self.model_path, threads)
        self.takes_audio = self.meta.get("model_input") == "audio"
        self.sr = int(self.params["sr"])
        self.window_length = int(self.params["window_length"])
        self.window_size = self.window_length / self.sr
        self.timing, self.timings = timing, []

    def features(self, windows):
        """[B, window_length] audio -> model inputs [B, ...]."""
        windows = np.asarray(windows, np.float32)
        if self.takes_audio:
            return windows
        return logmel_numpy(windows, self.params, self.mel_basis)[:, None]

    def __call__(self, windows):
        out = []
        for w in np.asarray(windows, np.float32):
            t0 = time.perf_counter()
            x = self.features(w[None])
            t1 = time.perf_counter()
            out.append(self.model(x))
            if self.timing:
                self.timings.append(((t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3))
        return np.stack(out)


def load_classifier(path):
    """A linear head (W, b, labels) from .npz or .json, or None."""
    if path is None or not os.path.isfile(path):
        return None
    try:
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as fh:
                d = json.load(fh)
        else:
            with np.load(path, allow_pickle=False) as z:
                d = {k: z[k] for k in z.files}
        W = np.asarray(d["W"], np.float64)
    except (OSError, ValueError, KeyError) as exc:
        raise EdgeError(f"cannot read the classifier {path!r} ({type(exc).__name__}: {exc}); "
                        "expected W [D, C], b [C], labels [C]") from None  # fmt: skip
    b = np.asarray(d.get("b", np.zeros(W.shape[-1])), np.float64)
    labels = [str(v) for v in d.get("labels", range(b.shape[0]))]
    return W, b, labels


def classify(head, emb):
    """(label, probability) of each embedding row."""
    W, b, labels = head
    if W.shape[0] != emb.shape[-1]:
        W = W.T
    z = emb @ W + b
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    k = np.argmax(p, axis=-1)
    return [(labels[i], float(p[j, i])) for j, i in enumerate(k)]


def read_audio(path, target_sr=TARGET_SR):
    """Mono float32 audio at ``target_sr``; one-line :class:`EdgeError` for anything that is not usable audio."""
    import soundfile as sf

    if os.path.isdir(path):
        raise EdgeError(f"{path}: is a directory, not an audio file")
    try:
        y, sr = sf.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, OSError, ValueError, TypeError) as exc:  # soundfile's LibsndfileError is a RuntimeError
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EdgeError(f"{path}: cannot be read as audio ({why})") from None
    if y.size == 0:
        raise EdgeError(f"{path}: holds no audio samples")
    if not np.all(np.isfinite(y)):
        bad = int(np.argwhere(~np.isfinite(y))[0][0])
        raise EdgeError(f"{path}: holds NaN or Inf samples (first at sample {bad}); sea's training stages refuse "
                        "such files too: fix the recording")  # fmt: skip
    y = y.mean(axis=1)
    if sr != target_sr:
        warnings.warn(f"{path}: sample rate {sr} Hz resampled to {target_sr} Hz", stacklevel=2)
        y = resample(y, sr, target_sr)
    return y.astype(np.float32)


def embed_file(embedder, path, hop_size=1.0, center=True, batch=16):
    """(embeddings [n, D], timestamps [n]) of an audio file: window centres (starts with ``center=False``)."""
    y = read_audio(path, embedder.sr)
    starts = frame_starts(y.shape[0], embedder.sr, hop_size, center, embedder.window_size)
    embs = []
    for i in range(0, len(starts), batch):
        w = np.stack([cut_window(y, int(s), embedder.window_length) for s in starts[i : i + batch]])
        embs.append(embedder(w))
    return np.concatenate(embs), np.arange(len(starts)) * hop_size


def _print(ts, emb, head, n_show=8):
    labels = classify(head, emb) if head is not None else None
    for j, (t, e) in enumerate(zip(ts, emb)):
        line = f"{t:8.2f}s  " + " ".join(f"{v:7.4f}" for v in e[:n_show]) + (" ..." if e.shape[0] > n_show else "")
        if labels is not None:
            line += f"  -> {labels[j][0]} ({labels[j][1]:.2f})"
        print(line, flush=True)


def _timing_lines(timings, stamps):
    """Per-window latency lines and their medians (front-end, model, total; milliseconds)."""
    lines = [f"# timing {t:8.2f}s  front-end {fe:7.2f} ms  model {md:7.2f} ms  total {fe + md:7.2f} ms"
             for t, (fe, md) in zip(stamps, timings)]  # fmt: skip
    if timings:
        fe, md = np.median([t[0] for t in timings]), np.median([t[1] for t in timings])
        tot = np.median([t[0] + t[1] for t in timings])
        lines.append(f"# timing median over {len(timings)} windows: front-end {fe:.2f} ms, model {md:.2f} ms, "
                     f"total {tot:.2f} ms per window")  # fmt: skip
    return lines


def stream(embedder, sr, hop_size, head, block_seconds=None, quiet=False):
    """Read s16le mono PCM at ``sr`` from stdin; embed the latest window every hop.

    Returns ``(embeddings [n, D], timestamps [n])``; a timestamp is its window's centre (seconds since the start).
    """
    hop = max(1, int(round(hop_size * sr)))
    block = hop if block_seconds is None else max(1, int(block_seconds * sr))
    win_in = int(round(sr * embedder.window_size))
    if sr != embedder.sr:
        warnings.warn(f"stream at {sr} Hz is resampled to {embedder.sr} Hz window by window", stacklevel=2)
    buf = np.zeros(0, np.float32)
    t_next, total = win_in, 0
    results, stamps = [], []
    src = sys.stdin.buffer
    while True:
        data = src.read(block * 2)
        if not data:
            break
        x = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
        buf = np.concatenate([buf, x])[-(win_in + hop + block) :]
        total += x.shape[0]
        while total >= t_next:
            end = buf.shape[0] - (total - t_next)
            w = np.pad(buf[max(0, end - win_in) : end], (win_in - min(win_in, end), 0))
            if sr != embedder.sr:
                w = resample(w, sr, embedder.sr)
            e = embedder(cut_window(w, 0, embedder.window_length)[None])
            t = (t_next - win_in / 2) / sr  # the window's centre
            if not quiet:
                _print([t], e, head)
            results.append(e[0])
            stamps.append(t)
            t_next += hop
    if not results:
        raise EdgeError(f"--stream: stdin ended after {total} samples, fewer than one {embedder.window_size:g}-s "
                        f"window ({win_in} samples at {sr} Hz); pipe raw s16le PCM (arecord -t raw)")  # fmt: skip
    return np.asarray(results, np.float32).reshape(len(results), -1), np.asarray(stamps)


def save(path, emb, ts):
    """``.npz`` (embedding, timestamps), or ``.npy`` + ``_timestamps.npy``."""
    if path.endswith(".npz"):
        np.savez(path, embedding=emb, timestamps=ts)
    else:
        np.save(path, emb)
        np.save(os.path.splitext(path)[0] + "_timestamps.npy", ts)


def output_paths(inputs, out):
    """Output file of each input: ``out`` itself for one input and a .npz/.npy name, else ``out/<stem>.npy``.

    Two inputs with one stem (``a.flac``, ``a.ogg``) keep their extension in the name (``a_flac.npy``).
    """
    if out is None:
        return {p: None for p in inputs}
    if out.endswith((".npz", ".npy")):
        if len(inputs) != 1:
            raise EdgeError(f"--out {out} names one file but {len(inputs)} inputs were given; give a folder")
        return {inputs[0]: out}
    if os.path.exists(out) and not os.path.isdir(out):
        raise EdgeError(f"--out {out} is an existing file; give a folder (or a .npz/.npy name for one input)")
    stems = {}
    for p in inputs:
        stems.setdefault(os.path.splitext(os.path.basename(p))[0], []).append(p)
    names = {}
    for stem, group in stems.items():
        for p in group:
            tag = "" if len(group) == 1 else "_" + (os.path.splitext(p)[1].lstrip(".").lower() or "noext")
            names[p] = os.path.join(out, f"{stem}{tag}.npy")
    if len(set(names.values())) != len(names):
        raise EdgeError("several inputs would write the same output file; rename them")
    return names


def parse_args(argv=None):
    """The command line (validated by :func:`check_options`)."""
    p = argparse.ArgumentParser(
        prog="sea_edge.py",
        description="SEA student embeddings on the edge (numpy + one runtime).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python sea_edge.py model_int8.tflite audio.wav --hop-size 0.5 --out emb.npz\n"
        "  python sea_edge.py model_int8.tflite a.wav b.flac --out emb/ -q --timing\n"
        "  arecord -q -t raw -f S16_LE -r 8000 -c 1 | python sea_edge.py model_int8.tflite --stream\n"
        "timestamps are window centres (s) in file and stream modes alike (window starts with --no-center)",
    )
    p.add_argument("model", nargs="?", default=_HERE,
                   help="model_int8.tflite / model_fp32.tflite / *.onnx, or a bundle folder (default: this script's folder)")  # fmt: skip
    p.add_argument("audio", nargs="*", help="audio files (any rate; resampled to the student's, 8 kHz for SEA's)")
    p.add_argument("--hop-size", type=float, default=1.0, help="seconds between windows (default 1.0)")
    p.add_argument("--out", help="a .npz (embedding, timestamps) or .npy (+ _timestamps.npy) for one input, "
                   "or a folder: OUT/<stem>.npy and OUT/<stem>_timestamps.npy per input")  # fmt: skip
    p.add_argument("--frontend", help="frontend.json (default: next to the model)")
    p.add_argument(
        "--classifier", help="linear head .npz/.json (W, b, labels); default classifier.npz next to the model"
    )
    p.add_argument("--stream", action="store_true", help="read raw s16le mono PCM from stdin (arecord -t raw ...)")
    p.add_argument("--sr", type=int, default=None,
                   help="sample rate of --stream input (default: the student's, frontend.json's sr; 8000 for SEA's)")  # fmt: skip
    p.add_argument("--threads", type=int, default=1, help="runtime threads (default 1)")
    p.add_argument("--no-center", action="store_true", help="frame without the openl3 half-window offset")
    p.add_argument("--timing", action="store_true", help="print each window's latency (front-end, model, total) "
                   "and the medians on stderr")  # fmt: skip
    p.add_argument("-q", "--quiet", action="store_true", help="do not print embeddings (use with --out)")
    return p.parse_intermixed_args(argv)  # files may come after options (sea_edge.py M --timing a.wav b.wav)


def check_options(args):
    """Every option, before any model or audio is opened."""
    if not (math.isfinite(args.hop_size) and args.hop_size > 0):
        raise EdgeError(f"--hop-size {args.hop_size} must be a finite number of seconds > 0")
    if args.sr is not None and args.sr <= 0:
        raise EdgeError(f"--sr {args.sr} must be a sample rate in Hz > 0")
    if args.threads < 1:
        raise EdgeError(f"--threads {args.threads} must be >= 1")
    if args.stream and args.audio:
        raise EdgeError("--stream reads stdin: give no AUDIO file with it")
    if not args.stream and not args.audio:
        raise EdgeError("give AUDIO file(s), or --stream to read PCM from stdin")
    if args.stream and args.out and not args.out.endswith((".npz", ".npy")):
        raise EdgeError("--stream --out needs a .npz or .npy file name")


def run_files(emb, args, head):
    """Embed each file; the bad ones are listed at the end. Returns the exit status."""
    outs = output_paths(args.audio, args.out)
    if args.out and not args.out.endswith((".npz", ".npy")):
        os.makedirs(args.out, exist_ok=True)
    failed = []
    for path in args.audio:
        n0 = len(emb.timings)
        try:
            e, ts = embed_file(emb, path, args.hop_size, not args.no_center)
        except EdgeError as exc:
            failed.append(str(exc))
            continue
        if not args.quiet:
            if len(args.audio) > 1:
                print(f"# {path}", flush=True)
            _print(ts, e, head)
        if args.timing:
            print("\n".join(_timing_lines(emb.timings[n0:], ts)), file=sys.stderr)
        if outs[path]:
            save(outs[path], e, ts)
    if failed:
        print(f"{len(args.audio) - len(failed)} file(s) embedded, {len(failed)} failed:", file=sys.stderr)
        for line in failed:
            print(f"  failed: {line}", file=sys.stderr)
    return 1 if failed else 0


def main(argv=None):
    """Run the command line; returns the exit status (one ``error:`` line for bad input, never a traceback)."""
    args = parse_args(argv)
    try:
        check_options(args)
        emb = Embedder(args.model, args.frontend, args.threads, timing=args.timing)
        cls_path = args.classifier or os.path.join(os.path.dirname(os.path.abspath(emb.model_path)), "classifier.npz")
        head = load_classifier(cls_path)
        print(f"# {os.path.basename(emb.model_path)} on {emb.model.runtime}", file=sys.stderr)
        if not args.stream:
            return run_files(emb, args, head)
        e, ts = stream(emb, args.sr or emb.sr, args.hop_size, head, quiet=args.quiet)
        if args.timing:
            print("\n".join(_timing_lines(emb.timings, ts)), file=sys.stderr)
        if args.out:
            save(args.out, e, ts)
        return 0
    except EdgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    warnings.simplefilter("always")
    warnings.formatwarning = lambda m, c, f, lineno, line=None: f"warning: {m}\n"
    sys.exit(main())
