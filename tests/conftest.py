"""Shared fixtures: a seeded rng and tiny run directories built in code."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("SEA_NO_PROGRESS", "1")

SEED = 440


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


def tone(freq: float, duration: float, sr: int, *, amp: float = 0.5, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(round(duration * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def chirp(f0: float, f1: float, duration: float, sr: int, *, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(duration * sr))) / sr
    k = (f1 - f0) / duration
    return (amp * np.sin(2 * np.pi * (f0 * t + 0.5 * k * t**2))).astype(np.float32)


def make_run(
    run_dir: Path,
    *,
    n_clips: int = 12,
    n_classes: int = 3,
    duration: float = 2.0,
    srs: tuple[int, ...] = (48000, 8000),
    n_folds: int = 3,
    seed: int = SEED,
) -> Path:
    """Write a tiny prepared run (manifest + audio caches) without data_prep.

    Class c is a noisy tone family around 300 * 2**c Hz, so classes are
    separable; clip i lands in fold (i % n_folds) + 1.
    """
    import soundfile as sf

    from sea.cache import CacheWriter
    from sea.manifest import ClipRecord, write_manifest
    from sea.utils import md5_file

    r = np.random.default_rng(seed)
    run_dir = Path(run_dir)
    raw = run_dir / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    writers = {sr: CacheWriter(run_dir, sr) for sr in srs}
    records = []
    src_sr = max(srs)
    for i in range(n_clips):
        c = i % n_classes
        f = 300.0 * 2**c * (1 + 0.05 * r.standard_normal())
        y = tone(f, duration, src_sr, amp=0.3 + 0.3 * r.random()) + 0.02 * r.standard_normal(int(round(duration * src_sr))).astype(np.float32)
        y *= np.linspace(0.2, 1.0, y.shape[0], dtype=np.float32) ** (1 + (i % 2))
        clip_id = f"clip{i:03d}"
        path = raw / f"{clip_id}.wav"
        sf.write(path, y, src_sr, subtype="FLOAT")
        for sr, w in writers.items():
            from sea.audio import resample

            w.add(clip_id, resample(y, src_sr, sr))
        records.append(
            ClipRecord(
                clip_id=clip_id, path=str(path.relative_to(run_dir)), duration=duration, sr=src_sr, channels=1,
                label=f"class{c}", label_id=c, fold=(i % n_folds) + 1, split=None, md5=md5_file(path),
                meta={"sensor_id": f"s{i % 2}"},
            )
        )
    for w in writers.values():
        w.close()
    write_manifest(records, run_dir / "clips.jsonl")
    return run_dir


@pytest.fixture
def tiny_run(tmp_path: Path) -> Path:
    """A 12-clip, 3-class, 2-s run with 48 kHz and 8 kHz caches."""
    return make_run(tmp_path / "run")


# -- claims: tests that back a sentence of the README or benchmarks/RESULTS.md ------------------------------------
# Mark them ``@pytest.mark.claim``. CI (.ci/run) must run every one of them: a skipped claim test fails the session,
# and the terminal summary lists them by name with the skip count.
SHARED = Path(__file__).resolve().parents[2] / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ``../shared`` (beside the checkout); skips the test with the reason when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is absent: the real-data material lives in ../shared beside the checkout (developers and CI)")
    return p


_claims: dict[str, str] = {}


def pytest_runtest_logreport(report):
    if "claim" in report.keywords and (report.when == "call" or report.skipped):
        if report.skipped:
            _claims[report.nodeid] = "skipped"
        elif report.when == "call":
            _claims.setdefault(report.nodeid, report.outcome)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _claims:
        return
    tr = terminalreporter
    tr.section("claim-backing tests (README / RESULTS.md)")
    for nodeid, outcome in sorted(_claims.items()):
        tr.write_line(f"{outcome:8} {nodeid}")
    skipped = [n for n, o in _claims.items() if o == "skipped"]
    tr.write_line(f"{len(_claims)} claim-backing tests, {len(skipped)} skipped")


def pytest_sessionfinish(session, exitstatus):
    skipped = [n for n, o in _claims.items() if o == "skipped"]
    if skipped and os.environ.get("SEA_CLAIMS_REQUIRED") == "1" and session.exitstatus == 0:
        session.exitstatus = 1  # CI sets SEA_CLAIMS_REQUIRED: a claim that was not checked is not a claim
