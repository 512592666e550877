"""Check sea's OpenL3 port against openl3 0.4.x itself (TensorFlow + kapre), on seeded weights.

Two steps, in two environments:

``make OUT``  (an environment where ``import openl3`` works: openl3 0.4.x, TensorFlow, kapre)
    Builds every audio variant with openl3's own ``_construct_*_audio_network``,
    sets the seeded weights of ``tests/fixtures/openl3_ref/recipe.py``, saves them
    with Keras ``save_weights`` as ``OUT/weights/openl3_audio_<repr>_<content>.h5``
    (the format ``openl3.models.load_audio_embedding_model_from_path`` reads),
    writes the test audio, and records ``openl3.get_audio_embedding`` on every
    case of the recipe in ``OUT/reference.npz`` and the files' HDF5 layout in
    ``OUT/h5_layout.json``, plus TF's float32 cosine, Hann window and rfft bits
    in ``OUT/tf_numerics.npz`` (``numerics OUT`` writes only that file).

``check OUT``  (the sea environment)
    Runs ``sea teacher embed --weights OUT/weights/<file>.h5 ...`` on each case and
    prints, per case, the per-frame cosine similarity and relative L2 error against
    openl3 over non-silent frames, and whether the timestamps are identical. Exits 1
    when any case misses cosine >= 0.9999 or median relative L2 <= 1e-3.

``tests/fixtures/openl3_ref`` holds a ``make`` output without the weights (they are
rebuilt from the recipe by the tests), so CI checks the port against openl3's numbers
without TensorFlow.

Usage::

    # openl3 cannot be pip-installed offline (its setup.py downloads weights); put its sdist on the path,
    # in an environment with openl3's own pins (resampy 0.2.2, TF 2.15, kapre 0.3.6: see VERSIONS.txt):
    PYTHONPATH=openl3-0.4.2 REFENV/bin/python benchmarks/openl3_reference.py make /tmp/ol3ref \\
        --sdist openl3-0.4.2.tar.gz
    python benchmarks/openl3_reference.py check /tmp/ol3ref [--res-type soxr_vhq]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RECIPE_PATH = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "openl3_ref" / "recipe.py"
COS_MIN, REL_L2_MAX = 0.9999, 1e-3


def load_recipe():
    spec = importlib.util.spec_from_file_location("openl3_ref_recipe", RECIPE_PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def h5_layout(path: Path) -> dict:
    """Every group/dataset of an HDF5 file with its attributes, shapes and dtypes (no values)."""
    import h5py

    def attrs(obj):
        out = {}
        for k, v in obj.attrs.items():
            v = np.asarray(v)
            out[k] = {
                "dtype": str(v.dtype),
                "value": [x.decode() if isinstance(x, bytes) else x for x in v.ravel().tolist()]
                if v.ndim
                else (v.item().decode() if isinstance(v.item(), bytes) else v.item()),
                "ndim": v.ndim,
            }
        return out

    items = []
    with h5py.File(path, "r") as f:
        root = {"attrs": attrs(f)}

        def visit(name, obj):
            entry = {"path": name, "attrs": attrs(obj)}
            if isinstance(obj, h5py.Dataset):
                entry.update(kind="dataset", shape=list(obj.shape), dtype=str(obj.dtype))
            else:
                entry["kind"] = "group"
            items.append(entry)

        f.visititems(visit)
    return {"root": root, "items": items}


def make(out: Path, sdist: Path | None = None) -> int:
    import openl3
    import soundfile as sf
    import tensorflow as tf
    from openl3.models import AUDIO_MODELS, load_audio_embedding_model_from_path

    recipe = load_recipe()
    out.mkdir(parents=True, exist_ok=True)
    (out / "audio").mkdir(exist_ok=True)
    (out / "weights").mkdir(exist_ok=True)
    for name, *_ in recipe.AUDIO:
        y, sr, subtype = recipe.audio(name)
        sf.write(out / "audio" / name, y, sr, subtype=subtype)
    layouts = {}
    for input_repr, content_type in recipe.VARIANTS:
        path = out / "weights" / f"openl3_audio_{input_repr}_{content_type}.h5"
        model = AUDIO_MODELS[input_repr](include_frontend=True)
        weighted = [layer for layer in model.layers if layer.weights]
        want = recipe.weights(input_repr, content_type)
        if len(weighted) != len(want):
            raise SystemExit(f"{input_repr}: openl3 has {len(weighted)} weighted layers, the recipe {len(want)}")
        for layer, arrays in zip(weighted, want):
            layer.set_weights(arrays)
        model.save_weights(str(path))
        layouts[path.name] = h5_layout(path)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    refs, cases = {}, []
    for case_id, audio_name, input_repr, content_type, size, frontend, hop, center in recipe.CASES:
        model = load_audio_embedding_model_from_path(
            str(out / "weights" / f"openl3_audio_{input_repr}_{content_type}.h5"), input_repr, size, frontend=frontend
        )
        audio, sr = sf.read(out / "audio" / audio_name)  # as openl3.process_audio_file reads it
        kw = {"model": model, "input_repr": input_repr, "hop_size": hop, "center": center, "frontend": frontend}
        t0 = time.perf_counter()
        emb, ts = openl3.get_audio_embedding(audio, sr, verbose=0, **kw)
        seconds = time.perf_counter() - t0
        # openl3's own float32 noise floor: the same audio rounded to float32 (so resampled in float32)
        emb32, _ = openl3.get_audio_embedding(audio.astype(np.float32), sr, verbose=0, **kw)
        refs[f"{case_id}/embedding"] = emb.astype(np.float32)
        refs[f"{case_id}/timestamps"] = np.asarray(ts)
        floor = compare(emb.astype(np.float32), emb32.astype(np.float32))["rel_l2_median"]
        cases.append({"case": case_id, "frames": int(emb.shape[0]), "seconds": seconds, "float32_noise_floor": floor})
        print(f"{case_id}: {emb.shape} in {seconds:.1f} s, openl3 float32 noise floor {floor:.1e}")
    for case_id, audio_name, dtype, input_repr, content_type, size, frontend, hop, center in recipe.ARRAY_CASES:
        model = load_audio_embedding_model_from_path(
            str(out / "weights" / f"openl3_audio_{input_repr}_{content_type}.h5"), input_repr, size, frontend=frontend
        )
        audio, sr = sf.read(out / "audio" / audio_name, dtype=dtype)
        emb, ts = openl3.get_audio_embedding(
            audio, sr, model=model, input_repr=input_repr, hop_size=hop, center=center, frontend=frontend, verbose=0
        )
        refs[f"{case_id}/embedding"] = emb.astype(np.float32)
        refs[f"{case_id}/timestamps"] = np.asarray(ts)
        cases.append({"case": case_id, "frames": int(emb.shape[0]), "array_dtype": dtype})
        print(f"{case_id}: {emb.shape} from a {dtype} array")
    np.savez_compressed(out / "reference.npz", **refs)
    (out / "h5_layout.json").write_text(json.dumps(layouts, indent=1))
    import kapre
    import resampy

    meta = {
        "openl3": openl3.__version__,
        "tensorflow": tf.__version__,
        "kapre": getattr(kapre, "__version__", "?"),
        "resampy": resampy.__version__,
        "numpy": np.__version__,
        "float32_noise_floor": "median relative L2 per frame between openl3 on the float64 audio and on the "
        "same audio rounded to float32; acceptance: sea within max(1e-3, 2x this floor)",
        "cases": cases,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    write_versions(out, sdist)
    resampy_reference(out)
    return tf_numerics(out)


def write_versions(out: Path, sdist: Path | None) -> None:
    """``OUT/VERSIONS.txt``: the reference environment's exact pins (a reference is only one with its own pins)."""
    import hashlib
    import platform
    import subprocess

    import openl3

    freeze = subprocess.run([sys.executable, "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout
    lines = [
        "# Environment that made these fixtures (benchmarks/openl3_reference.py make)",
        f"# python {platform.python_version()} on {platform.machine()} {platform.system()}",
        f"# openl3 {openl3.__version__} from its PyPI sdist on PYTHONPATH (its setup.py downloads weights), "
        "installed with its own install_requires (resampy>=0.2.1,<0.3.0 -> 0.2.2; kapre>=0.3.5)",
    ]
    if sdist is not None:
        digest = hashlib.sha256(Path(sdist).read_bytes()).hexdigest()
        lines.append(f"# openl3 sdist {Path(sdist).name} sha256 {digest}")
    (out / "VERSIONS.txt").write_text("\n".join(lines) + "\n" + freeze)


#: (case, input, sr_orig, sr_new, dtype) of ``resampy022.npz``: chirps up to 0.99 of the source Nyquist, where the
#: resampler versions differ most; int16 shows resampy 0.2.2's integer arithmetic (openl3 given an int16 array).
RESAMPY_CASES = (
    ("chirp44_48k_f8", "chirp44", 44100, 48000, "float64"),
    ("chirp44_48k_f4", "chirp44", 44100, 48000, "float32"),
    ("chirp44_48k_i2", "chirp44", 44100, 48000, "int16"),
    ("chirp22_48k_f8", "chirp22", 22050, 48000, "float64"),
    ("chirp16_48k_f8", "chirp16", 16000, 48000, "float64"),
    ("chirp44_8k_f8", "chirp44", 44100, 8000, "float64"),
    ("noise48_8k_f4", "noise48", 48000, 8000, "float32"),
)


def resampy_inputs() -> dict[str, np.ndarray]:
    """The 0.1-s float64 inputs of ``RESAMPY_CASES`` (other dtypes are exact casts of these)."""
    rng = np.random.default_rng(20261204)
    out = {}
    for name, sr in (("chirp44", 44100), ("chirp22", 22050), ("chirp16", 16000)):
        t = np.arange(int(0.1 * sr)) / sr
        f1 = 0.99 * sr / 2
        out[name] = np.round(0.9 * np.sin(2 * np.pi * (100 * t + 0.5 * (f1 - 100) / 0.1 * t**2)) * 32767) / 32768
    out["noise48"] = np.round(rng.uniform(-0.5, 0.5, 4800) * 32767) / 32768
    return out


def resampy_reference(out: Path) -> int:
    """``OUT/resampy022.npz``: the installed resampy's ``kaiser_best`` on ``RESAMPY_CASES`` (make it with 0.2.2)."""
    import resampy

    inputs = resampy_inputs()
    res = {f"in/{k}": v for k, v in inputs.items()}
    for case, src, sr_orig, sr_new, dtype in RESAMPY_CASES:
        x = inputs[src] * 32768 if dtype == "int16" else inputs[src]
        res[f"out/{case}"] = resampy.resample(x.astype(dtype), sr_orig, sr_new, filter="kaiser_best")
    res["resampy_version"] = np.array(resampy.__version__)
    np.savez_compressed(out / "resampy022.npz", **res)
    print(f"wrote {out / 'resampy022.npz'} (resampy {resampy.__version__})")
    return 0


def tf_numerics(out: Path) -> int:
    """TF's own float32 numbers behind kapre's STFT, for bit-level tests without TensorFlow.

    ``OUT/tf_numerics.npz``: ``tf.cos`` on 4096 seeded arguments in [-40, 40] and on
    Hann's ``2 pi n / N``; ``tf.signal.hann_window(N)``; and ``tf.signal.rfft`` of
    windowed frames whose top ~8% of the band is empty (as after resampling from
    44.1 kHz), for N = 512 and 2048.
    """
    import tensorflow as tf

    rng = np.random.default_rng(20261201)
    cos_x = rng.uniform(-40.0, 40.0, 4096).astype(np.float32)
    res = {"cos_x": cos_x, "cos_y": tf.cos(cos_x).numpy()}
    for n in (512, 2048):
        window = tf.signal.hann_window(n, periodic=True, dtype=tf.float32).numpy()
        full = rng.standard_normal((6, 4 * n))
        spec = np.fft.rfft(full, axis=1)
        spec[:, int(spec.shape[1] * 22050 / 24000) :] = 0
        frames = np.fft.irfft(spec, axis=1)[:, :n].astype(np.float32) * window
        res[f"hann{n}"] = window
        res[f"frames{n}"] = frames
        res[f"rfft{n}"] = tf.signal.rfft(frames).numpy()
    np.savez_compressed(out / "tf_numerics.npz", **res)
    print(f"wrote {out / 'tf_numerics.npz'}")
    return 0


def compare(ref: np.ndarray, got: np.ndarray) -> dict:
    """Per-frame cosine and relative L2 of ``got`` against ``ref`` over non-silent frames."""
    norms = np.linalg.norm(ref, axis=1)
    live = norms > 1e-6 * max(1e-30, float(norms.max()))
    r, g = ref[live].astype(np.float64), got[live].astype(np.float64)
    cos = (r * g).sum(1) / (np.linalg.norm(r, axis=1) * np.linalg.norm(g, axis=1) + 1e-300)
    rel = np.linalg.norm(g - r, axis=1) / np.linalg.norm(r, axis=1)
    return {
        "frames": int(ref.shape[0]),
        "live": int(live.sum()),
        "cos_min": float(cos.min()) if cos.size else float("nan"),
        "rel_l2_median": float(np.median(rel)) if rel.size else float("nan"),
        "rel_l2_max": float(rel.max()) if rel.size else float("nan"),
    }


def sea_embed(
    ref_dir: Path, weights_dir: Path, case: tuple, out_dir: Path, res_type: str = "kaiser_best"
) -> tuple[np.ndarray, np.ndarray]:
    """``sea teacher embed`` on one recipe case; returns (embedding, timestamps) from its npz."""
    import contextlib
    import io

    from sea.cli import main as sea_main

    case_id, audio_name, input_repr, content_type, size, frontend, hop, center = case
    args = ["-q", "teacher", "embed", str(ref_dir / "audio" / audio_name), "-o", str(out_dir / case_id),
            "--weights", str(weights_dir / f"openl3_audio_{input_repr}_{content_type}.h5"),
            "--input-repr", input_repr, "--content-type", content_type, "--embedding-size", str(size),
            "--hop-size", str(hop), "--frontend", frontend, "--overwrite"]  # fmt: skip
    if not center:
        args.append("--no-centering")
    if res_type != "kaiser_best":
        args += ["--res-type", res_type]
    with contextlib.redirect_stdout(io.StringIO()):  # sea prints the output paths
        rc = sea_main(args)
    if rc:
        raise SystemExit(f"sea teacher embed failed for {case_id} (exit {rc})")
    with np.load(out_dir / case_id / (Path(audio_name).stem + ".npz")) as z:
        return z["embedding"], z["timestamps"]


def check(ref_dir: Path, weights_dir: Path | None = None, res_type: str = "kaiser_best") -> int:
    import warnings

    recipe = load_recipe()
    weights_dir = weights_dir or ref_dir / "weights"
    refs = np.load(ref_dir / "reference.npz")
    ok = True
    print(f"{'case':<36}{'frames':>7}{'live':>6}{'cos min':>11}{'relL2 med':>11}{'relL2 max':>11}  timestamps")
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case in recipe.CASES:
            emb, ts = sea_embed(ref_dir, weights_dir, case, Path(tmp), res_type)
            ref, ref_ts = refs[f"{case[0]}/embedding"], refs[f"{case[0]}/timestamps"]
            if emb.shape != ref.shape:
                print(f"{case[0]:<36} shape {emb.shape} != openl3 {ref.shape}")
                ok = False
                continue
            c = compare(ref, emb)
            same_ts = np.array_equal(ts, ref_ts)
            good = c["cos_min"] >= COS_MIN and c["rel_l2_median"] <= REL_L2_MAX and same_ts
            ok &= good
            print(
                f"{case[0]:<36}{c['frames']:>7}{c['live']:>6}{c['cos_min']:>11.7f}{c['rel_l2_median']:>11.1e}"
                f"{c['rel_l2_max']:>11.1e}  {'identical' if same_ts else 'DIFFER'}{'' if good else '  FAIL'}"
            )
    print(f"targets: cosine >= {COS_MIN}, median relative L2 <= {REL_L2_MAX:g}: {'all met' if ok else 'MISSED'}")
    return 0 if ok else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make", help="run openl3 (needs TensorFlow + kapre) and write the reference")
    m.add_argument("out", type=Path)
    m.add_argument("--sdist", type=Path, default=None, help="openl3 sdist archive, to record its sha256")
    t = sub.add_parser("numerics", help="only write OUT/tf_numerics.npz (TF's cos, Hann window and rfft bits)")
    t.add_argument("out", type=Path)
    r = sub.add_parser("resampy", help="only write OUT/resampy022.npz (the installed resampy on chirps near Nyquist)")
    r.add_argument("out", type=Path)
    c = sub.add_parser("check", help="compare sea teacher embed with a reference made by 'make'")
    c.add_argument("ref_dir", type=Path)
    c.add_argument("--weights-dir", type=Path, default=None, help="default: REF_DIR/weights")
    c.add_argument("--res-type", default="kaiser_best", help="sea's resampler (kaiser_best, soxr_vhq, soxr_hq)")
    args = ap.parse_args(argv)
    if args.cmd == "make":
        return make(args.out, args.sdist)
    if args.cmd == "numerics":
        return tf_numerics(args.out)
    if args.cmd == "resampy":
        return resampy_reference(args.out)
    return check(args.ref_dir, args.weights_dir, args.res_type)


if __name__ == "__main__":
    sys.exit(main())
