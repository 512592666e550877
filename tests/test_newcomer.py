"""A newcomer's first hour, typed as a user types it (issue 19): every command runs as a subprocess of the
``sea`` command line (or a short Python snippet), and the test reads what the user reads on the terminal.

Covered here: openl3's command line and Python calls, a usage error, config typos with suggestions,
``sea distill`` on a fresh run, a failed ``sea evaluate --models students/nope`` leaving the finished
evaluation finished, quiet logs, and help texts. The notebooks run from the repo root in
``tests/test_notebooks.py``; openl3's and edgel3's whole interfaces in ``test_openl3_compat.py`` and
``test_edgel3_compat.py``.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

ROOT = Path(__file__).resolve().parents[1]
# third-party chatter a user must never see from a sea command (absl, converters, torch, JAX)
NOISE = re.compile(
    r"^(WARNING|INFO|ERROR|DEBUG) (root|absl|jax|torch|tensorflow|tflite|litert)[\w.]*:|^[IWE]\d{4} |torchvision|"
    r"Axis \d+ is out-of-range|oneDNN|tflite-runtime",
    re.M,
)


def sea(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    """``sea ARGS...`` as a user types it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SEA_NO_PROGRESS": "1", "SEA_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "sea", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip


def _wav(path: Path, seconds: float = 2.0, sr: int = 44100) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, 0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * np.random.default_rng(0).standard_normal(t.size), sr)
    return path


def _one_line_error(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr, p.stderr
    errors = [line for line in p.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, p.stderr
    return errors[0]


@pytest.mark.claim
def test_openl3_users_command_line_works_as_typed(tmp_path):
    """openl3's README line, with the modality word and its flags (an untrained teacher: no weights offline)."""
    wav = _wav(tmp_path / "dog bark.wav")
    p = sea("teacher", "embed", "audio", str(wav), "--output-dir", str(tmp_path / "out"), "--input-repr", "mel128",
            "--audio-embedding-size", "512", "--no-audio-centering", "--audio-hop-size", "1.0",
            "--audio-batch-size", "4", "--suffix", "l3", "--untrained-teacher")  # fmt: skip
    assert p.returncode == 0, p.stderr
    out = tmp_path / "out" / "dog bark_l3.npz"
    with np.load(out, allow_pickle=False) as z:
        assert z["embedding"].shape == (2, 512) and np.allclose(z["timestamps"], [0.0, 1.0])
    assert not NOISE.search(p.stderr), p.stderr
    again = sea("teacher", "embed", "audio", str(wav), "-o", str(tmp_path / "out"), "-i", "mel128", "-as", "512",
                "-x", "l3", "--untrained-teacher")  # fmt: skip
    assert again.returncode == 0 and out.stat().st_mtime_ns == out.stat().st_mtime_ns  # exists: skipped, not redone


@pytest.mark.claim
def test_openl3_python_call_under_its_own_name(tmp_path):
    code = (
        "import soundfile as sf, sea.teacher as openl3\n"
        f"audio, sr = sf.read({str(_wav(tmp_path / 'a.wav'))!r})\n"
        "emb, ts = openl3.get_audio_embedding(audio, sr, input_repr='mel128', embedding_size=512, hop_size=1.0,\n"
        "                                     center=False, untrained_teacher=True, verbose=False)\n"
        "print(emb.shape, [float(t) for t in ts])\n"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "SEA_OFFLINE": "1"})  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "(2, 512) [0.0, 1.0]"


@pytest.mark.claim
def test_a_usage_error_shows_the_commands_usage():
    p = sea("teacher", "embed", "x.wav", "--audio-embeding-size", "512")
    assert p.returncode == 2
    assert p.stderr.startswith("usage: sea teacher embed") and "--audio-embeding-size" in p.stderr


def _config(tmp_path: Path, **changes) -> Path:
    cfg = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    cfg["run_dir"] = str(tmp_path / "run")
    for key, value in changes.items():
        section, _, sub = key.partition("__")
        cfg[section][sub] = value
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.claim
@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"distill__epoch": 3}, r"section 'distill'.*'epoch' \(did you mean 'epochs'\?\)"),
        ({"targets__dimm": 8}, r"section 'targets\[0\]'.*'dimm' \(did you mean 'dim'\?\)"),
        ({"teacher__hop_sise": 0.5}, r"section 'teacher'.*'hop_sise' \(did you mean 'hop_size'\?\)"),
        ({"targets__sampler": "dpp_dvi"}, r"dpp_dvi.*did you mean 'dpp_div'"),
    ],
)
def test_config_typos_name_the_section_and_the_nearest_key(tmp_path, changes, expected):
    line = _one_line_error(sea("run", str(_config(tmp_path, **changes)), "--check"))
    assert re.search(expected, line), line
    assert not (tmp_path / "run").exists()  # nothing written


@pytest.mark.claim
def test_an_unknown_student_suggests_its_own_family(tmp_path):
    cfg = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    cfg["run_dir"] = str(tmp_path / "run")
    cfg["students"] = ["sea_mcu_ss"]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    line = _one_line_error(sea("run", str(tmp_path / "c.yaml"), "--check"))
    assert "(did you mean 'sea_mcu_s'?)" in line, line


@pytest.mark.claim
def test_distill_on_a_fresh_run_lists_the_whole_chain(tmp_run_prepared):
    line = _one_line_error(sea("distill", str(tmp_run_prepared), "--student", "sea_mcu_xs"))
    assert "sea teacher extract" in line and "sea targets fit" in line, line
    assert line.index("sea teacher extract") < line.index("sea targets fit")


@pytest.fixture
def tmp_run_prepared(tmp_path):
    from tests.conftest import make_run

    return make_run(tmp_path / "run", n_clips=4, duration=1.0)


@pytest.mark.claim
def test_a_failed_evaluate_leaves_the_finished_one_finished(tmp_path):
    """`sea evaluate RUN --models students/nope` fails before writing: the next `sea run` finds evaluate up to date."""
    from sea.evaluate.demo import make_demo_run

    run = make_demo_run(tmp_path / "run", n_clips=18, n_classes=3, n_folds=3, seed=0)
    ok = sea("evaluate", str(run), "--models", "teacher", "--classifiers", "logreg", "--protocol", "kfold",
             "--n-folds", "3")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    stage_files = sorted((run / "eval").glob("*/stage.json"))
    assert stage_files
    before = {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in stage_files}
    line = _one_line_error(sea("evaluate", str(run), "--models", "students/nope", "--classifiers", "logreg",
                               "--protocol", "kfold", "--n-folds", "3"))  # fmt: skip
    assert "nope" in line
    assert {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in stage_files} == before


@pytest.mark.claim
def test_help_of_every_group_has_examples_and_no_doubled_default():
    groups = ["data", "teacher", "targets", "students", "distill", "evaluate", "export", "run"]
    for group in groups:
        p = sea(group, "--help")
        text = p.stdout + p.stderr
        assert "example" in text.lower(), f"sea {group} --help has no example"
        assert "(default: " not in text or not re.search(r"\(default: [^)]*\) \(default: ", text), group
    for cmd in (["teacher", "extract"], ["data", "prepare"], ["export"], ["distill"], ["targets", "fit"]):
        text = sea(*cmd, "--help").stdout
        assert not re.search(r"\(default: [^)]*\)\s*\(default: ", text), cmd
        assert "default: )" not in text, cmd
