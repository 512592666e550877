"""sea.resample is resampy 0.2.2's ``kaiser_best`` (openl3's and edgel3's pinned resampler), bit for bit.

``tests/fixtures/openl3_ref/resampy022.npz`` holds resampy 0.2.2's own outputs on chirps up to 0.99 of the source
Nyquist (where resampy 0.2.2 and 0.4.x differ by ~1e-1 relative L2), made by ``benchmarks/openl3_reference.py
resampy`` in the openl3 reference environment (versions in ``VERSIONS.txt`` beside it).
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from sea import resample as R
from sea.errors import ParameterError

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "openl3_ref" / "resampy022.npz"


def _tool():
    spec = importlib.util.spec_from_file_location("openl3_reference_tool", ROOT / "benchmarks" / "openl3_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TOOL = _tool()


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _input(ref, src: str, dtype: str) -> np.ndarray:
    x = ref[f"in/{src}"]
    return (x * 32768 if dtype == "int16" else x).astype(dtype)


def test_fixture_is_resampy_022_on_the_tool_inputs(ref):
    assert str(ref["resampy_version"]) == "0.2.2"
    for name, x in TOOL.resampy_inputs().items():
        np.testing.assert_array_equal(ref[f"in/{name}"], x)


def test_filter_table_has_the_pinned_hash_and_is_the_kaiser_sinc():
    table = R.kaiser_best_table()
    assert table.shape == (R.NUM_ZEROS * R.PRECISION + 1,) and table.dtype == np.float64
    assert hashlib.sha256(table.astype("<f8").tobytes()).hexdigest() == R.TABLE_SHA256
    assert not table.flags.writeable
    # the formula, evaluated independently with scipy (correct to a few ulp, not bit for bit)
    from scipy.signal.windows import kaiser

    n = R.NUM_ZEROS * R.PRECISION
    taper = kaiser(2 * n + 1, R.BETA)[n:]
    x = R.ROLLOFF * np.arange(n + 1) / R.PRECISION
    np.testing.assert_allclose(table, taper * R.ROLLOFF * np.sinc(x), rtol=0, atol=1e-15)


def test_correctly_rounded_exp_and_sin_are_exp_and_sin():
    rng = np.random.default_rng(0)
    for v in np.concatenate([rng.uniform(0, 15, 200), rng.uniform(-200, 200, 200), [0.0, 1e-20, 8.0, 14.77]]):
        e, s = R._exp_cr(float(v)), R._sin_cr(float(v))
        assert abs(e - math.exp(v)) <= math.ulp(math.exp(v)) if v <= 15 else True
        assert abs(s - math.sin(v)) <= 2 * math.ulp(max(abs(math.sin(v)), 1e-300)) + 1e-300


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("case", TOOL.RESAMPY_CASES, ids=[c[0] for c in TOOL.RESAMPY_CASES])
def test_bits_equal_resampy_022(ref, case, backend):
    """Fails with any other resampler: resampy 0.4.x, soxr, or 0.2.2's algorithm with another time register."""
    name, src, sr_orig, sr_new, dtype = case
    y = R.resample(_input(ref, src, dtype), sr_orig, sr_new, backend=backend)
    want = ref[f"out/{name}"]
    assert y.dtype == want.dtype and y.shape == want.shape
    assert y.tobytes() == want.tobytes()


def test_a_resampler_with_resampy_04x_time_steps_misses_the_reference(ref):
    """resampy >= 0.3 places output k at ``k * (1/r)`` instead of a running sum (and changed the table): not 0.2.2."""
    x = _input(ref, "chirp44", "float64")
    plan = R._Plan(44100, 48000)
    n_out = R.output_length(x.shape[0], 44100, 48000)
    y = R._run(x, 0, np.arange(n_out) * plan.inc, plan, x.shape[0], x.dtype, "numba")
    assert y.tobytes() != ref["out/chirp44_48k_f8"].tobytes()
    try:
        import resampy
    except ImportError:
        return
    if resampy.__version__.split(".")[:2] != ["0", "2"]:
        other = resampy.resample(x, 44100, 48000, filter="kaiser_best")
        want = ref["out/chirp44_48k_f8"]
        assert np.linalg.norm(other - want) / np.linalg.norm(want) > 1e-2  # measured 1.1e-1 with 0.4.3


def test_sea_audio_resample_defaults_to_it_and_skips_equal_rates(ref):
    from sea.audio import resample

    x = _input(ref, "chirp44", "float64")
    assert resample(x, 44100, 48000).tobytes() == ref["out/chirp44_48k_f8"].tobytes()
    assert resample(x, 44100, 44100) is x  # openl3 and edgel3 do not resample at their own rate
    stereo = np.stack([x, -0.5 * x], axis=1)
    both = resample(stereo, 44100, 48000)
    assert both.shape == (4800, 2)
    assert both[:, 0].tobytes() == ref["out/chirp44_48k_f8"].tobytes()
    assert both[:, 1].tobytes() == R.resample(-0.5 * x, 44100, 48000).tobytes()


RATES = [(44100, 48000), (22050, 48000), (16000, 48000), (8000, 48000), (96000, 48000), (44100, 8000), (48000, 8000)]


@pytest.mark.parametrize("sr_orig,sr_new", RATES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_blocks_equal_one_shot(sr_orig, sr_new, dtype):
    rng = np.random.default_rng(sr_orig + sr_new)
    x = rng.standard_normal(int(0.37 * sr_orig) + 3).astype(dtype)
    one = R.resample(x, sr_orig, sr_new)
    for block in (1, 7, 1009, 10**6):
        got = np.concatenate(list(R.resample_blocks(lambda lo, hi: x[lo:hi], x.shape[0], sr_orig, sr_new, block=block)))
        assert got.tobytes() == one.tobytes(), block


def test_blocks_on_tiny_inputs_and_short_reads():
    rng = np.random.default_rng(1)
    for n_in in (3, 10, 50, 129):
        x = rng.standard_normal(n_in)
        one = R.resample(x, 8000, 48000)
        got = np.concatenate(list(R.resample_blocks(lambda lo, hi, x=x: x[lo:hi], n_in, 8000, 48000, block=5)))
        assert got.tobytes() == one.tobytes()
    # a reader that delivers less than asked (a file shorter than its header): the rest is zeros
    x = rng.standard_normal(4000)
    padded = np.concatenate([x[:3000], np.zeros(1000)])
    got = np.concatenate(list(R.resample_blocks(lambda lo, hi: x[lo : min(hi, 3000)], 4000, 16000, 48000, block=777)))
    assert got.tobytes() == R.resample(padded, 16000, 48000).tobytes()


def test_output_length_is_resampy_022s_rule():
    # int(n * (new / orig)), the float ratio first: 5507 * 8000 / 44056 is 1000 exactly, but resampy 0.2.2 gives 999
    assert R.output_length(5507, 44056, 8000) == 999
    assert R.resample(np.zeros(5507), 44056, 8000).shape == (999,)
    assert R.output_length(88200, 44100, 48000) == 96000


def test_bad_inputs_are_parameter_errors():
    with pytest.raises(ParameterError, match="sample rates must be positive"):
        R.resample(np.zeros(100), 0, 48000)
    with pytest.raises(ParameterError, match="sample rates must be positive"):
        R.resample(np.zeros(100), 44100, float("nan"))
    with pytest.raises(ParameterError, match="cannot resample complex128"):
        R.resample(np.zeros(100, complex), 44100, 48000)
    with pytest.raises(ParameterError, match="too few"):
        R.resample(np.zeros(1), 48000, 8000)
    with pytest.raises(ParameterError, match="shape"):
        R.resample(np.zeros((2, 2, 2)), 44100, 48000)
    with pytest.raises(ParameterError, match="block"):
        next(R.resample_blocks(lambda lo, hi: np.zeros(hi - lo), 100, 8000, 16000, block=0))
