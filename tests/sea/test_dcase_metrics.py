"""SONYC-UST micro/macro AUPRC against the official DCASE-UST scorer's documented rules.

The reference below is written from the scorer's rules (the team's protocol research notes, SPEC
§1, which read the official ``metrics.py`` of the DCASE 2019/2020 baselines and SEA's copy), not from
sea's code, and computes in exact fractions:

* thresholds: the distinct scores ``>= 0.01``, plus 1.0 (always);
* a decision is positive when ``score >= t``; P = TP / max(TP + FP, 1/2), R = TP / max(TP + FN, 1/2);
* the points are ordered by R ascending, ties by t descending; (R=0, P=1) is prepended and (R=1, P=0)
  appended; the area is the trapezoid sum;
* micro pools every (clip, class) pair; macro is the mean over every class, a class without positives
  scoring 0 (SEA's scorer; the DCASE 2020 baseline crashes on it).

The worked examples A-E carry their exact values (checked against both official scorers in SPEC.md
§1.9). ``_old_sea_auprc`` is sea's implementation before this change (no threshold 1.0, empty classes
skipped): the examples show where it was wrong.
"""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest

from sea.evaluate import metrics as M


def _reference_area(y, s, min_threshold=F(1, 100)) -> F:
    """The DCASE-UST area of one pool, in exact fractions, from the documented rules."""
    y = [int(v) for v in y]
    s = [F(str(v)) for v in s]
    thresholds = sorted({v for v in s if v >= min_threshold} | {F(1)}, reverse=True)
    points = []
    for t in thresholds:  # descending, so a stable sort by recall keeps ties in descending t
        tp = sum(1 for v, lab in zip(s, y) if v >= t and lab)
        fp = sum(1 for v, lab in zip(s, y) if v >= t and not lab)
        fn = sum(1 for v, lab in zip(s, y) if v < t and lab)
        points.append((F(tp) / max(F(tp + fp), F(1, 2)), F(tp) / max(F(tp + fn), F(1, 2))))
    points.sort(key=lambda pr: pr[1])
    curve = [(F(1), F(0))] + points + [(F(0), F(1))]  # (P, R)
    return sum(((r1 - r0) * (p0 + p1) / 2 for (p0, r0), (p1, r1) in zip(curve, curve[1:])), F(0))


def reference_micro(y, s) -> F:
    return _reference_area(np.asarray(y).ravel(), np.asarray(s).ravel())


def reference_macro(y, s) -> F:
    y, s = np.asarray(y), np.asarray(s)
    return sum((_reference_area(y[:, k], s[:, k]) for k in range(y.shape[1])), F(0)) / y.shape[1]


def _old_sea_auprc(y, s, average="micro", min_threshold=0.01):
    """sea's AUPRC before the fix (kept here to show the defect): no threshold 1.0, empty classes skipped."""

    def area(yy, ss):
        yy = yy.astype(bool)
        th = np.unique(ss)
        th = th[th >= min_threshold]
        tp = np.array([np.sum((ss >= t) & yy) for t in th], float)
        fp = np.array([np.sum((ss >= t) & ~yy) for t in th], float)
        fn = yy.sum() - tp
        p, r = tp / np.maximum(tp + fp, 0.5), tp / np.maximum(tp + fn, 0.5)
        return float(abs(np.trapezoid(np.r_[0.0, p, 1.0], np.r_[1.0, r, 0.0])))

    y, s = np.asarray(y), np.asarray(s, float)
    if average == "micro":
        return area(y.ravel(), s.ravel())
    return float(np.mean([area(y[:, k], s[:, k]) for k in range(y.shape[1]) if y[:, k].any()]))


C_Y = [[1, 0], [0, 1], [1, 0], [0, 1]]
C_S = [[0.9, 0.2], [0.6, 0.8], [0.6, 0.95], [0.005, 0.2]]
#: id: (y, s, exact micro, exact macro)
EXAMPLES = {
    "A": ([[0], [1], [1], [0], [1], [0]], [[0.95], [0.9], [0.7], [0.7], [0.4], [0.005]], F(13, 30), F(13, 30)),
    "B": ([[1], [1], [0], [1]], [[0.9], [0.7], [0.7], [0.4]], F(49, 72), F(49, 72)),
    "C": (C_Y, C_S, F(431, 840), F(25, 48)),
    "D": (
        [row + [0] for row in C_Y],
        [row + [0.005] for row in C_S],
        F(431, 840),
        F(25, 72),  # the class without positives counts as 0 in the mean
    ),
    "E": ([[1], [0], [1], [1]], [[0.8], [0.8], [0.6], [0.005]], F(7, 18), F(7, 18)),
}


@pytest.mark.claim
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_worked_examples_exact(name):
    y, s, micro, macro = EXAMPLES[name]
    # the reference reproduces the values documented for the official scorer, exactly
    assert reference_micro(y, s) == micro
    assert reference_macro(y, s) == macro
    # and sea matches them to float rounding
    assert M.auprc_dcase(y, s, average="micro") == pytest.approx(float(micro), abs=1e-12)
    assert M.auprc_dcase(y, s, average="macro") == pytest.approx(float(macro), abs=1e-12)


def test_old_sea_code_fails_the_examples():
    """The defects the fix removes: +r1/2 when the top score is a positive (no t=1.0), empty classes skipped."""
    for name, (y, s, micro, _macro) in EXAMPLES.items():
        if name in ("B", "E"):
            assert _old_sea_auprc(y, s) != pytest.approx(float(micro), abs=1e-6), name
            assert M.auprc_dcase(y, s) != pytest.approx(_old_sea_auprc(y, s), abs=1e-6), name
    assert _old_sea_auprc(*EXAMPLES["B"][:2]) == pytest.approx(61 / 72)
    assert _old_sea_auprc(*EXAMPLES["E"][:2]) == pytest.approx(5 / 9)
    assert _old_sea_auprc(*EXAMPLES["C"][:2], average="macro") == pytest.approx(0.645833, abs=1e-6)
    assert _old_sea_auprc(*EXAMPLES["D"][:2], average="macro") == pytest.approx(0.645833, abs=1e-6)  # skipped
    assert M.auprc_dcase(*EXAMPLES["D"][:2], average="macro", empty="skip") == pytest.approx(25 / 48)


def test_hand_derivation_of_b():
    """B: thresholds {1, .9, .7, .4} -> (0,0), (1/3,1), (2/3,2/3), (1,3/4); area 1/6 + 5/18 + 17/72."""
    assert F(1, 6) + F(5, 18) + F(17, 72) == F(49, 72)
    assert M.auprc_dcase(*EXAMPLES["B"][:2]) == pytest.approx(49 / 72, abs=1e-12)


def test_class_without_positives_scores_zero_and_is_reported():
    y, s = np.asarray(EXAMPLES["D"][0]), np.asarray(EXAMPLES["D"][1])
    m = M.tagging_metrics(y, s)
    assert m["per_class_auprc"][2] == 0.0 and m["classes_without_positives"] == [2]
    assert m["per_class_auprc"][0] == pytest.approx(2 / 3) and m["per_class_auprc"][1] == pytest.approx(3 / 8)
    assert m["macro_auprc"] == pytest.approx(25 / 72)


def test_perfect_ranking_is_five_sixths_not_one():
    """The (0, 0) point at t = 1.0 costs the first segment half its area: a perfect ranking of 3 positives."""
    y = [[1], [1], [1], [0], [0], [0]]
    s = [[0.9], [0.8], [0.7], [0.3], [0.2], [0.1]]
    assert reference_micro(y, s) == F(5, 6)
    assert M.auprc_dcase(y, s) == pytest.approx(5 / 6, abs=1e-12)


def test_scores_below_min_threshold_never_thresholds():
    # a positive at 0.005 stays a false negative; with min_threshold 0 it becomes a threshold
    y, s = EXAMPLES["E"][:2]
    assert M.auprc_dcase(y, s, min_threshold=0.0) > M.auprc_dcase(y, s)


@pytest.mark.parametrize("seed", range(6))
def test_random_data_matches_reference(seed):
    """Random scores on a coarse grid (many ties across classes), 20 clips x 8 classes."""
    rng = np.random.default_rng(seed)
    y = (rng.random((20, 8)) < 0.3).astype(int)
    y[:, 7] = 0  # one class without positives
    s = np.round(rng.random((20, 8)), 1)  # ties, exact 0.0 (below 0.01) and exact 1.0
    s = np.where(y == 1, np.minimum(s + 0.2, 1.0), s).round(1)
    assert M.auprc_dcase(y, s, average="micro") == pytest.approx(float(reference_micro(y, s)), abs=1e-12)
    assert M.auprc_dcase(y, s, average="macro") == pytest.approx(float(reference_macro(y, s)), abs=1e-12)


def test_micro_f1_of_examples():
    """Micro-F1 at 0.5 (the scorer's F at the first threshold >= 0.5): A 4/7; B, C and E 2/3."""
    for name, want in (("A", 4 / 7), ("B", 2 / 3), ("C", 2 / 3), ("E", 2 / 3)):
        y, s = EXAMPLES[name][:2]
        assert M.micro_f1(y, s) == pytest.approx(want), name
