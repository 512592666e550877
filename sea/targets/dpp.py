r"""Exact k-DPP samplers (determinantal point processes of fixed size k).

A k-DPP over ``N`` items with a PSD kernel ``L`` draws a subset ``S`` of size
``k`` with ``P(S) = det(L_S) / e_k(λ(L))``, where ``e_k`` is the k-th elementary
symmetric polynomial of the eigenvalues of ``L`` (Kulesza & Taskar 2012).

Two exact samplers are provided:

* :func:`sample_kdpp` — the spectral algorithm (K&T Alg. 1 with Alg. 8's
  eigenvector selection) for a dense ``N × N`` kernel; O(N³), for small N.
* :func:`sample_kdpp_lowrank` — for the SEA kernels ``L = B Bᵀ + σ I`` with
  ``B`` of shape ``[N, D]``, ``D ≪ N`` (``dpp_div``: ``B = F̂``; ``dpp``:
  ``B = diag(q) F̂``). It never forms an ``N × N`` matrix. It uses the identity
  ``det(σ I + B_S B_Sᵀ) = σ^k Σ_{T⊆S} σ^{-|T|} det(B_T B_Tᵀ)``, which shows the
  k-DPP is a mixture: draw ``t = |T|`` with weight
  ``σ^{-t} e_t(λ(BᵀB)) C(N−t, k−t)``, draw ``T`` from the t-DPP with kernel
  ``B Bᵀ`` (rank ≤ D, sampled in the dual from the ``D × D`` matrix ``BᵀB``),
  then fill ``S \ T`` with ``k − t`` items drawn uniformly from the rest.
  Summing over ``T ⊆ S`` recovers ``det(L_S)`` exactly, so the sampler is exact,
  while the ``σ I`` part (the ``N − rank`` null-space eigenvalues equal to
  ``σ``, and the shift of the others) costs nothing. Cost:
  ``O(N D²)`` for ``BᵀB`` plus ``O(D³)`` for its eigendecomposition plus
  ``O(N t²)`` for the projection DPP, ``t ≤ min(k, D)``. When ``N < D`` (small
  buckets) the ``N × N`` kernel ``B Bᵀ`` is eigendecomposed instead: ``O(N² D + N³)``.

The projection DPP is sampled with the chain rule / incremental Cholesky
(Gram–Schmidt) update, ``O(N t)`` per item, no re-orthonormalisation.
All samplers are deterministic for a given ``numpy.random.Generator`` state.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> B = np.abs(rng.standard_normal((1000, 16)))
>>> B /= B.sum(1, keepdims=True)  # L1-normalised embeddings F̂
>>> S = sample_kdpp_lowrank(B, 50, sigma=0.1, rng=rng)
>>> S.shape, len(set(S.tolist()))
((50,), 50)
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.special import gammaln

from ..errors import ParameterError

__all__ = [
    "elementary_symmetric_log",
    "kdpp_probabilities",
    "log_det_subset",
    "sample_kdpp",
    "sample_kdpp_lowrank",
    "sample_projection_dpp",
]

# Eigenvalues below this fraction of the largest one are treated as zero.
_RANK_TOL = 1e-10


def _check_k(k: int, n: int) -> int:
    if not isinstance(k, (int, np.integer)) or k < 0:
        raise ParameterError(f"k={k!r} must be a non-negative integer")
    if k > n:
        raise ParameterError(f"k={k} exceeds the number of items N={n}; ask for at most {n} points")
    return int(k)


def elementary_symmetric_log(mu: np.ndarray, k: int) -> np.ndarray:
    """Log elementary symmetric polynomials of prefixes of ``mu``.

    Parameters
    ----------
    mu : np.ndarray [shape=(n,)]
        Non-negative values (eigenvalues).
    k : int
        Highest order needed.

    Returns
    -------
    log_e : np.ndarray [shape=(k + 1, n + 1)]
        ``log_e[t, m] = log e_t(mu[:m])`` (``-inf`` where it is zero). Log
        domain because ``e_t`` overflows float64 for realistic spectra.
    """
    mu = np.asarray(mu, dtype=np.float64)
    n = mu.shape[0]
    with np.errstate(divide="ignore"):
        log_mu = np.log(np.maximum(mu, 0.0))
    log_e = np.full((k + 1, n + 1), -np.inf)
    log_e[0, :] = 0.0
    for m in range(1, n + 1):
        # e_t(mu[:m]) = e_t(mu[:m-1]) + mu[m-1] e_{t-1}(mu[:m-1]), vectorised over t
        log_e[1:, m] = np.logaddexp(log_e[1:, m - 1], log_mu[m - 1] + log_e[:-1, m - 1])
    return log_e


def _select_eigvecs(log_mu: np.ndarray, log_e: np.ndarray, t: int, rng: np.random.Generator) -> np.ndarray:
    """K&T Alg. 8: choose ``t`` eigen-indices with probability ∝ the product of their eigenvalues."""
    chosen = []
    remaining = t
    for m in range(log_mu.shape[0], 0, -1):
        if remaining == 0:
            break
        if remaining == m:  # every remaining index must be taken
            chosen.extend(range(m - 1, -1, -1))
            break
        log_p = log_mu[m - 1] + log_e[remaining - 1, m - 1] - log_e[remaining, m]
        if np.isfinite(log_p) and rng.random() < np.exp(min(log_p, 0.0)):
            chosen.append(m - 1)
            remaining -= 1
    return np.array(sorted(chosen), dtype=np.int64)


def sample_projection_dpp(U: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sample the projection DPP with marginal kernel ``K = U Uᵀ``.

    Parameters
    ----------
    U : np.ndarray [shape=(N, t)]
        Orthonormal columns.
    rng : numpy Generator

    Returns
    -------
    S : np.ndarray [shape=(t,), dtype=int64]
        Distinct indices in selection order.

    Notes
    -----
    Chain rule: ``P(i | S) ∝ K_ii − K_iS K_SS⁻¹ K_Si``, kept up to date with a
    rank-one (Cholesky) update per step: ``O(N t)`` per item.
    """
    U = np.asarray(U, dtype=np.float64)
    n, t = U.shape
    d = np.einsum("ij,ij->i", U, U)
    cols = np.empty((n, t), dtype=np.float64)
    out = np.empty(t, dtype=np.int64)
    for s in range(t):
        p = np.clip(d, 0.0, None)
        total = p.sum()
        if total <= 0:
            # numerical exhaustion: should not happen for orthonormal U; fall back to any unused item
            unused = np.setdiff1d(np.arange(n), out[:s])
            i = int(rng.choice(unused))
        else:
            i = int(np.searchsorted(np.cumsum(p), rng.random() * total, side="right"))
            i = min(i, n - 1)
            while p[i] <= 0:  # guard against landing on a zero-mass item at a cumsum edge
                i -= 1
        out[s] = i
        c = U @ U[i] - cols[:, :s] @ cols[i, :s]
        c /= np.sqrt(max(d[i], 1e-300))
        cols[:, s] = c
        d -= c * c
        d[out[: s + 1]] = 0.0
    return out


def sample_kdpp(L: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Exact k-DPP sample for a dense PSD kernel ``L`` (K&T Alg. 1), O(N³).

    Parameters
    ----------
    L : np.ndarray [shape=(N, N)]
        Symmetric PSD kernel.
    k : int
    rng : numpy Generator

    Returns
    -------
    S : np.ndarray [shape=(k,), dtype=int64], sorted.
    """
    L = np.asarray(L, dtype=np.float64)
    if L.ndim != 2 or L.shape[0] != L.shape[1]:
        raise ParameterError(f"L must be a square matrix, got shape {L.shape}")
    n = L.shape[0]
    k = _check_k(k, n)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    lam, V = np.linalg.eigh((L + L.T) / 2)
    lam = np.clip(lam, 0.0, None)
    if np.count_nonzero(lam > _RANK_TOL * max(lam.max(), 1e-300)) < k:
        raise ParameterError(f"kernel rank is below k={k}; every subset of size k has probability 0")
    log_e = elementary_symmetric_log(lam, k)
    with np.errstate(divide="ignore"):
        log_mu = np.log(lam)
    J = _select_eigvecs(log_mu, log_e, k, rng)
    return np.sort(sample_projection_dpp(V[:, J], rng))


def sample_kdpp_lowrank(
    B: np.ndarray,
    k: int,
    *,
    sigma: float = 0.1,
    rng: np.random.Generator,
    gram: np.ndarray | None = None,
    info: dict | None = None,
) -> np.ndarray:
    """Exact k-DPP sample for ``L = B Bᵀ + σ I`` without forming ``L``.

    Parameters
    ----------
    B : np.ndarray [shape=(N, D)]
        Feature rows (e.g. L1-normalised embeddings, optionally scaled by quality).
    k : int
        Subset size, ``0 ≤ k ≤ N``.
    sigma : float
        The ridge ``σ > 0`` (the paper's 0.1).
    rng : numpy Generator
    gram : np.ndarray [shape=(D, D)] or None
        ``BᵀB`` if already computed (float64).
    info : dict or None
        Filled with ``t`` (items drawn from the diversity part ``B Bᵀ``; the
        other ``k − t`` are uniform) and ``t_expected`` (its mean). A small
        ``t_expected / k`` means the ridge dominates and the k-DPP is close to
        uniform sampling.

    Returns
    -------
    S : np.ndarray [shape=(k,), dtype=int64], sorted distinct indices.
    """
    B = np.asarray(B)
    if B.ndim != 2:
        raise ParameterError(f"B must have shape (N, D), got {B.shape}")
    if not sigma > 0:
        raise ParameterError(f"sigma={sigma!r} must be > 0 (the kernel's ridge, e.g. 0.1)")
    n = B.shape[0]
    k = _check_k(k, n)
    if k == 0:
        if info is not None:
            info.update(t=0, t_expected=0.0, rank=0)
        return np.zeros(0, dtype=np.int64)
    primal = gram is None and n < B.shape[1]
    if primal:  # fewer items than features: eigendecompose the N x N kernel B Bᵀ itself (same non-zero spectrum)
        Bf = np.asarray(B, dtype=np.float64)
        C = Bf @ Bf.T
    else:
        C = gram if gram is not None else _gram(B)
    lam, V = np.linalg.eigh((C + C.T) / 2)
    keep = lam > _RANK_TOL * max(float(lam.max()), 1e-300)
    lam, V = lam[keep], V[:, keep]
    r = lam.shape[0]
    t_max = min(k, r)
    log_mu = np.log(lam / sigma)
    log_e = elementary_symmetric_log(lam / sigma, t_max)
    ts = np.arange(t_max + 1)
    log_w = log_e[ts, r] + _log_comb(n - ts, k - ts)
    w = np.exp(log_w - log_w.max())
    t = int(rng.choice(t_max + 1, p=w / w.sum()))
    if info is not None:
        info.update(t=t, t_expected=float((ts * w).sum() / w.sum()), rank=int(r))
    T = np.zeros(0, dtype=np.int64)
    if t > 0:
        J = _select_eigvecs(log_mu, log_e, t, rng)
        # eigenvectors of B Bᵀ, orthonormal in R^N: directly, or from the dual ones as u_j = B v_j / sqrt(λ_j)
        U = V[:, J] if primal else _matmul_f64(B, V[:, J]) / np.sqrt(lam[J])
        T = sample_projection_dpp(U, rng)
    rest = np.setdiff1d(np.arange(n, dtype=np.int64), T, assume_unique=False)
    fill = rng.choice(rest, size=k - t, replace=False) if k > t else np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate([T, fill]).astype(np.int64))


def _log_comb(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    n = np.asarray(n, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def _gram(B: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """``BᵀB`` in float64, accumulated in row chunks to bound memory."""
    D = B.shape[1]
    C = np.zeros((D, D), dtype=np.float64)
    for i in range(0, B.shape[0], chunk):
        b = np.asarray(B[i : i + chunk], dtype=np.float64)
        C += b.T @ b
    return C


def _matmul_f64(B: np.ndarray, M: np.ndarray, chunk: int = 16384) -> np.ndarray:
    out = np.empty((B.shape[0], M.shape[1]), dtype=np.float64)
    for i in range(0, B.shape[0], chunk):
        out[i : i + chunk] = np.asarray(B[i : i + chunk], dtype=np.float64) @ M
    return out


def log_det_subset(B: np.ndarray, S: np.ndarray, *, sigma: float = 0.1) -> float:
    """Return ``log det(L_S)`` for ``L = B Bᵀ + σ I``: the k-DPP's (unnormalised) log-probability of ``S``.

    Parameters
    ----------
    B : np.ndarray [shape=(N, D)]
        The kernel's factor.
    S : array-like of int [shape=(k,)]
        The subset.
    sigma : float
        The kernel's ridge.

    Returns
    -------
    logdet : float
        ``-inf`` when ``L_S`` is singular.
    """
    b = np.asarray(B[np.asarray(S)], dtype=np.float64)
    sign, logdet = np.linalg.slogdet(b @ b.T + sigma * np.eye(b.shape[0]))
    return float(logdet) if sign > 0 else float("-inf")


def kdpp_probabilities(L: np.ndarray, k: int) -> dict[tuple[int, ...], float]:
    """Enumerate the exact k-DPP probabilities of every subset (for tests, N ≤ ~12).

    Parameters
    ----------
    L : np.ndarray [shape=(N, N)]
        A PSD kernel.
    k : int
        Subset size.

    Returns
    -------
    probabilities : dict of tuple -> float
        ``P(S)`` for each sorted subset ``S`` of size ``k``.
    """
    L = np.asarray(L, dtype=np.float64)
    n = L.shape[0]
    k = _check_k(k, n)
    dets = {S: float(np.linalg.det(L[np.ix_(S, S)])) if S else 1.0 for S in itertools.combinations(range(n), k)}
    z = sum(dets.values())
    return {S: v / z for S, v in dets.items()}
