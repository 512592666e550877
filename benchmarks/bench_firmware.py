"""Firmware figures for every exported student: bit-exactness, flash, RAM and instructions per window.

    python benchmarks/bench_firmware.py RUN/export/*            # exports made by `sea export --int8`
    python benchmarks/bench_firmware.py                          # random-weight students built here
    python benchmarks/bench_firmware.py --students sea_mcu_s,sea_student_3 --audio a.wav b.wav --work DIR

For each export folder (``model_int8.tflite`` + ``frontend.json``) it generates the C firmware, builds it for the
host and the Cortex-M4, runs it on the audio (under QEMU ``mps2-an386`` for the M4, instructions counted with
``-icount shift=0``), compares with ai-edge-litert and prints one row per student. Without export folders it
exports the MCU students and Students 3 with random weights, realistic BatchNorm statistics and an int8 calibration
on log-mels of synthetic audio (the figures do not depend on trained weights: the instruction count is data
independent to within a few hundred instructions). Needs: apt-get install -y gcc-arm-none-eabi
libnewlib-arm-none-eabi qemu-system-arm.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_STUDENTS = ("sea_mcu_xs", "sea_mcu_s", "sea_mcu_m", "sea_student_3", "sea_student_3_lin")
KIB = 1024
STM32H7 = {"ram": 1024 * KIB, "flash": 2048 * KIB}


def _frontend():
    from sea.students import frontend_numpy

    return frontend_numpy


def calibration_audio(paths, n_max: int = 64) -> np.ndarray:
    """1-s windows (8 kHz, hop 0.5 s) cut from real audio files, for the int8 calibration."""
    from sea.audio import load
    from sea.framing import windows

    out = []
    for p in paths:
        y, _ = load(p, sr=8000, mono=True)
        out.append(windows(y, 8000, hop_size=0.5, center=True))
    w = np.concatenate(out)
    return w[np.linspace(0, len(w) - 1, min(n_max, len(w))).astype(int)].astype(np.float64)


def export_random_student(name: str, out: Path, seed: int = 0, calib_audio: np.ndarray | None = None) -> Path:
    """``out/model_int8.tflite`` + ``out/frontend.json`` for a random-weight student (BatchNorm stats randomised).

    The int8 calibration uses ``calib_audio`` windows [N, 8000] when given, else synthetic tones and noise.
    """
    import torch

    from export.tflite import export_tflite_int8, io_quantization
    from sea import students

    if (out / "model_int8.tflite").is_file() and (out / "frontend.json").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    r = np.random.default_rng(seed)
    t = np.arange(8000) / 8000.0
    audio = []
    for i in range(32):
        f = 100.0 * 2 ** (r.random() * 5)
        y = 0.3 * np.sin(2 * np.pi * f * t) + (0.002 + 0.05 * r.random()) * r.standard_normal(8000)
        if i % 4 == 3:
            y[: int(r.integers(1000, 6000))] = 0
        audio.append(y * (0.1 + r.random()))
    fe = _frontend()
    if calib_audio is not None:
        audio = calib_audio
    lm = fe.logmel_numpy(np.asarray(audio))[:, None].astype(np.float32)
    torch.manual_seed(seed)
    model = students.create(name).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    export_tflite_int8(model, torch.from_numpy(lm[:2]), out / "model_int8.tflite", lm)
    q = io_quantization(out / "model_int8.tflite")["input"]
    p = fe.frontend_params()
    doc = {
        "format": "sea-frontend",
        "format_version": 1,
        "model_name": name,
        "model_input": "logmel",
        "input_shape": [1, 1, p["n_mels"], p["n_frames"]],
        "frontend": p,
        "input_quantization": {"dtype": "int8", "scale": q["scale"], "zero_point": q["zero_point"]},
    }
    (out / "frontend.json").write_text(json.dumps(doc, indent=2))
    return out


def synthetic_audio(folder: Path) -> list[Path]:
    """Two short WAVs (16 kHz and 8 kHz): decaying tone + noise, and a square wave with a silent gap."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    r = np.random.default_rng(1)
    t = np.arange(int(3.2 * 16000)) / 16000
    a = 0.3 * np.sin(2 * np.pi * 440 * t) * np.exp(-0.5 * t) + 0.02 * r.standard_normal(len(t))
    t8 = np.arange(int(2.5 * 8000)) / 8000
    b = 0.2 * np.sign(np.sin(2 * np.pi * 180 * t8)) + 0.01 * r.standard_normal(len(t8))
    b[6000:9000] = 0
    sf.write(str(folder / "tone.wav"), a.astype(np.float32), 16000, subtype="PCM_16")
    sf.write(str(folder / "square.wav"), b.astype(np.float32), 8000, subtype="PCM_16")
    return [folder / "tone.wav", folder / "square.wav"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("exports", nargs="*", help="export folders (model_int8.tflite + frontend.json)")
    ap.add_argument("--students", default=",".join(DEFAULT_STUDENTS), help="students to build when no folder is given")
    ap.add_argument("--audio", nargs="*", help="audio files (default: two synthetic clips)")
    ap.add_argument("--calib-audio", nargs="*", help="audio for the int8 calibration of built students (held out)")
    ap.add_argument("--work", help="folder for generated exports and audio (default: a temp folder)")
    ap.add_argument("--hop-size", type=float, default=1.0)
    ap.add_argument("--json", help="also write all check reports to this JSON file")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from export.firmware import check_firmware

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="sea-bench-fw-"))
    exports = [Path(e) for e in args.exports]
    if not exports:
        cal = calibration_audio(args.calib_audio) if args.calib_audio else None
        exports = [export_random_student(n, work / n, calib_audio=cal) for n in args.students.split(",") if n]
    audio = [Path(a) for a in args.audio] if args.audio else synthetic_audio(work / "audio")

    from sea.utils import machine_info

    mi = machine_info()
    print(f"host: {mi['cpu']}, {mi['cores']} cores (builds and QEMU run here; the counts are the emulated Cortex-M4's)")
    head = (
        f"{'student':<20}{'MMAC':>7}{'exact h/m4':>12}{'LSB':>5}{'moved':>7}{'flash KiB':>11}{'RAM KiB':>9}"
        f"{'arena':>8}{'TFLM':>8}{'Minstr':>8}{'fe M':>6}{'i/MAC':>7}{'plain':>7}{'DSP x':>7}{'ms@80':>8}{'H7 fit':>8}"
    )
    print(head)
    print("-" * len(head))
    reports = {}
    for e in exports:
        rep = check_firmware(e, audio, targets=("host", "cortex-m4"), hop_size=args.hop_size)
        reports[str(e)] = rep
        h, m = rep["targets"]["host"], rep["targets"]["cortex-m4"]
        fits = m["ram_bytes"] <= STM32H7["ram"] and m["flash_bytes"] <= STM32H7["flash"]
        tflm = rep.get("tflm_arena_bytes")
        print(
            f"{rep['model_name']:<20}{rep['macs_per_window'] / 1e6:>7.2f}"
            f"{('yes' if h['bit_exact'] else 'NO') + '/' + ('yes' if m['bit_exact'] else 'NO'):>12}"
            f"{max(h['max_abs_diff_lsb'], m['max_abs_diff_lsb']):>5}{m['input_steps']['moved']:>7}"
            f"{m['flash_bytes'] / KIB:>11.1f}{m['ram_bytes'] / KIB:>9.1f}{rep['arena_bytes'] / KIB:>8.1f}"
            f"{(f'{tflm / KIB:.1f}' if tflm else '-'):>8}{m['instructions_per_window'] / 1e6:>8.2f}"
            f"{m['frontend_instructions_per_window'] / 1e6:>6.2f}{m['instructions_per_mac']:>7.3f}"
            f"{m['plain_c']['instructions_per_mac']:>7.2f}"
            f"{m['plain_c']['network_instructions_per_window'] / m['network_instructions_per_window']:>7.2f}"
            f"{m['ms_per_window_at_80mhz']:>8.1f}{'yes' if fits else 'NO':>8}"
        )
    print(
        "\nexact: int8 embeddings equal ai-edge-litert's reference kernels on the same int8 input (host / Cortex-M4);"
        "\nLSB: max |firmware - LiteRT on sea's numpy front-end|; moved: inputs the float32 C front-end moved by a step;"
        "\nRAM: .data + .bss + stack high-water mark of the Cortex-M4 image (arena, 1-s PCM buffer and example buffers);"
        "\narena: sea's planned activations incl. the front-end scratch; TFLM: TFLite Micro's arena for the network;"
        "\nMinstr / fe M: instructions per 1-s window (total / front-end) counted by QEMU; i/MAC: network, DSP build;"
        "\nplain: the same without DSP instructions; DSP x: plain-C network instructions / DSP build's (the baseline,"
        "\nmeasured in the same run); ms@80: total instructions / 80 MHz; H7 fit: 1 MiB RAM, 2 MiB flash."
    )
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
