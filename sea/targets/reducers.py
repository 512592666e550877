"""Reductions φ: R^n → R^d of teacher embeddings (SEA Eq. 1).

Estimators follow the scikit-learn conventions: ``fit(X)`` returns ``self``,
learned attributes end with ``_``, ``transform`` / ``inverse_transform`` map
``[N, n] ↔ [N, d]`` float32 arrays. They are saved as ``.npz`` (arrays plus a
``kind`` field) with a ``.json`` sidecar, and loaded with
``np.load(allow_pickle=False)``: never pickled.

* :class:`PCAReducer` — PCA. ``method="streaming"`` accumulates float64
  ``Σx`` and ``Σ(x−s)(x−s)ᵀ`` (``s`` = a shift taken from the first batch, to
  avoid catastrophic cancellation) over batches, then ``eigh`` of the
  ``n × n`` covariance: exact PCA in O(n²) memory whatever the number of rows.
  ``"exact"`` is an in-memory SVD, ``"randomized"`` sklearn's randomized SVD.
* :class:`IdentityReducer` — φ = identity (Student 0).
* :class:`DimSampleReducer` — keep a random or the highest-variance subset of
  the teacher's dimensions (a cheap reduction; the dropped dimensions are
  reconstructed as their mean).

Examples
--------
>>> pca = PCAReducer(64).fit(X)          # X: [N, 512]
>>> Z = pca.transform(X)                 # [N, 64]
>>> save_reducer(pca, "reducer.npz"); load_reducer("reducer.npz").spec()["kind"]
'pca'
"""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .. import integrity
from ..errors import ManifestError, ParameterError
from ..runs import read_stage
from ..utils import atomic_path, sha256_file, write_json

__all__ = [
    "DimSampleReducer",
    "IdentityReducer",
    "PCAReducer",
    "REDUCER_KINDS",
    "load_reducer",
    "reconstruction_report",
    "save_reducer",
]

PCA_METHODS = ("auto", "exact", "randomized", "streaming")
# Above this many values, "auto" streams instead of holding X in float64.
_AUTO_EXACT_MAX = 20_000_000


def _as_2d(X: np.ndarray, n: int | None, what: str) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ParameterError(f"{what} expects a 2-D array [n_samples, n_features], got shape {X.shape}")
    if n is not None and X.shape[1] != n:
        raise ParameterError(f"{what}: X has {X.shape[1]} features but the reducer was fitted on {n}")
    return X


def _batches(X: np.ndarray, batch_size: int) -> Iterable[np.ndarray]:
    for i in range(0, X.shape[0], batch_size):
        yield X[i : i + batch_size]


class _Reducer:
    """Shared save/spec plumbing. Subclasses define ``kind``, ``_params``, ``_arrays``."""

    kind = "base"

    def __init__(self) -> None:
        self.path_: str | None = None
        self.sha256_: str | None = None

    # -- helpers ---------------------------------------------------------
    def _check_fitted(self) -> None:
        if getattr(self, "n_features_in_", None) is None:
            raise ParameterError(f"{type(self).__name__} is not fitted; call fit(X) first")

    @property
    def out_dim(self) -> int:
        """The output dimension ``d``."""
        raise NotImplementedError

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        """Fit on ``X``, then project it.

        Parameters
        ----------
        X : np.ndarray [shape=(N, n)]
            Rows to fit on and then project.

        Returns
        -------
        Z : np.ndarray [shape=(N, d), dtype=float32]
            ``φ(X)``.
        """
        return self.fit(X).transform(X)

    def spec(self) -> dict[str, Any]:
        """Describe the fitted reducer for student checkpoints (their ``target_spec``).

        Returns
        -------
        spec : dict
            JSON-able: ``kind``, ``dim``, ``in_dim``, ``path`` and ``sha256`` of
            the saved file (None before saving) and the kind's parameters.
        """
        self._check_fitted()
        return {
            "kind": self.kind,
            "dim": int(self.out_dim),
            "in_dim": int(self.n_features_in_),
            "path": self.path_,
            "sha256": self.sha256_,
            **self._params(),
        }

    def _params(self) -> dict[str, Any]:
        return {}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({params})"


class _StatsReducer(_Reducer):
    """A reducer learned from data: its arrays listed in ``_SAVED`` and ``n_samples_seen_`` go into the npz."""

    #: (attribute, dtype it is loaded as), in npz order; ``n_samples_seen_`` follows them
    _SAVED: tuple[tuple[str, type], ...] = ()

    def _arrays(self) -> dict[str, np.ndarray]:
        return {**{k: getattr(self, k) for k, _ in self._SAVED}, "n_samples_seen_": np.int64(self.n_samples_seen_)}

    @classmethod
    def _from_meta(cls, meta: dict[str, Any]) -> _StatsReducer:
        raise NotImplementedError

    @classmethod
    def _from_arrays(cls, meta: dict[str, Any], z) -> _StatsReducer:
        r = cls._from_meta(meta)
        for k, dtype in cls._SAVED:
            setattr(r, k, z[k].astype(dtype))
        r.n_samples_seen_ = int(z["n_samples_seen_"])
        r.n_features_in_ = int(r.mean_.shape[0])
        return r


class PCAReducer(_StatsReducer):
    """PCA onto ``dim`` components.

    Parameters
    ----------
    dim : int
        Number of components ``d``.
    whiten : bool
        Divide each component by ``sqrt(explained_variance_)``.
    method : {"auto", "exact", "randomized", "streaming"}
        ``auto``: exact SVD when ``X`` is small, else streaming covariance.
    batch_size : int
        Rows per batch for the streaming passes.
    seed : int
        Seed of the randomized SVD.

    Attributes
    ----------
    components_ : np.ndarray [shape=(d, n), float32]
        Principal axes, rows orthonormal, sign fixed so that the largest
        absolute entry of each row is positive (deterministic output).
    mean_ : np.ndarray [shape=(n,), float32]
    explained_variance_ : np.ndarray [shape=(d,), float64]
        Eigenvalues of the (n−1)-normalised covariance.
    explained_variance_ratio_ : np.ndarray [shape=(d,), float64]
    n_samples_seen_ : int
    n_features_in_ : int
    """

    kind = "pca"
    _SAVED = (
        ("components_", np.float32),
        ("mean_", np.float32),
        ("explained_variance_", np.float64),
        ("explained_variance_ratio_", np.float64),
    )

    def __init__(self, dim: int, *, whiten: bool = False, method: str = "auto", batch_size: int = 8192, seed: int = 0):
        super().__init__()
        if not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ParameterError(f"PCA dim={dim!r} must be a positive integer, e.g. 64, 128 or 256")
        if method not in PCA_METHODS:
            raise ParameterError(f"PCA method={method!r} is not one of {PCA_METHODS}")
        self.dim = int(dim)
        self.whiten = bool(whiten)
        self.method = method
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.n_features_in_: int | None = None
        self._reset_stats()

    @property
    def out_dim(self) -> int:
        """The number of components ``d``."""
        return self.dim

    def _params(self) -> dict[str, Any]:
        return {"whiten": self.whiten, "method": self.method}

    def _reset_stats(self) -> None:
        self._n = 0
        self._shift: np.ndarray | None = None
        self._sum: np.ndarray | None = None
        self._sq: np.ndarray | None = None

    # -- fitting ---------------------------------------------------------
    def fit(self, X: np.ndarray) -> PCAReducer:
        """Fit the principal axes of ``X``.

        Parameters
        ----------
        X : np.ndarray [shape=(N, n)]
            Teacher embeddings, in memory or memory-mapped; ``N >= 2``, ``n >= dim``.

        Returns
        -------
        self : PCAReducer
            Fitted.
        """
        X = _as_2d(X, None, "PCAReducer.fit")
        method = self.method
        if method == "auto":
            method = "exact" if X.shape[0] * X.shape[1] <= _AUTO_EXACT_MAX else "streaming"
        self._check_dim(X.shape[1], X.shape[0])
        if method == "streaming":
            return self.fit_batches(_batches(X, self.batch_size))
        Xf = np.asarray(X, dtype=np.float64)
        mean = Xf.mean(axis=0)
        Xc = Xf - mean
        n = Xf.shape[0]
        if method == "exact":
            _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
        else:
            from sklearn.utils.extmath import randomized_svd

            _, s, Vt = randomized_svd(Xc, self.dim, n_oversamples=20, n_iter=7, random_state=self.seed)
        total_var = float((Xc**2).sum() / max(n - 1, 1))
        self._set(mean, s[: self.dim] ** 2 / max(n - 1, 1), Vt[: self.dim], total_var, n, X.shape[1])
        return self

    def fit_batches(self, batches: Iterable[np.ndarray]) -> PCAReducer:
        """Fit exact PCA in one pass over batches, in O(n²) memory.

        Parameters
        ----------
        batches : iterable of np.ndarray [shape=(b, n)]
            The fitting rows, batch by batch.

        Returns
        -------
        self : PCAReducer
            Fitted on all rows of all batches.
        """
        self._reset_stats()
        for b in batches:
            self._accumulate(b)
        return self._finalize()

    def partial_fit(self, X: np.ndarray) -> PCAReducer:
        """Add a batch to the running statistics and refresh the fitted attributes.

        Parameters
        ----------
        X : np.ndarray [shape=(b, n)]
            More fitting rows.

        Returns
        -------
        self : PCAReducer
            Fitted on every row seen so far.
        """
        self._accumulate(X)
        return self._finalize()

    def _check_dim(self, n_features: int, n_samples: int | None) -> None:
        if self.dim > n_features:
            raise ParameterError(
                f"PCA dim={self.dim} exceeds the input dimension {n_features}; choose dim <= {n_features} "
                "(or the identity reducer for d = n)"
            )
        if n_samples is not None and n_samples < 2:
            raise ParameterError(f"PCA needs at least 2 samples, got {n_samples}")

    def _accumulate(self, X: np.ndarray) -> None:
        X = _as_2d(X, self._shift.shape[0] if self._shift is not None else None, "PCAReducer.partial_fit")
        if X.shape[0] == 0:
            return
        Xf = np.asarray(X, dtype=np.float64)
        if self._shift is None:
            self._shift = Xf.mean(axis=0)
            D = Xf.shape[1]
            self._sum = np.zeros(D)
            self._sq = np.zeros((D, D))
        Xc = Xf - self._shift
        self._sum += Xc.sum(axis=0)
        self._sq += Xc.T @ Xc
        self._n += Xf.shape[0]

    def _finalize(self) -> PCAReducer:
        if self._n == 0 or self._shift is None:
            raise ParameterError("PCAReducer got no samples to fit")
        n = self._n
        self._check_dim(self._shift.shape[0], n)
        mu_c = self._sum / n
        cov = (self._sq - n * np.outer(mu_c, mu_c)) / max(n - 1, 1)
        cov = (cov + cov.T) / 2
        lam, V = np.linalg.eigh(cov)
        order = np.argsort(lam)[::-1]
        lam, V = np.clip(lam[order], 0.0, None), V[:, order]
        self._set(self._shift + mu_c, lam[: self.dim], V[:, : self.dim].T, float(np.trace(cov)), n, cov.shape[0])
        return self

    def _set(self, mean, var, comps, total_var, n, n_features) -> None:
        comps = np.asarray(comps, dtype=np.float64)
        # deterministic signs: largest |entry| of each axis is positive
        signs = np.sign(comps[np.arange(comps.shape[0]), np.argmax(np.abs(comps), axis=1)])
        signs[signs == 0] = 1
        self.components_ = (comps * signs[:, None]).astype(np.float32)
        self.mean_ = np.asarray(mean, dtype=np.float32)
        self.explained_variance_ = np.asarray(var, dtype=np.float64)
        self.explained_variance_ratio_ = self.explained_variance_ / total_var if total_var > 0 else np.zeros_like(var)
        self.n_samples_seen_ = int(n)
        self.n_features_in_ = int(n_features)

    # -- mapping ---------------------------------------------------------
    def _scale(self) -> np.ndarray:
        return np.sqrt(np.maximum(self.explained_variance_, 1e-12)).astype(np.float32)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Project onto the principal axes (divided by their scale when whitening).

        Parameters
        ----------
        X : np.ndarray [shape=(N, n)]
            Rows to project.

        Returns
        -------
        Z : np.ndarray [shape=(N, d), dtype=float32]
            Component scores.
        """
        self._check_fitted()
        X = _as_2d(X, self.n_features_in_, "PCAReducer.transform")
        Z = (np.asarray(X, dtype=np.float32) - self.mean_) @ self.components_.T
        if self.whiten:
            Z /= self._scale()
        return Z.astype(np.float32, copy=False)

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        """Reconstruct embeddings from component scores.

        Parameters
        ----------
        Z : np.ndarray [shape=(N, d)]
            Component scores, as :meth:`transform` returns them.

        Returns
        -------
        X_hat : np.ndarray [shape=(N, n), dtype=float32]
            ``mean_ + Z @ components_`` (rescaled first when whitening).
        """
        self._check_fitted()
        Z = _as_2d(Z, self.dim, "PCAReducer.inverse_transform")
        Z = np.asarray(Z, dtype=np.float32)
        if self.whiten:
            Z = Z * self._scale()
        return Z @ self.components_ + self.mean_

    @classmethod
    def _from_meta(cls, meta: dict[str, Any]) -> PCAReducer:
        return cls(int(meta["dim"]), whiten=bool(meta["whiten"]), method=str(meta["method"]))


class IdentityReducer(_Reducer):
    """φ = identity on ``n`` dimensions (Student 0, d = n).

    Parameters
    ----------
    n : int, optional
        The teacher's dimension; None takes it from :meth:`fit`.
    """

    kind = "identity"

    def __init__(self, n: int | None = None):
        super().__init__()
        self.n = None if n is None else int(n)
        self.n_features_in_: int | None = self.n

    @property
    def out_dim(self) -> int:
        """``n``: the identity keeps every dimension."""
        return int(self.n_features_in_)

    def fit(self, X: np.ndarray | None = None) -> IdentityReducer:
        """Take the dimension from ``X`` (or from ``n``); nothing is learned.

        Parameters
        ----------
        X : np.ndarray [shape=(N, n)], optional
            Data of the dimension to keep; None when ``n`` was given.

        Returns
        -------
        self : IdentityReducer
            Fitted.
        """
        if X is not None:
            X = _as_2d(X, self.n, "IdentityReducer.fit")
            self.n_features_in_ = int(X.shape[1])
        if self.n_features_in_ is None:
            raise ParameterError("IdentityReducer needs n or data to fit")
        self.n = self.n_features_in_
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Return ``X`` as float32 (also :meth:`inverse_transform`).

        Parameters
        ----------
        X : np.ndarray [shape=(N, n)]
            Embeddings of the fitted dimension.

        Returns
        -------
        X : np.ndarray [shape=(N, n), dtype=float32]
            The same values.
        """
        self._check_fitted()
        return np.asarray(_as_2d(X, self.n_features_in_, "IdentityReducer.transform"), dtype=np.float32)

    inverse_transform = transform

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"n_features_in_": np.int64(self.n_features_in_)}

    @classmethod
    def _from_arrays(cls, meta: dict[str, Any], z) -> IdentityReducer:
        return cls(int(z["n_features_in_"]))


class DimSampleReducer(_StatsReducer):
    """Keep ``dim`` of the teacher's dimensions.

    Parameters
    ----------
    dim : int > 0
        Dimensions to keep (``d``).
    mode : {"random", "variance"}
        ``random``: a seeded uniform subset; ``variance``: the ``dim``
        highest-variance dimensions of the fitting data.
    seed : int
        Seed of the ``random`` subset.
    batch_size : int > 0
        Rows per batch when :meth:`fit` streams an array.

    Attributes
    ----------
    kept_dims_ : np.ndarray [shape=(d,), int64], sorted ascending.
    mean_ : np.ndarray [shape=(n,), float32]
        Used by :meth:`inverse_transform` to fill the dropped dimensions.
    var_ : np.ndarray [shape=(n,), float64]
        Per-dimension variance of the fitting data.
    explained_variance_ratio_ : np.ndarray [shape=(d,), float64]
        ``var_[kept_dims_] / var_.sum()``.
    """

    kind = "dims"
    _SAVED = (
        ("kept_dims_", np.int64),
        ("mean_", np.float32),
        ("var_", np.float64),
        ("explained_variance_ratio_", np.float64),
    )

    def __init__(self, dim: int, mode: str = "random", seed: int = 0, *, batch_size: int = 8192):
        super().__init__()
        if not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ParameterError(f"dimension-sampling dim={dim!r} must be a positive integer")
        if mode not in ("random", "variance"):
            raise ParameterError(f"dimension-sampling mode={mode!r} must be 'random' or 'variance'")
        self.dim, self.mode, self.seed, self.batch_size = int(dim), mode, int(seed), int(batch_size)
        self.n_features_in_: int | None = None

    @property
    def out_dim(self) -> int:
        """The number of kept dimensions ``d``."""
        return self.dim

    def _params(self) -> dict[str, Any]:
        return {"mode": self.mode, "seed": self.seed}

    def fit(self, X: np.ndarray) -> DimSampleReducer:
        """Choose the kept dimensions and learn the per-dimension mean and variance of ``X``.

        Parameters
        ----------
        X : np.ndarray [shape=(N, n)]
            Fitting rows, ``N >= 2``, ``n >= dim``.

        Returns
        -------
        self : DimSampleReducer
            Fitted.
        """
        X = _as_2d(X, None, "DimSampleReducer.fit")
        return self.fit_batches(_batches(X, self.batch_size))

    def fit_batches(self, batches: Iterable[np.ndarray]) -> DimSampleReducer:
        """Fit from batches: per-dimension mean and variance in one streaming pass (shifted sums, float64).

        Parameters
        ----------
        batches : iterable of np.ndarray [shape=(b, n)]
            Fitting rows in any number of batches.

        Returns
        -------
        self : DimSampleReducer
            With ``kept_dims_``, ``mean_`` and ``var_`` set.
        """
        n, shift, s1, s2 = 0, None, None, None
        for b in batches:
            b = np.asarray(b, dtype=np.float64)
            if b.shape[0] == 0:
                continue
            if shift is None:
                shift = b.mean(axis=0)
                s1, s2 = np.zeros_like(shift), np.zeros_like(shift)
            c = b - shift
            s1 += c.sum(0)
            s2 += (c * c).sum(0)
            n += b.shape[0]
        if n < 2:
            raise ParameterError(f"dimension sampling needs at least 2 samples, got {n}")
        D = shift.shape[0]
        if self.dim > D:
            raise ParameterError(f"dimension-sampling dim={self.dim} exceeds the input dimension {D}")
        mu_c = s1 / n
        var = np.clip((s2 - n * mu_c**2) / (n - 1), 0.0, None)
        if self.mode == "random":
            kept = np.random.default_rng(self.seed).choice(D, size=self.dim, replace=False)
        else:
            kept = np.argsort(-var, kind="stable")[: self.dim]
        self.kept_dims_ = np.sort(kept).astype(np.int64)
        self.mean_ = (shift + mu_c).astype(np.float32)
        self.var_ = var
        total = var.sum()
        self.explained_variance_ratio_ = var[self.kept_dims_] / total if total > 0 else np.zeros(self.dim)
        self.n_samples_seen_ = int(n)
        self.n_features_in_ = int(D)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Keep the chosen dimensions.

        Parameters
        ----------
        X : np.ndarray [shape=(N, n)]
            Rows to subset.

        Returns
        -------
        Z : np.ndarray [shape=(N, d), dtype=float32]
            ``X[:, kept_dims_]``.
        """
        self._check_fitted()
        X = _as_2d(X, self.n_features_in_, "DimSampleReducer.transform")
        return np.asarray(X[:, self.kept_dims_], dtype=np.float32)

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        """Put the kept dimensions back in place; the dropped ones get their mean.

        Parameters
        ----------
        Z : np.ndarray [shape=(N, d)]
            Kept dimensions, as :meth:`transform` returns them.

        Returns
        -------
        X_hat : np.ndarray [shape=(N, n), dtype=float32]
            The reconstruction.
        """
        self._check_fitted()
        Z = _as_2d(Z, self.dim, "DimSampleReducer.inverse_transform")
        out = np.broadcast_to(self.mean_, (Z.shape[0], self.n_features_in_)).copy()
        out[:, self.kept_dims_] = Z
        return out

    @classmethod
    def _from_meta(cls, meta: dict[str, Any]) -> DimSampleReducer:
        return cls(int(meta["dim"]), mode=str(meta["mode"]), seed=int(meta["seed"]))


REDUCER_KINDS: dict[str, type[_Reducer]] = {
    "pca": PCAReducer,
    "identity": IdentityReducer,
    "dims": DimSampleReducer,
}


def _meta_of(reducer: _Reducer) -> dict[str, Any]:
    return {
        "kind": reducer.kind,
        "dim": int(reducer.out_dim),
        "in_dim": int(reducer.n_features_in_),
        **reducer._params(),
    }


def save_reducer(reducer: _Reducer, path: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Save a fitted reducer to ``path`` (.npz) plus a ``.json`` sidecar; never pickled.

    The npz holds ``kind`` and ``meta_json`` (string scalars) and the learned
    arrays; the sidecar repeats the metadata with the npz's sha256 for humans
    and checkpoints. Sets ``reducer.path_`` and ``reducer.sha256_``.

    Parameters
    ----------
    reducer : PCAReducer, IdentityReducer or DimSampleReducer
        A fitted reducer.
    path : path
        Where to write; the suffix becomes ``.npz``.
    extra : dict, optional
        More keys for the sidecar (the stage adds the target set's name, teacher and sampler).

    Returns
    -------
    path : Path
        The ``.npz`` written.
    """
    reducer._check_fitted()
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(".npz")
    meta = _meta_of(reducer)
    with atomic_path(path, suffix=".npz") as tmp:
        _write_npz(tmp, {"kind": np.str_(reducer.kind), "meta_json": np.str_(json.dumps(meta)), **reducer._arrays()})
    reducer.path_ = str(path)
    reducer.sha256_ = sha256_file(path)
    write_json(path.with_suffix(".json"), {**meta, "sha256": reducer.sha256_, "file": path.name, **(extra or {})})
    return path


def load_reducer(path: str | Path) -> _Reducer:
    """Load a reducer saved by :func:`save_reducer` (``allow_pickle=False``).

    Parameters
    ----------
    path : path
        The ``.npz``, or a target set's directory holding ``reducer.npz``.

    Returns
    -------
    reducer : PCAReducer, IdentityReducer or DimSampleReducer
        Fitted, with ``path_`` and ``sha256_`` set.

    Raises
    ------
    ManifestError
        When the file is missing, malformed or of an unknown kind.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "reducer.npz"
    fix = f"refit it: 'sea targets fit RUN_DIR --overwrite' with the options that made {path.parent.name!r}"
    if not path.is_file():
        raise ManifestError(f"reducer file {str(path)!r} does not exist; run 'sea targets fit' first")
    rec = ((read_stage(path.parent) or {}).get("files") or {}).get(path.name)
    if rec:
        integrity.check(path, rec, fix=fix, what="reducer file")
    try:
        with np.load(path, allow_pickle=False) as z:
            kind = str(z["kind"])
            meta = json.loads(str(z["meta_json"]))
            if kind not in REDUCER_KINDS:
                raise ManifestError(f"reducer {str(path)!r} has unknown kind {kind!r}; known: {sorted(REDUCER_KINDS)}")
            r = REDUCER_KINDS[kind]._from_arrays(meta, z)
    except (KeyError, ValueError, TypeError, AttributeError, OSError, EOFError, zipfile.BadZipFile, zlib.error,
            struct.error) as exc:  # fmt: skip
        raise ManifestError(
            f"reducer file {str(path)!r} is damaged or not a sea reducer ({type(exc).__name__}: {str(exc)[:80]}); {fix}"
        ) from None
    bad = [
        k
        for k, v in r._arrays().items()
        if np.issubdtype(np.asarray(v).dtype, np.floating) and not np.isfinite(v).all()
    ]
    if bad:
        raise ManifestError(f"reducer file {str(path)!r} holds NaN/Inf values in {', '.join(bad)}; {fix}")
    r.path_ = str(path)
    r.sha256_ = sha256_file(path)
    return r


def _write_npz(path: Path, arrays: dict[str, Any]) -> None:
    """``np.savez`` with fixed zip timestamps: the same reducer gives the same bytes (and sha256)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)


def reconstruction_report(
    reducer: _Reducer, X: np.ndarray | Iterable[np.ndarray], *, batch_size: int = 8192
) -> dict[str, Any]:
    """Held-out fidelity of a fitted reducer.

    Parameters
    ----------
    reducer : fitted reducer
    X : np.ndarray [N, n] or iterable of [b, n] batches
        Frames NOT used for fitting.

    Returns
    -------
    report : dict
        ``relative_mse = Σ‖x − φ⁻¹(φ(x))‖² / Σ‖x − μ‖²`` (μ = the reducer's
        fit mean; the held-out mean for identity), ``explained_variance`` =
        1 − relative_mse (share of held-out energy about μ kept, in [0, 1]),
        ``r2_vs_heldout_mean`` = 1 − error / Σ‖x − x̄_heldout‖² (can be < 0
        when the held-out clips sit away from the fit mean), ``mse`` (per
        element), ``cumulative_explained_variance``
        [d] (held-out explained variance when only the first j outputs are
        kept; its last value equals ``explained_variance``), ``n_frames``.
    """
    batches = _batches(np.asarray(X), batch_size) if isinstance(X, np.ndarray) else X
    n, err, e_ref, shift, s1, sq, per_out = 0, 0.0, 0.0, None, None, None, None
    for b in batches:
        b = np.asarray(b, dtype=np.float32)
        if b.shape[0] == 0:
            continue
        if shift is None:
            shift = b.mean(0).astype(np.float64)
            s1, sq = np.zeros(b.shape[1]), np.zeros(b.shape[1])
            per_out = np.zeros(reducer.out_dim)
        b64 = b.astype(np.float64)
        R = reducer.inverse_transform(reducer.transform(b))
        err += float(((b64 - R) ** 2).sum())
        c = b64 - shift
        s1 += c.sum(0)
        sq += (c * c).sum(0)
        ref = _reference_mean(reducer, shift)
        e_ref += float(((b64 - ref) ** 2).sum())
        per_out += _output_energy(reducer, b64, ref)
        n += b.shape[0]
    if n == 0:
        raise ParameterError("reconstruction_report got no held-out frames")
    # Normalise by the held-out energy about the reducer's own mean (the fit mean): the
    # reconstruction is mean + projection, so relative_mse lies in [0, 1] for PCA and dims,
    # and a held-out set whose mean drifts from the fit mean is not scored as < 0.
    total = e_ref
    rel = err / total if total > 0 else 0.0
    cum = np.cumsum(per_out) / total if total > 0 else np.ones_like(per_out)
    heldout_var = float((sq - s1**2 / n).sum())
    return {
        "n_frames": int(n),
        "mse": err / (n * s1.shape[0]),
        "relative_mse": rel,
        "explained_variance": 1.0 - rel,
        "cumulative_explained_variance": cum.tolist(),
        "r2_vs_heldout_mean": 1.0 - err / heldout_var if heldout_var > 0 else float("nan"),
    }


def _reference_mean(reducer: _Reducer, shift: np.ndarray) -> np.ndarray:
    mean = getattr(reducer, "mean_", None)
    return shift if mean is None else mean.astype(np.float64)


def _output_energy(reducer: _Reducer, b: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Energy about ``ref`` that each output keeps, summed over rows, shape (d,).

    For orthonormal PCA axes and for kept dimensions the reconstruction error
    with the first j outputs is ``Σ‖x − ref‖² − Σ_{i≤j} energy_i``, so the
    cumulative curve ends at the held-out ``explained_variance``.
    """
    if isinstance(reducer, PCAReducer):
        Z = (b - ref) @ reducer.components_.T.astype(np.float64)
        return (Z**2).sum(0)
    c = b - ref
    if isinstance(reducer, DimSampleReducer):
        c = c[:, reducer.kept_dims_]
    return (c * c).sum(0)
