"""Quick-and-dirty baselines, evaluated side by side with real models.

A model is only impressive next to what is trivially achievable: the
majority class and a plain logistic regression set that bar.

Public functions:
  majority_class_predictions  predict the most common training label everywhere
  linear_baseline_predictions logistic regression on one-hot + standardized features
  system_metrics              accuracy and per-class precision/recall/F1 of one system
  baseline_table              both baselines on an eval set, one row per system
  add_system                  append a row for any other system's predictions
  add_model_rows              append "new model" / "last blessed model" rows
  ids_to_labels               class ids (what the model outputs) -> class labels
"""

from __future__ import annotations

from typing import Hashable, List, Optional, Sequence

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from analysis.agreement import check_known_labels

MAJORITY = "majority class"
LINEAR = "logistic regression"
NEW_MODEL = "new model"
BLESSED_MODEL = "last blessed model"

_MISSING_CATEGORY = "__missing__"


def _labels(values, what: str, classes: Optional[Sequence[Hashable]] = None) -> np.ndarray:
    array = np.asarray(values, dtype=object)
    if array.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {array.shape}")
    if len(array) == 0:
        raise ValueError(f"{what} is empty")
    if pd.isna(pd.Series(array)).any():
        raise ValueError(f"{what} has missing values")
    if classes is not None:
        check_known_labels(array, classes, what)
    return array


def majority_class_predictions(train_labels, n_predictions: int) -> np.ndarray:
    """The most common training label, repeated n_predictions times.

    Ties go to the label seen first in train_labels, so the result does not
    depend on how labels sort.
    """
    labels = _labels(train_labels, "train_labels")
    if n_predictions < 1:
        raise ValueError(f"n_predictions must be >= 1, got {n_predictions}")
    counts = pd.Series(labels).value_counts(sort=False)  # keeps first-seen order
    majority = counts.index[int(np.argmax(counts.to_numpy()))]
    return np.full(n_predictions, majority, dtype=object)


def _linear_pipeline(categorical_columns: List[str], numeric_columns: List[str], random_state: int) -> Pipeline:
    transformers = []
    if categorical_columns:
        categorical = make_pipeline(
            SimpleImputer(strategy="constant", fill_value=_MISSING_CATEGORY),
            # Categories unseen in training become all-zero rows rather than
            # an error: eval spans routinely bring new values.
            OneHotEncoder(handle_unknown="ignore"),
        )
        transformers.append(("categorical", categorical, categorical_columns))
    if numeric_columns:
        numeric = make_pipeline(SimpleImputer(strategy="mean"), StandardScaler())
        transformers.append(("numeric", numeric, numeric_columns))
    return Pipeline(
        [
            ("features", ColumnTransformer(transformers)),
            ("model", LogisticRegression(max_iter=1000, random_state=random_state)),
        ]
    )


def linear_baseline_predictions(
    train_df: pd.DataFrame,
    eval_df: pd.DataFrame,
    label_column: str,
    categorical_columns: Sequence[str] = (),
    numeric_columns: Sequence[str] = (),
    random_state: int = 0,
) -> np.ndarray:
    """Fit logistic regression on train_df and predict eval_df's labels.

    Categoricals: missing -> own category, one-hot, unseen values ignored.
    Numerics: mean-imputed (train mean), standardized (train statistics).
    """
    categorical_columns, numeric_columns = list(categorical_columns), list(numeric_columns)
    if not categorical_columns and not numeric_columns:
        raise ValueError("give at least one categorical or numeric feature column")
    if label_column in categorical_columns + numeric_columns:
        raise ValueError(f"label column {label_column!r} must not be a feature")
    for name, frame, needed in (
        ("train_df", train_df, categorical_columns + numeric_columns + [label_column]),
        ("eval_df", eval_df, categorical_columns + numeric_columns),
    ):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} lacks column(s) {missing}")
        if len(frame) == 0:
            raise ValueError(f"{name} has zero rows")
    y = _labels(train_df[label_column], f"train_df[{label_column!r}]")
    if len(pd.unique(y)) < 2:
        raise ValueError("train labels hold a single class: a classifier cannot be fitted")
    features = categorical_columns + numeric_columns
    train_x = _cast_categoricals(train_df[features], categorical_columns)
    eval_x = _cast_categoricals(eval_df[features], categorical_columns)
    pipeline = _linear_pipeline(categorical_columns, numeric_columns, random_state)
    pipeline.fit(train_x, y)
    return pipeline.predict(eval_x)


def _cast_categoricals(frame: pd.DataFrame, categorical_columns: List[str]) -> pd.DataFrame:
    # OneHotEncoder rejects columns mixing ints and strings (e.g.
    # loan_term_months read as int next to a string placeholder); strings
    # throughout avoid that, keeping NaN for the imputer.
    frame = frame.copy()
    for column in categorical_columns:
        values = frame[column]
        frame[column] = values.astype(object).where(values.isna(), values.astype(str))
    return frame


def system_metrics(
    system: str, y_true, y_pred, classes: Sequence[Hashable]
) -> dict:
    """One table row: system, n_examples, accuracy, macro_f1, and for every
    class c: precision_c, recall_c, f1_c.

    precision_c is NaN when the system never predicts c and recall_c is NaN
    when c never occurs (0/0), rather than 0, so "never predicted" stays
    visible; f1_c = 2TP / (2TP + FP + FN) is NaN only when c neither occurs
    nor is predicted. macro_f1 averages the defined f1 values.
    """
    classes = list(classes)
    y_true = _labels(y_true, f"{system}: true labels", classes)
    y_pred = _labels(y_pred, f"{system}: predictions", classes)
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"{system}: {len(y_pred)} predictions for {len(y_true)} true labels"
        )
    row = {"system": system, "n_examples": len(y_true), "accuracy": float(np.mean(y_true == y_pred))}
    f1s = []
    for c in classes:
        tp = int(np.sum((y_true == c) & (y_pred == c)))
        fp = int(np.sum((y_true != c) & (y_pred == c)))
        fn = int(np.sum((y_true == c) & (y_pred != c)))
        row[f"precision_{c}"] = tp / (tp + fp) if tp + fp else np.nan
        row[f"recall_{c}"] = tp / (tp + fn) if tp + fn else np.nan
        row[f"f1_{c}"] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else np.nan
        f1s.append(row[f"f1_{c}"])
    row["macro_f1"] = float(np.nanmean(f1s)) if not np.all(np.isnan(f1s)) else np.nan
    return row


def _column_order(classes: Sequence[Hashable]) -> List[str]:
    per_class = [f"{metric}_{c}" for c in classes for metric in ("precision", "recall", "f1")]
    return ["system", "n_examples", "accuracy", "macro_f1"] + per_class


def baseline_table(
    train_df: pd.DataFrame,
    eval_df: pd.DataFrame,
    label_column: str,
    classes: Sequence[Hashable],
    categorical_columns: Sequence[str] = (),
    numeric_columns: Sequence[str] = (),
    random_state: int = 0,
) -> pd.DataFrame:
    """Majority-class and logistic-regression rows, evaluated on eval_df.

    Columns: see system_metrics; per-class columns follow `classes` order.
    """
    classes = list(classes)
    if label_column not in eval_df.columns:
        raise ValueError(f"eval_df lacks the label column {label_column!r}")
    y_eval = _labels(eval_df[label_column], f"eval_df[{label_column!r}]", classes)
    _labels(train_df[label_column], f"train_df[{label_column!r}]", classes)
    rows = [
        system_metrics(MAJORITY, y_eval, majority_class_predictions(train_df[label_column], len(y_eval)), classes),
        system_metrics(
            LINEAR,
            y_eval,
            linear_baseline_predictions(
                train_df, eval_df, label_column, categorical_columns, numeric_columns, random_state
            ),
            classes,
        ),
    ]
    return pd.DataFrame(rows, columns=_column_order(classes))


def _classes_of(table: pd.DataFrame) -> List[str]:
    return [c[len("f1_"):] for c in table.columns if c.startswith("f1_")]


def add_system(
    table: pd.DataFrame, system: str, y_true, y_pred, classes: Sequence[Hashable]
) -> pd.DataFrame:
    """A copy of `table` with one more row for `system`.

    `classes` must be the ones the table was built with, and y_true the
    same eval labels, or the rows would not be comparable.
    """
    if system in set(table["system"]):
        raise ValueError(f"system {system!r} is already in the table")
    if [str(c) for c in classes] != _classes_of(table):
        raise ValueError(f"classes {list(classes)} differ from the table's {_classes_of(table)}")
    if len(table) and len(y_true) != int(table["n_examples"].iloc[0]):
        raise ValueError(
            f"{system}: {len(y_true)} true labels, but the table was evaluated on "
            f"{int(table['n_examples'].iloc[0])} examples"
        )
    row = pd.DataFrame([system_metrics(system, y_true, y_pred, classes)], columns=table.columns)
    return pd.concat([table, row], ignore_index=True)


def add_model_rows(
    table: pd.DataFrame,
    y_true,
    classes: Sequence[Hashable],
    new_model_predictions=None,
    blessed_model_predictions=None,
) -> pd.DataFrame:
    """Add "new model" and/or "last blessed model" rows (whichever are given).

    With no blessed model yet (first pipeline run), pass None for it.
    """
    if new_model_predictions is not None:
        table = add_system(table, NEW_MODEL, y_true, new_model_predictions, classes)
    if blessed_model_predictions is not None:
        table = add_system(table, BLESSED_MODEL, y_true, blessed_model_predictions, classes)
    return table


def ids_to_labels(ids, classes: Sequence[Hashable]) -> np.ndarray:
    """Map class ids (0..len(classes)-1, e.g. a model's argmax) to labels."""
    array = np.asarray(ids)
    if array.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"ids must be integers, got dtype {array.dtype}")
    bad = array[(array < 0) | (array >= len(classes))]
    if len(bad):
        raise ValueError(f"class id(s) {sorted(set(bad.tolist()))[:10]} out of range for {len(classes)} classes")
    return np.asarray(list(classes), dtype=object)[array]
