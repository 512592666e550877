"""Metrics of sea.evaluate: SONYC AUPRC (DCASE trapezoid) vs scikit-learn AP, CKA, fidelity, agreement."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import auc, average_precision_score

from sea.errors import ParameterError
from sea.evaluate import metrics as M

# hand-built multi-label example: 5 clips x 3 classes (class 2 has ties)
Y = np.array([[1, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1], [0, 0, 0]])
S = np.array([[0.9, 0.2, 0.5], [0.4, 0.8, 0.5], [0.6, 0.3, 0.2], [0.1, 0.7, 0.5], [0.05, 0.1, 0.3]])


def test_ap_equals_sklearn_average_precision_micro_and_macro():
    assert M.average_precision(Y, S, average="micro") == pytest.approx(average_precision_score(Y, S, average="micro"))
    assert M.average_precision(Y, S, average="macro") == pytest.approx(average_precision_score(Y, S, average="macro"))


def test_dcase_auprc_hand_computed_and_differs_from_ap():
    # y=[1,0,1,0], s=[.9,.8,.7,.1], thresholds {1,.9,.8,.7,.1}: (R,P) = (0,0) (.5,1) (.5,.5) (1,2/3) (1,.5)
    # curve (0,1) (0,0) (.5,1) (.5,.5) (1,2/3) (1,.5) (1,0): the official scorer's (0,0) point at t=1.0
    y = np.array([[1], [0], [1], [0]])
    s = np.array([[0.9], [0.8], [0.7], [0.1]])
    trapezoid = 0.5 * (0 + 1) / 2 + 0.5 * (0.5 + 2 / 3) / 2
    step = 0.5 * 1 + 0.5 * (2 / 3)
    assert M.auprc_dcase(y, s, min_threshold=0.0) == pytest.approx(trapezoid)
    assert M.average_precision(y, s) == pytest.approx(step)
    assert average_precision_score(y.ravel(), s.ravel()) == pytest.approx(step)
    assert abs(trapezoid - step) > 0.03  # the two definitions really differ here


def _dcase_reference(y, s, min_threshold):
    """Independent loop implementation of the DCASE-UST scorer's rules (thresholds + 1.0, (R asc, t desc))."""
    y, s = y.ravel().astype(bool), s.ravel()
    th = np.unique(np.r_[s[s >= min_threshold], 1.0])[::-1]
    P, R = [], []
    for t in th:
        pred = s >= t
        tp, fp, fn = np.sum(pred & y), np.sum(pred & ~y), np.sum(~pred & y)
        P.append(tp / max(tp + fp, 0.5))
        R.append(tp / max(tp + fn, 0.5))
    order = np.argsort(R, kind="stable")
    return auc(np.r_[0.0, np.asarray(R)[order], 1.0], np.r_[1.0, np.asarray(P)[order], 0.0])


@pytest.mark.parametrize("min_threshold", [0.0, 0.01, 0.35])
def test_dcase_micro_and_macro_match_loop_reference(min_threshold):
    assert M.auprc_dcase(Y, S, average="micro", min_threshold=min_threshold) == pytest.approx(
        _dcase_reference(Y, S, min_threshold)
    )
    per_class = [_dcase_reference(Y[:, k], S[:, k], min_threshold) for k in range(3)]
    assert M.auprc_dcase(Y, S, average="macro", min_threshold=min_threshold) == pytest.approx(np.mean(per_class))


def test_perfect_ranking_and_f1():
    y = np.array([[1, 0], [0, 1], [1, 0]])
    s = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
    # the scorer's (0,0) point at t=1.0 halves the first segment: 1 - (1/3)/2 for 3 positives
    assert M.auprc_dcase(y, s) == pytest.approx(5 / 6)
    assert M.average_precision(y, s) == pytest.approx(1.0)
    assert M.micro_f1(y, s) == pytest.approx(1.0)
    # one false positive at 0.5: tp=3, fp=1, fn=0 -> 6/7
    s2 = s.copy()
    s2[0, 1] = 0.6
    assert M.micro_f1(y, s2) == pytest.approx(6 / 7)


def test_tagging_inputs_validated():
    with pytest.raises(ParameterError):
        M.auprc_dcase(np.array([[2, 0]]), np.array([[0.1, 0.2]]))
    with pytest.raises(ParameterError):
        M.average_precision(Y, S[:, :2])
    with pytest.raises(ParameterError):
        M.auprc_dcase(Y, S, average="weighted")


def test_linear_cka_properties(rng):
    x = rng.standard_normal((500, 16))
    q, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    assert M.linear_cka(x, x) == pytest.approx(1.0)
    assert M.linear_cka(x, x @ q) == pytest.approx(1.0)  # orthogonal transform
    assert M.linear_cka(x, 7.5 * x) == pytest.approx(1.0)  # isotropic scaling
    assert M.linear_cka(x, x + 3.0) == pytest.approx(1.0)  # translation (centred)
    assert M.linear_cka(x, x @ q * 0.1) == pytest.approx(M.linear_cka(x @ q * 0.1, x))  # symmetric
    # a non-isotropic linear map is not invariant, and unrelated features score low
    a = np.diag(np.r_[10.0, np.ones(15) * 0.01])
    assert M.linear_cka(x, x @ a) < 0.5
    assert M.linear_cka(x, rng.standard_normal((500, 8))) < 0.2
    # different widths are fine
    assert 0.0 < M.linear_cka(x, x[:, :4]) < 1.0


def test_cosine_r2_agreement(rng):
    t = rng.standard_normal((200, 8))
    assert M.frame_cosine(t, t) == pytest.approx(1.0)
    assert M.frame_cosine(-t, t) == pytest.approx(-1.0)
    assert M.r2_score(t, t) == pytest.approx(1.0)
    assert M.r2_score(np.tile(t.mean(0), (200, 1)), t) == pytest.approx(0.0)
    noisy = t + 0.5 * rng.standard_normal(t.shape)
    assert 0.5 < M.r2_score(noisy, t) < 0.9
    with pytest.raises(ParameterError):
        M.r2_score(t[:, :4], t)
    assert M.agreement([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    assert M.fold_summary([0.5, 0.7]) == {"mean": pytest.approx(0.6), "std": pytest.approx(0.1), "per_fold": [0.5, 0.7]}
    cm = M.confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]


def test_linear_probe_trains_on_the_validation_clips_too():
    """logreg has no early stopping: a class seen only in the validation clips is still learnt (leave-one-fold-out
    trains the probe on every fold but the test fold); the MLP keeps validation for its epoch choice."""
    from sea.evaluate.classifiers import ClassifierSettings, FrameData, fit_predict

    rng = np.random.default_rng(0)
    y = np.array([0] * 6 + [1] * 6 + [2] * 6)
    centres = np.eye(3) * 5
    X = np.concatenate([centres[c] + rng.standard_normal((2, 3)) * 0.1 for c in y]).astype(np.float32)
    data = FrameData(features=X, clip_index=np.repeat(np.arange(len(y)), 2))
    train = np.array([0, 1, 2, 3, 6, 7, 8, 9])  # classes 0 and 1
    val = np.array([12, 13, 14, 15])  # class 2 appears only here
    test = np.array([4, 5, 10, 11, 16, 17])
    scores, info = fit_predict("logreg", data, y, train, val, test, n_classes=3, multilabel=False,
                               settings=ClassifierSettings())  # fmt: skip
    assert info["n_train_clips"] == 12
    assert np.array_equal(scores.argmax(axis=1), y[test])
