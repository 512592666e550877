"""Downstream datasets and their evaluation protocols (which clips train, validate and test).

Protocols
---------
``us8k`` / ``esc50``
    The paper's protocol on the folds **present** (real subsets are common). With at least 3 predefined
    folds: leave-one-fold-out over them, the *previous present* fold validating (wrapping around: the
    first validates on the last), the others training, as in SEA/EdgeL3 (10 folds for US8K, 5 for
    ESC-50; fewer present are said so in the report). With fewer than 3 folds: grouped k-fold by
    **recording** (``n_folds``, seeded, stratified by class), so that no recording (US8K ``fsID``,
    ESC-50 ``src_file``, or ``meta.group``) is ever on two sides of a split; then as above.
``folds``
    Cross-validation on the manifest's predefined ``fold`` column (any number >= 2), previous fold
    validating.
``sonyc``
    SONYC-UST's official ``split`` column: train / validate / test. Validate and test clips are
    scored on their verified labels only (``meta.label_source == "verified"``, the ``annotator_id == 0``
    rows the DCASE-UST scorer uses); the others are left out of those sets and counted in the report.
    The validate split selects the classifier (AutoPool grid, best epoch), the test split is reported.
``sonyc_sea``
    As SEA reported SONYC-UST (v1): the verified validate split both selects and is scored (no test
    split). Optimistic by construction; for comparison with the paper only.
``split``
    One run on the ``split`` column: train / validate / test. Without a ``validate`` split a seeded
    share of the training clips validates.
``kfold``
    No fold or split column: stratified k-fold by clip (seeded), then as ``folds``; the report says
    when clips of one recording land on both sides. Clips are sorted by ``clip_id`` before
    assignment, so folds do not depend on the manifest's line order.
``auto``
    ``data_report.json``'s dataset name (urbansound8k -> us8k, esc50 -> esc50, sonyc_ust -> sonyc),
    else ``folds`` when every clip has a fold, ``split`` when every clip has a split, else ``kfold``.

Splits index clips by their position in :attr:`Dataset.clip_ids`; the assignment depends only on the
``fold``/``split``/group values of each clip, never on row order. :func:`plan_splits` also describes
the protocol in words for the report (:class:`ProtocolPlan`).
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DatasetError
from ..layout import RunLayout
from ..manifest import read_manifest
from ..utils import read_json

__all__ = [
    "MIN_LOFO_FOLDS",
    "PROTOCOLS",
    "Dataset",
    "ProtocolPlan",
    "Split",
    "kfold_assignment",
    "load_dataset",
    "make_splits",
    "plan_splits",
    "resolve_protocol",
]

PROTOCOLS = ("auto", "us8k", "esc50", "sonyc", "sonyc_sea", "folds", "split", "kfold")
#: Fewest predefined folds for leave-one-fold-out with a validation fold (us8k, esc50).
MIN_LOFO_FOLDS = 3
#: Below this many recordings a cross-validation is called noisy in the report.
FEW_RECORDINGS = 200
_US8K_NAME = re.compile(r"^(\d+)-\d+-\d+-\d+$")  # [fsID]-[classID]-[occurrenceID]-[sliceID]
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
    groups : np.ndarray [shape=(n_clips,), dtype=str] or None
        The recording of each clip (``meta.group``, US8K ``fsID`` (also parsed from the file name),
        ESC-50 ``src_file``; else the clip itself). None: every clip is its own recording.
    group_key : str
        Where the groups came from (``group``, ``fsID``, ``src_file`` or ``clip``).
    label_source : np.ndarray [shape=(n_clips,), dtype=object] or None
        ``meta.label_source`` per clip (SONYC-UST: ``verified`` or ``volunteers``); None when no clip
        has one.
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
    groups: np.ndarray | None = None
    group_key: str = "clip"
    label_source: np.ndarray | None = None

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def __len__(self) -> int:
        """Return the number of labelled clips."""
        return len(self.clip_ids)

    @property
    def group_array(self) -> np.ndarray:
        """The recording of every clip (the clip id when none is known)."""
        return self.groups if self.groups is not None else np.asarray(self.clip_ids, dtype=str)

    @property
    def n_groups(self) -> int:
        """Number of distinct recordings."""
        return int(np.unique(self.group_array).size)


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


@dataclass
class ProtocolPlan:
    """The runs of a protocol on one dataset, and what the report says about them.

    Attributes
    ----------
    protocol : str
        The resolved protocol.
    splits : list of Split
        One per run.
    scheme : str
        ``predefined_folds``, ``grouped_kfold``, ``kfold`` or ``split``.
    description : str
        One sentence: which clips train, validate and test.
    notes : list of str
        Caveats the report repeats (folds missing, noisy CV, clips left out...).
    n_groups : int
        Distinct recordings of the dataset.
    group_key : str
        What a recording is (``fsID``, ``src_file``, ``group``, ``clip``).
    excluded : dict
        Clips left out of validate/test, by reason (``unverified``: SONYC-UST clips without a
        verified label).
    """

    protocol: str
    splits: list
    scheme: str
    description: str
    notes: list = field(default_factory=list)
    n_groups: int = 0
    group_key: str = "clip"
    excluded: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The plan's description for ``report.json`` (the splits are listed separately)."""
        return {
            "scheme": self.scheme,
            "description": self.description,
            "notes": list(self.notes),
            "n_groups": self.n_groups,
            "group_key": self.group_key,
            "excluded": dict(self.excluded),
        }


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


def _group_of(r, kind: str | None) -> tuple[str, str]:
    """The recording of one clip and where it came from."""
    meta = r.meta or {}
    for key in ("group", "fsID", "src_file"):
        v = meta.get(key)
        if v not in (None, ""):
            return f"{key}:{v}", key
    m = _US8K_NAME.match(str(r.clip_id))
    if m and (kind or "").lower() in ("urbansound8k", "us8k", "synthetic", ""):
        return f"fsID:{m.group(1)}", "fsID"
    return f"clip:{r.clip_id}", "clip"


def _groups(records: list, kind: str | None) -> tuple[np.ndarray | None, str]:
    pairs = [_group_of(r, kind) for r in records]
    keys = Counter(k for _, k in pairs)
    if set(keys) == {"clip"}:
        return None, "clip"
    return np.asarray([g for g, _ in pairs], dtype=str), keys.most_common(1)[0][0]


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
    groups, group_key = _groups(records, kind)
    sources = [(r.meta or {}).get("label_source") for r in records]
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
        groups=groups,
        group_key=group_key,
        label_source=np.asarray(sources, dtype=object) if any(x is not None for x in sources) else None,
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


def kfold_assignment(ds: Dataset, n_folds: int, seed: int, *, grouped: bool = True) -> np.ndarray:
    """Assign a fold to every clip, stratified by class, grouped by recording, independent of manifest order.

    Parameters
    ----------
    ds : Dataset
        The dataset (multi-label sets stratify on their rarest present class).
    n_folds : int >= 2
        Number of folds.
    seed : int
        Seed of the shuffle.
    grouped : bool
        Keep the clips of one recording (:attr:`Dataset.groups`) in one fold; ignored when every
        clip is its own recording.

    Returns
    -------
    folds : np.ndarray [shape=(n_clips,), dtype=int64]
        Fold number 1..n_folds per clip.

    Raises
    ------
    DatasetError
        Fewer recordings (or clips) than folds.
    """
    from sklearn.model_selection import KFold, StratifiedGroupKFold, StratifiedKFold

    if n_folds < 2:
        raise ConfigError(f"n_folds={n_folds} must be >= 2 for k-fold cross-validation")
    order = np.argsort(np.asarray(ds.clip_ids, dtype=str), kind="stable")
    key = _stratify_key(ds)[order]
    groups = ds.group_array[order] if grouped and ds.groups is not None else None
    n_units = np.unique(groups).size if groups is not None else len(order)
    if n_units < n_folds:
        what = f"recordings ({ds.group_key})" if groups is not None else "clips"
        raise DatasetError(
            f"{n_folds}-fold cross-validation needs at least {n_folds} {what}; the dataset has {n_units}; "
            "lower --n-folds"
        )
    _, counts = np.unique(key, return_counts=True)
    if groups is not None:
        with warnings.catch_warnings():  # a class rarer than n_folds only loses its stratification
            warnings.simplefilter("ignore", UserWarning)
            splitter = list(StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed).split(order, key, groups))
    elif counts.min() < n_folds:  # too few clips of some class to stratify: plain k-fold
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


def _noisy_note(ds: Dataset, n_runs: int, folds_present: int | None = None) -> list[str]:
    """The caveat of a cross-validation over few recordings (issue 15: say what a small sample can show)."""
    n = ds.n_groups
    if n >= FEW_RECORDINGS and (folds_present is None or folds_present >= MIN_LOFO_FOLDS):
        return []
    what = "recordings" if ds.groups is not None else "clips"
    head = f"{folds_present} predefined fold(s) and " if folds_present is not None else ""
    return [
        f"noisy CV: {head}{n} {what} only (about {n / max(n_runs, 1):.0f} {what} per test fold); "
        "per-fold scores and their std say more than the mean, and differences of a few points are not significant"
    ]


def _leak_note(ds: Dataset, splits: list[Split]) -> list[str]:
    """Say when a by-clip split puts clips of one recording on both sides (optimistic scores)."""
    if ds.groups is None:
        return []
    g = ds.group_array
    shared = set()
    for s in splits:
        shared |= set(g[s.test]) & (set(g[s.train]) | set(g[s.val]))
    if not shared:
        return []
    return [
        f"{len(shared)} recording(s) ({ds.group_key}) have clips on both sides of a split (k-fold by clip): "
        "optimistic; the us8k and esc50 protocols group folds by recording"
    ]


def _present_folds(ds: Dataset, protocol: str) -> list[int]:
    have = [f for f in ds.folds if f is not None]
    if have and len(have) != len(ds):
        missing = [c for c, f in zip(ds.clip_ids, ds.folds) if f is None]
        raise DatasetError(
            f"protocol {protocol!r} needs a fold for every clip; {len(missing)} clips have none "
            f"(e.g. {missing[0]!r}); use --protocol kfold or split"
        )
    return sorted({int(f) for f in have})


def _paper_folds_plan(ds: Dataset, protocol: str, n_folds: int, seed: int) -> ProtocolPlan:
    """us8k / esc50: leave-one-fold-out over the folds present, or grouped k-fold under 3 folds."""
    present = _present_folds(ds, protocol)
    want = _EXPECTED_FOLDS[protocol]
    if len(present) >= MIN_LOFO_FOLDS:
        splits = _fold_splits(ds.folds)
        desc = (
            f"leave-one-fold-out over the {len(present)} predefined folds present ({present}); "
            "the previous present fold validates, the others train"
        )
        notes = (
            []
            if len(present) == want
            else [f"{len(present)} of the dataset's {want} folds are present: not comparable with {want}-fold figures"]
        )
        return ProtocolPlan(
            protocol,
            splits,
            "predefined_folds",
            desc,
            notes + _noisy_note(ds, len(splits), len(present)),
            ds.n_groups,
            ds.group_key,
        )
    folds = kfold_assignment(ds, n_folds, seed, grouped=True)
    splits = _fold_splits(folds)
    desc = (
        f"grouped {n_folds}-fold by recording ({ds.group_key}, seed {seed}): only {len(present)} predefined "
        f"fold(s) present ({present}), fewer than {MIN_LOFO_FOLDS}; the previous fold validates, no recording "
        "is on two sides of a split"
    )
    notes = [f"not the paper's {want}-fold protocol: the subset holds {len(present)} fold(s)"]
    return ProtocolPlan(
        protocol,
        splits,
        "grouped_kfold",
        desc,
        notes + _noisy_note(ds, len(splits), len(present)),
        ds.n_groups,
        ds.group_key,
    )


def _verified(ds: Dataset, idx: np.ndarray) -> tuple[np.ndarray, int]:
    """The clips of ``idx`` scored on verified labels (all when the dataset records no label source)."""
    if ds.label_source is None:
        return idx, 0
    keep = idx[ds.label_source[idx] == "verified"]
    return keep, int(idx.size - keep.size)


def _split_plan(ds: Dataset, protocol: str, seed: int, val_fraction: float) -> ProtocolPlan:
    s = np.asarray([x if x is not None else "" for x in ds.splits])
    train, val, test = (np.flatnonzero(s == k) for k in ("train", "validate", "test"))
    excluded = 0
    if protocol in ("sonyc", "sonyc_sea"):
        val, n_val = _verified(ds, val)
        test, n_test = _verified(ds, test)
        excluded = n_val + n_test
    if protocol == "sonyc_sea":
        if not train.size or not val.size:
            raise DatasetError(
                f"protocol 'sonyc_sea' needs 'train' clips and verified 'validate' clips "
                f"(found train={train.size}, verified validate={val.size}); use --protocol sonyc"
            )
        desc = "SEA's SONYC-UST reporting: train trains; the verified validate split selects AND is scored"
        notes = ["optimistic: the scored split also selected the classifier (as the paper reported SONYC-UST)"]
        return ProtocolPlan(
            protocol,
            [Split("validate", "validate", train, val, val)],
            "split",
            desc,
            notes,
            ds.n_groups,
            ds.group_key,
            {"unverified": excluded} if excluded else {},
        )
    if not train.size or not test.size:
        raise DatasetError(
            f"protocol {protocol!r} needs 'train' and 'test' clips in the split column "
            f"(found train={train.size}, validate={val.size}, test={test.size}); use --protocol kfold"
        )
    desc = "official split: train trains, validate selects, test is scored"
    if not val.size:
        rng = np.random.default_rng(seed)
        ordered = train[np.argsort(np.asarray(ds.clip_ids, dtype=str)[train], kind="stable")]
        n_val = max(1, int(round(val_fraction * ordered.size)))
        val = np.sort(rng.choice(ordered, n_val, replace=False))
        train = np.setdiff1d(train, val)
        desc = f"split column: train trains, test is scored; no validate split, so {n_val} training clips validate"
    notes = []
    if excluded:
        notes.append(
            f"{excluded} validate/test clips without a verified label (annotator_id == 0) are left out of "
            "validation and scoring, as the DCASE-UST scorer does"
        )
    if protocol == "sonyc":
        desc += "; validate/test labels are the verified rows"
    return ProtocolPlan(
        protocol,
        [Split("test", "test", train, val, test)],
        "split",
        desc,
        notes,
        ds.n_groups,
        ds.group_key,
        {"unverified": excluded} if excluded else {},
    )


def _unseen_class_note(ds: Dataset, splits: list[Split]) -> list[str]:
    """Say when test clips belong to classes their split never trains on (their accuracy can only be 0)."""
    if ds.multilabel:
        return []
    unseen = sum(int(np.sum(~np.isin(ds.y[s.test], ds.y[s.train]))) for s in splits)
    if not unseen:
        return []
    return [
        f"{unseen} test clip(s) belong to classes absent from their split's training clips (too few clips per class "
        "for these folds): their predictions are wrong by construction"
    ]


def plan_splits(
    ds: Dataset, protocol: str, *, n_folds: int = 5, seed: int = 0, val_fraction: float = 0.1
) -> ProtocolPlan:
    """Plan every run of ``protocol`` on ``ds``: the splits and their description for the report.

    Parameters
    ----------
    ds : Dataset
        The dataset.
    protocol : str
        One of :data:`PROTOCOLS` (``auto`` is resolved).
    n_folds : int
        Folds of ``kfold``, and of us8k/esc50 subsets with fewer than 3 folds present.
    seed : int
        Seed of the k-fold assignments and of the validation share drawn when a split set has no
        ``validate`` clips.
    val_fraction : float
        That validation share of the training clips.

    Returns
    -------
    plan : ProtocolPlan

    Raises
    ------
    DatasetError
        When the manifest lacks what the protocol needs (a fold per clip, a train and a test split,
        enough recordings for the folds).
    """
    plan = _plan(ds, resolve_protocol(ds, protocol), n_folds, seed, val_fraction)
    plan.notes += _unseen_class_note(ds, plan.splits)
    return plan


def _plan(ds: Dataset, protocol: str, n_folds: int, seed: int, val_fraction: float) -> ProtocolPlan:
    if protocol in ("us8k", "esc50"):
        return _paper_folds_plan(ds, protocol, n_folds, seed)
    if protocol == "folds":
        present = _present_folds(ds, protocol)
        if not present:
            raise DatasetError("protocol 'folds' needs a fold for every clip; none has one; use --protocol kfold")
        splits = _fold_splits(ds.folds)
        desc = f"cross-validation over the {len(present)} predefined folds; the previous fold validates"
        return ProtocolPlan(
            protocol, splits, "predefined_folds", desc, _noisy_note(ds, len(splits)), ds.n_groups, ds.group_key
        )
    if protocol in ("sonyc", "sonyc_sea", "split"):
        return _split_plan(ds, protocol, seed, val_fraction)
    if protocol == "kfold":
        splits = _fold_splits(kfold_assignment(ds, n_folds, seed, grouped=False))
        desc = f"stratified {n_folds}-fold by clip (seed {seed}); the previous fold validates"
        return ProtocolPlan(
            protocol,
            splits,
            "kfold",
            desc,
            _leak_note(ds, splits) + _noisy_note(ds, len(splits)),
            ds.n_groups,
            ds.group_key,
        )
    raise ConfigError(f"protocol {protocol!r} is not implemented")  # unreachable: resolve_protocol checked


def make_splits(
    ds: Dataset, protocol: str, *, n_folds: int = 5, seed: int = 0, val_fraction: float = 0.1
) -> list[Split]:
    """Train / validation / test clip positions of every run of ``protocol`` (:func:`plan_splits`).

    Parameters
    ----------
    ds : Dataset
        The dataset.
    protocol : str
        One of :data:`PROTOCOLS` (``auto`` is resolved).
    n_folds : int
        Folds of ``kfold`` and of small us8k/esc50 subsets.
    seed : int
        Seed of the fold assignments and validation shares.
    val_fraction : float
        Validation share of the training clips when a split set has no ``validate`` clips.

    Returns
    -------
    splits : list of Split
        One per cross-validation fold, or one for a split protocol.
    """
    return plan_splits(ds, protocol, n_folds=n_folds, seed=seed, val_fraction=val_fraction).splits
