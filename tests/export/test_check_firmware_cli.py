"""`sea export check-firmware EXPORT_DIR AUDIO...` (issue 16 §2, issue 18 §3): the broken-audio corpus (good files
checked, bad ones listed, exit 1), the Pi runner's --out layout, a damaged frontend.json, a missing toolchain."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import needs_export
from .test_pi import TORCH_FREE

HAVE_GCC = shutil.which("gcc") is not None and shutil.which("make") is not None
pytestmark = [
    pytest.mark.export,
    needs_export,
    pytest.mark.skipif(not HAVE_GCC, reason="needs gcc and make to build the generated C"),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from tests.broken_audio import make_corpus

    root = tmp_path_factory.mktemp("fwcorpus") / "corpus"
    return root, make_corpus(root)


def _out_names(cases: dict[str, bool]) -> set[str]:
    return {("good_flac" if n == "good.flac" else "good_ogg" if n == "good.ogg" else Path(n).stem) + ".npy"
            for n, good in cases.items() if good}  # fmt: skip


def test_check_firmware_on_the_broken_corpus(mcu_export, corpus, tmp_path, capsys):
    from sea.cli import main

    root, cases = corpus
    out = tmp_path / "emb"
    code = main(["export", "check-firmware", mcu_export["out_dir"], str(root), "--target", "host", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    failed = [ln for ln in captured.out.splitlines() if ln.startswith("  failed: ")]
    for name, good in cases.items():
        # a directory named x.wav is not an audio file inside a searched folder: only named files are reported
        if name == "dir_named.wav":
            continue
        assert any(f"corpus/{name}:" in ln for ln in failed) != good, name
    written = {p.name for p in out.glob("*.npy") if not p.name.endswith("_timestamps.npy")}
    assert written == _out_names(cases)
    doc = json.loads((Path(mcu_export["out_dir"]) / "firmware" / "check.json").read_text())
    assert doc["targets"]["host"]["bit_exact"] and doc["targets"]["host"]["max_abs_diff_lsb"] <= 1
    assert len(doc["failed"]) == len(failed) and len(doc["audio"]) == len(written)
    assert "bit-exact" in captured.out and "host" in captured.out
    # the Pi runner's --out layout: the same names, float32 (T, D) embeddings and the same timestamps
    goods = sorted(root / n for n, good in cases.items() if good)
    pi = tmp_path / "pi_emb"
    r = subprocess.run([sys.executable, "-c", TORCH_FREE, "sea_edge.py", "model_int8.tflite", *map(str, goods),
                        "--out", str(pi), "-q"], cwd=Path(mcu_export["out_dir"]) / "pi", capture_output=True,
                       timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr.decode()
    assert {p.name for p in pi.glob("*.npy")} == {p.name for p in out.glob("*.npy")}
    for name in written:
        a, b = np.load(out / name), np.load(pi / name)
        assert a.dtype == b.dtype == np.float32 and a.shape == b.shape, name
        stamps = name.replace(".npy", "_timestamps.npy")
        np.testing.assert_array_equal(np.load(out / stamps), np.load(pi / stamps))


def test_check_firmware_names_a_damaged_frontend_json(mcu_export, tmp_path, capsys):
    from sea.cli import main

    exp = tmp_path / "exp"
    exp.mkdir()
    for name in ("model_int8.tflite", "frontend.json"):
        shutil.copyfile(Path(mcu_export["out_dir"]) / name, exp / name)
    doc = json.loads((exp / "frontend.json").read_text())
    doc["frontend"]["n_mels"] = 40
    (exp / "frontend.json").write_text(json.dumps(doc))
    wav = tmp_path / "a.wav"
    import soundfile as sf

    sf.write(wav, np.zeros(8000, np.float32), 8000)
    assert main(["export", "check-firmware", str(exp), str(wav), "--target", "host"]) == 1
    err = capsys.readouterr().err
    assert "'frontend.n_mels'" in err and str(exp / "frontend.json") in err and "Traceback" not in err


def test_check_firmware_without_the_arm_toolchain_says_what_to_install(mcu_export, tmp_path, monkeypatch, capsys):
    from sea.cli import main

    monkeypatch.setenv("SEA_FW_ARM_NONE_EABI_GCC", "/nonexistent/arm-none-eabi-gcc")
    monkeypatch.setenv("SEA_FW_QEMU_SYSTEM_ARM", "/nonexistent/qemu-system-arm")
    assert main(["export", "check-firmware", mcu_export["out_dir"], str(tmp_path), "--target", "cortex-m4"]) == 1
    err = capsys.readouterr().err
    assert "apt-get install -y gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm" in err
    with pytest.raises(SystemExit) as usage:  # a usage error: the subcommand's usage, exit 2
        main(["export", "check-firmware", mcu_export["out_dir"], str(tmp_path), "--target", "cortex-m9"])
    assert usage.value.code == 2 and "usage: sea export check-firmware" in capsys.readouterr().err
