"""Downstream datasets and their evaluation protocols (which clips train, validate and test).

Protocols
---------
``us8k`` / ``esc50`` / ``folds``
    Cross-validation on the manifest's predefined ``fold`` column, never reshuffled: every fold is the
    test fold once; the validation fold is the *previous* fold (``fold k-1``, wrapping around: the
    test fold 1 validates on the last fold), as in SEA/EdgeL3; the others train. ``us8k`` checks that
    there are 10 folds and ``esc50`` 5.
``sonyc`` / ``split``
    One run on the official ``split`` column: train / validate / test. Without a ``validate`` split a
    stratified share of the training clips validates (seeded).
``kfold``
    No fold or split column: stratified k-fold by clip (seeded), then as ``folds``. Clips are sorted
    by ``clip_id`` before assignment so the folds do not depend on the manifest's line order.
``auto``
    ``data_report.json``'s dataset name (urbansound8k -> us8k, esc50 -> esc50, sonyc_ust -> sonyc),
    else ``folds`` when every clip has a fold, ``split`` when every clip has a split, else ``kfold``.

Splits index clips by their position in :attr:`Dataset.clip_ids`; the assignment depends only on the
``fold``/``split`` values of each clip, never on row order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DatasetError
from ..layout import RunLayout
from ..manifest import read_manifest
from ..utils import read_json

__all__ = ["PROTOCOLS", "Dataset", "Split", "load_dataset", "make_splits", "resolve_protocol"]

PROTOCOLS = ("auto", "us8k", "esc50", "sonyc", "folds", "split", "kfold")
_BY_NAME = {
    "urbansound8k": "us8k",
    "us8k": "us8k",
    "esc50": "esc50",
    "esc-50": "esc50",
    "sonyc_ust": "sonyc",
    "sonyc": "sonyc",
}
_EXPECTED_FOLDS = {"us8k": 10, "esc50": 5}


@dataclass
class Dataset:
    """A prepared downstream dataset's labels.

    Attributes
    ----------
    run_dir : Path
        The prepared directory.
    name : str
        The dataset's name (``RUN/eval/<name>``).
    clip_ids : list of str
        Labelled clips in manifest order.
    multilabel : bool
        Whether a clip may carry several labels.
    y : np.ndarray [shape=(n_clips,), dtype=int64] or [shape=(n_clips, n_classes), dtype=int8]
        Class ids (single-label) or multi-hot labels (multi-label).
    class_names : list of str
        Name of each class id.
    folds : np.ndarray [shape=(n_clips,), dtype=object]
        Fold per clip (int or None).
    splits : np.ndarray [shape=(n_clips,), dtype=object]
        Split per clip (str or None).
    dataset_kind : str or None
        ``data_report.json``'s dataset name.
    """

    run_dir: Path
    name: str
    clip_ids: list
    multilabel: bool
    y: np.ndarray
    class_names: list
    folds: np.ndarray
    splits: np.ndarray
    dataset_kind: str | None = None

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def __len__(self) -> int:
        """Return the number of labelled clips."""
        return len(self.clip_ids)


@dataclass
class Split:
    """One train / validate / test assignment.

    Attributes
    ----------
    name : str
        ``fold<k>`` or ``test``.
    test_fold : int or str
        The fold (or split) tested.
    train, val, test : np.ndarray of int
        Clip positions in :attr:`Dataset.clip_ids` (``val`` may be empty).
    """

    name: str
    test_fold: int | str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def _dataset_kind(layout: RunLayout) -> str | None:
    """``data_report.json``'s dataset name, if any."""
    if not layout.data_report.is_file():
        return None
    try:
        return read_json(layout.data_report).get("dataset")
    except Exception:  # a malformed report only loses the auto-detection
        return None


def _fine_labels(records: list, run_dir: Path) -> tuple[np.ndarray, list[str]]:
    """Multi-hot ``meta["fine_labels"]`` of multi-label clips, classes sorted by name."""
    names = sorted({f for r in records for f in (r.meta.get("fine_labels") or [])})
    if not names:
        raise DatasetError(f"label_level='fine' but no clip of {str(run_dir)!r} has meta.fine_labels; use 'coarse'")
    pos = {n: i for i, n in enumerate(names)}
    y = np.zeros((len(records), len(names)), np.int8)
    for i, r in enumerate(records):
        for f in r.meta.get("fine_labels") or []:
            y[i, pos[f]] = 1
    return y, names


def _as_list(v) -> list:
    return v if isinstance(v, list) else [v]


def _coarse_labels(records: list, kind: str | None, multilabel: bool) -> tuple[np.ndarray, list[str]]:
    """Class ids from ``label_id`` (or the sorted label names when there are no ids), and class names."""
    names_by_id: dict[int, str] = {}
    for r in records:
        labs = _as_list(r.label)
        ids = _as_list(r.label_id) if r.label_id is not None else [None] * len(labs)
        for lab, lid in zip(labs, ids):
            if lid is not None:
                names_by_id.setdefault(int(lid), str(lab))
    if not names_by_id:  # labels without ids: number the names in sorted order
        names_by_id = dict(enumerate(sorted({str(x) for r in records for x in _as_list(r.label)})))
    name_to_id = {v: k for k, v in names_by_id.items()}
    n_classes = max(names_by_id) + 1
    if kind == "sonyc_ust" and multilabel:
        n_classes = max(n_classes, 8)
    class_names = [names_by_id.get(i, f"class{i}") for i in range(n_classes)]

    def ids_of(r):
        if r.label_id is not None:
            return _as_list(r.label_id)
        return [name_to_id[str(x)] for x in _as_list(r.label)]

    if not multilabel:
        return np.asarray([ids_of(r)[0] for r in records], dtype=np.int64), class_names
    y = np.zeros((len(records), n_classes), np.int8)
    for i, r in enumerate(records):
        y[i, ids_of(r)] = 1
    return y, class_names


def load_dataset(run_dir: str | Path, *, label_level: str = "coarse", name: str | None = None) -> Dataset:
    """Read a prepared dataset's labels, folds and splits from its ``clips.jsonl``.

    Parameters
    ----------
    run_dir : path
        A prepared run (``sea data prepare``); clips without a label are left out.
    label_level : {"coarse", "fine"}
        Multi-label sets only: ``coarse`` uses ``label``/``label_id``; ``fine`` uses
        ``meta["fine_labels"]`` (SONYC-UST).
    name : str, optional
        The dataset's name; default: the directory's name.

    Returns
    -------
    dataset : Dataset

    Raises
    ------
    DatasetError
        No labelled clip, or ``fine`` labels asked for and none present.
    """
    layout = RunLayout(run_dir)
    run_dir = layout.root
    records = [r for r in read_manifest(run_dir) if r.label is not None]
    if not records:
        raise DatasetError(f"dataset {str(run_dir)!r} has no labelled clips; evaluation needs labels")
    kind = _dataset_kind(layout)
    multilabel = any(isinstance(r.label, list) for r in records)
    if multilabel and label_level == "fine":
        y, class_names = _fine_labels(records, run_dir)
    else:
        if label_level not in ("coarse", "fine"):
            raise ConfigError(f"label_level={label_level!r} must be 'coarse' or 'fine'")
        y, class_names = _coarse_labels(records, kind, multilabel)
    return Dataset(
        run_dir=run_dir,
        name=name or run_dir.resolve().name,
        clip_ids=[r.clip_id for r in records],
        multilabel=multilabel,
        y=y,
        class_names=class_names,
        folds=np.asarray([r.fold for r in records], dtype=object),
        splits=np.asarray([r.split for r in records], dtype=object),
        dataset_kind=kind,
    )


def resolve_protocol(ds: Dataset, protocol: str = "auto") -> str:
    """Resolve ``auto`` to the concrete protocol of ``ds`` (see the module docstring).

    Parameters
    ----------
    ds : Dataset
        The dataset.
    protocol : str
        One of :data:`PROTOCOLS`.

    Returns
    -------
    protocol : str
        ``protocol`` itself unless it is ``auto``.

    Raises
    ------
    ConfigError
        An unknown protocol.
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol={protocol!r} is not known; choose one of {', '.join(PROTOCOLS)}")
    if protocol != "auto":
        return protocol
    if ds.dataset_kind and ds.dataset_kind.lower() in _BY_NAME:
        return _BY_NAME[ds.dataset_kind.lower()]
    if all(f is not None for f in ds.folds):
        return "folds"
    if all(s is not None for s in ds.splits):
        return "split"
    return "kfold"


def _stratify_key(ds: Dataset) -> np.ndarray:
    if ds.multilabel:  # stratify multi-label sets on their rarest present class (a common approximation)
        freq = ds.y.sum(axis=0)
        key = np.full(len(ds), -1)
        for i, row in enumerate(ds.y):
            present = np.flatnonzero(row)
            if present.size:
                key[i] = present[np.argmin(freq[present])]
        return key
    return np.asarray(ds.y)


def kfold_assignment(ds: Dataset, n_folds: int, seed: int) -> np.ndarray:
    """Assign a fold to every clip, stratified by class, independent of manifest order.

    Parameters
    ----------
    ds : Dataset
        The dataset (multi-label sets stratify on their rarest present class).
    n_folds : int >= 2
        Number of folds.
    seed : int
        Seed of the shuffle.

    Returns
    -------
    folds : np.ndarray [shape=(n_clips,), dtype=int64]
        Fold number 1..n_folds per clip.
    """
    from sklearn.model_selection import StratifiedKFold

    if n_folds < 2:
        raise ConfigError(f"n_folds={n_folds} must be >= 2 for k-fold cross-validation")
    order = np.argsort(np.asarray(ds.clip_ids, dtype=str), kind="stable")
    key = _stratify_key(ds)[order]
    _, counts = np.unique(key, return_counts=True)
    if counts.min() < n_folds:  # too few clips of some class to stratify: plain k-fold
        from sklearn.model_selection import KFold

        splitter = KFold(n_folds, shuffle=True, random_state=seed).split(order)
    else:
        splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(order, key)
    folds = np.zeros(len(ds), np.int64)
    for k, (_, test) in enumerate(splitter):
        folds[order[test]] = k + 1
    return folds


def _fold_splits(folds: np.ndarray, *, use_validation: bool = True) -> list[Split]:
    values = sorted({int(f) for f in folds})
    if len(values) < 2:
        raise DatasetError(f"cross-validation needs at least 2 folds, the dataset has {values}")
    folds = np.asarray([int(f) for f in folds])
    out = []
    for i, f in enumerate(values):
        v = values[i - 1]  # the previous fold, wrapping to the last for the first
        test = np.flatnonzero(folds == f)
        val = np.flatnonzero(folds == v) if use_validation and len(values) > 2 else np.zeros(0, np.int64)
        train = np.flatnonzero((folds != f) & ~np.isin(folds, [v] if val.size else []))
        out.append(Split(name=f"fold{f}", test_fold=f, train=train, val=val, test=test))
    return out


def make_splits(
    ds: Dataset, protocol: str, *, n_folds: int = 5, seed: int = 0, val_fraction: float = 0.1
) -> list[Split]:
    """Train / validation / test clip positions of every run of ``protocol``.

    Parameters
    ----------
    ds : Dataset
        The dataset.
    protocol : str
        One of :data:`PROTOCOLS` (``auto`` is resolved).
    n_folds : int
        Folds of ``kfold``.
    seed : int
        Seed of ``kfold`` and of the validation share drawn when a split set has no ``validate`` clips.
    val_fraction : float
        That validation share of the training clips.

    Returns
    -------
    splits : list of Split
        One per cross-validation fold, or one for a split protocol.

    Raises
    ------
    DatasetError
        When the manifest lacks what the protocol needs (a fold per clip, the expected number of
        folds for us8k/esc50, a train and a test split).
    """
    protocol = resolve_protocol(ds, protocol)
    if protocol in ("us8k", "esc50", "folds"):
        missing = [c for c, f in zip(ds.clip_ids, ds.folds) if f is None]
        if missing:
            raise DatasetError(
                f"protocol {protocol!r} needs a fold for every clip; {len(missing)} clips have none "
                f"(e.g. {missing[0]!r}); use --protocol kfold or split"
            )
        n = len({int(f) for f in ds.folds})
        want = _EXPECTED_FOLDS.get(protocol)
        if want is not None and n != want:
            raise DatasetError(
                f"protocol {protocol!r} expects {want} predefined folds, the dataset has {n}; "
                "use --protocol folds to cross-validate on the folds it has"
            )
        return _fold_splits(ds.folds)
    if protocol in ("sonyc", "split"):
        s = np.asarray([x if x is not None else "" for x in ds.splits])
        train, val, test = (np.flatnonzero(s == k) for k in ("train", "validate", "test"))
        if not train.size or not test.size:
            raise DatasetError(
                f"protocol {protocol!r} needs 'train' and 'test' clips in the split column "
                f"(found train={train.size}, validate={val.size}, test={test.size}); use --protocol kfold"
            )
        if not val.size:
            rng = np.random.default_rng(seed)
            ordered = train[np.argsort(np.asarray(ds.clip_ids, dtype=str)[train], kind="stable")]
            n_val = max(1, int(round(val_fraction * ordered.size)))
            val = np.sort(rng.choice(ordered, n_val, replace=False))
            train = np.setdiff1d(train, val)
        return [Split(name="test", test_fold="test", train=train, val=val, test=test)]
    if protocol == "kfold":
        return _fold_splits(kfold_assignment(ds, n_folds, seed))
    raise ConfigError(f"protocol {protocol!r} is not implemented")  # unreachable: resolve_protocol checked
