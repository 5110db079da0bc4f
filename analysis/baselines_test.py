"""Tests for analysis.baselines."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from analysis import baselines

CLASSES = ["repaid", "late", "default"]


def _loans(seed, n):
    """Synthetic loans whose outcome is driven by debt_to_income and home_ownership."""
    rng = np.random.default_rng(seed)
    dti = rng.normal(0.3, 0.15, n)
    home = rng.choice(["own", "rent", "mortgage"], n)
    risk = 6 * dti + np.where(home == "rent", 0.8, 0.0) + rng.normal(0, 0.3, n)
    outcome = np.where(risk > 2.9, "default", np.where(risk > 2.0, "late", "repaid"))
    df = pd.DataFrame(
        {"debt_to_income": dti, "home_ownership": home, "loan_term_months": rng.choice([36, 60], n), "outcome": outcome}
    )
    df.loc[rng.random(n) < 0.05, "debt_to_income"] = np.nan
    return df


FEATURES = {"categorical_columns": ["home_ownership", "loan_term_months"], "numeric_columns": ["debt_to_income"]}


def test_majority_class_predictions():
    predictions = baselines.majority_class_predictions(["late", "repaid", "repaid", "default"], 3)
    assert predictions.tolist() == ["repaid"] * 3


def test_majority_class_tie_goes_to_first_seen_label():
    assert baselines.majority_class_predictions(["late", "repaid", "repaid", "late"], 1).tolist() == ["late"]
    assert baselines.majority_class_predictions(["repaid", "late", "late", "repaid"], 1).tolist() == ["repaid"]


def test_system_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y_true = rng.choice(CLASSES, 200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.choice(CLASSES, 200))
    row = baselines.system_metrics("x", y_true, y_pred, CLASSES)
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=CLASSES, zero_division=0)
    assert row["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    for i, c in enumerate(CLASSES):
        assert row[f"precision_{c}"] == pytest.approx(precision[i])
        assert row[f"recall_{c}"] == pytest.approx(recall[i])
        assert row[f"f1_{c}"] == pytest.approx(f1[i])
    assert row["macro_f1"] == pytest.approx(f1.mean())


def test_never_predicted_class_has_undefined_precision_not_zero():
    row = baselines.system_metrics("majority", ["repaid", "late", "repaid"], ["repaid"] * 3, CLASSES)
    assert np.isnan(row["precision_late"])
    assert row["recall_late"] == 0.0
    assert row["f1_late"] == 0.0
    # 'default' neither occurs nor is predicted: nothing is defined.
    assert np.isnan(row["recall_default"]) and np.isnan(row["f1_default"])
    assert row["macro_f1"] == pytest.approx((0.8 + 0.0) / 2)


def test_baseline_table_linear_beats_majority():
    train, evaluation = _loans(1, 400), _loans(2, 200)
    evaluation.loc[0, "home_ownership"] = "other"  # unseen in training: must not fail
    table = baselines.baseline_table(train, evaluation, "outcome", CLASSES, **FEATURES)
    assert table["system"].tolist() == [baselines.MAJORITY, baselines.LINEAR]
    assert list(table.columns[:4]) == ["system", "n_examples", "accuracy", "macro_f1"]
    assert [c for c in table.columns if c.startswith("f1_")] == ["f1_repaid", "f1_late", "f1_default"]
    majority, linear = table.iloc[0], table.iloc[1]
    majority_label = train["outcome"].value_counts().idxmax()
    assert majority["accuracy"] == pytest.approx((evaluation["outcome"] == majority_label).mean())
    assert linear["accuracy"] > majority["accuracy"] + 0.1
    assert (table["n_examples"] == 200).all()


def test_linear_baseline_handles_missing_numbers_and_categories():
    train, evaluation = _loans(3, 300), _loans(4, 50)
    evaluation.loc[:9, "debt_to_income"] = np.nan
    evaluation.loc[10:14, "home_ownership"] = None
    predictions = baselines.linear_baseline_predictions(train, evaluation, "outcome", **FEATURES)
    assert len(predictions) == 50
    assert set(predictions) <= set(CLASSES)


def test_add_model_rows_puts_models_beside_baselines():
    train, evaluation = _loans(5, 300), _loans(6, 100)
    table = baselines.baseline_table(train, evaluation, "outcome", CLASSES, **FEATURES)
    y_true = evaluation["outcome"].to_numpy()
    perfect = y_true.copy()
    blessed = np.where(np.arange(100) < 90, y_true, "late")
    table = baselines.add_model_rows(
        table, y_true, CLASSES, new_model_predictions=perfect, blessed_model_predictions=blessed
    )
    assert table["system"].tolist() == [
        baselines.MAJORITY, baselines.LINEAR, baselines.NEW_MODEL, baselines.BLESSED_MODEL
    ]
    assert table.iloc[2]["accuracy"] == 1.0
    assert table.iloc[3]["accuracy"] == pytest.approx(accuracy_score(y_true, blessed))
    # No blessed model yet: only the new model's row is added.
    first_run = baselines.add_model_rows(table.iloc[:2], y_true, CLASSES, new_model_predictions=perfect)
    assert first_run["system"].tolist()[-1] == baselines.NEW_MODEL and len(first_run) == 3


def test_add_system_rejects_inconsistent_input():
    train, evaluation = _loans(7, 200), _loans(8, 40)
    table = baselines.baseline_table(train, evaluation, "outcome", CLASSES, **FEATURES)
    y_true = evaluation["outcome"].to_numpy()
    with pytest.raises(ValueError, match="39 predictions for 40 true labels"):
        baselines.add_system(table, "m", y_true, y_true[:39], CLASSES)
    with pytest.raises(ValueError, match="30 true labels, but the table was evaluated on 40"):
        baselines.add_system(table, "m", y_true[:30], y_true[:30], CLASSES)
    with pytest.raises(ValueError, match="already in the table"):
        baselines.add_system(table, baselines.MAJORITY, y_true, y_true, CLASSES)
    with pytest.raises(ValueError, match=r"predictions contains unknown class label\(s\) \['paid'\]"):
        baselines.add_system(table, "m", y_true, np.full(40, "paid"), CLASSES)
    with pytest.raises(ValueError, match="differ from the table"):
        baselines.add_system(table, "m", y_true, y_true, ["repaid", "late"])


def test_baseline_table_rejects_bad_input():
    train, evaluation = _loans(9, 100), _loans(10, 20)
    with pytest.raises(ValueError, match=r"unknown class label\(s\) \['default'\]"):
        baselines.baseline_table(train, evaluation, "outcome", ["repaid", "late"], **FEATURES)
    with pytest.raises(ValueError, match=r"eval_df lacks column\(s\) \['home_ownership'\]"):
        baselines.linear_baseline_predictions(train, evaluation.drop(columns="home_ownership"), "outcome", **FEATURES)
    with pytest.raises(ValueError, match="at least one categorical or numeric"):
        baselines.linear_baseline_predictions(train, evaluation, "outcome")
    with pytest.raises(ValueError, match="single class"):
        baselines.linear_baseline_predictions(train.assign(outcome="late"), evaluation, "outcome", **FEATURES)


def test_ids_to_labels():
    assert baselines.ids_to_labels(np.array([2, 0, 1]), CLASSES).tolist() == ["default", "repaid", "late"]
    with pytest.raises(ValueError, match=r"class id\(s\) \[3\] out of range"):
        baselines.ids_to_labels(np.array([0, 3]), CLASSES)
    with pytest.raises(ValueError, match="must be integers"):
        baselines.ids_to_labels(np.array([0.5]), CLASSES)
