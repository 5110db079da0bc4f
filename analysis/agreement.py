"""Inter-labeler agreement and label consistency, in plain numpy/pandas.

Input convention used throughout the analysis package: labels from several
labelers form a table with one row per example and one column per labeler
(a DataFrame, or anything `pd.DataFrame(...)` accepts). A missing label is
NaN, None or pd.NA. Classes are any hashable values (strings or ints).

Public functions:
  encode_labels           labels -> integer codes (-1 = missing), validating classes
  check_known_labels      raise on labels outside the declared classes
  cohen_kappa             Cohen's kappa of two labelers
  pairwise_cohen_kappa    Cohen's kappa for every pair of labelers (table)
  fleiss_kappa            Fleiss' kappa (complete examples only)
  krippendorff_alpha_nominal  Krippendorff's alpha, nominal, tolerates missing labels
  agreement_summary       the three statistics above in one dict

Where labelers disagree (examples, class pairs): analysis/disagreements.py.
"""

from __future__ import annotations

import itertools
from typing import Any, Hashable, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

MISSING = -1


# --------------------------------------------------------------------------
# Label encoding and validation (shared by the other analysis modules).
# --------------------------------------------------------------------------

def as_frame(labels: Any) -> pd.DataFrame:
    if isinstance(labels, pd.DataFrame):
        return labels
    frame = pd.DataFrame(labels)
    if frame.ndim != 2:
        raise ValueError("labels must be 2-D: one row per example, one column per labeler")
    return frame


def _sorted_classes(values: Sequence[Hashable]) -> List[Hashable]:
    # Mixed types (e.g. 1 and "1") cannot be ordered directly; a string key
    # still gives a deterministic order.
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def infer_classes(frame: pd.DataFrame) -> List[Hashable]:
    """Sorted distinct non-missing values over all columns of `frame`."""
    stacked = frame.stack()  # stack() drops missing values
    if stacked.empty:
        raise ValueError("no labels at all: every value is missing")
    return _sorted_classes(pd.unique(stacked.values).tolist())


def check_known_labels(values: Any, classes: Sequence[Hashable], what: str) -> None:
    """Raise ValueError naming `what` if a non-missing value is not in `classes`."""
    series = pd.Series(np.asarray(values, dtype=object).ravel())
    present = series[series.notna()]
    known = set(classes)
    unknown = sorted({v for v in present if v not in known}, key=str)
    if unknown:
        raise ValueError(
            f"{what} contains unknown class label(s) {unknown[:10]}; "
            f"known classes are {list(classes)}"
        )


def encode_labels(
    labels: Any, classes: Optional[Sequence[Hashable]] = None
) -> Tuple[np.ndarray, List[Hashable], List[str]]:
    """Encode a labels table as integer class codes.

    Returns (codes, classes, labeler_names): codes has shape
    (n_examples, n_labelers), value i means classes[i], MISSING (-1) means no
    label. Raises ValueError naming the labeler column that holds a label not
    in `classes` (when classes are given).
    """
    frame = as_frame(labels)
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"labeler columns must have distinct names, got {names}")
    if classes is None:
        classes = infer_classes(frame)
    classes = list(classes)
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes contain duplicates: {classes}")
    mapping = {c: i for i, c in enumerate(classes)}
    codes = np.full(frame.shape, MISSING, dtype=np.int64)
    for j, column in enumerate(frame.columns):
        check_known_labels(frame[column], classes, f"labeler column {column!r}")
        mapped = frame[column].map(mapping)
        present = mapped.notna().to_numpy()
        codes[present, j] = mapped[present].astype(np.int64).to_numpy()
    return codes, classes, names


def require_labelers(codes: np.ndarray, minimum: int = 2) -> None:
    if codes.shape[1] < minimum:
        raise ValueError(
            f"need at least {minimum} labelers (columns), got {codes.shape[1]}"
        )


def label_counts(codes: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_examples, n_classes) matrix: how many labelers gave each class."""
    counts = np.zeros((codes.shape[0], n_classes), dtype=np.int64)
    rows, cols = np.nonzero(codes != MISSING)
    np.add.at(counts, (rows, codes[rows, cols]), 1)
    return counts


# --------------------------------------------------------------------------
# Chance-corrected agreement statistics.
# --------------------------------------------------------------------------

def _kappa_from_codes(a: np.ndarray, b: np.ndarray, n_classes: int) -> Tuple[float, int, float]:
    both = (a != MISSING) & (b != MISSING)
    a, b = a[both], b[both]
    n = int(both.sum())
    if n == 0:
        return float("nan"), 0, float("nan")
    observed = float(np.mean(a == b))
    pa = np.bincount(a, minlength=n_classes) / n
    pb = np.bincount(b, minlength=n_classes) / n
    expected = float(pa @ pb)
    # Both labelers always gave the same single class: agreement beyond chance
    # is undefined (0/0); sklearn returns NaN here too.
    if np.isclose(expected, 1.0):
        return float("nan"), n, observed
    return (observed - expected) / (1.0 - expected), n, observed


def cohen_kappa(
    labels_a: Sequence[Hashable],
    labels_b: Sequence[Hashable],
    classes: Optional[Sequence[Hashable]] = None,
) -> float:
    """Cohen's kappa of two labelers over the examples both labeled.

    NaN when no example has both labels or when both labelers used one and
    the same class throughout (chance agreement is 1).
    """
    if len(labels_a) != len(labels_b):
        raise ValueError(
            f"labels_a and labels_b differ in length: {len(labels_a)} vs {len(labels_b)}"
        )
    frame = pd.DataFrame({"a": list(labels_a), "b": list(labels_b)}, dtype=object)
    codes, classes, _ = encode_labels(frame, classes)
    return _kappa_from_codes(codes[:, 0], codes[:, 1], len(classes))[0]


def pairwise_cohen_kappa(
    labels: Any, classes: Optional[Sequence[Hashable]] = None
) -> pd.DataFrame:
    """Cohen's kappa for every unordered pair of labelers.

    Columns: labeler_a, labeler_b, n_examples (labeled by both),
    observed_agreement, kappa.
    """
    codes, classes, names = encode_labels(labels, classes)
    require_labelers(codes)
    rows = []
    for i, j in itertools.combinations(range(codes.shape[1]), 2):
        kappa, n, observed = _kappa_from_codes(codes[:, i], codes[:, j], len(classes))
        rows.append(
            {
                "labeler_a": names[i],
                "labeler_b": names[j],
                "n_examples": n,
                "observed_agreement": observed,
                "kappa": kappa,
            }
        )
    return pd.DataFrame(rows, columns=["labeler_a", "labeler_b", "n_examples", "observed_agreement", "kappa"])


def fleiss_kappa(
    labels: Any,
    classes: Optional[Sequence[Hashable]] = None,
    drop_incomplete: bool = True,
) -> float:
    """Fleiss' kappa (1971) over examples that every labeler labeled.

    Fleiss' formula assumes the same number of ratings per example, so an
    example with a missing label is dropped (complete-case analysis) unless
    drop_incomplete=False, in which case a missing label raises. Use
    krippendorff_alpha_nominal to keep incomplete examples.
    """
    codes, classes, _ = encode_labels(labels, classes)
    require_labelers(codes)
    return _fleiss_from_codes(codes, len(classes), drop_incomplete)


def _fleiss_from_codes(codes: np.ndarray, n_classes: int, drop_incomplete: bool = True) -> float:
    complete = (codes != MISSING).all(axis=1)
    if not drop_incomplete and not complete.all():
        raise ValueError(
            f"{int((~complete).sum())} example(s) have a missing label; Fleiss' kappa "
            "needs every labeler on every example (pass drop_incomplete=True or use "
            "krippendorff_alpha_nominal)"
        )
    codes = codes[complete]
    if codes.shape[0] == 0:
        raise ValueError("no example was labeled by every labeler; Fleiss' kappa is undefined")
    n_raters = codes.shape[1]
    counts = label_counts(codes, n_classes).astype(float)
    per_example = (np.sum(counts * counts, axis=1) - n_raters) / (n_raters * (n_raters - 1.0))
    observed = per_example.mean()
    shares = counts.sum(axis=0) / counts.sum()
    expected = float(np.sum(shares * shares))
    if np.isclose(expected, 1.0):
        return float("nan")
    return float((observed - expected) / (1.0 - expected))


def coincidence_matrix(codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Krippendorff's coincidence matrix o[c, k] for nominal data.

    Each example with m >= 2 labels contributes every ordered pair of its
    labels from different labelers, weighted 1/(m-1); examples with fewer
    than 2 labels are not pairable and contribute nothing.
    """
    counts = label_counts(codes, n_classes).astype(float)
    m = counts.sum(axis=1)
    pairable = m >= 2
    counts, m = counts[pairable], m[pairable]
    # Ordered pairs (c, k) from distinct labelers: n_c*n_k, minus the
    # labeler-with-itself pairs n_c on the diagonal.
    pairs = np.einsum("uc,uk->uck", counts, counts)
    pairs[:, np.arange(n_classes), np.arange(n_classes)] -= counts
    return np.einsum("uck,u->ck", pairs, 1.0 / (m - 1.0))


def krippendorff_alpha_nominal(
    labels: Any, classes: Optional[Sequence[Hashable]] = None
) -> float:
    """Krippendorff's alpha for nominal labels; missing labels are allowed.

    alpha = 1 - (n - 1) * sum_{c!=k} o_ck / sum_{c!=k} n_c n_k, with o the
    coincidence matrix and n the number of pairable labels (Krippendorff
    2011, "Computing Krippendorff's alpha-reliability"). NaN when every
    pairable label is the same class (no expected disagreement).
    """
    codes, classes, _ = encode_labels(labels, classes)
    require_labelers(codes)
    return _alpha_from_codes(codes, len(classes))


def _alpha_from_codes(codes: np.ndarray, n_classes: int) -> float:
    o = coincidence_matrix(codes, n_classes)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if n < 2:
        raise ValueError("Krippendorff's alpha needs at least one example with 2 or more labels")
    off_diagonal = ~np.eye(n_classes, dtype=bool)
    observed = o[off_diagonal].sum()
    expected = np.outer(n_c, n_c)[off_diagonal].sum()
    if expected == 0:
        return float("nan")
    return float(1.0 - (n - 1.0) * observed / expected)


def agreement_summary(
    labels: Any, classes: Optional[Sequence[Hashable]] = None
) -> dict:
    """Headline agreement numbers for a labels table, JSON-friendly.

    Keys: n_examples, n_labelers, n_complete_examples, fleiss_kappa (NaN if
    no complete example), krippendorff_alpha, mean_pairwise_cohen_kappa.
    """
    codes, classes, names = encode_labels(labels, classes)
    require_labelers(codes)
    n_complete = int((codes != MISSING).all(axis=1).sum())
    kappas = np.array([
        _kappa_from_codes(codes[:, i], codes[:, j], len(classes))[0]
        for i, j in itertools.combinations(range(codes.shape[1]), 2)
    ])
    return {
        "n_examples": int(codes.shape[0]),
        "n_labelers": int(codes.shape[1]),
        "n_complete_examples": n_complete,
        "fleiss_kappa": _fleiss_from_codes(codes, len(classes)) if n_complete else float("nan"),
        "krippendorff_alpha": _alpha_from_codes(codes, len(classes)),
        # A pair that never co-labeled has no kappa; it should not turn the
        # mean into NaN while other pairs have one.
        "mean_pairwise_cohen_kappa": (
            float(np.nanmean(kappas)) if np.isfinite(kappas).any() else float("nan")
        ),
    }
