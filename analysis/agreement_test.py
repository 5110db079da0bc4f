"""Tests for analysis.agreement against reference implementations."""

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from analysis import agreement
from analysis import disagreements

CLASSES = ["repaid", "late", "default"]


def _random_labels(seed, n=150, n_labelers=3, missing_rate=0.0):
    rng = np.random.default_rng(seed)
    truth = rng.choice(CLASSES, size=n, p=[0.6, 0.3, 0.1])
    labels = np.empty((n, n_labelers), dtype=object)
    for j in range(n_labelers):
        # Each labeler copies the truth most of the time, so the statistics
        # land well away from 0 and differ between pairs.
        noise = rng.choice(CLASSES, size=n)
        keep = rng.random(n) < 0.6 + 0.1 * j
        labels[:, j] = np.where(keep, truth, noise)
        labels[rng.random(n) < missing_rate, j] = None
    return pd.DataFrame(labels, columns=[f"labeler_{j + 1}" for j in range(n_labelers)])


# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C:
# nominal data, 4 observers, 12 units, missing values. Published alpha = 0.743.
_K = None
KRIPPENDORFF_2011 = pd.DataFrame(
    {
        "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, _K, _K, _K],
        "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _K, 3],
        "C": [_K, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _K],
        "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _K],
    }
)
# The coincidence matrix printed in the same paper (values 1..5).
KRIPPENDORFF_2011_COINCIDENCES = np.array(
    [
        [7, 4 / 3, 1 / 3, 1 / 3, 0],
        [4 / 3, 10, 4 / 3, 1 / 3, 0],
        [1 / 3, 4 / 3, 8, 1 / 3, 0],
        [1 / 3, 1 / 3, 1 / 3, 4, 0],
        [0, 0, 0, 0, 3],
    ]
)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pairwise_cohen_kappa_matches_sklearn(seed):
    labels = _random_labels(seed)
    table = agreement.pairwise_cohen_kappa(labels, CLASSES)
    assert len(table) == 3
    for _, row in table.iterrows():
        expected = cohen_kappa_score(labels[row["labeler_a"]], labels[row["labeler_b"]])
        assert row["kappa"] == pytest.approx(expected, abs=1e-12)
        assert row["n_examples"] == len(labels)
        assert row["observed_agreement"] == pytest.approx(
            np.mean(labels[row["labeler_a"]] == labels[row["labeler_b"]]), abs=1e-12
        )


def test_cohen_kappa_uses_only_examples_both_labeled():
    labels = _random_labels(3, missing_rate=0.2)
    a, b = labels["labeler_1"], labels["labeler_2"]
    both = a.notna() & b.notna()
    assert (~both).sum() > 0
    expected = cohen_kappa_score(a[both].tolist(), b[both].tolist())
    assert agreement.cohen_kappa(a.tolist(), b.tolist(), CLASSES) == pytest.approx(expected, abs=1e-12)


def test_cohen_kappa_accepts_integer_labels_with_nan():
    a = [0, 1, 2, 1, np.nan, 0, 2, 2]
    b = [0, 1, 1, 1, 2, np.nan, 2, 0]
    expected = cohen_kappa_score([0, 1, 2, 1, 2, 2], [0, 1, 1, 1, 2, 0])
    assert agreement.cohen_kappa(a, b, [0, 1, 2]) == pytest.approx(expected, abs=1e-12)


def test_cohen_kappa_is_nan_when_both_labelers_use_one_class():
    assert np.isnan(agreement.cohen_kappa(["late"] * 4, ["late"] * 4, CLASSES))


def test_cohen_kappa_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="differ in length: 3 vs 2"):
        agreement.cohen_kappa(["late", "late", "repaid"], ["late", "late"])


@pytest.mark.parametrize("seed,n_labelers", [(0, 3), (1, 5), (2, 2)])
def test_fleiss_kappa_matches_statsmodels(seed, n_labelers):
    labels = _random_labels(seed, n_labelers=n_labelers)
    counts, _ = aggregate_raters(labels.to_numpy())
    assert agreement.fleiss_kappa(labels, CLASSES) == pytest.approx(sm_fleiss_kappa(counts), abs=1e-12)


def test_fleiss_kappa_wikipedia_example():
    # Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5
    # categories, kappa = 0.210. Expanded from counts to per-rater labels.
    counts = np.array(
        [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
    )
    labels = np.array([np.repeat(np.arange(5), row) for row in counts])
    kappa = agreement.fleiss_kappa(labels)
    assert kappa == pytest.approx(0.210, abs=5e-4)
    assert kappa == pytest.approx(sm_fleiss_kappa(counts), abs=1e-12)


def test_fleiss_kappa_drops_incomplete_examples_or_raises():
    labels = _random_labels(4, missing_rate=0.1)
    complete = labels.notna().all(axis=1)
    assert 0 < complete.sum() < len(labels)
    counts, _ = aggregate_raters(labels[complete].to_numpy())
    assert agreement.fleiss_kappa(labels, CLASSES) == pytest.approx(sm_fleiss_kappa(counts), abs=1e-12)
    with pytest.raises(ValueError, match="missing label"):
        agreement.fleiss_kappa(labels, CLASSES, drop_incomplete=False)


def test_krippendorff_textbook_example():
    codes, classes, _ = agreement.encode_labels(KRIPPENDORFF_2011)
    assert classes == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(
        agreement.coincidence_matrix(codes, len(classes)), KRIPPENDORFF_2011_COINCIDENCES, atol=1e-12
    )
    assert agreement.krippendorff_alpha_nominal(KRIPPENDORFF_2011) == pytest.approx(0.743, abs=5e-4)


def _alpha_by_definition(frame):
    """alpha = 1 - D_o / D_e, counting pairs of values one by one."""
    units = [[v for v in row if pd.notna(v)] for row in frame.itertuples(index=False)]
    units = [u for u in units if len(u) >= 2]
    values = [v for u in units for v in u]
    n = len(values)
    observed = sum(
        sum(a != b for a, b in itertools.permutations(u, 2)) / (len(u) - 1) for u in units
    ) / n
    expected = sum(a != b for a, b in itertools.permutations(values, 2)) / (n * (n - 1))
    return 1 - observed / expected


@pytest.mark.parametrize("seed", [5, 6])
def test_krippendorff_matches_pairwise_definition_with_missing_labels(seed):
    labels = _random_labels(seed, n=40, n_labelers=4, missing_rate=0.3)
    assert agreement.krippendorff_alpha_nominal(labels, CLASSES) == pytest.approx(
        _alpha_by_definition(labels), abs=1e-12
    )


def test_krippendorff_perfect_agreement_is_one():
    labels = pd.DataFrame({"a": ["late", "repaid", "default"], "b": ["late", "repaid", None]})
    assert agreement.krippendorff_alpha_nominal(labels, CLASSES) == pytest.approx(1.0)


def test_agreement_summary_agrees_with_the_single_functions():
    labels = _random_labels(7, missing_rate=0.05)
    summary = agreement.agreement_summary(labels, CLASSES)
    assert summary["n_examples"] == len(labels)
    assert summary["n_labelers"] == 3
    assert summary["n_complete_examples"] == int(labels.notna().all(axis=1).sum())
    assert summary["fleiss_kappa"] == pytest.approx(agreement.fleiss_kappa(labels, CLASSES))
    assert summary["krippendorff_alpha"] == pytest.approx(agreement.krippendorff_alpha_nominal(labels, CLASSES))
    assert summary["mean_pairwise_cohen_kappa"] == pytest.approx(
        agreement.pairwise_cohen_kappa(labels, CLASSES)["kappa"].mean()
    )


def test_unknown_class_label_is_named():
    labels = pd.DataFrame({"labeler_1": ["late", "paid off"], "labeler_2": ["late", "late"]})
    with pytest.raises(ValueError, match=r"'labeler_1'.*'paid off'"):
        agreement.fleiss_kappa(labels, CLASSES)


@pytest.mark.parametrize(
    "function",
    [
        agreement.pairwise_cohen_kappa,
        agreement.fleiss_kappa,
        agreement.krippendorff_alpha_nominal,
        disagreements.disagreements,
        disagreements.class_pair_confusion,
    ],
)
def test_fewer_than_two_labelers_rejected(function):
    with pytest.raises(ValueError, match="at least 2 labelers"):
        function(pd.DataFrame({"labeler_1": ["late", "repaid"]}), CLASSES)


def test_disagreements_ranked_most_disagreement_first():
    labels = pd.DataFrame(
        {
            "l1": ["late", "late", "repaid", "late", "default"],
            "l2": ["late", "default", "late", "late", "default"],
            "l3": ["late", "late", "default", None, "late"],
            "l4": ["late", "late", "repaid", "late", "late"],
        },
        index=["a1", "a2", "a3", "a4", "a5"],
    )
    table = disagreements.disagreements(labels, CLASSES)
    # a1 and a4 agree (a4's missing label is no disagreement). a3 has three
    # distinct labels; a5 (2:2) has higher entropy than a2 (3:1).
    assert table["example"].tolist() == ["a3", "a5", "a2"]
    assert table["n_distinct"].tolist() == [3, 2, 2]
    assert table["entropy_bits"].tolist() == pytest.approx([1.5, 1.0, 0.8112781244591328])
    assert table.loc[2, "label_counts"] == "late:3, default:1"
    assert table.loc[2, "plurality_share"] == pytest.approx(0.75)


def test_disagreements_uses_given_ids():
    labels = pd.DataFrame({"l1": ["late", "late"], "l2": ["late", "repaid"]})
    table = disagreements.disagreements(labels, CLASSES, ids=["app-7", "app-9"])
    assert table["example"].tolist() == ["app-9"]
    with pytest.raises(ValueError, match="ids has 1 entries but labels has 2 rows"):
        disagreements.disagreements(labels, CLASSES, ids=["app-7"])


def test_class_pair_confusion_small_example():
    labels = pd.DataFrame(
        {
            "l1": ["late", "repaid", "repaid"],
            "l2": ["default", "repaid", None],
            "l3": ["default", "late", "default"],
        }
    )
    table = disagreements.class_pair_confusion(labels, CLASSES).set_index(["class_a", "class_b"])
    # Example 1: (late, default) x2, (default, default) x1.
    # Example 2: (repaid, repaid) x1, (repaid, late) x2.
    # Example 3: (repaid, default) x1.
    assert table.loc[("late", "default"), "count"] == 2
    assert table.loc[("default", "default"), "count"] == 1
    assert table.loc[("repaid", "repaid"), "count"] == 1
    assert table.loc[("repaid", "late"), "count"] == 2
    assert table.loc[("repaid", "default"), "count"] == 1
    assert table.loc[("late", "late"), "count"] == 0
    assert table.loc[("late", "default"), "share_of_disagreements"] == pytest.approx(0.4)
    assert np.isnan(table.loc[("repaid", "repaid"), "share_of_disagreements"])
    assert len(table) == 6


def test_class_pair_confusion_matches_counting_every_labeler_pair():
    labels = _random_labels(8, n=60, n_labelers=4, missing_rate=0.2)
    expected = {}
    for row in labels.itertuples(index=False):
        for x, y in itertools.combinations([v for v in row if v is not None], 2):
            key = tuple(sorted((x, y), key=CLASSES.index))
            expected[key] = expected.get(key, 0) + 1
    table = disagreements.class_pair_confusion(labels, CLASSES)
    got = {(a, b): c for a, b, c in zip(table["class_a"], table["class_b"], table["count"])}
    assert {k: v for k, v in got.items() if v} == expected


def _two_labeler_table(pairs):
    return pd.DataFrame(pairs, columns=["l1", "l2"])


def test_borderline_suggestion_names_the_dominant_pair():
    pairs = [("late", "default")] * 5 + [("repaid", "late")] * 2 + [("repaid", "repaid")] * 10
    table = disagreements.class_pair_confusion(_two_labeler_table(pairs), CLASSES)
    assert disagreements.borderline_suggestion(table) == (
        "late vs default accounts for 71% of disagreements: "
        "write a clearer labeling rule or consider a borderline class"
    )


def test_borderline_suggestion_none_when_spread_or_absent():
    spread = [("late", "default")] * 2 + [("repaid", "late")] * 2 + [("repaid", "default")] * 1
    table = disagreements.class_pair_confusion(_two_labeler_table(spread), CLASSES)
    assert disagreements.borderline_suggestion(table) is None
    assert disagreements.borderline_suggestion(table, threshold=0.4) is not None
    agreeing = disagreements.class_pair_confusion(_two_labeler_table([("late", "late")] * 3), CLASSES)
    assert disagreements.borderline_suggestion(agreeing) is None
    with pytest.raises(ValueError, match="threshold"):
        disagreements.borderline_suggestion(table, threshold=0)
