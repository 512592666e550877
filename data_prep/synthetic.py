"""Synthetic urban sounds: a deterministic, seeded stand-in for UrbanSound8K and SONYC-UST.

Dataset card
------------
Purpose
    The embedded default dataset of the quickstart and the tests: no download, seconds to make,
    and written in the **real** UrbanSound8K (or SONYC-UST) layout so the real loaders run on it.
Classes (the 10 UrbanSound8K classes, classID: class -- how it is synthesised)
    0 air_conditioner  -- stationary coloured noise + mains-like hum harmonics
    1 car_horn         -- harmonic stacks, one or two simultaneous tones, 1-3 honks
    2 children_playing -- babble of 2-4 formant-weighted harmonic voices with random pitch contours
    3 dog_bark         -- short bark bursts: falling-pitch harmonics + formant noise
    4 drilling         -- motor whine harmonics + high-band noise, fast amplitude modulation (25-60 Hz)
    5 engine_idling    -- low firing-rate harmonics + low-passed noise, slow AM
    6 gun_shot         -- broadband impulses with fast decay, a thump and a reverb tail
    7 jackhammer       -- mid-band noise gated by decaying pulses at 8-22 Hz
    8 siren            -- FM sweeps (wail or yelp) with harmonics
    9 street_music     -- note sequences of plucked harmonic tones, sometimes a bass line
Difficulty
    Every clip is mixed with an urban background (coloured rumble + hiss, sometimes a faint event
    of another class) at a random SNR (lower for salience 2 "background" clips), a random
    microphone tilt / low-pass, and a random gain, so classes are separable but not trivially: a
    logistic-regression probe on mean log-mel scores well above chance and below 100 %
    (tests/data_prep/test_synthetic.py).
Formats
    Per recording: sample rate 8-96 kHz (mostly 44.1/48 kHz, also 22.05, 16, 32, 11.025 kHz),
    PCM_16 / PCM_24 / PCM_32 / FLOAT, mono or stereo (24/32-bit stereo as WAVE_FORMAT_EXTENSIBLE,
    like real UrbanSound8K files); clips of 0.5-``duration`` s (mostly ``duration``).
Layouts
    ``urbansound8k``: ``metadata/UrbanSound8K.csv`` (the real columns) and
    ``audio/foldK/<fsID>-<classID>-<occ>-<slice>.wav``; 1-3 slices per "recording" (fsID), which
    share their sound parameters, format and fold; 10 folds, classes spread over folds.
    ``sonyc_ust``: ``annotations.csv`` (the real columns: split, sensor_id, audio_filename,
    annotator_id, context, fine/coarse presence and proximity) and ``audio/*.wav`` 10-s, 48 kHz,
    16-bit mono mixtures of 0-3 coarse classes; 3 noisy volunteer rows per clip plus a verified
    row (annotator_id 0) on validate/test clips; train/validate/test sensors are disjoint (12/4/8
    sensors). Recording times are realistic: ``year``, ISO ``week``, ``day`` (0 = Monday) and
    ``hour`` of dates in 2017 (train), 2018 (validate) and 2019 (test); each sensor records mostly
    on its own weekday across ``max(2, n_clips // 40)`` weeks (weekday repeats over many dates),
    several clips share a (sensor, date) at different hours.
Licence
    Generated data, no licence restrictions (same licence as sea).
Citation
    None; cite sea.

Determinism: the same ``(layout, n_clips, seed, duration)`` gives byte-identical files.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import numpy as np

from sea.errors import ConfigError, DatasetError
from sea.layout import RunLayout

from .config import DEFAULT_N_CLIPS, GENERATION_FIELDS, PrepareConfig, check_generation, make_config
from .urbansound8k import CLASSES, find_clips

__all__ = ["CLASSES", "DEFAULT_N_CLIPS", "check_raw", "find_clips", "generate", "generate_raw", "prepare", "synthesize"]

SYNTH_INFO = "synthetic.json"
_SRS = (44100, 48000, 22050, 16000, 32000, 11025, 8000, 96000)
_SR_P = (0.40, 0.25, 0.10, 0.08, 0.05, 0.04, 0.04, 0.04)
_SUBTYPES = ("PCM_16", "PCM_24", "FLOAT", "PCM_32")
_SUBTYPE_P = (0.6, 0.25, 0.1, 0.05)
# Difficulty knobs, tuned so that a linear probe on mean log-mel is well above chance and below
# 100 % (tests/data_prep/test_synthetic.py): SNR ranges (dB) for salience 1 (foreground) and 2
# (background), the level range of the distractor event (dB re background), the gain range (dBFS
# peak) and the microphone tilt range (spectral slope exponent).
SNR_FG = (14.0, 28.0)
SNR_BG = (6.0, 12.0)
DISTRACTOR_DB = (-24.0, -12.0)
GAIN_DB = (-10.0, -1.0)
MIC_TILT = 0.15


# --------------------------------------------------------------------------- building blocks
def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) + 1e-12


def _shaped_noise(rng, n: int, sr: int, lo: float, hi: float, tilt: float = 0.0) -> np.ndarray:
    """White noise through a smooth band-pass (2nd-order-like skirts) with a spectral tilt; unit RMS."""
    from scipy import fft as sfft

    m = sfft.next_fast_len(max(n, 2), real=True)  # noise is random: generate a fast length, keep n
    x = sfft.rfft(rng.standard_normal(m, dtype=np.float32))
    f = np.maximum(np.arange(x.shape[0], dtype=np.float32) * np.float32(sr / m), np.float32(1.0))
    a = np.float32(lo) / f
    a *= a
    b = f / np.float32(min(hi, 0.48 * sr))
    b *= b
    g = 1.0 / ((1.0 + a * a) * (1.0 + b * b))
    if tilt:
        g *= (np.maximum(f, np.float32(20.0)) / np.float32(1000.0)) ** np.float32(tilt)
    y = sfft.irfft(x * g, m)[:n].astype(np.float64)
    return y / _rms(y)


def _harmonics(f0: np.ndarray | float, sr: int, amps, n: int, phase0: float = 0.0) -> np.ndarray:
    """Sum of harmonics k*f0(t) with amplitudes ``amps``, dropping those above 0.45 sr.

    sin(k*phase) comes from the Chebyshev recurrence s_{k+1} = 2 cos(phase) s_k - s_{k-1}: two
    multiply-adds per harmonic instead of a sine, which keeps generation fast.
    """
    f0 = np.broadcast_to(np.asarray(f0, dtype=np.float64), (n,))
    phase = 2 * np.pi * np.cumsum(f0) / sr + phase0
    fmax = float(f0.max()) if n else 0.0
    s_prev, s_k = np.zeros(n), np.sin(phase)
    c2 = 2 * np.cos(phase)
    y = np.zeros(n)
    for k, a in enumerate(amps, 1):
        if k * fmax >= 0.45 * sr:
            break
        if k > 1:
            s_prev, s_k = s_k, c2 * s_k - s_prev
        if a:
            y += a * s_k
    return y


def _smooth_walk(rng, n: int, sr: int, rate: float, depth: float) -> np.ndarray:
    """Slow random contour around 1: interpolated random points every 1/rate s."""
    k = max(2, int(n / sr * rate) + 2)
    pts = 1.0 + depth * rng.uniform(-1, 1, k)
    return np.interp(np.arange(n), np.linspace(0, n - 1, k), pts)


def _decay_env(n: int, sr: int, starts, attack: float, decay: float, lengths=None) -> np.ndarray:
    """Sum of attack/exponential-decay envelopes starting at ``starts`` (s)."""
    env = np.zeros(n)
    for i, s in enumerate(starts):
        i0 = max(0, int(s * sr))
        if i0 >= n:
            continue
        # exp(-8) ~ 3e-4: nothing audible is lost by cutting the envelope there
        m = min(n - i0, int((attack + 8 * decay) * sr)) if lengths is None else min(n - i0, int(lengths[i] * sr))
        t = np.arange(m) / sr
        e = np.minimum(t / max(attack, 1e-4), 1.0) * np.exp(-t / decay)
        env[i0 : i0 + m] += e
    return env


def _gate(rng, n: int, sr: int, on: tuple[float, float], off: tuple[float, float], fade: float = 0.01) -> np.ndarray:
    """Random on/off segments with short fades."""
    g = np.zeros(n)
    t = rng.uniform(0, off[1])
    dur = n / sr
    while t < dur:
        d = rng.uniform(*on)
        i0, i1 = int(t * sr), min(n, int((t + d) * sr))
        if i1 > i0:
            m = i1 - i0
            w = np.ones(m)
            nf = min(int(fade * sr), m // 2)
            if nf > 0:
                ramp = np.linspace(0, 1, nf)
                w[:nf] = ramp
                w[m - nf :] = ramp[::-1]
            g[i0:i1] = w
        t += d + rng.uniform(*off)
    if not g.any():
        g[:] = 1.0
    return g


# --------------------------------------------------------------------------- the 10 classes
# Each generator takes (prng, srng, n, sr): prng draws the "recording" parameters (shared by the
# slices of one fsID), srng the per-slice randomness. Output: float64 (n,), any scale.
def _air_conditioner(prng, srng, n, sr):
    f0 = prng.uniform(45, 130)
    alpha = prng.uniform(-1.4, -0.4)
    hi = prng.uniform(1200, 5000)
    noise = _shaped_noise(srng, n, sr, 30, hi, tilt=alpha)
    hum = _harmonics(f0 * (1 + 0.002 * srng.standard_normal()), sr, [1, 0.6, 0.4, 0.25, 0.15], n)
    am = 1 + 0.1 * np.sin(2 * np.pi * prng.uniform(0.1, 0.5) * np.arange(n) / sr)
    return (noise + prng.uniform(0.15, 0.6) * hum / _rms(hum)) * am


def _car_horn(prng, srng, n, sr):
    f0 = prng.uniform(330, 470)
    ratio = prng.uniform(1.18, 1.34) if prng.random() < 0.5 else None
    amps = [1 / k ** prng.uniform(0.5, 1.2) for k in range(1, 11)]
    tone = _harmonics(f0, sr, amps, n)
    if ratio:
        tone = tone + _harmonics(f0 * ratio, sr, amps, n, phase0=1.0)
    dur = n / sr
    k = int(srng.integers(1, 3))
    starts = np.sort(srng.uniform(0, max(dur - 0.5, 0.01), k))
    lengths = srng.uniform(0.6, 2.5, k)
    env = np.zeros(n)
    for s, L in zip(starts, lengths):
        i0, i1 = int(s * sr), min(n, int((s + L) * sr))
        env[i0:i1] = 1.0
    env = np.convolve(env, np.ones(max(1, int(0.01 * sr))) / max(1, int(0.01 * sr)), mode="same")
    return tone * env


def _children_playing(prng, srng, n, sr):
    y = np.zeros(n)
    for _ in range(int(prng.integers(2, 5))):
        base = prng.uniform(220, 420)
        f1, f2 = prng.uniform(550, 1000), prng.uniform(1400, 2800)
        f0 = base * _smooth_walk(srng, n, sr, rate=srng.uniform(2, 6), depth=0.25)
        freqs = base * np.arange(1, 13)
        amps = np.exp(-(((freqs - f1) / 250) ** 2)) + 0.6 * np.exp(-(((freqs - f2) / 400) ** 2)) + 0.05
        voice = _harmonics(f0, sr, amps, n, phase0=srng.uniform(0, 6))
        y += voice * _gate(srng, n, sr, on=(0.08, 0.35), off=(0.05, 0.4), fade=0.02) * srng.uniform(0.4, 1.0)
    return y


def _dog_bark(prng, srng, n, sr):
    f_start = prng.uniform(350, 800)
    formant = prng.uniform(800, 1600)
    freqs = f_start * np.arange(1, 11)
    amps = np.exp(-(((freqs - formant) / 500) ** 2)) + 0.1
    dur = n / sr
    y = np.zeros(n)
    t = srng.uniform(0, min(0.5, dur / 2))
    while t < dur - 0.05:
        L = srng.uniform(0.08, 0.25)
        m = min(n - int(t * sr), int(L * sr))
        tt = np.arange(m) / sr
        f0 = f_start * (1 - 0.3 * tt / L) * srng.uniform(0.9, 1.1)
        burst = _harmonics(f0, sr, amps, m) + 0.3 * _shaped_noise(srng, m, sr, 500, 3000)
        env = np.minimum(tt / 0.005, 1) * np.exp(-tt / (L / 3))
        y[int(t * sr) : int(t * sr) + m] += burst * env
        t += L + (srng.uniform(0.1, 0.35) if srng.random() < 0.6 else srng.uniform(0.5, 1.2))
    return y


def _drilling(prng, srng, n, sr):
    whine = prng.uniform(150, 450)
    lo, hi = prng.uniform(1200, 2200), prng.uniform(3000, 3900)
    rate = prng.uniform(25, 60)
    t = np.arange(n) / sr
    noise = _shaped_noise(srng, n, sr, lo, hi)
    motor = _harmonics(whine * _smooth_walk(srng, n, sr, 1.0, 0.03), sr, [1, 0.7, 0.5, 0.4, 0.3, 0.2], n)
    am = 1 - prng.uniform(0.4, 0.9) * 0.5 * (1 + np.sin(2 * np.pi * rate * t))
    y = (noise + prng.uniform(0.3, 1.0) * motor / _rms(motor)) * am
    return y * _gate(srng, n, sr, on=(0.6, 3.0), off=(0.1, 0.6), fade=0.05)


def _engine_idling(prng, srng, n, sr):
    f0 = prng.uniform(20, 45)
    amps = [prng.uniform(0.3, 1.0) / k**0.7 for k in range(1, 16)]
    tone = _harmonics(f0 * _smooth_walk(srng, n, sr, 0.5, 0.03), sr, amps, n)
    noise = _shaped_noise(srng, n, sr, 30, prng.uniform(300, 1000), tilt=-0.5)
    am = 1 + 0.25 * np.sin(2 * np.pi * prng.uniform(0.3, 2.0) * np.arange(n) / sr)
    return (tone / _rms(tone) + prng.uniform(0.3, 0.8) * noise) * am


def _gun_shot(prng, srng, n, sr):
    dur = n / sr
    k = int(srng.integers(1, 4))
    starts = np.sort(srng.uniform(0, max(dur * 0.6, 0.01), k))
    tail = prng.uniform(0.3, 1.2)
    crack = _shaped_noise(srng, n, sr, 200, 0.45 * sr) * _decay_env(n, sr, starts, 0.0005, prng.uniform(0.005, 0.02))
    thump = np.sin(2 * np.pi * prng.uniform(60, 120) * np.arange(n) / sr) * _decay_env(n, sr, starts, 0.001, 0.05)
    rev = _shaped_noise(srng, n, sr, 100, prng.uniform(2000, 6000), tilt=-0.5) * _decay_env(
        n, sr, starts, 0.01, tail / 4
    )
    return crack + 0.6 * thump + prng.uniform(0.1, 0.3) * rev


def _jackhammer(prng, srng, n, sr):
    rate = prng.uniform(8, 22)
    lo, hi = prng.uniform(400, 700), prng.uniform(1400, 2200)
    dur = n / sr
    base = np.arange(srng.uniform(0, 1 / rate), dur, 1 / rate)
    starts = base + srng.normal(0, 0.002, base.shape[0])
    env = _decay_env(n, sr, starts, 0.001, prng.uniform(0.015, 0.04))
    noise = _shaped_noise(srng, n, sr, lo, hi)
    thump = _harmonics(prng.uniform(50, 90), sr, [1, 0.5], n)
    y = (noise + 0.5 * thump) * env
    return y * _gate(srng, n, sr, on=(1.5, 4.0), off=(0.1, 0.4), fade=0.02)


def _siren(prng, srng, n, sr):
    t = np.arange(n) / sr
    fc, dev = prng.uniform(900, 1300), prng.uniform(150, 350)
    if prng.random() < 0.6:  # wail
        lfo = np.sin(2 * np.pi * prng.uniform(0.15, 0.5) * t + srng.uniform(0, 6.28))
    else:  # yelp: sawtooth sweeps
        lfo = 2 * ((prng.uniform(2, 5) * t + srng.random()) % 1.0) - 1
    f = fc + dev * lfo
    doppler = _smooth_walk(srng, n, sr, 0.3, 0.03)
    y = _harmonics(f * doppler, sr, [1, 0.6, 0.4, 0.25], n)
    return y * np.linspace(srng.uniform(0.4, 1), srng.uniform(0.4, 1), n)


def _street_music(prng, srng, n, sr):
    scale = np.array([0, 2, 4, 7, 9, 12, 14, 16])
    root = 440 * 2 ** ((prng.integers(45, 62) - 69) / 12)
    amps = [1 / k ** prng.uniform(0.8, 1.6) for k in range(1, 9)]
    note_len = prng.uniform(0.12, 0.5)
    decay = prng.uniform(0.1, 0.6)
    dur = n / sr
    k = int(np.ceil(dur / note_len)) + 1
    starts = np.arange(k) * note_len + srng.normal(0, 0.01, k)
    notes = root * 2 ** (srng.choice(scale, k) / 12)
    idx = np.clip((np.arange(n) / sr / note_len).astype(int), 0, k - 1)
    f0 = notes[idx]
    env = _decay_env(n, sr, starts, 0.005, decay, lengths=np.full(k, note_len * 1.2))
    y = _harmonics(f0, sr, amps, n) * env
    if prng.random() < 0.5:
        bass_idx = np.clip((np.arange(n) / sr / (2 * note_len)).astype(int), 0, k - 1)
        bass = root / 2 * 2 ** (srng.choice([0, 5, 7], k)[bass_idx] / 12)
        y += 0.5 * _harmonics(bass, sr, [1, 0.5, 0.25], n) * _decay_env(n, sr, starts[::2], 0.005, decay * 2)
    return y


_GENERATORS = (
    _air_conditioner,
    _car_horn,
    _children_playing,
    _dog_bark,
    _drilling,
    _engine_idling,
    _gun_shot,
    _jackhammer,
    _siren,
    _street_music,
)


def _background(prng, srng, n, sr, *, distractor_of: int | None):
    """Urban background shared by all classes: rumble + hiss (+ a faint event of another class)."""
    rumble = _shaped_noise(srng, n, sr, 20, prng.uniform(200, 600), tilt=-1.0)
    hiss = _shaped_noise(srng, n, sr, 300, 0.45 * sr, tilt=prng.uniform(-1.2, -0.3))
    bg = rumble + prng.uniform(0.2, 0.7) * hiss
    bg /= _rms(bg)
    if distractor_of is not None and srng.random() < 0.5:
        other = int(srng.choice([c for c in range(len(_GENERATORS)) if c != distractor_of]))
        ev = _GENERATORS[other](srng, srng, n, sr)
        bg += (
            10 ** (srng.uniform(*DISTRACTOR_DB) / 20) * ev / _rms(ev) * _gate(srng, n, sr, (0.5, 2.0), (0.5, 2.0), 0.05)
        )
    return bg


def _mic(srng, y: np.ndarray, sr: int) -> np.ndarray:
    """Random microphone colouring: spectral tilt and, sometimes, a band limit."""
    from scipy import fft as sfft

    n = y.shape[0]
    x = sfft.rfft(y.astype(np.float32))
    f = np.maximum(np.arange(x.shape[0], dtype=np.float32) * np.float32(sr / n), np.float32(20.0))
    g = (f / np.float32(1000.0)) ** np.float32(srng.uniform(-MIC_TILT, MIC_TILT))
    if srng.random() < 0.2:
        b = f / np.float32(srng.uniform(2500, 8000))
        b *= b
        g /= 1 + b * b
    return sfft.irfft(x * g, n).astype(np.float64)


def synthesize(class_id: int, n: int, sr: int, *, prng, srng, snr_db: float, distractors: bool = True) -> np.ndarray:
    """Synthesize one mono clip of ``class_id`` over the urban background.

    Parameters
    ----------
    class_id : int
        UrbanSound8K class index, 0-9 (see :data:`CLASSES`).
    n : int
        Length in samples.
    sr : int
        Sample rate in Hz.
    prng, srng : np.random.Generator
        Generators of the recording's sound parameters and of this slice's details.
    snr_db : float
        Level of the event over the background.
    distractors : bool
        Allow a faint event of another class in the background.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float64]
        Peak-normalised to 1.
    """
    fg = _GENERATORS[class_id](prng, srng, n, sr)
    bg = _background(prng, srng, n, sr, distractor_of=class_id if distractors else None)
    y = fg / _rms(fg) * 10 ** (snr_db / 20) + bg
    y = _mic(srng, y, sr)
    return y / (np.max(np.abs(y)) + 1e-12)


# --------------------------------------------------------------------------- writers
def _write(path: Path, y: np.ndarray, sr: int, subtype: str, channels: int, srng) -> None:
    import soundfile as sf

    if channels == 2:
        # a second microphone: slight gain offset and delay, and its own faint noise
        d = int(srng.integers(0, 20))
        right = np.concatenate([np.zeros(d), y[: y.shape[0] - d]]) * 10 ** (srng.uniform(-2, 2) / 20)
        right += 0.01 * srng.standard_normal(y.shape[0])
        y = np.stack([y, right], axis=1)
        y = y / (np.max(np.abs(y)) + 1e-12) * float(np.max(np.abs(y[:, 0])))
    fmt = "WAVEX" if channels == 2 and subtype in ("PCM_24", "PCM_32") else "WAV"
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y.astype(np.float32 if subtype != "PCM_32" else np.float64), sr, subtype=subtype, format=fmt)
    if subtype in ("FLOAT", "DOUBLE"):
        _zero_peak_timestamp(path)


def _zero_peak_timestamp(path: Path) -> None:
    """Zero the timestamp of a float WAV's PEAK chunk.

    libsndfile stamps it with the wall-clock time; zeroed, the same seed gives byte-identical files.
    """
    with open(path, "r+b") as fh:
        head = fh.read(4096)
        i = head.find(b"PEAK")
        if i >= 0:
            fh.seek(i + 12)  # 'PEAK', chunk size, version, then the 4-byte timestamp
            fh.write(b"\0\0\0\0")


def _generate_us8k(out: Path, n_clips: int, seed: int, duration: float) -> None:
    rows = []
    r = 0
    per_class = [0] * len(CLASSES)
    total = 0
    while total < n_clips:
        prng_meta = np.random.default_rng([seed, r, 0])
        c = r % len(CLASSES)
        fold = (per_class[c] + 3 * c) % 10 + 1
        per_class[c] += 1
        fs_id = 100000 + 37 * r + int(prng_meta.integers(0, 37))
        sr = int(prng_meta.choice(_SRS, p=_SR_P))
        subtype = str(prng_meta.choice(_SUBTYPES, p=_SUBTYPE_P))
        channels = 2 if prng_meta.random() < 0.7 else 1
        salience = 1 if prng_meta.random() < 0.7 else 2
        n_slices = min(int(prng_meta.integers(1, 4)), n_clips - total)
        start = round(float(prng_meta.uniform(0, 30)), 6)
        for s in range(n_slices):
            srng = np.random.default_rng([seed, r, s + 1])
            prng = np.random.default_rng([seed, r, 1000])  # same parameters for every slice of the recording
            d = duration if srng.random() < 0.85 else round(float(srng.uniform(0.5, duration)), 3)
            n = int(round(d * sr))
            snr = srng.uniform(*SNR_FG) if salience == 1 else srng.uniform(*SNR_BG)
            y = synthesize(c, n, sr, prng=prng, srng=srng, snr_db=snr)
            y *= 10 ** (srng.uniform(*GAIN_DB) / 20)
            name = f"{fs_id}-{c}-0-{s}.wav"
            _write(out / "audio" / f"fold{fold}" / name, y, sr, subtype, channels, srng)
            rows.append([name, fs_id, start, round(start + n / sr, 6), salience, fold, c, CLASSES[c]])
            start = round(start + n / sr, 6)
        r += 1
        total += n_slices
    meta = out / "metadata"
    meta.mkdir(parents=True, exist_ok=True)
    with open(meta / "UrbanSound8K.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"])
        w.writerows(rows)


# SONYC-UST v2 taxonomy: coarse number -> (coarse name, [(fine code, fine name), ...])
SONYC_TAXONOMY = {
    1: ("engine", [("1", "small-sounding-engine"), ("2", "medium-sounding-engine"), ("3", "large-sounding-engine"), ("X", "engine-of-uncertain-size")]),
    2: ("machinery-impact", [("1", "rock-drill"), ("2", "jackhammer"), ("3", "hoe-ram"), ("4", "pile-driver"), ("X", "other-unknown-impact-machinery")]),
    3: ("non-machinery-impact", [("1", "non-machinery-impact")]),
    4: ("powered-saw", [("1", "chainsaw"), ("2", "small-medium-rotating-saw"), ("3", "large-rotating-saw"), ("X", "other-unknown-powered-saw")]),
    5: ("alert-signal", [("1", "car-horn"), ("2", "car-alarm"), ("3", "siren"), ("4", "reverse-beeper"), ("X", "other-unknown-alert-signal")]),
    6: ("music", [("1", "stationary-music"), ("2", "mobile-music"), ("3", "ice-cream-truck"), ("X", "music-from-uncertain-source")]),
    7: ("human-voice", [("1", "person-or-small-group-talking"), ("2", "person-or-small-group-shouting"), ("3", "large-crowd"), ("4", "amplified-speech"), ("X", "other-unknown-human-voice")]),
    8: ("dog", [("1", "dog-barking-whining")]),
}  # fmt: skip
# which synthetic generator (UrbanSound8K class id) renders each (coarse, fine)
_SONYC_SOURCES = {
    (1, "1"): 5, (1, "2"): 5, (1, "3"): 5, (2, "1"): 4, (2, "2"): 7, (3, "1"): 6, (4, "1"): 4, (4, "2"): 4,
    (5, "1"): 1, (5, "3"): 8, (6, "1"): 9, (6, "2"): 9, (7, "1"): 2, (7, "2"): 2, (8, "1"): 3,
}  # fmt: skip


# First day of each split's recording period (test is later in time, as in SONYC-UST).
_SONYC_START = {"train": dt.date(2017, 1, 2), "validate": dt.date(2018, 1, 1), "test": dt.date(2019, 1, 7)}


def _sonyc_when(rng, split: str, sensor: int, n_weeks: int) -> tuple[int, int, int, int]:
    """``(year, week, day, hour)`` of one clip, as SONYC-UST's columns spell them (ISO week, 0 = Monday).

    Each sensor records mostly on its own weekday (so weekdays repeat across weeks: a bucket by
    weekday would merge many dates), sometimes on another day, over ``n_weeks`` weeks spread through
    the year, at any hour; several clips share a (sensor, date). Dates whose columns would name two
    days of the year (see :func:`data_prep.timestamps.sonyc_date`) are moved by a day.
    """
    from .timestamps import sonyc_date

    step = max(1, 52 // n_weeks)
    weekday = sensor % 7 if rng.random() < 0.75 else int(rng.integers(0, 7))
    start = _SONYC_START[split]
    date = start + dt.timedelta(weeks=int(rng.integers(0, n_weeks)) * step, days=(weekday - start.weekday()) % 7)
    while True:
        _, week, iso_day = date.isocalendar()
        if sonyc_date(date.year, week, iso_day - 1) == date:
            return date.year, week, iso_day - 1, int(rng.integers(0, 24))
        date += dt.timedelta(days=1)


def _generate_sonyc(out: Path, n_clips: int, seed: int, duration: float) -> None:
    sr = 48000
    fine_cols = [(c, f, name) for c, (_, fl) in SONYC_TAXONOMY.items() for f, name in fl]
    header = ["split", "sensor_id", "audio_filename", "annotator_id", "borough", "block", "latitude", "longitude",
              "year", "week", "day", "hour"]  # fmt: skip
    header += [f"{c}-{f}_{name}_presence" for c, f, name in fine_cols]
    header += [f"{c}_{SONYC_TAXONOMY[c][0]}_presence" for c in SONYC_TAXONOMY]
    header += [f"{c}-{f}_{name}_proximity" for c, f, name in fine_cols]
    sources = list(_SONYC_SOURCES)
    rows = []
    rng = np.random.default_rng([seed, 7])
    sensors = {"train": list(range(0, 12)), "validate": list(range(12, 16)), "test": list(range(16, 24))}
    annotator_pool = rng.integers(1, 10**6, 200)
    n = int(round(duration * sr))
    n_weeks = max(2, min(52, n_clips // 40))  # a few clips per (sensor, date)
    for i in range(n_clips):
        srng = np.random.default_rng([seed, i, 1])
        u = i / max(n_clips, 1)
        split = "train" if u < 0.7 else ("validate" if u < 0.9 else "test")
        sensor = int(srng.choice(sensors[split]))
        k = int(srng.choice([0, 1, 1, 2, 2, 3]))
        present = [sources[j] for j in srng.choice(len(sources), k, replace=False)] if k else []
        y = _background(srng, srng, n, sr, distractor_of=None) * 10 ** (srng.uniform(-6, 0) / 20)
        for c, f in present:
            ev = _GENERATORS[_SONYC_SOURCES[(c, f)]](srng, srng, n, sr)
            on, off = (min(1.0, duration), duration), (min(0.5, duration / 2), duration / 2)  # clips under 1 s too
            g = _gate(srng, n, sr, on=on, off=off, fade=0.05)
            y = y + ev / _rms(ev) * 10 ** (srng.uniform(-3, 10) / 20) * g
        y = _mic(srng, y, sr)
        y = y / (np.max(np.abs(y)) + 1e-12) * 10 ** (srng.uniform(-25, -3) / 20)
        name = f"{sensor:02d}_{i:06d}.wav"
        _write(out / "audio" / name, y, sr, "PCM_16", 1, srng)
        context = [
            [1, 3, 4][sensor % 3], 100 + sensor * 7, round(40.70 + 0.01 * sensor, 5), round(-74.0 + 0.01 * sensor, 5),
            *_sonyc_when(np.random.default_rng([seed, i, 2]), split, sensor, n_weeks),
        ]  # fmt: skip
        truth = {(c, f) for c, f in present}

        def tags(noisy: bool, truth=truth, srng=srng):
            fine = []
            for c, f, _ in fine_cols:
                v = (c, f) in truth
                if noisy:
                    v = (srng.random() > 0.25) if v else (srng.random() < 0.04)
                fine.append(int(v))
            coarse = [int(any(fine[j] for j, (cc, _, _) in enumerate(fine_cols) if cc == c)) for c in SONYC_TAXONOMY]
            return fine, coarse

        for a in srng.choice(annotator_pool, 3, replace=False):
            fine, coarse = tags(True)
            prox = [str(srng.choice(["near", "far", "notsure"])) if v else "-1" for v in fine]
            rows.append([split, sensor, name, int(a), *context, *fine, *coarse, *prox])
        if split != "train":
            fine, coarse = tags(False)
            rows.append([split, sensor, name, 0, *context, *fine, *coarse, *(["-1"] * len(fine_cols))])
    with open(out / "annotations.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def generate(
    out_dir: str | Path,
    *,
    layout: str = "urbansound8k",
    n_clips: int = DEFAULT_N_CLIPS,
    seed: int = 0,
    duration: float | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a synthetic dataset in a real layout.

    Parameters
    ----------
    out_dir : path
        Destination folder (created). It must be empty or hold a synthetic set made with the
        same arguments (then nothing is rewritten) unless ``overwrite``.
    layout : "urbansound8k" or "sonyc_ust"
    n_clips : int >= 1
    seed : int
    duration : float or None
        Full clip length in seconds (default 4.0 for urbansound8k, 10.0 for sonyc_ust); 15 % of
        urbansound8k clips are shorter (0.5 s to ``duration``).

    Returns
    -------
    out_dir : Path
    """
    import shutil

    params = _params(layout, n_clips, seed, duration)
    out = Path(out_dir)
    if _existing_set(out, params, overwrite) == "same":  # deterministic: the same arguments give the same files
        return out
    # write beside the destination and rename at the end: a crash never leaves a half set
    tmp = out.parent / f".{out.name}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    if layout == "urbansound8k":
        _generate_us8k(tmp, params["n_clips"], params["seed"], params["duration"])
    else:
        _generate_sonyc(tmp, params["n_clips"], params["seed"], params["duration"])
    (tmp / SYNTH_INFO).write_text(json.dumps(params, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def _params(layout: str, n_clips: int, seed: int, duration: float | None) -> dict:
    """The generator's arguments, checked, as ``synthetic.json`` records them."""
    if layout not in ("urbansound8k", "sonyc_ust"):
        raise ConfigError(f"layout={layout!r} is not known; choose 'urbansound8k' or 'sonyc_ust'")
    if duration is None:
        duration = 4.0 if layout == "urbansound8k" else 10.0
    check_generation(n_clips, float(duration), seed)
    return {"layout": layout, "n_clips": int(n_clips), "seed": int(seed), "duration": float(duration), "version": 1}


def _existing_set(out: Path, params: dict, overwrite: bool) -> str:
    """``"same"`` (reuse), ``"empty"`` or ``"replace"``; raise when ``out`` holds something else (nothing is written)."""
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{str(out)!r} is an existing file; give a folder for the synthetic set")
    if not (out.is_dir() and any(out.iterdir())):
        return "empty"
    info = out / SYNTH_INFO
    try:
        old = json.loads(info.read_text()) if info.is_file() else None
    except (OSError, ValueError):
        old = {"unreadable": SYNTH_INFO}
    if old == params:
        return "same"
    if not overwrite:
        what = f"a synthetic set made with {old}" if old else "other files"
        raise DatasetError(
            f"{str(out)!r} already holds {what}; pass overwrite=True (--overwrite) or choose an empty folder"
        )
    if old is None:
        raise DatasetError(f"refusing to overwrite {str(out)!r}: it does not hold a synthetic set ({SYNTH_INFO})")
    return "replace"


def check_raw(raw_dir: Path, config: PrepareConfig, *, overwrite: bool = False) -> None:
    """Check, writing nothing, that :func:`generate_raw` can reuse or (re)generate ``raw_dir``.

    Parameters
    ----------
    raw_dir : Path
    config : PrepareConfig
    overwrite : bool

    Raises
    ------
    DatasetError
        ``raw_dir`` holds other files, another synthetic set (without ``overwrite``), or a SONYC-layout set.
    """
    info = raw_dir / SYNTH_INFO
    if info.is_file() and all(getattr(config, k) is None for k in GENERATION_FIELDS):
        _reused_layout(raw_dir)
        return
    _existing_set(raw_dir, _raw_params(config), overwrite)


def _raw_params(config: PrepareConfig) -> dict:
    n = DEFAULT_N_CLIPS if config.n_clips is None else config.n_clips
    return _params("urbansound8k", n, 0 if config.synth_seed is None else config.synth_seed, config.duration)


def _reused_layout(raw_dir: Path) -> None:
    try:
        layout = json.loads((raw_dir / SYNTH_INFO).read_text()).get("layout")
    except (OSError, ValueError, AttributeError):
        raise DatasetError(
            f"{str(raw_dir / SYNTH_INFO)!r} is damaged; pass --overwrite to regenerate the set"
        ) from None
    if layout != "urbansound8k":
        raise DatasetError(f"{str(raw_dir)!r} holds a synthetic sonyc_ust set; prepare it with 'sonyc_ust'")


def generate_raw(raw_dir: Path, config: PrepareConfig, *, overwrite: bool = False) -> Path:
    """Make sure ``raw_dir`` holds the synthetic UrbanSound8K-layout set that ``config`` asks for.

    A set already there is reused when the config gives no generation option (``n_clips``,
    ``synth_seed``, ``duration`` all None) or the same ones; otherwise it is generated with
    ``n_clips`` (default 200), ``synth_seed`` (default 0) and ``duration``.

    Parameters
    ----------
    raw_dir : Path
    config : PrepareConfig
    overwrite : bool
        Replace a synthetic set made with other options.

    Returns
    -------
    raw_dir : Path
    """
    check_raw(raw_dir, config, overwrite=overwrite)
    if (raw_dir / SYNTH_INFO).is_file() and all(getattr(config, k) is None for k in GENERATION_FIELDS):
        return raw_dir  # reuse the set already there
    p = _raw_params(config)
    generate(raw_dir, layout="urbansound8k", n_clips=p["n_clips"], seed=p["seed"], duration=p["duration"],
             overwrite=overwrite)  # fmt: skip
    return raw_dir


def prepare(
    raw_dir: str | Path | None,
    run_dir: str | Path,
    *,
    overwrite: bool = False,
    n_clips: int | None = None,
    seed: int | None = None,
    duration: float | None = None,
    **options,
) -> Path:
    """Generate the synthetic UrbanSound8K-layout set (see :func:`generate_raw`) and prepare it.

    The set is read by the real :mod:`data_prep.urbansound8k` loader (``dataset="synthetic"`` in
    the stage config).

    Parameters
    ----------
    raw_dir : path or None
        Where the raw set lies or is generated; None means ``run_dir/raw``.
    run_dir : path
        Output run directory.
    overwrite : bool
        Redo a finished prepare, and replace a synthetic set made with other options.
    n_clips, seed, duration : int, int, float or None
        Generation options (``seed`` is the config's ``synth_seed``); all None reuses a set
        already in ``raw_dir``.
    **options
        Other :class:`~data_prep.config.PrepareConfig` fields: ``cache_srs``, ``strict``, ``res_type``.

    Returns
    -------
    manifest : Path
        ``run_dir / "clips.jsonl"``.
    """
    raw = RunLayout(run_dir).raw_dir if raw_dir is None else Path(raw_dir)
    config = make_config("synthetic", raw, n_clips=n_clips, synth_seed=seed, duration=duration, **options)
    from .stage import run  # the stage module imports the dataset modules: import it on use

    return run(run_dir, config, overwrite=overwrite)
