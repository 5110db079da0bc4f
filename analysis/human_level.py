"""Human-level performance (HLP) per slice, and the gap analysis built on it.

HLP here is the mean accuracy of several labelers. With ground truth each
labeler is scored against it (basis "ground_truth"). Without ground truth
each labeler is scored against the plurality label of the *other* labelers
(leave-one-out, basis "agreement"); that number says how well people agree
with each other, not what is achievable, and the result says so.

Public functions:
  labeler_scores          per-example, per-labeler score (1/0, fractional on ties)
  human_level_performance per-slice HLP table (+ basis and note)
  model_accuracy_by_slice per-slice accuracy of a model's predictions
  slice_groups            row positions of every value of a slice column
  gap_analysis            gap to HLP x share of data, ranked: what to work on
  hlp_gap_table           gap_analysis fed from the two tables above
  agreement_by_slice      inter-annotator agreement per slice

Fractions are in [0, 1] everywhere (0.006 means 0.6%).
"""

from __future__ import annotations

import dataclasses
from typing import Hashable, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from analysis.agreement import (MISSING, agreement_summary, check_known_labels, encode_labels,
                                label_counts, pairwise_cohen_kappa)

BASIS_GROUND_TRUTH = "ground_truth"
BASIS_AGREEMENT = "agreement"
OVERALL = "overall"  # slice_column of the whole-dataset row
ALL = "all"  # its slice_value

NOTE_GROUND_TRUTH = (
    "HLP is the mean accuracy of the labelers against ground truth; "
    "best_labeler is the most accurate labeler, a tighter estimate of what is possible."
)
NOTE_AGREEMENT = (
    "No ground truth: HLP is leave-one-out agreement (each labeler against the "
    "plurality label of the other labelers). It measures how well people agree "
    "with each other, not what is possible."
)

# Potentials closer than this are treated as tied when ranking, so that
# float noise (0.95 - 0.94 is not exactly 0.01) cannot reorder equal slices.
_TIE_DECIMALS = 12


@dataclasses.dataclass(frozen=True)
class HumanLevelResult:
    """HLP table plus how it was measured.

    table columns: slice_column (OVERALL for the whole-dataset row),
    slice_value (ALL for it), n_examples (rows in the slice), basis, hlp
    (mean of the labelers' accuracies), best_labeler (highest of them), and
    for every labeler L: "L_accuracy" and "L_n" (examples that labeler was
    scored on in the slice).
    """

    table: pd.DataFrame
    basis: str
    note: str
    labelers: Tuple[str, ...]


def _check_columns(df: pd.DataFrame, columns: Sequence[str], role: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{role} column(s) {missing} not in the DataFrame (columns: {list(df.columns)})")


def _ground_truth_codes(truth: pd.Series, classes: Sequence[Hashable], column: str) -> np.ndarray:
    if truth.isna().any():
        raise ValueError(
            f"ground truth column {column!r} has {int(truth.isna().sum())} missing value(s); "
            "drop those rows or run without ground truth"
        )
    check_known_labels(truth, classes, f"ground truth column {column!r}")
    mapping = {c: i for i, c in enumerate(classes)}
    return truth.map(mapping).astype(np.int64).to_numpy()


def _leave_one_out_scores(codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Score of each labeler against the plurality of the others.

    Ties among the others' most common labels: the labeler gets 1/k when
    their label is one of the k tied labels, else 0. That is the expected
    agreement under a uniformly random tie-break, and it keeps the result
    deterministic and independent of column order. NaN where the labeler
    gave no label or no other labeler labeled the example.
    """
    counts = label_counts(codes, n_classes)
    rows = np.arange(codes.shape[0])
    scores = np.full(codes.shape, np.nan)
    for j in range(codes.shape[1]):
        own = codes[:, j]
        present = own != MISSING
        others = counts.copy()
        others[rows[present], own[present]] -= 1
        top = others.max(axis=1)
        scorable = present & (others.sum(axis=1) > 0)
        n_tied = (others == top[:, None]).sum(axis=1)
        hit = others[rows, np.where(present, own, 0)] == top
        scores[scorable, j] = hit[scorable] / n_tied[scorable]
    return scores


def labeler_scores(
    df: pd.DataFrame,
    labeler_columns: Sequence[str],
    label_column: Optional[str] = None,
    classes: Optional[Sequence[Hashable]] = None,
) -> Tuple[pd.DataFrame, str]:
    """Per-example score of every labeler, and the basis of the scores.

    Returns (scores, basis): scores has df's index and one float column per
    labeler: 1.0 correct / 0.0 wrong against ground truth when label_column
    is given (basis "ground_truth"), else leave-one-out agreement (basis
    "agreement", see _leave_one_out_scores). NaN where a labeler is not scored.
    """
    labeler_columns = list(labeler_columns)
    if len(labeler_columns) < 2:
        raise ValueError(f"need at least 2 labeler columns, got {labeler_columns}")
    _check_columns(df, labeler_columns, "labeler")
    if label_column is not None:
        _check_columns(df, [label_column], "label")
        if classes is None:
            # The classes must cover the ground truth too, or a class only
            # the truth uses would be reported as unknown.
            frame = df[labeler_columns + [label_column]]
            classes = encode_labels(frame)[1]
    codes, classes, _ = encode_labels(df[labeler_columns], classes)
    if label_column is None:
        scores = _leave_one_out_scores(codes, len(classes))
        basis = BASIS_AGREEMENT
    else:
        truth = _ground_truth_codes(df[label_column], classes, label_column)
        scores = np.where(codes == MISSING, np.nan, (codes == truth[:, None]).astype(float))
        basis = BASIS_GROUND_TRUTH
    return pd.DataFrame(scores, index=df.index, columns=labeler_columns), basis


def slice_groups(values: pd.Series) -> List[Tuple[Hashable, np.ndarray]]:
    """(value, row positions) for every value present in `values`, sorted,
    then (NaN, positions) for missing values if there are any.

    Done by hand because pandas 1.5 groupby either drops missing keys or
    fails on them depending on the dtype, and lists unobserved categories
    of a categorical column as empty groups.
    """
    array = values.to_numpy(dtype=object)
    missing = pd.isna(values).to_numpy()
    groups = []
    for value in sorted(pd.unique(array[~missing]).tolist(), key=lambda v: (str(type(v)), v)):
        groups.append((value, np.nonzero((array == value) & ~missing)[0]))
    if missing.any():
        groups.append((np.nan, np.nonzero(missing)[0]))
    return groups


def _slice_row(scores: pd.DataFrame, slice_column: str, slice_value, n_rows: int, basis: str) -> dict:
    accuracies = scores.mean(axis=0, skipna=True)
    scored = scores.notna().sum(axis=0)
    if int(scored.sum()) == 0:
        raise ValueError(
            f"slice {slice_column}={slice_value!r} has {n_rows} row(s) but zero scorable "
            "examples (no labels, or no example with 2 or more labels)"
        )
    row = {
        "slice_column": slice_column,
        "slice_value": slice_value,
        "n_examples": n_rows,
        "basis": basis,
        # Unweighted over labelers: HLP describes a typical person, so a
        # labeler who did more examples should not count for more.
        "hlp": float(accuracies.mean(skipna=True)),
        "best_labeler": float(accuracies.max(skipna=True)),
    }
    for labeler in scores.columns:
        row[f"{labeler}_accuracy"] = float(accuracies[labeler])
        row[f"{labeler}_n"] = int(scored[labeler])
    return row


def human_level_performance(
    df: pd.DataFrame,
    labeler_columns: Sequence[str],
    label_column: Optional[str] = None,
    slice_columns: Sequence[str] = (),
    classes: Optional[Sequence[Hashable]] = None,
) -> HumanLevelResult:
    """HLP overall and for every value of every slice column.

    df: one row per example with the labelers' labels (missing allowed),
    optionally the ground truth `label_column` (no missing values), and the
    slice columns. Rows of a slice column that are missing form their own
    slice (slice_value NaN). Raises ValueError for fewer than 2 labelers,
    unknown labels (when `classes` is given), missing columns, an empty
    DataFrame, or a slice with nothing to score.
    """
    if len(df) == 0:
        raise ValueError("the DataFrame has zero rows: nothing to measure")
    slice_columns = list(slice_columns)
    _check_columns(df, slice_columns, "slice")
    scores, basis = labeler_scores(df, labeler_columns, label_column, classes)
    rows = [_slice_row(scores, OVERALL, ALL, len(df), basis)]
    for column in slice_columns:
        for value, positions in slice_groups(df[column]):
            rows.append(_slice_row(scores.iloc[positions], column, value, len(positions), basis))
    note = NOTE_GROUND_TRUTH if basis == BASIS_GROUND_TRUTH else NOTE_AGREEMENT
    return HumanLevelResult(pd.DataFrame(rows), basis, note, tuple(scores.columns))


def model_accuracy_by_slice(
    df: pd.DataFrame,
    label_column: str,
    prediction_column: str,
    slice_columns: Sequence[str] = (),
    classes: Optional[Sequence[Hashable]] = None,
) -> pd.DataFrame:
    """Model accuracy overall and per slice value.

    Columns: slice_column, slice_value, n_examples, model (accuracy), in the
    same layout as HumanLevelResult.table so the two merge on
    (slice_column, slice_value).
    """
    if len(df) == 0:
        raise ValueError("the DataFrame has zero rows: nothing to measure")
    slice_columns = list(slice_columns)
    _check_columns(df, [label_column, prediction_column], "label/prediction")
    _check_columns(df, slice_columns, "slice")
    for column in (label_column, prediction_column):
        if df[column].isna().any():
            raise ValueError(f"column {column!r} has missing values")
        if classes is not None:
            check_known_labels(df[column], classes, f"column {column!r}")
    correct = (df[label_column].to_numpy() == df[prediction_column].to_numpy()).astype(float)
    rows = [{"slice_column": OVERALL, "slice_value": ALL, "n_examples": len(df), "model": correct.mean()}]
    for column in slice_columns:
        for value, positions in slice_groups(df[column]):
            rows.append(
                {
                    "slice_column": column,
                    "slice_value": value,
                    "n_examples": len(positions),
                    "model": correct[positions].mean(),
                }
            )
    return pd.DataFrame(rows, columns=["slice_column", "slice_value", "n_examples", "model"])


def _check_fraction(table: pd.DataFrame, column: str, low_open: bool = False) -> None:
    for name, value in zip(table["slice"], table[column]):
        if pd.isna(value):
            raise ValueError(f"slice {name!r} has no {column} value")
        if low_open and value == 0:
            raise ValueError(f"slice {name!r} has zero share of the data (no examples)")
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"slice {name!r}: {column} must be a fraction in [0, 1], got {value}")


def gap_analysis(slices: pd.DataFrame) -> pd.DataFrame:
    """Rank slices by how much closing their gap to HLP would gain overall.

    slices: one row per slice with columns slice (a name), model (the
    model's metric on the slice, e.g. accuracy), hlp, share (the slice's
    fraction of all data, > 0), all fractions in [0, 1]; extra columns are
    kept. Slices may overlap (shares need not sum to 1).

    Adds: gap = max(hlp - model, 0) -- floored because once a model beats
    HLP on a slice, HLP no longer says how much is left to gain there (such
    rows are flagged in model_above_hlp); potential = gap * share, the
    overall accuracy gained if the slice reached HLP; rank (1 = work on
    first; tied potentials share a rank). Sorted by potential descending,
    ties kept in input order.
    """
    missing = {"slice", "model", "hlp", "share"} - set(slices.columns)
    if missing:
        raise ValueError(f"gap_analysis input lacks column(s) {sorted(missing)}")
    if len(slices) == 0:
        raise ValueError("gap_analysis needs at least one slice")
    if slices["slice"].duplicated().any():
        duplicated = slices.loc[slices["slice"].duplicated(), "slice"].tolist()
        raise ValueError(f"slice names must be unique; duplicated: {duplicated}")
    _check_fraction(slices, "model")
    _check_fraction(slices, "hlp")
    _check_fraction(slices, "share", low_open=True)
    table = slices.copy()
    raw_gap = table["hlp"].astype(float) - table["model"].astype(float)
    table["gap"] = raw_gap.clip(lower=0.0)
    table["potential"] = table["gap"] * table["share"].astype(float)
    table["model_above_hlp"] = raw_gap < 0
    key = table["potential"].round(_TIE_DECIMALS)
    table["rank"] = key.rank(method="min", ascending=False).astype(int)
    order = np.argsort(-key.to_numpy(), kind="stable")
    return table.iloc[order].reset_index(drop=True)


def hlp_gap_table(hlp_table: pd.DataFrame, model_table: pd.DataFrame) -> pd.DataFrame:
    """gap_analysis over every slice value, from the two per-slice tables.

    hlp_table: HumanLevelResult.table; model_table: model_accuracy_by_slice
    output (same data, so the same slices). share = slice n_examples / the
    overall row's n_examples. The overall row is left out of the ranking.
    slice is named "column=value"; slice_column and slice_value are kept.
    Different slice columns overlap (every example is in one age_band and
    one gender), so potentials of different columns must not be added up.
    """
    keys = ["slice_column", "slice_value"]
    overall = hlp_table[hlp_table["slice_column"] == OVERALL]
    if len(overall) != 1:
        raise ValueError("hlp_table must hold exactly one overall row (human_level_performance output)")
    total = int(overall["n_examples"].iloc[0])
    merged = hlp_table[keys + ["n_examples", "hlp"]].merge(
        model_table[keys + ["model"]], on=keys, how="outer", indicator=True
    )
    unmatched = merged[merged["_merge"] != "both"]
    if len(unmatched):
        pairs = [f"{c}={v}" for c, v in zip(unmatched["slice_column"], unmatched["slice_value"])]
        raise ValueError(f"slices present in only one of the tables: {pairs}")
    merged = merged[merged["slice_column"] != OVERALL].drop(columns="_merge")
    merged.insert(0, "slice", [f"{c}={v}" for c, v in zip(merged["slice_column"], merged["slice_value"])])
    merged["share"] = merged["n_examples"] / total
    return gap_analysis(merged.reset_index(drop=True))


def safe_agreement(labels: pd.DataFrame, classes) -> dict:
    """agreement_summary, NaN where too few labels pair up."""
    try:
        return agreement_summary(labels, classes)
    except ValueError:
        # Too few pairable labels in a small slice: undefined, not an error.
        return {"fleiss_kappa": np.nan, "krippendorff_alpha": np.nan, "mean_pairwise_cohen_kappa": np.nan}


def agreement_by_slice(labeled: pd.DataFrame, labelers, columns, classes) -> pd.DataFrame:
    """Inter-annotator agreement overall and per slice value, with pairwise kappas."""

    def row(slice_column, slice_value, frame):
        result = {"slice_column": slice_column, "slice_value": slice_value, "n_labeled": len(frame)}
        summary = safe_agreement(frame[labelers], classes)
        for key in ("fleiss_kappa", "krippendorff_alpha", "mean_pairwise_cohen_kappa"):
            result[key] = summary[key]
        pairs = pairwise_cohen_kappa(frame[labelers], classes)
        for a, b, kappa in zip(pairs["labeler_a"], pairs["labeler_b"], pairs["kappa"]):
            result[f"kappa {a}~{b}"] = kappa
        return result

    rows = [row(OVERALL, ALL, labeled)]
    for column in columns:
        for value, positions in slice_groups(labeled[column]):
            rows.append(row(column, value, labeled.iloc[positions]))
    return pd.DataFrame(rows)
