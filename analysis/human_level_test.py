"""Tests for analysis.human_level: HLP per slice and gap analysis."""

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from analysis import human_level
from analysis.human_level import ALL, OVERALL

CLASSES = ["repaid", "late", "default"]
LABELERS = ["labeler_1", "labeler_2", "labeler_3"]


def _credit_frame():
    # Six applications in two age bands. Correct labels per labeler:
    #   labeler_1: all 6; labeler_2: rows 0-3 (wrong on 4, 5);
    #   labeler_3: rows 0, 2, 4 of the 5 it labeled (row 5 missing).
    return pd.DataFrame(
        {
            "application_id": [f"a{i}" for i in range(6)],
            "age_band": ["18-25", "18-25", "18-25", "26-40", "26-40", "26-40"],
            "outcome": ["repaid", "late", "default", "repaid", "late", "default"],
            "labeler_1": ["repaid", "late", "default", "repaid", "late", "default"],
            "labeler_2": ["repaid", "late", "default", "repaid", "default", "late"],
            "labeler_3": ["repaid", "default", "default", "late", "late", None],
        }
    )


def _row(table, column, value):
    selected = table[(table["slice_column"] == column) & (table["slice_value"] == value)]
    assert len(selected) == 1
    return selected.iloc[0]


def test_ground_truth_hlp_overall_and_per_slice():
    result = human_level.human_level_performance(
        _credit_frame(), LABELERS, label_column="outcome", slice_columns=["age_band"], classes=CLASSES
    )
    assert result.basis == "ground_truth"
    assert result.labelers == tuple(LABELERS)
    table = result.table
    assert (table["basis"] == "ground_truth").all()

    overall = _row(table, OVERALL, ALL)
    assert overall["n_examples"] == 6
    assert overall["labeler_1_accuracy"] == pytest.approx(1.0)
    assert overall["labeler_2_accuracy"] == pytest.approx(4 / 6)
    assert overall["labeler_3_accuracy"] == pytest.approx(3 / 5)
    assert overall["labeler_3_n"] == 5
    assert overall["hlp"] == pytest.approx((1 + 4 / 6 + 3 / 5) / 3)
    assert overall["best_labeler"] == pytest.approx(1.0)

    young = _row(table, "age_band", "18-25")
    assert young["n_examples"] == 3
    assert young["hlp"] == pytest.approx((1 + 1 + 2 / 3) / 3)
    older = _row(table, "age_band", "26-40")
    assert older["labeler_2_accuracy"] == pytest.approx(1 / 3)
    assert older["labeler_3_accuracy"] == pytest.approx(1 / 2)
    assert older["labeler_3_n"] == 2
    assert older["hlp"] == pytest.approx((1 + 1 / 3 + 1 / 2) / 3)
    assert len(table) == 3


def test_agreement_basis_is_explicit_and_ties_score_half():
    # Row 0: all agree. Row 1: late/default/late. Row 2: three distinct labels.
    df = pd.DataFrame(
        {
            "labeler_1": ["late", "late", "repaid"],
            "labeler_2": ["late", "default", "late"],
            "labeler_3": ["late", "late", "default"],
        }
    )
    result = human_level.human_level_performance(df, LABELERS, classes=CLASSES)
    assert result.basis == "agreement"
    assert "agree" in result.note and "not what is possible" in result.note
    overall = result.table.iloc[0]
    assert overall["basis"] == "agreement"
    # Row 1: labeler_1 sees others {default, late}: a tie it is in -> 1/2;
    # labeler_2 sees {late, late} -> 0; labeler_3 like labeler_1 -> 1/2.
    # Row 2: everyone sees a tie of two labels they are not in -> 0.
    assert overall["labeler_1_accuracy"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert overall["labeler_2_accuracy"] == pytest.approx((1 + 0 + 0) / 3)
    assert overall["labeler_3_accuracy"] == pytest.approx((1 + 0.5 + 0) / 3)


def _leave_one_out_by_hand(df, labelers):
    """Leave-one-out agreement with Counter, one example at a time."""
    scores = {name: [] for name in labelers}
    for row in df[labelers].itertuples(index=False):
        for j, name in enumerate(labelers):
            own = row[j]
            others = Counter(v for k, v in enumerate(row) if k != j and v is not None)
            if own is None or not others:
                continue
            top = max(others.values())
            tied = [c for c, n in others.items() if n == top]
            scores[name].append(1 / len(tied) if own in tied else 0.0)
    return {name: np.mean(values) for name, values in scores.items()}


def test_leave_one_out_matches_counting_by_hand_with_missing_labels():
    rng = np.random.default_rng(11)
    labels = rng.choice(CLASSES, size=(80, 4)).astype(object)
    labels[rng.random((80, 4)) < 0.25] = None
    names = [f"l{j}" for j in range(4)]
    df = pd.DataFrame(labels, columns=names)
    overall = human_level.human_level_performance(df, names, classes=CLASSES).table.iloc[0]
    expected = _leave_one_out_by_hand(df, names)
    for name in names:
        assert overall[f"{name}_accuracy"] == pytest.approx(expected[name], abs=1e-12)
    assert overall["hlp"] == pytest.approx(np.mean(list(expected.values())), abs=1e-12)


def test_missing_slice_values_form_their_own_slice():
    df = _credit_frame()
    df.loc[0, "age_band"] = None
    table = human_level.human_level_performance(
        df, LABELERS, label_column="outcome", slice_columns=["age_band"]
    ).table
    missing = table[(table["slice_column"] == "age_band") & table["slice_value"].isna()]
    assert missing["n_examples"].tolist() == [1]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"labeler_columns": ["labeler_1"]}, "at least 2 labeler columns"),
        ({"labeler_columns": ["labeler_1", "labeler_9"]}, r"labeler column\(s\) \['labeler_9'\]"),
        ({"slice_columns": ["region"]}, r"slice column\(s\) \['region'\]"),
        ({"classes": ["repaid", "late"]}, "unknown class label"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    arguments = {"labeler_columns": LABELERS, "label_column": "outcome", **kwargs}
    with pytest.raises(ValueError, match=message):
        human_level.human_level_performance(_credit_frame(), **arguments)


def test_missing_ground_truth_and_empty_frame_rejected():
    df = _credit_frame()
    df.loc[2, "outcome"] = None
    with pytest.raises(ValueError, match="'outcome' has 1 missing"):
        human_level.human_level_performance(df, LABELERS, label_column="outcome")
    with pytest.raises(ValueError, match="zero rows"):
        human_level.human_level_performance(df.iloc[:0], LABELERS)


def test_slice_without_scorable_examples_is_named():
    df = _credit_frame()
    df.loc[df["age_band"] == "26-40", LABELERS] = None
    with pytest.raises(ValueError, match="age_band='26-40'.*zero scorable"):
        human_level.human_level_performance(df, LABELERS, label_column="outcome", slice_columns=["age_band"])


# ----------------------------------------------------------------------------
# Gap analysis
# ----------------------------------------------------------------------------

SPEECH = pd.DataFrame(
    {
        "slice": ["clean speech", "car noise", "people noise", "low bandwidth"],
        "model": [0.94, 0.89, 0.87, 0.70],
        "hlp": [0.95, 0.93, 0.89, 0.70],
        "share": [0.60, 0.04, 0.30, 0.06],
    }
)


def test_gap_analysis_reproduces_the_speech_example():
    table = human_level.gap_analysis(SPEECH).set_index("slice")
    assert table.loc["clean speech", "potential"] == pytest.approx(0.006, abs=1e-12)
    assert table.loc["car noise", "potential"] == pytest.approx(0.0016, abs=1e-12)
    assert table.loc["people noise", "potential"] == pytest.approx(0.006, abs=1e-12)
    assert table.loc["low bandwidth", "potential"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc["car noise", "gap"] == pytest.approx(0.04, abs=1e-12)
    assert table.loc["low bandwidth", "gap"] == 0.0


def test_gap_analysis_ranks_descending_and_ties_share_a_rank():
    table = human_level.gap_analysis(SPEECH)
    # 0.95-0.94 and 0.89-0.87 are not exact in binary floating point; the two
    # 0.6% potentials must still tie and keep their input order.
    assert table["slice"].tolist() == ["clean speech", "people noise", "car noise", "low bandwidth"]
    assert table["rank"].tolist() == [1, 1, 3, 4]


def test_gap_is_floored_when_model_beats_hlp():
    slices = pd.DataFrame(
        {"slice": ["a", "b"], "model": [0.97, 0.80], "hlp": [0.95, 0.90], "share": [0.5, 0.5], "note": ["x", "y"]}
    )
    table = human_level.gap_analysis(slices).set_index("slice")
    assert table.loc["a", "gap"] == 0.0
    assert table.loc["a", "potential"] == 0.0
    assert bool(table.loc["a", "model_above_hlp"]) is True
    assert bool(table.loc["b", "model_above_hlp"]) is False
    assert table.loc["b", "note"] == "y"


@pytest.mark.parametrize(
    "change,message",
    [
        ({"share": [0.6, 0.0, 0.3, 0.06]}, "'car noise' has zero share"),
        ({"hlp": [0.95, 93.0, 0.89, 0.70]}, r"'car noise': hlp must be a fraction"),
        ({"model": [0.94, np.nan, 0.87, 0.70]}, "'car noise' has no model value"),
        ({"slice": ["a", "a", "b", "c"]}, "duplicated: \\['a'\\]"),
    ],
)
def test_gap_analysis_rejects_bad_slices(change, message):
    with pytest.raises(ValueError, match=message):
        human_level.gap_analysis(SPEECH.assign(**change))


def test_gap_analysis_requires_columns():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['share'\]"):
        human_level.gap_analysis(SPEECH.drop(columns="share"))


def test_model_accuracy_by_slice():
    df = _credit_frame().assign(prediction=["repaid", "late", "late", "repaid", "repaid", "repaid"])
    table = human_level.model_accuracy_by_slice(df, "outcome", "prediction", ["age_band"], CLASSES)
    assert table["model"].tolist() == pytest.approx([3 / 6, 2 / 3, 1 / 3])
    assert table["n_examples"].tolist() == [6, 3, 3]
    with pytest.raises(ValueError, match="unknown class label"):
        human_level.model_accuracy_by_slice(df.assign(prediction="paid"), "outcome", "prediction", classes=CLASSES)


def test_hlp_gap_table_combines_hlp_and_model_per_slice():
    df = _credit_frame().assign(prediction=["repaid", "late", "late", "repaid", "repaid", "repaid"])
    hlp = human_level.human_level_performance(df, LABELERS, "outcome", ["age_band"]).table
    model = human_level.model_accuracy_by_slice(df, "outcome", "prediction", ["age_band"])
    table = human_level.hlp_gap_table(hlp, model).set_index("slice")
    assert sorted(table.index) == ["age_band=18-25", "age_band=26-40"]
    young_hlp = (1 + 1 + 2 / 3) / 3
    older_hlp = (1 + 1 / 3 + 1 / 2) / 3
    assert table.loc["age_band=18-25", "share"] == pytest.approx(0.5)
    assert table.loc["age_band=18-25", "potential"] == pytest.approx((young_hlp - 2 / 3) * 0.5)
    assert table.loc["age_band=26-40", "potential"] == pytest.approx((older_hlp - 1 / 3) * 0.5)
    assert table.iloc[0]["rank"] == 1


def test_hlp_gap_table_rejects_unmatched_slices():
    df = _credit_frame().assign(prediction="repaid")
    hlp = human_level.human_level_performance(df, LABELERS, "outcome", ["age_band"]).table
    model = human_level.model_accuracy_by_slice(df.iloc[:3], "outcome", "prediction", ["age_band"])
    with pytest.raises(ValueError, match="age_band=26-40"):
        human_level.hlp_gap_table(hlp, model)


def test_categorical_slice_lists_only_values_present():
    df = _credit_frame()
    df["age_band"] = pd.Categorical(df["age_band"], categories=["18-25", "26-40", "65+"])
    table = human_level.human_level_performance(df, LABELERS, "outcome", ["age_band"]).table
    assert table["slice_value"].tolist() == [ALL, "18-25", "26-40"]
    model = human_level.model_accuracy_by_slice(df.assign(p=df["outcome"]), "outcome", "p", ["age_band"])
    assert model["slice_value"].tolist() == [ALL, "18-25", "26-40"]
