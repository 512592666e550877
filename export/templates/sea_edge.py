#!/usr/bin/env python3
"""sea_edge: run an exported SEA student on a Raspberry Pi (or any host) with numpy, soundfile and ONE runtime.

Runtimes, in order of preference: ai-edge-litert (``pip install ai-edge-litert``; 64-bit OS, numpy 2 OK),
tflite-runtime (numpy < 2 only), onnxruntime (for ``.onnx`` models). No torch, librosa or sea needed: the
student log-mel front-end is ``frontend_numpy.py`` next to this script (sea's own ``sea.students.frontend_numpy``,
copied unchanged), driven by frontend.json.

Examples::

    python sea_edge.py model_int8.tflite audio.wav                   # embeddings with timestamps on stdout
    python sea_edge.py model_int8.tflite audio.wav --hop-size 0.5 --out emb.npz
    arecord -f S16_LE -r 8000 -c 1 | python sea_edge.py model_int8.tflite --stream
    python sea_edge.py . audio.wav                                   # pick the best model in this folder

Audio at another rate is resampled to 8 kHz (with a warning). Windows are 1 s, framed like openl3 / sea
(centred: window i starts at i * hop - 0.5 s, zero-padded). With ``classifier.npz`` (W [D, C], b [C], labels [C])
beside the model, each window's label is printed as well.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings

import numpy as np

# The student front-end: sea's numpy module, shipped unchanged next to this script by `sea export`.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
from frontend_numpy import frontend_mel_basis, logmel_numpy  # noqa: E402

__version__ = "1"
TARGET_SR = 8000


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
    frame_len = int(round(frame_size * sr))
    hop_length = int(hop_size * sr)
    if hop_length < 1:
        raise SystemExit(f"error: --hop-size {hop_size} is shorter than one sample")
    offset = frame_len // 2 if center else 0
    n = n_samples + offset
    count = 1 + math.ceil(max(0, n - frame_len) / hop_length)
    return np.arange(count, dtype=np.int64) * hop_length - offset


def cut_window(y, start, length):
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


class TFLiteModel:
    """A .tflite model in ai-edge-litert (preferred) or tflite-runtime."""

    def __init__(self, path, threads=1):
        try:
            from ai_edge_litert.interpreter import Interpreter

            self.runtime = "ai-edge-litert"
        except ImportError:
            try:
                from tflite_runtime.interpreter import Interpreter

                self.runtime = "tflite-runtime"
            except ImportError:
                raise SystemExit(
                    "error: no TFLite runtime; install one: pip install ai-edge-litert "
                    "(or tflite-runtime with numpy<2), or pass the .onnx model with onnxruntime installed"
                ) from None
        self.it = Interpreter(model_path=str(path), num_threads=threads)
        self.it.allocate_tensors()
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
            raise SystemExit(
                "error: onnxruntime is not installed; pip install onnxruntime, or use the .tflite model"
            ) from None
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.log_severity_level = 3
        self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
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
        raise SystemExit(f"error: model {path!r} does not exist")
    tfl = _have("ai_edge_litert") or _have("tflite_runtime")
    order = (["model_int8.tflite", "model_fp32.tflite"] if tfl else []) + ["model_int8.onnx", "model_fp32.onnx"]
    for name in order:
        if os.path.isfile(os.path.join(path, name)):
            return os.path.join(path, name)
    raise SystemExit(f"error: no model in {path!r} that an installed runtime can run (looked for {', '.join(order)})")


def load_model(path, threads=1):
    return OnnxModel(path, threads) if str(path).endswith(".onnx") else TFLiteModel(path, threads)


# ------------------------------------------------------------------------------------------------
# embedding
# ------------------------------------------------------------------------------------------------


class Embedder:
    """Audio window [8000] at 8 kHz -> embedding [D], with the front-end from frontend.json."""

    def __init__(self, model_path, frontend_json=None, threads=1):
        self.model_path = find_model(model_path)
        folder = os.path.dirname(os.path.abspath(self.model_path))
        frontend_json = frontend_json or os.path.join(folder, "frontend.json")
        if not os.path.isfile(frontend_json):
            raise SystemExit(f"error: {frontend_json!r} not found; it is written next to the model by `sea export`")
        with open(frontend_json, encoding="utf-8") as fh:
            self.meta = json.load(fh)
        self.params = self.meta["frontend"]
        self.mel_basis = frontend_mel_basis(self.params)
        self.model = load_model(self.model_path, threads)
        self.takes_audio = self.meta.get("model_input") == "audio"
        self.window_length = int(self.params["window_length"])

    def features(self, windows):
        """[B, 8000] audio -> model inputs [B, ...]."""
        windows = np.asarray(windows, np.float32)
        if self.takes_audio:
            return windows
        return logmel_numpy(windows, self.params, self.mel_basis)[:, None]

    def __call__(self, windows):
        x = self.features(windows)
        return np.stack([self.model(x[i : i + 1]) for i in range(x.shape[0])])


def load_classifier(path):
    if path is None or not os.path.isfile(path):
        return None
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as fh:
            d = json.load(fh)
    else:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    W = np.asarray(d["W"], np.float64)
    b = np.asarray(d.get("b", np.zeros(W.shape[-1])), np.float64)
    labels = [str(v) for v in d.get("labels", range(b.shape[0]))]
    return W, b, labels


def classify(head, emb):
    W, b, labels = head
    if W.shape[0] != emb.shape[-1]:
        W = W.T
    z = emb @ W + b
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    k = np.argmax(p, axis=-1)
    return [(labels[i], float(p[j, i])) for j, i in enumerate(k)]


def read_audio(path):
    import soundfile as sf

    y, sr = sf.read(path, dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    if y.size == 0:
        raise SystemExit(f"error: {path!r} holds no audio samples")
    if not np.all(np.isfinite(y)):
        warnings.warn(f"{path}: non-finite samples replaced by 0", stacklevel=2)
        y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    if sr != TARGET_SR:
        warnings.warn(f"{path}: sample rate {sr} Hz resampled to {TARGET_SR} Hz", stacklevel=2)
        y = resample(y, sr, TARGET_SR)
    return y.astype(np.float32)


def embed_file(embedder, path, hop_size=1.0, center=True, batch=16):
    """(embeddings [n, D], timestamps [n]) of an audio file."""
    y = read_audio(path)
    starts = frame_starts(y.shape[0], TARGET_SR, hop_size, center)
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


def stream(embedder, sr, hop_size, head, out=None, block_seconds=None, quiet=False):
    """Read s16le mono PCM at ``sr`` from stdin; embed the latest 1-s window every hop."""
    hop = max(1, int(round(hop_size * sr)))
    block = hop if block_seconds is None else max(1, int(block_seconds * sr))
    win_in = int(round(sr * embedder.window_length / TARGET_SR))
    if sr != TARGET_SR:
        warnings.warn(f"stream at {sr} Hz is resampled to {TARGET_SR} Hz window by window", stacklevel=2)
    buf = np.zeros(0, np.float32)
    n_done, t_next = 0, win_in
    results, stamps = [], []
    src = sys.stdin.buffer
    total = 0
    while True:
        data = src.read(block * 2)
        if not data:
            break
        x = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
        buf = np.concatenate([buf, x])[-(win_in + hop + block) :]
        total += x.shape[0]
        while total >= t_next:
            end = buf.shape[0] - (total - t_next)
            w = buf[max(0, end - win_in) : end]
            w = np.pad(w, (win_in - w.shape[0], 0))
            if sr != TARGET_SR:
                w = resample(w, sr, TARGET_SR)
            w = cut_window(w, 0, embedder.window_length)
            e = embedder(w[None])
            t = (t_next - win_in) / sr
            if not quiet:
                _print([t], e, head)
            results.append(e[0])
            stamps.append(t)
            n_done += 1
            t_next += hop
    if out:
        save(out, np.asarray(results, np.float32).reshape(len(results), -1), np.asarray(stamps))
    return n_done


def save(path, emb, ts):
    if path.endswith(".npz"):
        np.savez(path, embedding=emb, timestamps=ts)
    else:
        np.save(path, emb)
        np.save(os.path.splitext(path)[0] + "_timestamps.npy", ts)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="sea_edge.py", description="SEA student embeddings on the edge (numpy + one runtime)."
    )
    p.add_argument(
        "model",
        nargs="?",
        default=os.path.dirname(os.path.abspath(__file__)),
        help="model_int8.tflite / model_fp32.tflite / *.onnx, or a bundle folder (default: this script's folder)",
    )
    p.add_argument("audio", nargs="?", help="audio file (any rate; resampled to 8 kHz)")
    p.add_argument("--hop-size", type=float, default=1.0, help="seconds between windows (default 1.0)")
    p.add_argument("--out", help="write embeddings: .npz (embedding, timestamps) or .npy (+ _timestamps.npy)")
    p.add_argument("--frontend", help="frontend.json (default: next to the model)")
    p.add_argument(
        "--classifier", help="linear head .npz/.json (W, b, labels); default classifier.npz next to the model"
    )
    p.add_argument("--stream", action="store_true", help="read raw s16le mono PCM from stdin (e.g. from arecord)")
    p.add_argument("--sr", type=int, default=TARGET_SR, help="sample rate of --stream input (default 8000)")
    p.add_argument("--threads", type=int, default=1, help="runtime threads (default 1)")
    p.add_argument("--no-center", action="store_true", help="frame without the openl3 half-window offset")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print embeddings (use with --out)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not args.stream and not args.audio:
        raise SystemExit("error: give an AUDIO file, or --stream to read PCM from stdin")
    if not args.hop_size > 0:
        raise SystemExit(f"error: --hop-size {args.hop_size} must be > 0")
    emb = Embedder(args.model, args.frontend, args.threads)
    cls_path = args.classifier or os.path.join(os.path.dirname(os.path.abspath(emb.model_path)), "classifier.npz")
    head = load_classifier(cls_path)
    print(f"# {os.path.basename(emb.model_path)} on {emb.model.runtime}", file=sys.stderr)
    if args.stream:
        stream(emb, args.sr, args.hop_size, head, args.out, quiet=args.quiet)
        return 0
    e, ts = embed_file(emb, args.audio, args.hop_size, not args.no_center)
    if not args.quiet:
        _print(ts, e, head)
    if args.out:
        save(args.out, e, ts)
    return 0


if __name__ == "__main__":
    warnings.simplefilter("always")
    warnings.formatwarning = lambda m, c, f, lineno, line=None: f"warning: {m}\n"
    sys.exit(main())
