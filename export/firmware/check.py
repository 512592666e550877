"""``check_firmware``: build the generated C, run it on the host and on an emulated Cortex-M4, compare with TFLite.

What is compared (per target, over every window of every audio file):

- ``bit_exact``: the firmware's int8 embeddings equal ai-edge-litert's reference kernels run on the *same* int8
  network input (the features the C front-end produced);
- ``max_abs_diff_lsb``: the largest int8 difference to ai-edge-litert run on sea's numpy front-end
  (:func:`logmel_numpy`), i.e. end to end; ``input_steps`` says how many inputs the float32 C front-end moved by a
  quantisation step against the float64 numpy one.

The reference audio is the int16 PCM the firmware receives (``pcm / 32768``), cut into windows with sea's centred
framing, as the Pi runner does.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sea.errors import ExportError, SeaError
from sea.files import FileReport
from sea.utils import write_json

from . import toolchain as tc
from .generate import FIRMWARE_JSON, GENERATOR_VERSION, resolve_inputs, write_firmware

__all__ = ["ALL_TARGETS", "CHECK_JSON", "check_command", "check_firmware", "render_check"]

CHECK_JSON = "check.json"
CLOCK_HZ = 80e6  # the reference clock for "ms per window"


def _interpreter(path: Path, resolver: str):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from ..quiet import c_stderr_captured

    with c_stderr_captured(f"ai-edge-litert on {path}"):  # "Created TensorFlow Lite XNNPACK delegate for CPU."
        it = Interpreter(
            model_path=str(path), experimental_op_resolver_type=getattr(OpResolverType, resolver), num_threads=1
        )
        it.allocate_tensors()
    return it


def _run_int8(it, x: np.ndarray) -> np.ndarray:
    """int8 inputs [N, input_size] -> int8 outputs [N, D], one window at a time."""
    di, do = it.get_input_details()[0], it.get_output_details()[0]
    out = []
    for row in x:
        it.set_tensor(di["index"], np.ascontiguousarray(row.reshape(di["shape"]), dtype=np.int8))
        it.invoke()
        out.append(it.get_tensor(do["index"]).reshape(-1).copy())
    return np.asarray(out, np.int8).reshape(len(x), -1)


def _load_pcm(path, sr: int) -> np.ndarray:
    """Mono int16 PCM at ``sr`` (sea's decoder and resampler), clipped to the int16 range."""
    from sea.audio import load

    y, _ = load(path, sr=sr, mono=True, dtype="float64")
    return np.clip(np.round(y * 32768.0), -32768, 32767).astype("<i2")


def _reference_features(pcm: np.ndarray, sr: int, hop_size: float, fe_params: dict, scale: float, zp: int):
    """(windows [T, W] float32, int8 features [T, n_mels * n_frames]) with sea's numpy front-end."""
    from sea.framing import windows

    from ._compat import frontend_numpy

    frame = int(fe_params["window_length"]) / sr
    w = windows(pcm.astype(np.float32) / np.float32(32768.0), sr, hop_size=hop_size, center=True, frame_size=frame)
    lm = frontend_numpy().logmel_numpy(w, fe_params).reshape(len(w), -1)
    # as export.tflite.run_litert quantises: float32 x / scale, numpy round-half-even, clip
    q = np.clip(np.round(lm / np.float32(scale)) + zp, -128, 127).astype(np.int8)
    return w, q


def _compare(emb: np.ndarray, feats: np.ndarray, q_ref: np.ndarray, y_ref: np.ndarray, it_ref, it_default) -> dict:
    y_same_input = _run_int8(it_ref, feats)
    steps = feats.astype(np.int64) - q_ref.astype(np.int64)
    e = emb.astype(np.int64)
    res = {
        "windows": int(len(emb)),
        "bit_exact": bool(np.array_equal(y_same_input, emb)),
        "network_mismatches": int((y_same_input != emb).sum()),
        "max_abs_diff_lsb": int(np.abs(e - y_ref.astype(np.int64)).max(initial=0)),
        "mean_abs_diff_lsb": float(np.abs(e - y_ref.astype(np.int64)).mean()) if e.size else 0.0,
        "input_steps": {
            "inputs": int(steps.size),
            "moved": int((steps != 0).sum()),
            "max_steps": int(np.abs(steps).max(initial=0)),
            "fraction": float((steps != 0).mean()) if steps.size else 0.0,
        },
    }
    if it_default is not None:
        y_def = _run_int8(it_default, q_ref)
        res["max_abs_diff_lsb_vs_litert_default"] = int(np.abs(e - y_def.astype(np.int64)).max(initial=0))
    return res


def _merge(parts: list[dict]) -> dict:
    out = {
        "windows": sum(p["windows"] for p in parts),
        "bit_exact": all(p["bit_exact"] for p in parts),
        "network_mismatches": sum(p["network_mismatches"] for p in parts),
        "max_abs_diff_lsb": max((p["max_abs_diff_lsb"] for p in parts), default=0),
        "input_steps": {
            "inputs": sum(p["input_steps"]["inputs"] for p in parts),
            "moved": sum(p["input_steps"]["moved"] for p in parts),
            "max_steps": max((p["input_steps"]["max_steps"] for p in parts), default=0),
        },
    }
    n = out["input_steps"]["inputs"]
    out["input_steps"]["fraction"] = out["input_steps"]["moved"] / n if n else 0.0
    if parts and "max_abs_diff_lsb_vs_litert_default" in parts[0]:
        out["max_abs_diff_lsb_vs_litert_default"] = max(p["max_abs_diff_lsb_vs_litert_default"] for p in parts)
    return out


def _m4_figures(stats: dict, meta: dict) -> dict:
    """Per-window instruction counts from the SEA_STATS line (ticks x calibrated instructions per tick)."""
    per_tick = stats["calib_instructions"] / max(stats["calib_ticks"], 1)
    n = max(stats["windows"], 1)
    fe = stats["frontend_ticks"] * per_tick / n
    layers = [stats.get(f"layer{i:03d}", 0) * per_tick / n for i in range(len(meta["layers"]))]
    net = float(sum(layers))
    macs = meta["macs_per_window"]
    return {
        "instructions_per_window": int(round(fe + net)),
        "frontend_instructions_per_window": int(round(fe)),
        "network_instructions_per_window": int(round(net)),
        "instructions_per_mac": net / macs if macs else None,
        "ms_per_window_at_80mhz": (fe + net) / CLOCK_HZ * 1e3,
        "instructions_per_tick": per_tick,
        "layers": [
            {
                "index": la["index"],
                "kind": la["kind"],
                "op": la["op"],
                "instructions": int(round(v)),
                "instructions_per_mac": (v / la["macs"]) if la["macs"] else None,
            }
            for la, v in zip(meta["layers"], layers)
        ],
    }


def _sizes(elf: Path, stack_used: int | None, meta: dict) -> dict:
    s = tc.elf_sizes(elf)
    syms = tc.symbol_sizes(elf)
    weights = sum(size for name, (_, size) in syms.items() if name.startswith(("sea_w", "sea_q", "sea_lut")))
    tables = sum(size for name, (_, size) in syms.items() if name.startswith("sea_fe_"))
    app = sum(
        size
        for name, (kind, size) in syms.items()
        if kind in ("b", "d") and name.split(".")[0] in ("window", "feat", "cmd", "line")
    )
    out = {
        "flash_bytes": s["flash_bytes"],
        "ram_bytes": s["static_ram_bytes"] + (stack_used or 0),
        "static_ram_bytes": s["static_ram_bytes"],
        "stack_bytes": stack_used,
        "sections": s["sections"],
        "breakdown": {
            "arena_bytes": meta["memory"]["arena_bytes"],
            "example_buffers_bytes": int(app),
            "weights_and_requant_bytes": int(weights),
            "frontend_tables_bytes": int(tables),
        },
    }
    return out


def _tflm_arena(export_dir: Path, tflite: Path):
    """The TFLite Micro arena of the model (from footprint.json, else measured), for comparison; None without TFLM."""
    fp = export_dir / "footprint.json"
    if fp.is_file():
        try:
            arts = json.loads(fp.read_text(encoding="utf-8")).get("artifacts", {})
        except ValueError:  # a damaged report: measure instead
            arts = {}
        v = arts.get("model_int8.tflite", {}).get("tflm_arena_bytes")
        if v:
            return int(v)
    try:
        from export.footprint import measure_arena
    except ImportError:  # tflite-micro is optional here: the figure is only a comparison
        return None
    try:
        return int(measure_arena(tflite))
    except ExportError:
        return None


@dataclass
class _Model:
    """The firmware project, its model and the LiteRT references it is compared with."""

    fw: Path
    tfl: Path
    meta: dict
    fe_params: dict
    it_ref: object
    it_def: object

    @property
    def sr(self) -> int:
        return int(self.meta["sample_rate"])

    @property
    def dim(self) -> int:
        return int(self.meta["embedding_dim"])


def _open_model(export_dir: Path, firmware_dir) -> _Model:
    """Resolve the model and front-end; regenerate the firmware when missing or made from another model."""
    tfl, fe_json = resolve_inputs(export_dir, None)
    fw = Path(firmware_dir) if firmware_dir is not None else tfl.parent / "firmware"
    meta_path = fw / FIRMWARE_JSON
    sha = hashlib.sha256(tfl.read_bytes()).hexdigest()
    fe_sha = hashlib.sha256(fe_json.read_bytes()).hexdigest() if fe_json.is_file() else None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else None
    except ValueError:  # a damaged firmware.json: regenerate
        meta = None
    stale = meta is None or meta.get("generator_version") != GENERATOR_VERSION
    if stale or meta.get("tflite_sha256") != sha or meta.get("frontend_sha256") != fe_sha:
        # missing, or generated from another model / front-end: regenerate (build outputs are kept, make rebuilds)
        write_firmware(tfl, fe_json, fw)
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    fe_params = json.loads(fe_json.read_text(encoding="utf-8"))["frontend"]
    return _Model(fw, tfl, meta, fe_params, _interpreter(tfl, "BUILTIN_REF"), _interpreter(tfl, "AUTO"))


def _load_files(paths: list[Path], m: _Model, hop_size: float, tmp: Path, report: FileReport) -> list[dict]:
    """Decode each file to the firmware's int16 PCM and its LiteRT reference; unreadable files go to ``report``."""
    scale, zp = float(m.meta["input"]["scale"]), int(m.meta["input"]["zero_point"])
    files = []
    for i, path in enumerate(paths):
        try:
            pcm = _load_pcm(path, m.sr)
        except (SeaError, OSError) as exc:  # a bad audio file: listed at the end, the others are checked
            report.fail(path, exc)
            continue
        pcm_path = tmp / f"in{i}.pcm"
        pcm.tofile(pcm_path)
        _, q_ref = _reference_features(pcm, m.sr, hop_size, m.fe_params, scale, zp)
        files.append({"path": path, "pcm": pcm_path, "q_ref": q_ref, "y_ref": _run_int8(m.it_ref, q_ref)})
    return files


def _run_target(target: str, m: _Model, files: list[dict], tmp: Path, hop: int, timeout: float):
    """Build and run one target on every file; return (merged comparison, embeddings per file, QEMU stats)."""
    exe = tc.build(m.fw, target, dsp=None if target == "host" else m.meta["dsp_default"], timeout=timeout)
    parts, embs, stats_all = [], [], []
    for i, f in enumerate(files):
        emb_p, feat_p = tmp / f"{target}{i}.emb", tmp / f"{target}{i}.feat"
        if target == "host":
            tc.run_host(exe, f["pcm"], emb_p, feat_p, hop, timeout=timeout)
        else:
            stats_all.append(tc.run_qemu(exe, f["pcm"], emb_p, feat_p, hop, timeout=timeout))
        emb = np.fromfile(emb_p, np.int8).reshape(-1, m.dim)
        feats = np.fromfile(feat_p, np.int8).reshape(len(emb), -1)
        if len(emb) != len(f["q_ref"]):
            raise ExportError(
                f"{f['path']}: the {target} firmware produced {len(emb)} windows, sea's framing {len(f['q_ref'])}"
            )
        parts.append(_compare(emb, feats, f["q_ref"], f["y_ref"], m.it_ref, m.it_def))
        embs.append(emb)
    res = _merge(parts)
    res["files"] = [{"path": str(f["path"]), **p} for f, p in zip(files, parts)]
    return res, embs, exe, stats_all


def _m4_result(res: dict, exe: Path, stats_all: list[dict], m: _Model) -> None:
    total = {k: sum(s[k] for s in stats_all) for k in stats_all[0] if k != "stack_bytes"}
    res.update(_m4_figures(total, m.meta))
    res.update(_sizes(exe, max(s["stack_bytes"] for s in stats_all), m.meta))
    res["dsp"] = bool(m.meta["dsp_default"])


def _plain_c(target: str, m: _Model, f: dict, tmp: Path, hop: int, timeout: float) -> dict:
    """The Cortex-M image without DSP instructions, on the first file: bit-exactness and instruction counts."""
    elf0 = tc.build(m.fw, target, dsp=False, timeout=timeout)
    st = tc.run_qemu(elf0, f["pcm"], tmp / "plain.emb", tmp / "plain.feat", hop, timeout=timeout)
    e0 = np.fromfile(tmp / "plain.emb", np.int8).reshape(-1, m.dim)
    f0 = np.fromfile(tmp / "plain.feat", np.int8).reshape(len(e0), -1)
    fig = _m4_figures(st, m.meta)
    keys = (
        "instructions_per_window",
        "network_instructions_per_window",
        "instructions_per_mac",
        "ms_per_window_at_80mhz",
    )
    return {"bit_exact": bool(np.array_equal(_run_int8(m.it_ref, f0), e0)), "windows": int(len(e0)),
            **{k: fig[k] for k in keys}}  # fmt: skip


def _check_target(target: str, m: _Model, files: list[dict], tmp: Path, hop: int, *, plain_c: bool, timeout: float):
    """One target's entry of check.json, and its embeddings per file (None for a built-only target)."""
    if target == "cortex-m7":
        elf = tc.build(m.fw, "cortex-m7", dsp=m.meta["dsp_default"], timeout=timeout)
        res = {"built": True, "run": False, **_sizes(elf, None, m.meta)}
        res["note"] = "built only: RAM excludes the stack (QEMU's mps2-an386 is a Cortex-M4)"
        return res, None
    res, embs, exe, stats_all = _run_target(target, m, files, tmp, hop, timeout)
    if target == "host":
        res.update({"flash_bytes": None, "ram_bytes": None, "instructions_per_window": None,
                    "instructions_per_mac": None})  # fmt: skip
        return res, embs
    _m4_result(res, exe, stats_all, m)
    if plain_c:
        res["plain_c"] = _plain_c(target, m, files[0], tmp, hop, timeout)
    return res, embs


def _write_outputs(files: list[dict], embs: list[np.ndarray], names: dict, m: _Model, hop_size: float) -> list[str]:
    """``<stem>.npy`` (dequantised float32 (T, D)) and ``<stem>_timestamps.npy``, as the Pi runner's ``--out DIR``."""
    o_scale, o_zp = float(m.meta["output"]["scale"]), int(m.meta["output"]["zero_point"])
    written = []
    for f, emb in zip(files, embs):
        path = names[f["path"]]
        np.save(path, ((emb.astype(np.float32) - o_zp) * np.float32(o_scale)).astype(np.float32))
        np.save(path.with_name(path.stem + "_timestamps.npy"), np.arange(len(emb)) * float(hop_size))
        written.append(str(path))
    return written


def check_firmware(
    export_dir,
    audio_paths,
    *,
    targets=("host", "cortex-m4"),
    out_dir=None,
    hop_size: float = 1.0,
    firmware_dir=None,
    plain_c: bool = True,
    timeout: float = 900.0,
    report: FileReport | None = None,
) -> dict:
    """Build the firmware, run it on ``audio_paths`` and compare it with the int8 TFLite model.

    Parameters
    ----------
    export_dir : path
        An export folder (``model_int8.tflite``, ``frontend.json``); its ``firmware/`` is generated when missing or
        made from another model.
    audio_paths : sequence of paths
        Audio files (any rate sea reads; resampled to the front-end's rate). Unreadable files are recorded in
        ``report`` (and in check.json's ``failed``); the others are checked.
    targets : sequence of {"host", "cortex-m4", "cortex-m7"}
        ``cortex-m4`` runs under QEMU ``mps2-an386``; ``cortex-m7`` is built (sizes) but not run.
    out_dir : path, optional
        Where ``<stem>.npy`` (dequantised float32 ``(T, D)``) and ``<stem>_timestamps.npy`` go, as the Pi runner's
        ``--out DIR`` writes them (window centres, in seconds); from the first run target. Two inputs with one stem
        (``a.flac``, ``a.ogg``) keep their extension in the name. Default: ``<firmware>/check``.
    hop_size : float
        Seconds between windows (centred framing).
    firmware_dir : path, optional
        Default ``<export_dir>/firmware``.
    plain_c : bool
        Also build the Cortex-M4 image without DSP instructions and count its instructions (first file only).
    timeout : float
        Seconds per build or emulator run.
    report : FileReport, optional
        Collects the files that could not be read (default: a new one).

    Returns
    -------
    dict
        The content of ``<firmware>/check.json``: ``macs_per_window`` and ``targets`` with, per target,
        ``bit_exact``, ``max_abs_diff_lsb``, ``input_steps``, ``flash_bytes``, ``ram_bytes``,
        ``instructions_per_window`` and ``instructions_per_mac`` (None where a target does not measure them),
        and ``failed`` (``[path, reason]`` of each unreadable file).

    Raises
    ------
    FirmwareToolchainError
        A compiler or QEMU is missing (the message says what to apt-get install).
    ExportError
        No int8 model, a bad frontend.json, a bad hop, no readable audio file, a failed build or run.
    """
    from sea.files import output_paths

    targets = tuple(dict.fromkeys(targets))
    tc.check_toolchain(targets)
    if not (math.isfinite(hop_size) and hop_size > 0):
        raise ExportError(f"hop_size={hop_size} must be a finite number of seconds > 0")
    audio_paths = [Path(p) for p in ([audio_paths] if isinstance(audio_paths, (str, Path)) else audio_paths)]
    if not audio_paths:
        raise ExportError("check_firmware needs at least one audio file")
    m = _open_model(Path(export_dir), firmware_dir)
    hop = int(hop_size * m.sr)
    if hop < 1:
        raise ExportError(f"hop_size={hop_size} s is shorter than one sample at {m.sr} Hz")
    out = Path(out_dir) if out_dir is not None else m.fw / "check"
    names = output_paths(audio_paths, out, ext=".npy")
    report = report if report is not None else FileReport()
    results: dict = {}
    emb_by_target: dict = {}
    with tempfile.TemporaryDirectory(prefix="sea_fw_") as tmp:
        files = _load_files(audio_paths, m, hop_size, Path(tmp), report)
        if not files:
            raise ExportError(
                f"none of the {len(audio_paths)} audio file(s) could be read: "
                + "; ".join(f"{p}: {why}" for p, why in report.failed[:3])
            )
        for target in targets:
            results[target], embs = _check_target(target, m, files, Path(tmp), hop, plain_c=plain_c, timeout=timeout)
            if embs is not None:
                emb_by_target[target] = embs
    ran = [t for t in targets if t in emb_by_target]
    written = []
    if ran:
        out.mkdir(parents=True, exist_ok=True)
        written = _write_outputs(files, emb_by_target[ran[0]], names, m, hop_size)
        if len(ran) > 1:
            same = all(all(np.array_equal(a, b) for a, b in zip(emb_by_target[ran[0]], emb_by_target[t]))
                       for t in ran[1:])  # fmt: skip
            for t in ran:
                results[t]["identical_across_targets"] = bool(same)
    doc = _document(m, Path(export_dir), hop_size, [f["path"] for f in files], written, results, report)
    write_json(m.fw / CHECK_JSON, doc)
    return doc


def _document(m: _Model, export_dir: Path, hop_size: float, audio: list[Path], written: list[str], results: dict,
              report: FileReport) -> dict:  # fmt: skip
    return {
        "format": "sea-firmware-check",
        "model_name": m.meta["model_name"],
        "macs_per_window": int(m.meta["macs_per_window"]),
        "reference": "ai-edge-litert reference kernels (OpResolverType.BUILTIN_REF) on model_int8.tflite",
        "rounding": m.meta.get("rounding", "litert"),
        "hop_size": float(hop_size),
        "window_size": m.meta["window_samples"] / m.sr,
        "timestamps": "i * hop_size: the centre of window i, as the Pi runner's",
        "audio": [str(p) for p in audio],
        "failed": [[str(p), why] for p, why in report.failed],
        "outputs": written,
        "tflm_arena_bytes": _tflm_arena(export_dir, m.tfl),
        "arena_bytes": m.meta["memory"]["arena_bytes"],
        "targets": results,
    }


#: ``--target all``: every target (Cortex-M7 is built for its sizes, not run).
ALL_TARGETS = ("host", "cortex-m4", "cortex-m7")


def check_command(export_dir, inputs, *, target: str = "all", out_dir=None, hop_size: float = 1.0) -> tuple[str, int]:
    """What ``sea export check-firmware`` does: check the firmware on files and folders, render the result.

    Parameters
    ----------
    export_dir : path
        An export folder with ``model_int8.tflite`` and ``frontend.json``.
    inputs : sequence of path
        Audio files and folders (searched for audio files).
    target : {"host", "cortex-m4", "cortex-m7", "all"}
    out_dir : path, optional
        Where ``<stem>.npy`` and ``<stem>_timestamps.npy`` go (default ``<firmware>/check``).
    hop_size : float
        Seconds between windows.

    Returns
    -------
    text : str
        A table per target and the list of files that could not be read.
    exit_code : int
        1 when a file failed, or a run target is not bit-exact with LiteRT or more than 1 LSB off end to end.
    """
    from sea.config import did_you_mean
    from sea.files import expand_inputs

    if target != "all" and target not in ALL_TARGETS:
        raise ExportError(f"unknown firmware target {target!r}{did_you_mean(target, (*ALL_TARGETS, 'all'))}; "
                          f"choose one of {', '.join(ALL_TARGETS)} or all")  # fmt: skip
    targets = ALL_TARGETS if target == "all" else (target,)
    tc.check_toolchain(targets)
    resolve_inputs(export_dir, None)  # a missing model is named before any input is read
    files = expand_inputs(inputs)
    report = FileReport()
    doc = check_firmware(export_dir, files, targets=targets, out_dir=out_dir, hop_size=hop_size, report=report)
    report.written = [Path(p) for p in doc["outputs"]]
    bad = [t for t, r in doc["targets"].items() if r.get("run", True) and
           (not r.get("bit_exact") or r.get("max_abs_diff_lsb", 0) > 1)]  # fmt: skip
    lines = [render_check(doc), "", report.summary().replace(" skipped (exist; --overwrite),", ",")]
    if bad:
        lines.append(f"NOT bit-exact with ai-edge-litert (or > 1 LSB end to end) on: {', '.join(bad)}")
    lines.append(f"check.json: {Path(export_dir) / 'firmware' / CHECK_JSON}")
    return "\n".join(lines), 1 if (bad or report.failed) else 0


def render_check(doc: dict) -> str:
    """A check.json as a text table: bit-exactness, LSB difference, flash, RAM, instructions, ms at 80 MHz."""
    from sea.tables import fmt_bytes, fmt_count, render_table

    rows = []
    for name, r in doc["targets"].items():
        ran = r.get("run", True)
        rows.append([
            name,
            ("yes" if r["bit_exact"] else "NO") if ran else "built only",
            str(r["max_abs_diff_lsb"]) if ran else "-",
            fmt_bytes(r.get("flash_bytes")),
            fmt_bytes(r.get("ram_bytes")),
            fmt_count(r.get("instructions_per_window")),
            "-" if r.get("instructions_per_mac") is None else f"{r['instructions_per_mac']:.2f}",
            "-" if r.get("ms_per_window_at_80mhz") is None else f"{r['ms_per_window_at_80mhz']:.1f}",
        ])  # fmt: skip
    header = ["target", "bit-exact", "max LSB", "flash", "RAM", "instr./window", "instr./MAC", "ms @ 80 MHz"]
    head = (f"firmware of {doc['model_name']}: {doc['macs_per_window']:,} MACs per {doc.get('window_size', 1.0):g}-s "
            f"window, {len(doc['audio'])} file(s), hop {doc['hop_size']:g} s; reference: {doc['reference']}")  # fmt: skip
    return head + "\n\n" + render_table(header, rows, style="text", align="<<>>>>>>")
