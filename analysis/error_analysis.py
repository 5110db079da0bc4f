"""Error analysis by tag: which kinds of examples hold the model's errors.

A tag is either a (column, value) pair of a categorical tag column (e.g.
channel=web) or a boolean tag column (the tag is set where it is True). One
example usually carries several tags, so the per-tag fractions of errors do
not add up to 1.

Public functions:
  tag_masks               {tag name: boolean mask} for all tags of a DataFrame
  error_analysis_by_tag   one row per tag: share of errors, error rate,
                          share of data, and room for improvement to HLP
"""

from __future__ import annotations

from typing import Dict, Hashable, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from analysis.agreement import check_known_labels
from analysis.human_level import labeler_scores

COLUMNS = [
    "tag",
    "tag_column",
    "tag_value",
    "n_examples",
    "n_errors",
    "fraction_of_errors",
    "error_rate",
    "fraction_of_data",
    "model_accuracy",
    "hlp_accuracy",
    "gap",
    "potential",
]
SORT_KEYS = ("fraction_of_errors", "potential", "error_rate", "fraction_of_data")


def _boolean_mask(series: pd.Series) -> np.ndarray:
    # Missing means "not tagged"; anything other than booleans or 0/1 is
    # more likely a categorical column passed in the wrong argument.
    present = series.dropna()
    bad = sorted({v for v in present if v not in (True, False)}, key=str)
    if bad:
        raise ValueError(
            f"boolean tag column {series.name!r} holds non-boolean value(s) {bad[:5]}; "
            "pass it in tag_columns instead"
        )
    return series.fillna(False).astype(bool).to_numpy()


def tag_masks(
    df: pd.DataFrame,
    tag_columns: Sequence[str] = (),
    boolean_tag_columns: Sequence[str] = (),
) -> Dict[str, Tuple[str, Hashable, np.ndarray]]:
    """All tags of df: {"column=value" or column: (column, value, mask)}.

    For categorical tag columns every non-missing value is a tag (rows with
    a missing value carry no tag of that column); for boolean tag columns
    the value is True. Raises ValueError for a boolean tag that marks zero
    examples, since no rate can be computed on it.
    """
    missing = [c for c in list(tag_columns) + list(boolean_tag_columns) if c not in df.columns]
    if missing:
        raise ValueError(f"tag column(s) {missing} not in the DataFrame")
    overlap = set(tag_columns) & set(boolean_tag_columns)
    if overlap:
        raise ValueError(f"column(s) {sorted(overlap)} given both as categorical and boolean tags")
    masks: Dict[str, Tuple[str, Hashable, np.ndarray]] = {}
    for column in tag_columns:
        values = df[column]
        for value in sorted(values.dropna().unique(), key=str):
            masks[f"{column}={value}"] = (column, value, (values == value).to_numpy())
    for column in boolean_tag_columns:
        mask = _boolean_mask(df[column])
        if not mask.any():
            raise ValueError(f"boolean tag {column!r} marks zero examples")
        masks[column] = (column, True, mask)
    if not masks:
        raise ValueError("no tags: give tag_columns and/or boolean_tag_columns")
    return masks


def _check_labels(df, label_column, prediction_column, classes) -> None:
    for column in (label_column, prediction_column):
        if column not in df.columns:
            raise ValueError(f"column {column!r} not in the DataFrame")
        if df[column].isna().any():
            raise ValueError(f"column {column!r} has {int(df[column].isna().sum())} missing value(s)")
        if classes is not None:
            check_known_labels(df[column], classes, f"column {column!r}")


def error_analysis_by_tag(
    df: pd.DataFrame,
    label_column: str,
    prediction_column: str,
    tag_columns: Sequence[str] = (),
    boolean_tag_columns: Sequence[str] = (),
    labeler_columns: Sequence[str] = (),
    classes: Optional[Sequence[Hashable]] = None,
    sort_by: str = "fraction_of_errors",
) -> pd.DataFrame:
    """One row per tag, sorted descending by `sort_by` (ties in tag order).

    Columns:
      tag, tag_column, tag_value  which tag ("channel=web", or the boolean column)
      n_examples, n_errors        examples carrying the tag, and errors among them
      fraction_of_errors          n_errors / all errors (NaN if the model made none)
      error_rate                  n_errors / n_examples
      fraction_of_data            n_examples / all examples
      model_accuracy              1 - error_rate
      hlp_accuracy                mean labeler accuracy against label_column on
                                  the tag (NaN without labeler_columns)
      gap                         max(hlp_accuracy - model_accuracy, 0): floored
                                  as in human_level.gap_analysis
      potential                   gap * fraction_of_data: overall accuracy gained
                                  if the tag's examples reached HLP
    """
    if sort_by not in SORT_KEYS:
        raise ValueError(f"sort_by must be one of {SORT_KEYS}, got {sort_by!r}")
    if len(df) == 0:
        raise ValueError("the DataFrame has zero rows: nothing to analyse")
    _check_labels(df, label_column, prediction_column, classes)
    masks = tag_masks(df, tag_columns, boolean_tag_columns)
    errors = (df[label_column].to_numpy() != df[prediction_column].to_numpy())
    total_errors = int(errors.sum())
    scores = None
    if labeler_columns:
        scores = labeler_scores(df, labeler_columns, label_column, classes)[0].to_numpy()
    rows = []
    for tag, (column, value, mask) in masks.items():
        n = int(mask.sum())
        n_errors = int(errors[mask].sum())
        hlp = _hlp_on(scores, mask) if scores is not None else np.nan
        model_accuracy = 1.0 - n_errors / n
        gap = max(hlp - model_accuracy, 0.0) if not np.isnan(hlp) else np.nan
        rows.append(
            {
                "tag": tag,
                "tag_column": column,
                "tag_value": value,
                "n_examples": n,
                "n_errors": n_errors,
                "fraction_of_errors": n_errors / total_errors if total_errors else np.nan,
                "error_rate": n_errors / n,
                "fraction_of_data": n / len(df),
                "model_accuracy": model_accuracy,
                "hlp_accuracy": hlp,
                "gap": gap,
                "potential": gap * n / len(df),
            }
        )
    table = pd.DataFrame(rows, columns=COLUMNS)
    order = np.argsort(-table[sort_by].fillna(-np.inf).to_numpy(), kind="stable")
    return table.iloc[order].reset_index(drop=True)


def _hlp_on(scores: np.ndarray, mask: np.ndarray) -> float:
    subset = scores[mask]
    scored = ~np.isnan(subset)
    if not scored.any():
        return np.nan
    # Per-labeler accuracy, then the mean over labelers, as in human_level.
    per_labeler = np.nansum(subset, axis=0) / np.maximum(scored.sum(axis=0), 1)
    return float(per_labeler[scored.any(axis=0)].mean())
