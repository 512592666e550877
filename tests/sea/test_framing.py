import numpy as np
import pytest

from sea.errors import ParameterError
from sea.framing import frame_starts, n_frames, timestamps, windows


@pytest.mark.parametrize(
    "n,sr,hop,center,expected",
    [
        (96000, 48000, 0.1, True, 16),  # openl3 chirp_44k regression: 2 s -> 16 frames
        (96000, 48000, 0.5, False, 3),  # linear regression file: 3 frames at 0, .5, 1
        (48, 48000, 0.1, True, 1),  # short.wav
        (48000, 48000, 0.1, False, 1),
        (48001, 48000, 0.1, False, 2),
        (16000, 8000, 0.1, True, 16),  # same count at the student rate
    ],
)
def test_frame_counts_match_openl3(n, sr, hop, center, expected):
    assert n_frames(n, sr, hop_size=hop, center=center) == expected
    assert frame_starts(n, sr, hop_size=hop, center=center).shape == (expected,)


def test_alignment_across_rates():
    s48 = frame_starts(96000, 48000, hop_size=0.1) / 48000
    s8 = frame_starts(16000, 8000, hop_size=0.1) / 8000
    np.testing.assert_allclose(s48, s8)
    assert s48[0] == -0.5
    np.testing.assert_allclose(timestamps(3, 0.1), [0, 0.1, 0.2])


def test_windows_content(rng):
    y = rng.standard_normal(20000).astype(np.float32)
    w = windows(y, 8000, hop_size=0.5, center=True)
    assert w.shape == (n_frames(20000, 8000, hop_size=0.5), 8000)
    np.testing.assert_array_equal(w[0, :4000], 0)
    np.testing.assert_array_equal(w[0, 4000:], y[:4000])
    np.testing.assert_array_equal(w[2], y[4000:12000])
    with pytest.raises(ParameterError, match="hop_size=0 must be a positive"):
        n_frames(100, 8000, hop_size=0)
