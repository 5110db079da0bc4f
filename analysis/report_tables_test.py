"""Tests for analysis.report_tables."""

import json

import numpy as np
import pandas as pd
import pytest

from analysis import human_level, report_tables

TABLE = pd.DataFrame(
    {
        "slice": ["clean <speech>", "car noise"],
        "n": [np.int64(60), np.int64(4)],
        "potential": [0.006, np.nan],
        "flag": [np.bool_(True), np.bool_(False)],
    }
)


def test_format_table_percent_missing_and_integers():
    formatted = report_tables.format_table(TABLE, percent_columns=["potential"])
    assert formatted["potential"].tolist() == ["0.60%", "-"]
    assert formatted["n"].tolist() == ["60", "4"]
    assert formatted["flag"].tolist() == ["True", "False"]
    with pytest.raises(ValueError, match=r"\['gain'\] are not columns"):
        report_tables.format_table(TABLE, percent_columns=["gain"])


def test_to_text_has_title_and_values():
    text = report_tables.to_text(TABLE, ["potential"], title="What to work on")
    lines = text.splitlines()
    assert lines[0] == "What to work on"
    assert "0.60%" in lines[2] and "clean <speech>" in lines[2]


def test_to_html_escapes_content():
    page = report_tables.to_html(TABLE, ["potential"], title="Gap <to> HLP")
    assert "<h3>Gap &lt;to&gt; HLP</h3>" in page
    assert "clean &lt;speech&gt;" in page
    assert "<speech>" not in page
    assert 'class="dataframe analysis-table"' in page


def test_to_records_is_json_ready():
    records = report_tables.to_records(TABLE)
    assert records[1]["potential"] is None
    assert type(records[0]["n"]) is int and type(records[0]["flag"]) is bool
    assert json.loads(json.dumps(records, allow_nan=False)) == records


def test_renders_a_real_gap_table():
    speech = pd.DataFrame(
        {"slice": ["clean", "car"], "model": [0.94, 0.89], "hlp": [0.95, 0.93], "share": [0.6, 0.04]}
    )
    gap = human_level.gap_analysis(speech)
    text = report_tables.to_text(gap, ["model", "hlp", "share", "gap", "potential"])
    assert "0.60%" in text and "0.16%" in text
    json.dumps(report_tables.to_records(gap), allow_nan=False)
