"""Tests for analysis.error_analysis."""

import numpy as np
import pandas as pd
import pytest

from analysis import error_analysis

CLASSES = ["repaid", "late", "default"]


def _frame():
    # Eight examples; the model is wrong on rows 1, 4, 6, 7 (4 errors).
    return pd.DataFrame(
        {
            "outcome": ["repaid", "late", "repaid", "default", "late", "repaid", "default", "late"],
            "prediction": ["repaid", "repaid", "repaid", "default", "default", "repaid", "late", "repaid"],
            "channel": ["web", "web", "branch", "branch", "web", "broker", "web", None],
            "underwriter": ["u1", "u2", "u1", "u2", "u2", "u1", "u2", "u1"],
            "self_employed": [False, True, False, False, True, False, True, np.nan],
            "labeler_1": ["repaid", "late", "repaid", "default", "default", "repaid", "default", "late"],
            "labeler_2": ["repaid", "repaid", "repaid", "default", "late", "repaid", "late", "late"],
        }
    )


def _by_tag(table):
    return table.set_index("tag")


def test_fractions_per_categorical_and_boolean_tag():
    table = error_analysis.error_analysis_by_tag(
        _frame(), "outcome", "prediction", tag_columns=["channel", "underwriter"], boolean_tag_columns=["self_employed"]
    )
    rows = _by_tag(table)
    assert set(rows.index) == {
        "channel=web", "channel=branch", "channel=broker", "underwriter=u1", "underwriter=u2", "self_employed"
    }
    # channel=web: rows 0, 1, 4, 6 -> errors on 1, 4, 6.
    web = rows.loc["channel=web"]
    assert (web["n_examples"], web["n_errors"]) == (4, 3)
    assert web["fraction_of_errors"] == pytest.approx(3 / 4)
    assert web["error_rate"] == pytest.approx(3 / 4)
    assert web["fraction_of_data"] == pytest.approx(4 / 8)
    assert web["model_accuracy"] == pytest.approx(1 / 4)
    assert (web["tag_column"], web["tag_value"]) == ("channel", "web")
    # self_employed: rows 1, 4, 6 (NaN on row 7 is "not tagged"), all errors.
    self_employed = rows.loc["self_employed"]
    assert (self_employed["n_examples"], self_employed["n_errors"]) == (3, 3)
    assert self_employed["tag_value"] is True or self_employed["tag_value"] == True  # noqa: E712
    # u2: rows 1, 3, 4, 6 -> errors 1, 4, 6; u1: rows 0, 2, 5, 7 -> error 7.
    assert rows.loc["underwriter=u2", "n_errors"] == 3
    assert rows.loc["underwriter=u1", "n_errors"] == 1
    # Row 7 has no channel, so channel tags hold only 3 of the 4 errors.
    channel_errors = rows.loc[rows["tag_column"] == "channel", "fraction_of_errors"].sum()
    assert channel_errors == pytest.approx(3 / 4)
    # Tags overlap: over all tags, fractions of errors add up to more than 1.
    assert rows["fraction_of_errors"].sum() > 1
    # Without labelers there is no HLP to compare with.
    assert rows["hlp_accuracy"].isna().all() and rows["potential"].isna().all()


def test_sorted_by_fraction_of_errors_with_ties_in_tag_order():
    table = error_analysis.error_analysis_by_tag(
        _frame(), "outcome", "prediction", tag_columns=["channel", "underwriter"]
    )
    fractions = table["fraction_of_errors"].tolist()
    assert fractions == sorted(fractions, reverse=True)
    # channel=web and underwriter=u2 both hold 3/4 of errors; channel comes first.
    assert table["tag"].tolist()[:2] == ["channel=web", "underwriter=u2"]


def test_room_for_improvement_against_hlp():
    table = error_analysis.error_analysis_by_tag(
        _frame(),
        "outcome",
        "prediction",
        tag_columns=["underwriter"],
        labeler_columns=["labeler_1", "labeler_2"],
        sort_by="potential",
    )
    rows = _by_tag(table)
    # u2 rows 1, 3, 4, 6: labeler_1 right on 1, 3, 6 (3/4), labeler_2 on 3, 4 (2/4).
    u2 = rows.loc["underwriter=u2"]
    assert u2["hlp_accuracy"] == pytest.approx((3 / 4 + 2 / 4) / 2)
    assert u2["model_accuracy"] == pytest.approx(1 / 4)
    assert u2["gap"] == pytest.approx(0.625 - 0.25)
    assert u2["potential"] == pytest.approx(0.375 * 0.5)
    # u1 rows 0, 2, 5, 7: both labelers right on all four; model wrong on 7.
    u1 = rows.loc["underwriter=u1"]
    assert u1["hlp_accuracy"] == pytest.approx(1.0)
    assert u1["potential"] == pytest.approx(0.25 * 0.5)
    assert table["tag"].tolist() == ["underwriter=u2", "underwriter=u1"]


def test_gap_floored_when_model_beats_labelers():
    df = _frame()
    df["prediction"] = df["outcome"]
    table = error_analysis.error_analysis_by_tag(
        df, "outcome", "prediction", tag_columns=["underwriter"], labeler_columns=["labeler_1", "labeler_2"]
    )
    assert (table["gap"] == 0).all()
    # No errors at all: the share of errors is undefined, not 0.
    assert table["fraction_of_errors"].isna().all()
    assert (table["error_rate"] == 0).all()


def test_matches_direct_computation_on_random_data():
    rng = np.random.default_rng(3)
    n = 300
    df = pd.DataFrame(
        {
            "y": rng.choice(CLASSES, n),
            "p": rng.choice(CLASSES, n),
            "branch": rng.choice(["b1", "b2", "b3"], n),
            "flag": rng.random(n) < 0.3,
        }
    )
    table = _by_tag(
        error_analysis.error_analysis_by_tag(df, "y", "p", tag_columns=["branch"], boolean_tag_columns=["flag"])
    )
    wrong = df["y"] != df["p"]
    for tag, mask in [("branch=b2", df["branch"] == "b2"), ("flag", df["flag"])]:
        assert table.loc[tag, "fraction_of_errors"] == pytest.approx((wrong & mask).sum() / wrong.sum())
        assert table.loc[tag, "error_rate"] == pytest.approx(wrong[mask].mean())
        assert table.loc[tag, "fraction_of_data"] == pytest.approx(mask.mean())


def test_boolean_tags_accept_zero_one():
    df = _frame()
    df["self_employed"] = [0, 1, 0, 0, 1, 0, 1, 0]
    table = error_analysis.error_analysis_by_tag(df, "outcome", "prediction", boolean_tag_columns=["self_employed"])
    assert table.loc[0, "n_examples"] == 3


@pytest.mark.parametrize(
    "kwargs,change,message",
    [
        ({"boolean_tag_columns": ["self_employed"]}, {"self_employed": False}, "'self_employed' marks zero examples"),
        ({"boolean_tag_columns": ["channel"]}, {}, "'channel' holds non-boolean"),
        ({"tag_columns": ["region"]}, {}, r"tag column\(s\) \['region'\]"),
        ({}, {}, "no tags"),
        (
            {"tag_columns": ["channel"], "classes": CLASSES},
            {"prediction": "paid"},
            "'prediction' contains unknown class",
        ),
        ({"tag_columns": ["channel"]}, {"outcome": None}, "'outcome' has 8 missing"),
        ({"tag_columns": ["channel"], "sort_by": "tag"}, {}, "sort_by must be one of"),
        ({"tag_columns": ["channel"], "labeler_columns": ["labeler_1"]}, {}, "at least 2 labeler"),
    ],
)
def test_bad_input_is_named(kwargs, change, message):
    with pytest.raises(ValueError, match=message):
        error_analysis.error_analysis_by_tag(_frame().assign(**change), "outcome", "prediction", **kwargs)


def test_sort_by_changes_the_order():
    kwargs = {"tag_columns": ["channel"], "boolean_tag_columns": ["self_employed"]}
    by_errors = error_analysis.error_analysis_by_tag(_frame(), "outcome", "prediction", **kwargs)
    by_rate = error_analysis.error_analysis_by_tag(_frame(), "outcome", "prediction", sort_by="error_rate", **kwargs)
    # Both hold 3 of the 4 errors; self_employed has the higher error rate (3/3 vs 3/4).
    assert by_errors["tag"].tolist()[:2] == ["channel=web", "self_employed"]
    assert by_rate["tag"].tolist()[:2] == ["self_employed", "channel=web"]
