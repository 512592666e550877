"""Point samplers (random / spl / dpp_div / dpp) and the exact k-DPP samplers."""

from __future__ import annotations

import collections
import datetime as _dt

import numpy as np
import pytest

from sea.errors import ParameterError, SeaWarning
from sea.targets.buckets import clip_date, clip_start, frame_times, make_buckets, parse_timestamp
from sea.targets.diversity import bucket_table, within_bucket_diversity
from sea.targets.dpp import kdpp_probabilities, sample_kdpp, sample_kdpp_lowrank, sample_projection_dpp
from sea.targets.samplers import (
    allocate,
    bucket_labels,
    diversity_stats,
    frame_levels,
    kernel_rows,
    l1_normalise,
    relevance_scores,
    sample_dpp,
    sample_points,
    sample_random,
    sample_spl,
)


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Small eigendecompositions (<= 512 x 512) run fastest on one BLAS thread; several threads on a shared
    2-core machine are up to 10x slower. Results do not depend on it."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _clustered(rng, n=1500, d=24, sizes=(0.85, 0.06, 0.05, 0.04)):
    """Non-negative (post-ReLU-like) embeddings in imbalanced clusters with disjoint supports."""
    labels = rng.choice(len(sizes), size=n, p=np.array(sizes) / sum(sizes))
    F = np.zeros((n, d))
    block = d // len(sizes)
    for c in range(len(sizes)):
        m = labels == c
        F[m, c * block : (c + 1) * block] = np.abs(1.0 + 0.3 * rng.standard_normal((m.sum(), block)))
    F += 0.02 * np.abs(rng.standard_normal(F.shape))
    return F, labels


# -- generic contract -------------------------------------------------------------


@pytest.mark.parametrize("sampler", ["random", "spl", "dpp_div", "dpp"])
@pytest.mark.parametrize("k", [1, 37, 400])
def test_every_sampler_returns_requested_distinct_sorted_indices(sampler, k, rng):
    F, _ = _clustered(rng, n=400)
    levels = rng.normal(-30, 10, size=400)
    groups = np.repeat(np.arange(8), 50)
    pos = sample_points(sampler, k, m=400, rng=np.random.default_rng(1), groups=groups, features=F, levels=levels)
    assert pos.shape == (k,) and pos.dtype == np.int64
    assert np.unique(pos).size == k and np.all(np.diff(pos) > 0)
    assert pos.min() >= 0 and pos.max() < 400


@pytest.mark.parametrize("sampler", ["random", "spl", "dpp_div", "dpp"])
def test_sampler_rejects_more_points_than_available(sampler, rng):
    F, _ = _clustered(rng, n=50)
    with pytest.raises(ParameterError, match=r"n_points=51 exceeds the 50 available"):
        sample_points(sampler, 51, m=50, rng=rng, features=F, levels=np.zeros(50))


def test_samplers_are_deterministic_for_a_seed(rng):
    F, _ = _clustered(rng, n=300)
    levels = rng.normal(size=300)
    for s in ("random", "spl", "dpp_div", "dpp"):
        a = sample_points(s, 30, m=300, rng=np.random.default_rng(5), features=F, levels=levels)
        b = sample_points(s, 30, m=300, rng=np.random.default_rng(5), features=F, levels=levels)
        c = sample_points(s, 30, m=300, rng=np.random.default_rng(6), features=F, levels=levels)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


def test_allocate_is_proportional_and_capped():
    alloc = allocate(np.array([10, 30, 60]), 10)
    np.testing.assert_array_equal(alloc, [1, 3, 6])
    alloc = allocate(np.array([1, 1, 98]), 50)
    assert alloc.sum() == 50 and np.all(alloc <= [1, 1, 98])
    np.testing.assert_array_equal(allocate(np.array([3, 4]), 7), [3, 4])
    assert allocate(np.array([5, 5, 5]), 2).sum() == 2
    with pytest.raises(ParameterError, match="exceeds"):
        allocate(np.array([1, 2]), 4)


def test_random_sampler_respects_bucket_quotas(rng):
    groups = np.repeat([0, 1, 2, 3], [100, 300, 500, 100])
    pos = sample_random(1000, 100, rng, groups=groups)
    counts = np.bincount(groups[pos], minlength=4)
    np.testing.assert_array_equal(counts, [10, 30, 50, 10])


def test_bucket_labels_clip_sensor_day_auto():
    clips = np.array(["a", "a", "b", "c", "c", "d"])
    meta = {
        "a": {"sensor_id": "s1", "timestamp": "2017-03-01T10:00:00"},
        "b": {"sensor_id": "s1", "timestamp": "2017-03-01T23:00:00"},
        "c": {"sensor_id": "s2", "timestamp": "2017-03-01T10:00:00"},
        "d": {"sensor_id": "s1", "timestamp": 1488412800.0},  # 2017-03-02 UTC
    }
    lab, used = bucket_labels(clips, meta, "clip")
    assert used == "clip" and np.unique(lab).size == 4
    lab, used = bucket_labels(clips, meta, "sensor")
    assert used == "sensor" and lab[0] == lab[2] == lab[5] and lab[3] != lab[0]
    lab, used = bucket_labels(clips, meta, "day")
    assert used == "day" and lab[0] == lab[2] and lab[3] != lab[0] and lab[5] != lab[0]  # (sensor, day)
    assert bucket_labels(clips, meta, "auto")[1] == "day"
    assert bucket_labels(clips, {"a": {"sensor_id": "x"}}, "auto")[1] == "clip"
    with pytest.raises(ParameterError, match="no meta.sensor_id"):
        bucket_labels(clips, {}, "sensor")
    with pytest.raises(ParameterError, match="bucket='week'"):
        bucket_labels(clips, meta, "week")


def test_day_buckets_are_sensor_dates_not_weekdays():
    """SONYC-UST's ``day`` column is the weekday: a year of Mondays at one sensor is 52 buckets, not one."""
    mondays = [_dt.date(2017, 1, 2) + _dt.timedelta(weeks=w) for w in range(52)]
    meta = {f"m{w}": {"sensor_id": "s1", "day": 0, "weekday": 0, "date": d.isoformat()} for w, d in enumerate(mondays)}
    meta["t0"] = {"sensor_id": "s2", "day": 0, "date": "2017-01-02", "timestamp": "2017-01-02T08:00:00"}
    meta["t1"] = {"sensor_id": "s2", "day": 0, "date": "2017-01-02", "timestamp": "2017-01-02T21:00:00"}
    clips = np.repeat(sorted(meta), 3)
    b = make_buckets(clips, meta, "day")
    pairs = {(m["sensor_id"], m["date"]) for m in meta.values()}
    assert b.kind == "day" and b.n_buckets == len(pairs) == 53
    assert set(b.keys) == {f"{s}|{d}" for s, d in pairs}
    assert b.labels[list(clips).index("t0")] == b.labels[list(clips).index("t1")]  # same sensor and date
    assert not b.fallback_clips


def test_timestamps_without_zone_and_numbers_read_as_utc(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "America/New_York")  # a machine away from UTC must read them the same way
    time.tzset()
    naive = {"timestamp": "2019-03-04T23:30:00"}
    zulu = {"timestamp": "2019-03-04T23:30:00Z"}
    number = {"timestamp": _dt.datetime(2019, 3, 4, 23, 30, tzinfo=_dt.timezone.utc).timestamp()}
    starts = {clip_start(m) for m in (naive, zulu, number)}
    assert len(starts) == 1  # one instant, whatever the machine's time zone
    assert clip_date(naive) == clip_date(zulu) == clip_date(number) == "2019-03-04"
    # an explicit zone is kept: its calendar date is the one written; its instant is converted
    ny = {"timestamp": "2019-03-04T23:30:00-05:00"}
    assert clip_date(ny) == "2019-03-04" and clip_start(ny) == clip_start(naive) + 5 * 3600
    assert clip_date({"date": "2019-03-05", "timestamp": "2019-03-04T23:30:00"}) == "2019-03-05"  # meta.date wins
    assert clip_date({"day": 3}) is None and clip_start({"timestamp": "soon"}) is None
    assert parse_timestamp(float("nan")) is None and parse_timestamp(True) is None
    monkeypatch.delenv("TZ")
    time.tzset()


def test_day_buckets_fall_back_to_clips_without_time_metadata_with_a_warning():
    meta = {"a": {"sensor_id": "s1", "date": "2017-03-01"}, "b": {"sensor_id": "s1", "date": "2017-03-01"}, "c": {}}
    clips = np.array(["a", "b", "c", "c"])
    with pytest.warns(SeaWarning, match=r"1 clip\(s\) have no meta.date or meta.timestamp .*'c'"):
        lab, used = bucket_labels(clips, meta, "day")
    assert used == "day" and lab[0] == lab[1] and lab[2] == lab[3] != lab[0]
    b = make_buckets(clips, meta, "day")
    assert b.fallback_clips == ["c"] and "clip:c" in b.keys
    with pytest.warns(SeaWarning, match="no meta.date"):
        assert bucket_labels(clips, {}, "day")[1] == "clip"
    auto = make_buckets(clips, meta, "auto")
    assert auto.kind == "clip" and "1 of 3 clips have no meta.date" in auto.note


def test_frame_times_are_clip_start_plus_frame_time():
    meta = {"a": {"sensor_id": "s", "timestamp": "2017-03-01T10:00:00Z"}, "b": {"sensor_id": "s", "date": "2017-03-01"}}
    clips, ts = np.array(["a", "a", "b", "b"]), np.array([0.0, 0.5, 0.0, 0.5])
    b = make_buckets(clips, meta, "day")
    t = frame_times(clips, ts, meta, b)
    start = _dt.datetime(2017, 3, 1, 10, tzinfo=_dt.timezone.utc).timestamp()
    np.testing.assert_array_equal(t[:2], [start, start + 0.5])
    assert np.isnan(t[2:]).all()  # b shares a's day but has no start: its bucket is ranked as a whole
    t = frame_times(clips, ts, meta, make_buckets(clips, meta, "clip"))
    np.testing.assert_array_equal(t[2:], [0.0, 0.5])  # alone in its bucket: time within the clip


# -- spl ------------------------------------------------------------------------


def test_relevance_window_matches_brute_force(rng):
    v = np.round(rng.normal(size=203), 1)  # rounding creates ties
    for window in (1, 6, 11, 50):
        rel = relevance_scores(v, window=window)  # no times: positions, so the window counts frames
        for i in range(v.size):
            w = v[max(0, i - window // 2) : min(v.size, i + window // 2 + 1)]
            rank = (w < v[i]).sum() + ((w == v[i]).sum() - 1) / 2
            assert rel[i] == pytest.approx((rank + 1) / w.size)
    whole = relevance_scores(v, window=0)
    assert whole.max() == pytest.approx(1.0) and whole.min() > 0
    # windows never cross buckets
    g = np.repeat([0, 1], [100, 103])
    rel = relevance_scores(v, groups=g)
    np.testing.assert_allclose(rel[:100], relevance_scores(v[:100]))


def test_relevance_window_is_a_time_span(rng):
    """A frame is ranked among the frames of its bucket within window/2 seconds of it (the paper's 2 h)."""
    t = np.sort(rng.uniform(0, 86400, size=300)) + 1.5e9  # one day of irregular frame times
    v = np.round(rng.normal(size=300), 1)
    perm = rng.permutation(300)  # the order given does not matter, the times do
    rel = relevance_scores(v[perm], times=t[perm], window=7200)
    for j, i in enumerate(perm):
        w = v[np.abs(t - t[i]) <= 3600]
        rank = (w < v[i]).sum() + ((w == v[i]).sum() - 1) / 2
        assert rel[j] == pytest.approx((rank + 1) / w.size)
    np.testing.assert_allclose(relevance_scores(v, times=t, window=2 * 86400), relevance_scores(v))
    t_nan = t.copy()
    t_nan[5] = np.nan  # an unknown time: the bucket is ranked as a whole
    np.testing.assert_allclose(relevance_scores(v, times=t_nan, window=7200), relevance_scores(v))


def _loud_quiet_cache(tmp_path, sr=8000, n_clips=4, dur=6.0):
    """Clips alternating 1-s quiet (amp 0.01) and loud (amp 0.5) noise segments."""
    from sea.cache import AudioCache, CacheWriter

    r = np.random.default_rng(0)
    w = CacheWriter(tmp_path, sr)
    for i in range(n_clips):
        n = int(dur * sr)
        amp = np.where((np.arange(n) // sr + i) % 2 == 0, 0.01, 0.5).astype(np.float32)
        w.add(f"c{i}", amp * r.standard_normal(n).astype(np.float32))
    w.close()
    return AudioCache(tmp_path, sr)


def test_frame_levels_match_direct_computation(tmp_path):
    from sea.framing import frame_starts, n_frames

    cache = _loud_quiet_cache(tmp_path)
    nf = n_frames(cache.n_samples("c0"), cache.sr, hop_size=0.1)
    clips = np.array(["c0"] * nf + ["c2"] * 5)
    frames = np.concatenate([np.arange(nf), [0, 3, 7, 30, nf - 1]])
    lv = frame_levels(clips, frames, cache, hop_size=0.1, center=True, max_span=20000)
    for clip, f, got in zip(clips, frames, lv):
        s = frame_starts(cache.n_samples(clip), cache.sr, hop_size=0.1)[f]
        x = cache.window(clip, int(s), cache.sr).astype(np.float64)
        assert got == pytest.approx(10 * np.log10(np.mean(x**2) + 1e-10), abs=1e-6)
    with pytest.raises(ParameterError, match="outside"):
        frame_levels(np.array(["c0"]), np.array([nf]), cache)


def test_spl_prefers_louder_frames_and_beats_random(tmp_path):
    from sea.framing import n_frames

    cache = _loud_quiet_cache(tmp_path)
    nf = n_frames(cache.n_samples("c0"), cache.sr, hop_size=0.1)
    clips = np.repeat(cache.clip_ids, nf)
    frames = np.tile(np.arange(nf), len(cache.clip_ids))
    levels = frame_levels(clips, frames, cache, hop_size=0.1)
    groups = np.unique(clips, return_inverse=True)[1]
    spl_means, rnd_means = [], []
    for seed in range(5):
        p = sample_spl(levels, 40, np.random.default_rng(seed), groups=groups, window=20)
        q = sample_random(levels.size, 40, np.random.default_rng(seed), groups=groups)
        spl_means.append(levels[p].mean())
        rnd_means.append(levels[q].mean())
    assert np.mean(spl_means) > levels.mean() + 2.0
    assert np.mean(spl_means) > np.mean(rnd_means) + 2.0
    np.testing.assert_array_equal(
        sample_spl(levels, 40, np.random.default_rng(3), groups=groups),
        sample_spl(levels, 40, np.random.default_rng(3), groups=groups),
    )


# -- dpp --------------------------------------------------------------------------


def test_kdpp_dense_matches_exact_probabilities():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 5))
    L = A @ A.T + 0.1 * np.eye(5)
    exact = kdpp_probabilities(L, 2)
    n = 12000
    counts = collections.Counter(tuple(sample_kdpp(L, 2, rng).tolist()) for _ in range(n))
    assert set(counts) <= set(exact)
    for S, p in exact.items():
        # 4.5 binomial standard deviations
        assert abs(counts[S] / n - p) < 4.5 * np.sqrt(p * (1 - p) / n) + 1e-3, (S, counts[S] / n, p)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_kdpp_lowrank_matches_exact_probabilities(k):
    """L = F^F^T + 0.1 I with rank-2 F^ over N=7 items: the N-dim eigenstructure is handled exactly."""
    rng = np.random.default_rng(k)
    F = l1_normalise(np.abs(rng.standard_normal((7, 2))) * [1, 3])
    L = F @ F.T + 0.1 * np.eye(7)
    exact = kdpp_probabilities(L, k)
    n = 12000
    counts = collections.Counter(tuple(sample_kdpp_lowrank(F, k, sigma=0.1, rng=rng).tolist()) for _ in range(n))
    for S, p in exact.items():
        assert abs(counts[S] / n - p) < 4.5 * np.sqrt(p * (1 - p) / n) + 1e-3, (S, counts[S] / n, p)


def test_kdpp_lowrank_strong_kernel_matches_exact():
    rng = np.random.default_rng(9)
    B = 2.0 * rng.standard_normal((6, 3))
    L = B @ B.T + 0.1 * np.eye(6)
    exact = kdpp_probabilities(L, 3)
    n = 12000
    counts = collections.Counter(tuple(sample_kdpp_lowrank(B, 3, sigma=0.1, rng=rng).tolist()) for _ in range(n))
    for S, p in exact.items():
        assert abs(counts[S] / n - p) < 4.5 * np.sqrt(p * (1 - p) / n) + 1e-3


def test_projection_dpp_and_edge_cases(rng):
    Q, _ = np.linalg.qr(rng.standard_normal((50, 7)))
    S = sample_projection_dpp(Q, rng)
    assert S.size == 7 and np.unique(S).size == 7
    assert sample_kdpp_lowrank(np.ones((4, 2)), 4, rng=rng).tolist() == [0, 1, 2, 3]
    assert sample_kdpp_lowrank(np.ones((4, 2)), 0, rng=rng).size == 0
    with pytest.raises(ParameterError, match="k=5 exceeds"):
        sample_kdpp_lowrank(np.ones((4, 2)), 5, rng=rng)
    with pytest.raises(ParameterError, match="sigma"):
        sample_kdpp_lowrank(np.ones((4, 2)), 2, sigma=0.0, rng=rng)


def test_dpp_div_is_more_diverse_than_random_on_clustered_data():
    """Diversity measures: mean pairwise cosine distance of the chosen F^ (higher = more diverse) and
    entropy of the chosen points' cluster histogram, averaged over 10 seeds. With the paper's kernel
    (sigma=0.1 against L1-normalised rows) the effect is moderate, hence the margins."""
    F, labels = _clustered(np.random.default_rng(0))

    def entropy(idx):
        p = np.bincount(labels[idx], minlength=4) / idx.size
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())

    d_dpp, d_rnd, h_dpp, h_rnd, ld_dpp, ld_rnd = [], [], [], [], [], []
    for seed in range(10):
        a = sample_dpp(F, 40, np.random.default_rng(seed))
        b = sample_random(F.shape[0], 40, np.random.default_rng(seed))
        sa, sb = diversity_stats(F[a]), diversity_stats(F[b])
        d_dpp.append(sa["mean_pairwise_cosine_distance"])
        d_rnd.append(sb["mean_pairwise_cosine_distance"])
        ld_dpp.append(sa["logdet_per_point"])
        ld_rnd.append(sb["logdet_per_point"])
        h_dpp.append(entropy(a))
        h_rnd.append(entropy(b))
    assert np.mean(d_dpp) > np.mean(d_rnd) + 0.05
    assert np.mean(h_dpp) > np.mean(h_rnd) + 0.1
    assert np.mean(ld_dpp) > np.mean(ld_rnd)


def test_dpp_quality_shifts_towards_high_quality_frames():
    rng = np.random.default_rng(1)
    F = np.abs(rng.standard_normal((600, 16)))
    q = np.where(np.arange(600) < 300, 1.0, 0.1)
    hits_q, hits_div = 0, 0
    for seed in range(5):
        hits_q += (sample_dpp(F, 60, np.random.default_rng(seed), quality=q, sigma=0.01) < 300).sum()
        hits_div += (sample_dpp(F, 60, np.random.default_rng(seed), sigma=0.01) < 300).sum()
    assert hits_q > hits_div + 20


def test_dpp_pool_and_buckets(rng):
    F, _ = _clustered(rng, n=900)
    groups = np.repeat([0, 1, 2], 300)
    seen = []
    pos = sample_dpp(F, 90, rng, groups=groups, pool_size=120, on_bucket=seen.append)
    assert pos.size == 90 and np.unique(pos).size == 90
    np.testing.assert_array_equal(np.bincount(groups[pos]), [30, 30, 30])
    assert [s["pool"] for s in seen] == [120, 120, 120]


def test_dpp_reports_diversity_share_and_l2_norm_strengthens_it():
    """With the paper's L1 rows, dense high-dimensional embeddings give a near-uniform k-DPP (few of the k
    items come from the diversity part F^F^T); L2 rows make the diversity part dominate."""
    rng = np.random.default_rng(0)
    F = np.abs(rng.standard_normal((2000, 128)))
    stats: dict[str, list] = {"l1": [], "l2": []}
    for norm in ("l1", "l2"):
        pos = sample_dpp(F, 100, np.random.default_rng(1), norm=norm, on_bucket=stats[norm].append)
        assert pos.size == 100 and np.unique(pos).size == 100
    (l1,), (l2,) = stats["l1"], stats["l2"]
    assert 0 <= l1["t"] <= 100 and l1["t_expected"] < 20
    assert l2["t_expected"] > 3 * l1["t_expected"]
    with pytest.raises(ParameterError, match="norm='l3'"):
        sample_dpp(F, 10, rng, norm="l3")


# -- dpp pools and kernels (issue 14 §3) ---------------------------------------------


def test_dpp_pool_is_at_least_four_times_the_quota():
    """A pool equal to the quota made the k-DPP take all of it (the uniform draw): it is raised and said so."""
    rng = np.random.default_rng(0)
    F = np.abs(rng.standard_normal((1000, 6)))
    seen: list[dict] = []
    with pytest.warns(SeaWarning, match=r"dpp_pool_size=100 is below 4x the quota of 1 of 1 DPP bucket"):
        pos = sample_dpp(F, 100, rng, pool_size=100, on_bucket=seen.append)
    assert pos.size == 100 and seen[0]["pool"] == 400 > seen[0]["k"] == 100
    assert seen[0]["pool_raised"] and not seen[0]["degenerate"]
    groups = np.repeat([0, 1], [900, 100])  # bucket 1 is smaller than 4x its quota: all of it is the pool
    seen.clear()
    with pytest.warns(SeaWarning, match="below 4x the quota of 2 of 2"):
        sample_dpp(F, 200, rng, groups=groups, pool_size=50, on_bucket=seen.append)
    assert [(b["pool"], b["k"]) for b in seen] == [(720, 180), (80, 20)]


def test_default_pool_and_points_no_longer_give_the_uniform_draw():
    """n_points = dpp_pool_size = 20000 (the defaults) over 100 000 candidates: the pool is 80 000, not 20 000."""
    F = np.abs(np.random.default_rng(1).standard_normal((100_000, 4))).astype(np.float32)
    seen: list[dict] = []
    with pytest.warns(SeaWarning, match="raised"):
        sample_points("dpp_div", 20000, m=F.shape[0], rng=np.random.default_rng(2), features=F,
                      dpp_pool_size=20000, on_bucket=seen.append)  # fmt: skip
    assert seen[0]["pool"] == 80_000 and seen[0]["k"] == 20_000


def test_buckets_without_room_to_choose_are_warned_and_recorded():
    F = np.abs(np.random.default_rng(3).standard_normal((60, 5)))
    seen: list[dict] = []
    with pytest.warns(SeaWarning, match=r"3 of 3 DPP bucket\(s\) have no more candidates than their quota"):
        pos = sample_dpp(F, 60, np.random.default_rng(0), groups=np.repeat([0, 1, 2], 20), on_bucket=seen.append)
    assert pos.size == 60 and all(b["degenerate"] and b["pool"] == b["k"] == 20 for b in seen)


def test_kernel_rows():
    F = np.random.default_rng(4).gamma(2.0, size=(300, 32)) + 5.0
    Z = kernel_rows(F, "zscore")
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z.mean(0), 0, atol=1e-5)
    assert (Z.astype(np.float64) ** 2).sum(1).mean() == pytest.approx(1.0, rel=1e-4)
    L1 = kernel_rows(F, "l1")
    np.testing.assert_allclose(np.abs(L1).sum(1), 1, rtol=1e-5)
    assert (L1.astype(np.float64) ** 2).sum(1).mean() < 0.05  # why the paper's kernel is near-uniform: ||f^||^2 ~ 1/D
    F[:, 3] = 7.0  # a constant dimension stays 0
    assert np.all(kernel_rows(F, "zscore")[:, 3] == 0)
    with pytest.raises(ParameterError, match="dpp norm='l3'"):
        kernel_rows(F, "l3")


@pytest.mark.parametrize("k", [3])
def test_kdpp_lowrank_with_fewer_items_than_features_matches_exact(k):
    """N < D: the N x N kernel is eigendecomposed directly; the law is the same exact k-DPP."""
    rng = np.random.default_rng(k)
    B = 0.4 * rng.standard_normal((6, 10))
    exact = kdpp_probabilities(B @ B.T + 0.1 * np.eye(6), k)
    n = 12000
    counts = collections.Counter(tuple(sample_kdpp_lowrank(B, k, sigma=0.1, rng=rng).tolist()) for _ in range(n))
    for S, p in exact.items():
        assert abs(counts[S] / n - p) < 4.5 * np.sqrt(p * (1 - p) / n) + 1e-3, (S, counts[S] / n, p)


def test_zscore_dpp_is_more_diverse_than_uniform_and_stronger_than_l1():
    """The measure of report.json's ``diversity`` on imbalanced clusters (frames of a few clips per bucket)."""
    F, _ = _clustered(np.random.default_rng(5), n=3000)
    groups = np.repeat(np.arange(10), 300)
    share = {}
    for norm in ("zscore", "l1"):
        seen: list[dict] = []
        pos = sample_dpp(
            F, 400, np.random.default_rng(6), groups=groups, pool_size=400, norm=norm, on_bucket=seen.append
        )
        d = within_bucket_diversity(F, groups, pos, np.random.default_rng(7))
        share[norm] = sum(b["t"] for b in seen) / 400
        if norm == "zscore":
            assert d["sample"] > 1.3 * d["uniform"] and d["n_buckets"] == 10
    assert share["zscore"] > 2 * share["l1"]  # points drawn from the kernel's diversity term, not the ridge


def test_diversity_measure_of_a_uniform_draw_is_the_uniform_baseline():
    rng = np.random.default_rng(8)
    F = rng.standard_normal((4000, 16))
    groups = np.repeat(np.arange(20), 200)
    ratios = []
    for seed in range(5):
        pos = sample_random(4000, 600, np.random.default_rng(seed), groups=groups)
        d = within_bucket_diversity(F, groups, pos, np.random.default_rng([seed, 13]))
        ratios.append(d["sample"] / d["uniform"])
    assert abs(np.mean(ratios) - 1) < 0.01
    table = bucket_table(groups, [f"b{i}" for i in range(20)], pos, {3: 120})
    assert table[3] == {"key": "b3", "n_candidates": 200, "n_pool": 120, "n_chosen": 30}
    assert sum(r["n_chosen"] for r in table) == 600 and table[0]["n_pool"] == 200
