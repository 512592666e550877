"""``export_student``: one checkpoint -> ONNX / TFLite / MCU / Pi artifacts plus parity and footprint reports."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from sea.errors import ConfigError, ExportError
from sea.utils import read_json, write_json

from .calibration import Windows, find_run_dir, load_windows
from .config import ExportConfig

log = logging.getLogger("sea.export")

FRONTEND_JSON = "frontend.json"
_TEACHER_MS: dict[str, float] = {}  # teacher latency, measured once per process

__all__ = ["export_model", "export_student", "teacher_latency_ms"]


class _WithFrontend:
    """Factory for the raw-audio model: Conv1d-DFT front-end (float32) followed by the student."""

    @staticmethod
    def build(student):
        import torch

        from sea.students.frontend import StudentFrontend

        class WithFrontend(torch.nn.Module):
            def __init__(self, fe, st):
                super().__init__()
                self.frontend, self.student = fe, st

            def forward(self, audio):
                return self.student(self.frontend(audio))

        return WithFrontend(StudentFrontend(mode="conv", dtype=torch.float32), student).eval()


def export_student(checkpoint: str | Path, out_dir: str | Path, config: ExportConfig | None = None) -> dict[str, Any]:
    """Export a distilled student checkpoint.

    Parameters
    ----------
    checkpoint : path
        ``RUN/students/<name>/best.pt`` (or its folder), as written by ``sea distill``.
    out_dir : path
        Output folder (``RUN/export/<name>`` by convention).
    config : ExportConfig

    Returns
    -------
    summary : dict
        ``artifacts`` (name -> path), ``parity`` and ``footprint`` (the JSON reports).
    """
    from sea.checkpoint import load_student

    config = config or ExportConfig()
    config.validate()
    model, ckpt = load_student(checkpoint)
    calibration = config.calibration
    if calibration is None:
        run = find_run_dir(checkpoint)
        if run is not None:
            log.info("calibration/parity windows from the checkpoint's run %s", run)
            calibration = str(run)
    return export_model(
        model,
        out_dir,
        config,
        model_name=ckpt["model_name"],
        calibration=calibration,
        inputs={"checkpoint": Path(checkpoint)},
        extra={
            "model_args": ckpt.get("model_args", {}),
            "teacher": ckpt.get("teacher"),
            "target_spec": ckpt.get("target_spec"),
        },
    )


def teacher_latency_ms(repeats: int = 5) -> float | None:
    """Single-thread batch-1 latency of the OpenL3 teacher (mel256/music/512, untrained weights), cached per process."""
    if "ms" in _TEACHER_MS:
        return _TEACHER_MS["ms"]
    try:
        import warnings

        import torch

        from sea.teacher import load_teacher

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            teacher, _ = load_teacher("mel256", "music", 512, untrained=True)
    except Exception as exc:  # teacher not built / not importable: ratios are left out
        log.info("teacher latency skipped: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return None
    from .footprint import time_fn

    x = torch.zeros(1, 48000)
    x[0, ::7] = 0.1
    with _threads(1), torch.no_grad():
        ms = time_fn(lambda: teacher.eval()(x), repeats=repeats, warmup=1)["median_ms"]
    _TEACHER_MS["ms"] = ms
    return ms


class _threads:
    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        import torch

        self.old = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.old)


def _synthetic_windows(n: int, seed: int) -> np.ndarray:
    """Deterministic tones + noise, used ONLY for fp32 parity when no run directory exists (never for calibration)."""
    r = np.random.default_rng(seed)
    t = np.arange(8000) / 8000.0
    out = []
    for _ in range(n):
        f = 100.0 * 2 ** (r.random() * 5)
        y = 0.3 * np.sin(2 * np.pi * f * t) + 0.05 * r.standard_normal(8000)
        out.append(y * (0.2 + r.random()))
    return np.asarray(out, np.float32)


def export_model(
    model,
    out_dir: str | Path,
    config: ExportConfig | None = None,
    *,
    model_name: str = "student",
    calibration: str | Path | None = None,
    inputs: dict[str, Path] | None = None,
    extra: dict | None = None,
) -> dict[str, Any]:
    """Export an in-memory student ``[B, 1, 64, 50] -> [B, D]`` (see :func:`export_student`)."""
    import torch

    from sea.runs import Stage
    from sea.students.frontend import frontend_params, logmel_numpy

    from . import footprint as fpm
    from . import parity as par

    config = config or ExportConfig()
    config.validate()
    out = Path(out_dir)
    calibration = calibration if calibration is not None else config.calibration
    stage_inputs = dict(inputs or {})
    if calibration is not None:
        cal_path = Path(calibration)
        stage_inputs["calibration"] = cal_path / "clips.jsonl" if (cal_path / "clips.jsonl").is_file() else cal_path
    # overwrite is an action, not a setting: it must not make the next plain run look stale
    stage = Stage(
        out,
        "export",
        dataclasses.replace(config, overwrite=False),
        inputs={k: v for k, v in stage_inputs.items() if Path(v).exists()},
    )
    if stage.is_done() and not config.overwrite:
        log.info("export in %s is up to date (use --overwrite to redo it)", out)
        return _summary(out)
    # a sea export made from another checkpoint or other settings is stale: rebuild it, like every stage
    stale = out.exists() and (out / "stage.json").is_file()
    if stale and not config.overwrite:
        log.info("export in %s was made from other inputs or settings; rebuilding it", out)
    if (config.overwrite or stale) and out.exists():
        for name in ("mcu", "pi"):
            shutil.rmtree(out / name, ignore_errors=True)
    if config.int8 and calibration is None:
        raise ConfigError(
            "--int8 needs real target-domain calibration windows: pass --calibration RUN_DIR (a run with audio/8000); "
            "int8 is never calibrated on random data"
        )

    model = model.eval()
    fe_params = frontend_params()
    with_fe = bool(config.with_frontend)
    net = _WithFrontend.build(model) if with_fe else model
    in_kind = "audio" if with_fe else "logmel"
    in_shape = (int(fe_params["window_length"]),) if with_fe else tuple(getattr(model, "input_shape", (1, 64, 50)))

    # ---- windows: calibration (int8) and held-out parity windows, real ones from the run ----
    if calibration is not None:
        calib, held = load_windows(
            calibration,
            n_calibration=config.n_calibration,
            n_holdout=config.n_parity,
            holdout_fraction=config.holdout_fraction,
            hop_size=config.window_hop_size,
            seed=config.seed,
            input_shape=tuple(getattr(model, "input_shape", (1, 64, 50))),
        )
        synthetic = False
        if with_fe and (calib.audio is None or held.audio is None):
            raise ExportError(
                "--with-frontend needs audio windows; pass a run directory (or an (N, 8000) audio array) as --calibration"
            )
    else:
        log.warning(
            "no calibration run: fp32 parity uses synthetic tones (pass --calibration RUN_DIR for real windows)"
        )
        a = _synthetic_windows(config.n_parity, config.seed)
        held = Windows(
            a, logmel_numpy(a)[:, None], [f"synthetic:{i}" for i in range(len(a))], -np.ones(len(a), np.int64)
        )
        calib, synthetic = None, True
    X_held = held.audio if with_fe else held.logmel
    X_cal = None if calib is None else (calib.audio if with_fe else calib.logmel)
    if len(held) == 0:
        raise ExportError(
            f"no held-out windows could be cut from {calibration!r}; the run needs at least 2 non-empty clips"
        )
    if calib is not None and len(calib) == 0:
        raise ExportError(f"no calibration windows could be cut from {calibration!r}")

    with torch.no_grad():
        ref = np.concatenate([net(torch.from_numpy(X_held[i : i + 32])).numpy() for i in range(0, len(X_held), 32)])
        example = torch.from_numpy(np.ascontiguousarray((X_cal if X_cal is not None else X_held)[:2]))
    if not np.all(np.isfinite(ref)):
        raise ExportError("the PyTorch model itself gives NaN/inf on the held-out windows; check the checkpoint")

    out.mkdir(parents=True, exist_ok=True)
    artifacts: dict[str, Path] = {}
    fmts = set(config.formats)
    want_tflite = bool(fmts & {"tflite", "mcu", "pi"})
    if "mcu" in fmts and not config.int8:
        log.warning("the mcu bundle needs an int8 model; skipped (add --int8)")
        fmts.discard("mcu")
    with stage.running():
        # ---- conversion ----
        from . import onnx as eonnx
        from . import tflite as etfl

        if "onnx" in fmts or ("pi" in fmts and not want_tflite):
            log.info("ONNX fp32 ...")
            artifacts["model_fp32.onnx"] = eonnx.export_onnx(net, example, out / "model_fp32.onnx", input_name=in_kind)
            if config.int8:
                log.info("ONNX int8 (onnxruntime static QDQ, %d calibration windows) ...", len(X_cal))
                artifacts["model_int8.onnx"] = eonnx.quantize_onnx_int8(
                    out / "model_fp32.onnx",
                    out / "model_int8.onnx",
                    X_cal,
                    input_name=in_kind,
                    per_channel=config.per_channel,
                    method=config.calibrate_method,
                    reduce_range=config.onnx_reduce_range,
                )
        if want_tflite:
            log.info("TFLite fp32 (litert-torch) ...")
            artifacts["model_fp32.tflite"] = etfl.export_tflite_fp32(net, example, out / "model_fp32.tflite")
            if config.int8:
                log.info("TFLite int8 (litert-torch PT2E, %d calibration windows) ...", len(X_cal))
                try:
                    artifacts["model_int8.tflite"] = etfl.export_tflite_int8(
                        net, example, out / "model_int8.tflite", X_cal, per_channel=config.per_channel
                    )
                except ExportError:
                    if not with_fe:
                        raise
                    log.warning("int8 TFLite with the front-end inside failed; use the default log-mel input for int8")

        # ---- frontend.json ----
        quant = {}
        for name in ("model_int8.tflite", "model_fp32.tflite"):
            if name in artifacts:
                quant[name] = etfl.io_quantization(artifacts[name])
        int8_in = quant.get("model_int8.tflite", {}).get("input")
        fe_doc = {
            "format": "sea-frontend",
            "format_version": 1,
            "model_name": model_name,
            "model_input": in_kind,
            "input_shape": [1, *in_shape],
            "embedding_dim": int(ref.shape[1]),
            "frontend": fe_params,
            "framing": {"sr": int(fe_params["sr"]), "frame_size": 1.0, "center": True, "timestamps": "i * hop_size"},
            "input_quantization": None
            if int8_in is None
            else {
                "dtype": int8_in["dtype"],
                "scale": int8_in["scale"],
                "zero_point": int8_in["zero_point"],
                "rule": "q = clip(round(x / scale) + zero_point, -128, 127)",
            },
            "tflite_io": quant,
            "onnx": {"input_name": in_kind, "output_name": "embedding", "int8": "float input; QDQ quantizes inside"},
        }
        write_json(out / FRONTEND_JSON, fe_doc)

        # ---- parity ----
        results: dict[str, dict] = {}
        runs: dict[str, np.ndarray] = {}

        def record(name, runtime, fn, tol):
            key = f"{name}|{runtime}"
            try:
                y = fn()
            except Exception as exc:  # gathered, reported with the others
                results[key] = {
                    "passed": False,
                    "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
                    "tolerance_mean_cosine": tol,
                }
                return
            runs[key] = y
            results[key] = par.compare(ref[: y.shape[0]], y, tolerance=tol)

        tol = {"fp32": config.fp32_cosine, "int8": config.int8_cosine}
        for name, path in artifacts.items():
            kind = "int8" if "int8" in name else "fp32"
            if name.endswith(".onnx"):
                record(name, "onnxruntime", lambda p=path: eonnx.run_onnx(p, X_held), tol[kind])
            else:
                record(name, "ai-edge-litert", lambda p=path: etfl.run_litert(p, X_held), tol[kind])
                if kind == "int8" and config.n_parity_tflm > 0:
                    record(
                        name, "tflite-micro", lambda p=path: etfl.run_tflm(p, X_held[: config.n_parity_tflm]), tol[kind]
                    )
        tfr = par.tflite_runtime_status()
        if not tfr["available"]:
            for name in artifacts:
                if name.endswith(".tflite"):
                    results[f"{name}|tflite-runtime"] = {"skipped": tfr["reason"]}
        else:
            from tflite_runtime.interpreter import Interpreter as TfrInterpreter

            for name, path in artifacts.items():
                if name.endswith(".tflite"):

                    def _tfr(p=path):
                        it = TfrInterpreter(model_path=str(p), num_threads=1)
                        it.allocate_tensors()
                        return etfl.run_litert(it, X_held)

                    record(name, "tflite-runtime", _tfr, tol["int8" if "int8" in name else "fp32"])
        downstream = None
        if config.classifier:
            downstream = _downstream(config.classifier, ref, runs, held.labels, par)
        parity_doc = {
            "reference": "PyTorch fp32 (torch CPU)",
            "windows": {
                "n": int(len(held)),
                "n_clips": len(set(held.clip_ids)),
                "synthetic": synthetic,
                "source": str(calibration) if calibration is not None else None,
                "calibration_clips_excluded": True,
                "n_calibration": 0 if calib is None else int(len(calib)),
            },
            "tolerances": {"fp32_mean_cosine": config.fp32_cosine, "int8_mean_cosine": config.int8_cosine},
            "results": results,
            "downstream": downstream,
            "passed": all(r.get("passed", True) for r in results.values() if not r.get("skipped")),
        }
        write_json(out / "parity.json", parity_doc)

        # ---- footprint ----
        fp = _footprint(model, net, example, artifacts, config, model_name, in_kind, in_shape, fe_params, fpm)
        write_json(out / "footprint.json", fp)

        # ---- bundles ----
        if "mcu" in fmts and "model_int8.tflite" in artifacts:
            from .mcu import write_mcu_bundle

            write_mcu_bundle(
                out / "mcu",
                artifacts["model_int8.tflite"],
                io=quant["model_int8.tflite"],
                arena_bytes=fp["artifacts"]["model_int8.tflite"]["tflm_arena_bytes"],
                arena_margin=config.arena_margin,
                frontend_params=fe_params,
                model_name=model_name,
                with_frontend=with_fe,
            )
        if "pi" in fmts:
            from .pi import write_pi_bundle

            pi_models = {n: p for n, p in artifacts.items() if n.endswith(".tflite") or n.endswith(".onnx")}
            write_pi_bundle(
                out / "pi",
                pi_models,
                out / FRONTEND_JSON,
                classifier=Path(config.classifier) if config.classifier else None,
                model_name=model_name,
            )

        stage.counts.update({"n_artifacts": len(artifacts), "n_parity_windows": int(len(held))})
        stage.extra.update({"model_name": model_name, **(extra or {}), "artifacts": sorted(artifacts)})
        print(fpm.format_table(fp))
        try:
            par.raise_failures(results)
        except Exception:
            if config.strict:
                raise
            log.warning("parity failures ignored (--no-strict)")
    return _summary(out)


def _downstream(path, ref, runs, labels, par) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            head = {k: z[k] for k in z.files}
    except Exception as exc:
        raise ExportError(f"cannot read classifier {path!r}: {exc}; expected an .npz with W [D, C] and b [C]") from None
    if "W" not in head:
        raise ExportError(f"classifier {path!r} has no 'W' array (keys: {', '.join(head)})")
    base = par.downstream_accuracy(ref, labels, head)
    if base is None:
        return {"skipped": "held-out windows have no labels"}
    out = {"reference_accuracy": base, "n_labelled": int((labels >= 0).sum())}
    for key, y in runs.items():
        acc = par.downstream_accuracy(y, labels[: y.shape[0]], head)
        ref_acc = par.downstream_accuracy(ref[: y.shape[0]], labels[: y.shape[0]], head)
        out[key] = {"accuracy": acc, "delta_vs_reference": None if acc is None else acc - ref_acc}
    return out


def _footprint(model, net, example, artifacts, config, model_name, in_kind, in_shape, fe_params, fpm) -> dict:
    import torch

    from . import onnx as eonnx
    from . import tflite as etfl

    params = int(sum(p.numel() for p in model.parameters()))
    cost = None
    try:
        from sea.students import model_cost

        cost = model_cost(model, tuple(getattr(model, "input_shape", (1, 64, 50))))
    except Exception:
        cost = None
    macs = fpm.count_macs(net, example)
    arts: dict[str, dict] = {}
    for name, path in artifacts.items():
        a = {"file_bytes": Path(path).stat().st_size}
        if name.endswith(".onnx"):
            a["tensor_weight_bytes"] = fpm.onnx_weight_bytes(path)
        else:
            a.update(fpm.tflite_liveness(path))
            if "int8" in name:
                a["tflm_arena_bytes"] = fpm.measure_arena(path)
        arts[name] = a
    latency: dict[str, float] = {}
    if config.latency:
        x1 = example[:1]
        with _threads(1), torch.no_grad():
            latency["torch fp32"] = fpm.time_fn(lambda: net(x1), repeats=config.latency_repeats)["median_ms"]
        xn = x1.numpy()
        for name, path in artifacts.items():
            if name.endswith(".onnx"):
                sess = eonnx.onnx_session(path, threads=1)
                iname = sess.get_inputs()[0].name
                latency[f"{name}|onnxruntime"] = fpm.time_fn(
                    lambda s=sess, n=iname: s.run(None, {n: xn}), repeats=config.latency_repeats
                )["median_ms"]
            else:
                it = etfl.litert_interpreter(path, threads=1)
                d = it.get_input_details()[0]
                q = np.zeros(d["shape"], d["dtype"])
                it.set_tensor(d["index"], q)
                latency[f"{name}|ai-edge-litert"] = fpm.time_fn(it.invoke, repeats=config.latency_repeats)["median_ms"]
        from sea.students.frontend import logmel_numpy

        y = np.zeros(int(fe_params["window_length"]), np.float32)
        latency["frontend numpy (logmel_numpy)"] = fpm.time_fn(lambda: logmel_numpy(y), repeats=10)["median_ms"]
    fp: dict[str, Any] = {
        "model_name": model_name,
        "params": params,
        "macs": int(cost["macs"]) if cost and "macs" in cost else int(macs),
        "macs_with_frontend": int(macs) if in_kind == "audio" else None,
        "input_kind": in_kind,
        "input_shape": [1, *in_shape],
        "cost": cost,
        "artifacts": arts,
        "latency_ms": latency,
        "latency_note": "host CPU, batch 1, one thread, median; shared 2-core machine, so noisy",
    }
    if config.latency and config.teacher_latency:
        t_ms = teacher_latency_ms()
        if t_ms is not None:
            fp["teacher_ms"] = t_ms
            fp["speedup_vs_teacher"] = {
                k: t_ms / v for k, v in latency.items() if v > 0 and not k.startswith("frontend")
            }
    # Device fit. MCU: int8 model in flash; RAM = TFLM arena (+margin) + the front-end's buffers.
    i8 = arts.get("model_int8.tflite")
    n_dft = int(fe_params.get("n_dft", 1024))
    frontend_ram = (
        2 * int(fe_params["window_length"])
        + 3 * n_dft * 4
        + 4 * int(np.prod(in_shape if in_kind == "logmel" else (64, 50)))
    )
    frontend_flash = 4 * n_dft + 4 * 2 * (n_dft // 2 + 1)  # window + sparse mel weights (upper bound)
    if i8 is not None:
        arena = int(np.ceil(i8["tflm_arena_bytes"] * (1 + config.arena_margin) / 16) * 16)
        mcu_ram = arena + frontend_ram
        mcu_flash = i8["file_bytes"] + frontend_flash
    else:
        arena = mcu_ram = mcu_flash = None
    fp32 = arts.get("model_fp32.tflite") or {}
    pi_ram = (fp32.get("peak_activation_bytes", 0) + fp32.get("file_bytes", 0)) or None
    pi_flash = sum(a["file_bytes"] for a in arts.values()) or None
    fit = fpm.device_fit(mcu_ram, mcu_flash, devices={k: v for k, v in fpm.DEVICES.items() if v["kind"] == "mcu"})
    fit.update(fpm.device_fit(pi_ram, pi_flash, devices={k: v for k, v in fpm.DEVICES.items() if v["kind"] == "pi"}))
    fp["mcu"] = {
        "arena_bytes": None if i8 is None else i8["tflm_arena_bytes"],
        "arena_with_margin": arena,
        "peak_activation_bytes_int8": None if i8 is None else i8["peak_activation_bytes"],
        "frontend_ram_bytes": frontend_ram,
        "frontend_flash_bytes": frontend_flash,
        "ram_needed": mcu_ram,
        "flash_needed": mcu_flash,
        "note": "flash excludes the TFLM library code (~50-100 KB); arena measured on a 64-bit host",
    }
    fp["devices"] = fit
    return fp


def _summary(out: Path) -> dict[str, Any]:
    res: dict[str, Any] = {"out_dir": str(out), "artifacts": {}}
    for name in ("model_fp32.onnx", "model_int8.onnx", "model_fp32.tflite", "model_int8.tflite", FRONTEND_JSON):
        if (out / name).is_file():
            res["artifacts"][name] = str(out / name)
    for sub in ("mcu", "pi"):
        if (out / sub).is_dir():
            res["artifacts"][sub] = str(out / sub)
    for rep in ("parity", "footprint"):
        p = out / f"{rep}.json"
        res[rep] = read_json(p) if p.is_file() else None
    return res
