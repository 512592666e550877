"""Downstream classifiers on frozen per-frame embeddings.

All classifiers train **per frame** (every 1-s frame carries its clip's label) and predict clips:

* ``mlp`` -- the SEA/EdgeL3 MLP (sea_paper.md §6): Dense 512 ReLU -> Dense 128 ReLU -> softmax, Keras-style
  L2 1e-5 on the kernels, Adam lr 1e-4, batch 32, up to 150 epochs, early stopping on the validation
  loss with patience 20 and the best weights restored. Clip prediction = argmax of the mean frame
  probabilities. For multi-label sets the output is sigmoid/BCE; clip scores come from **mean pooling**
  of frame probabilities, or from **AutoPool** (``pooling="autopool"``, McFee et al. 2018), trained on
  bags of frames as SEA's SONYC-UST classifier: a frame MLP (0, 1 or 2 hidden ReLU layers, L2 1e-5 on
  the kernels) -> sigmoid -> AutoPool with one alpha per class, initialised to 0 (mean pooling) and
  kept >= 0 (between mean and max pooling), clip score ``sum_t softmax_t(alpha_c p_tc) p_tc``, BCE on
  clips. The hidden layers are **selected on the validation clips** over a grid (the paper: 0/1/2
  layers x 128/256 units); the best validation-loss epoch of the best cell predicts the test clips.
  :data:`AUTOPOOL_PRESETS`: ``paper`` (Adam lr 1e-5, batch 64 clips, up to 1500 epochs, patience 1500,
  i.e. the best epoch of all 1500, as SEA's jobs) and ``fast`` (lr 1e-3, up to 100 epochs, patience 10,
  grid 0 or 1 x 128; labelled as such in every report). Bags of different lengths are masked (SEA
  truncated every clip to the shortest).
* ``logreg`` -- scikit-learn ``LogisticRegression`` linear probe (one-vs-rest for multi-label). It and
  ``svm`` have no early stopping, so they train on the training *and* validation clips of a split: with
  leave-one-fold-out, on every fold but the test fold.
* ``svm`` -- scikit-learn ``SVC(kernel="rbf")``. Frame scores are the softmax (multi-class) or sigmoid
  (binary, multi-label one-vs-rest) of its decision function: ``probability=True`` (Platt scaling with
  an internal 5-fold CV, deprecated in scikit-learn 1.9) costs 5x the fit and needs 5 clips per class.
  The SVM scales quadratically, so the scikit-learn baselines train on at most ``max_frames`` frames
  drawn at random (seeded).

Features are standardised with statistics of the **training frames only** (the MLP holds them as
buffers, so the full feature matrix is never copied; batches are gathered by row index).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..utils import streamed_mean_std

__all__ = ["AUTOPOOL_PRESETS", "CLASSIFIERS", "AutoPoolSettings", "ClassifierSettings", "FrameData", "fit_predict"]

CLASSIFIERS = ("mlp", "logreg", "svm")


@dataclass(frozen=True)
class AutoPoolSettings:
    """Training settings of the AutoPool multi-label head (one preset of :data:`AUTOPOOL_PRESETS`).

    Attributes
    ----------
    name : str
        The preset's name, reported with every AutoPool score.
    grid : tuple of tuple of int
        Hidden layer sizes tried; the lowest validation loss wins.
    lr, l2 : float
        Adam learning rate; L2 on the frame MLP's kernels (alpha is not regularised).
    batch_size : int
        Clips per batch.
    epochs, patience : int
        Epoch cap and early-stopping patience on the validation loss (the best epoch is restored).
    """

    name: str = "paper"
    grid: tuple = ((), (128,), (256,), (128, 128), (256, 256))
    lr: float = 1e-5
    l2: float = 1e-5
    batch_size: int = 64
    epochs: int = 1500
    patience: int = 1500

    def describe(self) -> str:
        """One line for reports: the preset and its settings."""
        cells = ", ".join("x".join(map(str, h)) if h else "0" for h in self.grid)
        label = "the paper's settings" if self.name == "paper" else "FAST preset, not the paper's settings"
        return (
            f"AutoPool head, {label}: hidden layers selected on validate over [{cells}], Adam lr {self.lr:g}, "
            f"L2 {self.l2:g}, batch {self.batch_size} clips, up to {self.epochs} epochs, patience {self.patience}, "
            "alpha >= 0 from 0"
        )


#: AutoPool presets: ``paper`` follows SEA (SPEC §4), ``fast`` is for CPUs and tests.
AUTOPOOL_PRESETS = {
    "paper": AutoPoolSettings(),
    "fast": AutoPoolSettings(name="fast", grid=((), (128,)), lr=1e-3, epochs=100, patience=10),
}


@dataclass(frozen=True)
class ClassifierSettings:
    """Training settings of the downstream classifiers (a view of :class:`sea.evaluate.EvalConfig`).

    Attributes
    ----------
    hidden : tuple of int
        Hidden sizes of the MLP.
    l2, lr : float
        L2 on the MLP kernels and the Adam learning rate.
    epochs, batch_size, patience : int
        Epoch cap, frames per batch and early-stopping patience of the MLP.
    autopool : AutoPoolSettings
        The AutoPool head's preset.
    max_frames : int
        Training frames of logreg/svm (a seeded random subset when there are more).
    logreg_c, svm_c : float
        Inverse regularisation of the logistic regression, C of the SVM.
    device : str
        Torch device of the MLPs (resolved, not ``auto``).
    seed : int
        Seed of subsets and initialisation.
    """

    hidden: tuple = (512, 128)
    l2: float = 1e-5
    lr: float = 1e-4
    epochs: int = 150
    batch_size: int = 32
    patience: int = 20
    autopool: AutoPoolSettings = AUTOPOOL_PRESETS["paper"]
    max_frames: int = 20000
    logreg_c: float = 1.0
    svm_c: float = 1.0
    device: str = "cpu"
    seed: int = 0


@dataclass
class FrameData:
    """Per-frame features of a dataset and the clip each frame belongs to.

    Attributes
    ----------
    features : np.ndarray [shape=(N, D), dtype=float32]
        One embedding per frame.
    clip_index : np.ndarray [shape=(N,), dtype=int]
        Position of the frame's clip in the dataset, non-decreasing (the frames of a clip are contiguous).
    """

    features: np.ndarray
    clip_index: np.ndarray

    def rows_of(self, clips: np.ndarray) -> np.ndarray:
        """Frame rows of the given clip positions, in clip order."""
        lo = np.searchsorted(self.clip_index, clips, side="left")
        hi = np.searchsorted(self.clip_index, clips, side="right")
        if not lo.size:
            return np.zeros(0, np.int64)
        return np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)]).astype(np.int64)

    def bounds(self, clips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First and one-past-last frame row of each of the given clip positions."""
        return (
            np.searchsorted(self.clip_index, clips, side="left"),
            np.searchsorted(self.clip_index, clips, side="right"),
        )


def _targets(y: np.ndarray, clips: np.ndarray, counts: np.ndarray) -> np.ndarray:
    return np.repeat(y[clips], counts, axis=0)


def _mean_pool(frame_probs: np.ndarray, counts: np.ndarray) -> np.ndarray:
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sums = np.add.reduceat(frame_probs, starts, axis=0) if frame_probs.shape[0] else frame_probs
    return sums / np.maximum(counts, 1)[:, None]


def fit_predict(
    kind: str,
    data: FrameData,
    y: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    test: np.ndarray,
    *,
    n_classes: int,
    multilabel: bool,
    settings: ClassifierSettings,
    pooling: str = "mean",
) -> tuple[np.ndarray, dict]:
    """Train ``kind`` on the frames of ``train`` clips and score the ``test`` clips.

    Parameters
    ----------
    kind : {"mlp", "logreg", "svm"}
    y : np.ndarray  [n_clips] int or [n_clips, C] 0/1
    train, val, test : np.ndarray of clip positions
        ``val`` selects the MLP's epoch (and AutoPool's cell); logreg and svm train on ``train`` and ``val``.
    pooling : {"mean", "autopool"}
        Frame aggregation; ``autopool`` only for the multi-label MLP.

    Returns
    -------
    scores : np.ndarray [shape=(len(test), n_classes), dtype=float64]
        Clip class probabilities (single-label: mean frame probabilities; multi-label: pooled sigmoid).
    info : dict
        ``train_seconds``, ``n_train_frames``, ``epochs`` (MLP)...
    """
    if kind not in CLASSIFIERS:
        raise ConfigError(f"classifier {kind!r} is not known; choose from {', '.join(CLASSIFIERS)}")
    if pooling == "autopool" and not (kind == "mlp" and multilabel):
        raise ConfigError("pooling='autopool' applies to the multi-label MLP only")
    t0 = time.perf_counter()
    if pooling == "autopool":
        scores, info = _fit_predict_bags(data, y, train, val, test, n_classes=n_classes, s=settings)
    elif kind == "mlp":
        scores, info = _fit_predict_mlp(
            data, y, train, val, test, n_classes=n_classes, multilabel=multilabel, s=settings
        )
    else:
        # no early stopping to feed: the validation clips train the probe too (leave-one-fold-out proper)
        fit_on = np.sort(np.concatenate([np.asarray(train, np.int64), np.asarray(val, np.int64)]))
        scores, info = _fit_predict_sklearn(
            kind, data, y, fit_on, test, n_classes=n_classes, multilabel=multilabel, s=settings
        )
        info["n_train_clips"] = int(fit_on.size)
    info["train_seconds"] = round(time.perf_counter() - t0, 4)
    return scores, info


# -- torch MLP ----------------------------------------------------------------------


def _torch():
    import torch

    return torch


def resolve_device(name: str) -> str:
    """``name``, with ``auto`` resolved to ``cuda`` when available, else ``cpu``."""
    if name == "auto":
        return "cuda" if _torch().cuda.is_available() else "cpu"
    return name


def _train_stats(data: FrameData, rows: np.ndarray, batch: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the training frames (streamed, float64)."""
    mean, std = streamed_mean_std(data.features.__getitem__, rows, batch=batch)
    return mean, np.where(std > 1e-8, std, 1.0)


class _Scaler:
    def __init__(self, mean, std, device):
        torch = _torch()
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=device)
        self.std = torch.as_tensor(std, dtype=torch.float32, device=device)

    def __call__(self, x):
        return (x - self.mean) / self.std


def _mlp(d_in: int, hidden, n_out: int):
    torch = _torch()
    layers, d = [], d_in
    for h in hidden:
        layers += [torch.nn.Linear(d, int(h)), torch.nn.ReLU()]
        d = int(h)
    layers.append(torch.nn.Linear(d, n_out))
    net = torch.nn.Sequential(*layers)
    for m in net:  # Keras defaults: glorot-uniform kernels, zero biases
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight)
            torch.nn.init.zeros_(m.bias)
    return net


def _l2(net, l2: float):
    # Keras kernel_regularizer=l2(l2) adds l2 * sum(W^2) of the kernels (not the biases) to the loss
    return l2 * sum((m.weight**2).sum() for m in net if hasattr(m, "weight"))


class _EarlyStopper:
    def __init__(self, net, patience: int):
        self.best = float("inf")
        self.best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        self.bad = 0
        self.patience = patience

    def step(self, net, loss: float) -> bool:
        """Record a validation loss; True when training should stop."""
        if loss < self.best - 1e-7:
            self.best, self.bad = loss, 0
            self.best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            return False
        self.bad += 1
        return self.bad >= self.patience


def _fit_predict_mlp(data, y, train, val, test, *, n_classes, multilabel, s: ClassifierSettings):
    torch = _torch()
    device = resolve_device(s.device)
    gen = torch.Generator().manual_seed(s.seed)
    torch.manual_seed(s.seed)
    tr_rows = data.rows_of(train)
    va_rows = data.rows_of(val)
    te_rows = data.rows_of(test)
    tr_counts = np.diff(np.stack(data.bounds(train)), axis=0)[0]
    va_counts = np.diff(np.stack(data.bounds(val)), axis=0)[0]
    te_counts = np.diff(np.stack(data.bounds(test)), axis=0)[0]
    scale = _Scaler(*_train_stats(data, tr_rows), device)
    X = torch.from_numpy(np.ascontiguousarray(data.features, dtype=np.float32))  # shared, not copied
    if multilabel:
        ytr = torch.from_numpy(_targets(y, train, tr_counts).astype(np.float32))
        yva = torch.from_numpy(_targets(y, val, va_counts).astype(np.float32))
        loss_fn = torch.nn.BCEWithLogitsLoss()
    else:
        ytr = torch.from_numpy(_targets(y, train, tr_counts).astype(np.int64))
        yva = torch.from_numpy(_targets(y, val, va_counts).astype(np.int64))
        loss_fn = torch.nn.CrossEntropyLoss()
    net = _mlp(X.shape[1], s.hidden, n_classes).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=s.lr)
    tr_rows_t = torch.from_numpy(tr_rows)
    stopper = _EarlyStopper(net, s.patience)
    epochs_run = 0
    for _epoch in range(s.epochs):
        net.train()
        perm = torch.randperm(tr_rows.size, generator=gen)
        for a in range(0, tr_rows.size, s.batch_size):
            b = perm[a : a + s.batch_size]
            xb = scale(X[tr_rows_t[b]].to(device))
            yb = ytr[b].to(device)
            loss = loss_fn(net(xb), yb) + _l2(net, s.l2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        epochs_run += 1
        if va_rows.size:
            with torch.no_grad():
                vl = _eval_loss(net, X, va_rows, yva, scale, loss_fn, device) + float(_l2(net, s.l2))
            if stopper.step(net, vl):
                break
    if va_rows.size:
        net.load_state_dict(stopper.best_state)
    probs = _predict_frames(net, X, te_rows, scale, device, multilabel)
    info = {"n_train_frames": int(tr_rows.size), "n_val_frames": int(va_rows.size), "epochs": epochs_run}
    if va_rows.size:
        info["best_val_loss"] = round(stopper.best, 6)
    return _mean_pool(probs, te_counts), info


def _eval_loss(net, X, rows, yv, scale, loss_fn, device, batch: int = 8192) -> float:
    torch = _torch()
    net.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for a in range(0, rows.size, batch):
            r = torch.from_numpy(rows[a : a + batch])
            out = net(scale(X[r].to(device)))
            total += float(loss_fn(out, yv[a : a + batch].to(device))) * r.numel()
            n += r.numel()
    return total / max(n, 1)


def _predict_frames(net, X, rows, scale, device, multilabel, batch: int = 8192) -> np.ndarray:
    torch = _torch()
    net.eval()
    out = []
    with torch.no_grad():
        for a in range(0, rows.size, batch):
            z = net(scale(X[torch.from_numpy(rows[a : a + batch])].to(device)))
            out.append((torch.sigmoid(z) if multilabel else torch.softmax(z, dim=1)).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, net[-1].out_features))


# -- AutoPool (multi-label MIL) -------------------------------------------------------


class _AutoPoolNet:
    """Frame MLP -> sigmoid -> AutoPool over the frames of each clip."""

    def __init__(self, d_in, hidden, n_out, device):
        torch = _torch()
        self.frame = _mlp(d_in, hidden, n_out).to(device)
        self.alpha = torch.nn.Parameter(torch.zeros(n_out, device=device))  # alpha=0: mean pooling at the start

    def parameters(self):
        return [*self.frame.parameters(), self.alpha]

    def constrain(self):
        """Keep alpha >= 0 (Keras ``non_neg``, applied after every update as in SEA)."""
        with _torch().no_grad():
            self.alpha.clamp_(min=0.0)

    def state(self):
        return {
            "frame": {k: v.detach().clone() for k, v in self.frame.state_dict().items()},
            "alpha": self.alpha.detach().clone(),
        }

    def load(self, st):
        self.frame.load_state_dict(st["frame"])
        with _torch().no_grad():
            self.alpha.copy_(st["alpha"])

    def __call__(self, xb, mask):
        """Clip probabilities [B, C] of frames ``xb`` [B, T, D] under ``mask`` [B, T] bool."""
        torch = _torch()
        p = torch.sigmoid(self.frame(xb))  # [B, T, C]
        logits = self.alpha * p
        logits = logits.masked_fill(~mask[..., None], float("-inf"))
        w = torch.softmax(logits, dim=1)
        return (w * p).sum(dim=1).clamp(1e-7, 1 - 1e-7)


def _bag_index(data: FrameData, clips: np.ndarray) -> np.ndarray:
    lo, hi = data.bounds(clips)
    t_max = int((hi - lo).max()) if clips.size else 1
    idx = np.full((clips.size, max(t_max, 1)), -1, np.int64)
    for i, (a, b) in enumerate(zip(lo, hi)):
        idx[i, : b - a] = np.arange(a, b)
    return idx


def _bag_loss(model, batch, which: str, y, loss_fn, device, chunk: int = 256) -> float:
    """Mean loss over the bags of ``which`` (``y`` holds their targets, in order)."""
    torch = _torch()
    total = 0.0
    for a in range(0, y.shape[0], chunk):
        sel = torch.arange(a, min(a + chunk, y.shape[0]))
        xb, mask = batch(which, sel)
        total += float(loss_fn(model(xb, mask), y[sel].to(device))) * sel.numel()
    return total / y.shape[0]


def _bag_predict(model, batch, which: str, n: int, n_classes: int, chunk: int = 256) -> np.ndarray:
    """Clip scores [n, n_classes] float64 of the ``n`` bags of ``which``."""
    torch = _torch()
    out = []
    with torch.no_grad():
        for a in range(0, n, chunk):
            sel = torch.arange(a, min(a + chunk, n))
            xb, mask = batch(which, sel)
            out.append(model(xb, mask).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, n_classes))


class _Bags:
    """Standardised bags of frames of the train / val / test clips, gathered by index (no copy of X)."""

    def __init__(self, data: FrameData, y, train, val, test, device):
        torch = _torch()
        self.device = device
        self.scale = _Scaler(*_train_stats(data, data.rows_of(train)), device)
        self.X = torch.from_numpy(np.ascontiguousarray(data.features, dtype=np.float32))
        self.idx = {
            k: torch.from_numpy(_bag_index(data, c)) for k, c in (("train", train), ("val", val), ("test", test))
        }
        Y = torch.from_numpy(np.asarray(y, dtype=np.float32))
        self.Y = {"train": Y[train], "val": Y[val]}
        self.n = {"train": train.size, "val": val.size, "test": test.size}

    def __call__(self, which, sel):
        ib = self.idx[which][sel]
        mask = ib >= 0
        return self.scale(self.X[ib.clamp(min=0)].to(self.device)), mask.to(self.device)


def _bce(p, t):
    return _torch().nn.functional.binary_cross_entropy(p, t)


def _train_bags(bags: _Bags, hidden: tuple, n_classes: int, ap: AutoPoolSettings, seed: int):
    """Train one grid cell; return the model at its best validation epoch, that loss and the epochs run."""
    torch = _torch()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = _AutoPoolNet(bags.X.shape[1], hidden, n_classes, bags.device)
    opt = torch.optim.Adam(model.parameters(), lr=ap.lr)
    best, bad, best_state, epochs_run = float("inf"), 0, model.state(), 0
    n_train = bags.n["train"]
    for _ in range(ap.epochs):
        perm = torch.randperm(n_train, generator=gen)
        for a in range(0, n_train, ap.batch_size):
            sel = perm[a : a + ap.batch_size]
            xb, mask = bags("train", sel)
            loss = _bce(model(xb, mask), bags.Y["train"][sel].to(bags.device)) + _l2(model.frame, ap.l2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            model.constrain()
        epochs_run += 1
        if not bags.n["val"]:
            continue
        with torch.no_grad():
            vl = _bag_loss(model, bags, "val", bags.Y["val"], _bce, bags.device) + float(_l2(model.frame, ap.l2))
        if vl < best - 1e-7:
            best, bad, best_state = vl, 0, model.state()
        else:
            bad += 1
            if bad >= ap.patience:
                break
    if bags.n["val"]:
        model.load(best_state)
    return model, best, epochs_run


def _fit_predict_bags(data, y, train, val, test, *, n_classes, s: ClassifierSettings):
    """AutoPool head: select the hidden layers on the validation clips, predict the test clips with the best."""
    ap = s.autopool
    bags = _Bags(data, y, train, val, test, resolve_device(s.device))
    grid = ap.grid if val.size else ap.grid[:1]  # nothing to select on without validation clips
    cells, best = [], None
    for hidden in grid:
        model, loss, epochs = _train_bags(bags, tuple(hidden), n_classes, ap, s.seed)
        cells.append({"hidden": list(hidden), "best_val_loss": round(loss, 6) if val.size else None, "epochs": epochs})
        if best is None or loss < best[1]:
            best = (model, loss, hidden, epochs)
    model, _, hidden, epochs = best
    scores = _bag_predict(model, bags, "test", test.size, n_classes)
    info = {
        "n_train_clips": int(train.size),
        "preset": ap.name,
        "selected_hidden": list(hidden),
        "grid": cells,
        "epochs": epochs,
        "alpha": [round(float(a), 4) for a in model.alpha.detach()],
    }
    return scores, info


# -- scikit-learn baselines -----------------------------------------------------------


def _fit_predict_sklearn(kind, data, y, train, test, *, n_classes, multilabel, s: ClassifierSettings):
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    rng = np.random.default_rng(s.seed)
    tr_rows = data.rows_of(train)
    tr_counts = np.diff(np.stack(data.bounds(train)), axis=0)[0]
    ytr = _targets(y, train, tr_counts)
    if s.max_frames and tr_rows.size > s.max_frames:
        keep = np.sort(rng.choice(tr_rows.size, s.max_frames, replace=False))
        tr_rows, ytr = tr_rows[keep], ytr[keep]
    if kind == "logreg":
        base = LogisticRegression(C=s.logreg_c, max_iter=2000)
    else:
        base = SVC(kernel="rbf", C=s.svm_c, random_state=s.seed)
    if multilabel:
        keep_cls = [k for k in range(n_classes) if 0 < ytr[:, k].sum() < ytr.shape[0]]
        est = make_pipeline(StandardScaler(), OneVsRestClassifier(base))
        if keep_cls:
            est.fit(data.features[tr_rows], ytr[:, keep_cls])
    else:
        est = make_pipeline(StandardScaler(), base)
        if np.unique(ytr).size < 2:  # a single training class: predict it (scikit-learn refuses to fit)
            out = np.zeros((test.size, n_classes))
            if ytr.size:
                out[:, int(ytr[0])] = 1.0
            return out, {"n_train_frames": int(tr_rows.size), "note": "one training class"}
        est.fit(data.features[tr_rows], ytr)
    te_rows = data.rows_of(test)
    te_counts = np.diff(np.stack(data.bounds(test)), axis=0)[0]
    probs = np.zeros((te_rows.size, n_classes))

    def frame_scores(X):
        if kind == "logreg":
            return est.predict_proba(X)
        z = np.asarray(est.decision_function(X), dtype=np.float64)
        if multilabel or z.ndim == 1:
            p1 = 1.0 / (1.0 + np.exp(-z))
            return p1 if multilabel else np.stack([1 - p1, p1], axis=1)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    if multilabel:
        # a class that is constant on the training frames gets its training prevalence as score
        prevalence = ytr.mean(axis=0) if ytr.size else np.zeros(n_classes)
        probs[:] = prevalence
        if keep_cls and te_rows.size:
            fs = frame_scores(data.features[te_rows])
            fs = fs.reshape(fs.shape[0], -1)
            if fs.shape[1] != len(keep_cls):  # one class left: sklearn treats it as binary
                fs = fs[:, -1:]
            probs[:, keep_cls] = fs
    elif te_rows.size:
        classes = est[-1].classes_
        probs[:, classes] = frame_scores(data.features[te_rows])
    return _mean_pool(probs, te_counts), {"n_train_frames": int(tr_rows.size)}
