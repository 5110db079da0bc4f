"""Label consistency: where, and between which classes, labelers disagree.

  disagreements           examples where labelers disagree, most disagreement first
  class_pair_confusion    how often two labelers on one example gave classes (a, b)
  borderline_suggestion   a sentence when disagreements concentrate on one class pair

Same input convention as analysis/agreement.py (one row per example, one
column per labeler, missing labels as NaN/None).
"""

from __future__ import annotations

import itertools
from typing import Any, Hashable, Optional, Sequence

import numpy as np
import pandas as pd

from analysis.agreement import as_frame, encode_labels, label_counts, require_labelers


def _entropy_bits(counts: np.ndarray) -> np.ndarray:
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(totals > 0, counts / totals, 0.0)
        terms = np.where(p > 0, -p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
    return terms.sum(axis=1)


def disagreements(
    labels: Any,
    classes: Optional[Sequence[Hashable]] = None,
    ids: Optional[Sequence[Hashable]] = None,
) -> pd.DataFrame:
    """Examples whose labelers gave more than one distinct class.

    Ranked most disagreement first: by number of distinct labels, then by
    entropy (bits) of the example's label distribution, then by input order.
    Columns: example (ids if given, else the row index), n_labels,
    n_distinct, entropy_bits, plurality_share (share of the most common
    label), label_counts ("late:2, default:1", most common first).
    """
    frame = as_frame(labels)
    if ids is not None and len(ids) != len(frame):
        raise ValueError(f"ids has {len(ids)} entries but labels has {len(frame)} rows")
    codes, classes, _ = encode_labels(frame, classes)
    require_labelers(codes)
    counts = label_counts(codes, len(classes))
    n_distinct = (counts > 0).sum(axis=1)
    keep = np.nonzero(n_distinct > 1)[0]
    examples = np.asarray(list(ids) if ids is not None else list(frame.index), dtype=object)
    counts_kept = counts[keep]
    n_labels = counts_kept.sum(axis=1)
    table = pd.DataFrame(
        {
            "example": examples[keep],
            "n_labels": n_labels,
            "n_distinct": n_distinct[keep],
            "entropy_bits": _entropy_bits(counts_kept),
            "plurality_share": counts_kept.max(axis=1) / np.maximum(n_labels, 1),
            "label_counts": [_describe_counts(row, classes) for row in counts_kept],
            "_order": np.arange(len(keep)),
        }
    )
    table = table.sort_values(
        ["n_distinct", "entropy_bits", "_order"], ascending=[False, False, True], kind="mergesort"
    )
    return table.drop(columns="_order").reset_index(drop=True)


def _describe_counts(row: np.ndarray, classes: Sequence[Hashable]) -> str:
    order = sorted(np.nonzero(row)[0], key=lambda c: (-row[c], c))
    return ", ".join(f"{classes[c]}:{row[c]}" for c in order)


def class_pair_confusion(
    labels: Any, classes: Optional[Sequence[Hashable]] = None
) -> pd.DataFrame:
    """Counts of labeler pairs on the same example, by unordered class pair.

    For every example and every pair of labelers who both labeled it, the
    pair of classes they gave is counted once. Rows cover every unordered
    pair (class_a, class_b) with class_a listed no later than class_b in
    `classes`, including same-class pairs (agreements).
    Columns: class_a, class_b, count, is_disagreement,
    share_of_disagreements (NaN for same-class rows, and for all rows when
    there is no disagreement at all).
    """
    codes, classes, _ = encode_labels(labels, classes)
    require_labelers(codes)
    counts = label_counts(codes, len(classes)).astype(np.int64)
    # Pairs (c, k), c != k, on one example: n_c * n_k; same class: C(n_c, 2).
    cross = counts.T @ counts
    same = (counts * (counts - 1) // 2).sum(axis=0)
    rows = []
    for a, b in itertools.combinations_with_replacement(range(len(classes)), 2):
        count = int(same[a]) if a == b else int(cross[a, b])
        rows.append({"class_a": classes[a], "class_b": classes[b], "count": count, "is_disagreement": a != b})
    table = pd.DataFrame(rows, columns=["class_a", "class_b", "count", "is_disagreement"])
    total = table.loc[table["is_disagreement"], "count"].sum()
    table["share_of_disagreements"] = np.where(
        table["is_disagreement"] & (total > 0), table["count"] / max(total, 1), np.nan
    )
    return table


def borderline_suggestion(pair_table: pd.DataFrame, threshold: float = 0.5) -> Optional[str]:
    """A suggestion when one class pair holds >= `threshold` of disagreements.

    `pair_table` is class_pair_confusion's output. Returns None when there
    are no disagreements or none of the pairs reaches the threshold.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    missing = {"class_a", "class_b", "count", "is_disagreement"} - set(pair_table.columns)
    if missing:
        raise ValueError(f"pair_table lacks column(s) {sorted(missing)}; pass class_pair_confusion's output")
    disagreeing = pair_table[pair_table["is_disagreement"]]
    total = disagreeing["count"].sum()
    if total == 0:
        return None
    top = disagreeing.sort_values("count", ascending=False, kind="mergesort").iloc[0]
    share = top["count"] / total
    if share < threshold:
        return None
    return (
        f"{top['class_a']} vs {top['class_b']} accounts for {share:.0%} of disagreements: "
        "write a clearer labeling rule or consider a borderline class"
    )
