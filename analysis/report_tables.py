"""Rendering of the analysis tables as plain text, HTML and JSON records.

Public functions:
  format_table  a copy of a table with numbers as display strings
  to_text       fixed-width plain text (logs, terminals)
  to_html       a self-contained HTML fragment (escaped)
  to_records    list of dicts with NaN -> None and numpy scalars -> Python,
                ready for json.dumps (e.g. a TFX component's output artifact)
"""

from __future__ import annotations

import html
import math
from typing import Iterable, List, Optional

import numpy as np
import pandas as pd

MISSING_TEXT = "-"


def _format_value(value, as_percent: bool, decimals: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING_TEXT
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)) and not as_percent:
        return str(int(value))
    if isinstance(value, (float, np.floating, int, np.integer)):
        if as_percent:
            return f"{float(value) * 100:.{decimals}f}%"
        return f"{float(value):.{decimals}f}"
    return str(value)


def format_table(
    table: pd.DataFrame,
    percent_columns: Iterable[str] = (),
    decimals: int = 3,
    percent_decimals: int = 2,
) -> pd.DataFrame:
    """Every cell as a string; percent_columns shown as percentages.

    Missing values show as "-" so that an undefined metric is not mistaken
    for zero.
    """
    percent_columns = set(percent_columns)
    unknown = percent_columns - set(table.columns)
    if unknown:
        raise ValueError(f"percent_columns {sorted(unknown)} are not columns of the table")
    formatted = {}
    for column in table.columns:
        as_percent = column in percent_columns
        places = percent_decimals if as_percent else decimals
        formatted[column] = [_format_value(v, as_percent, places) for v in table[column].tolist()]
    return pd.DataFrame(formatted, columns=list(table.columns), index=table.index)


def to_text(table: pd.DataFrame, percent_columns: Iterable[str] = (), title: Optional[str] = None) -> str:
    """Fixed-width text table, numbers right-aligned."""
    body = format_table(table, percent_columns).to_string(index=False)
    return f"{title}\n{body}" if title else body


def to_html(table: pd.DataFrame, percent_columns: Iterable[str] = (), title: Optional[str] = None) -> str:
    """HTML table (class "analysis-table"); cell text and title are escaped."""
    body = format_table(table, percent_columns).to_html(index=False, escape=True, classes="analysis-table", border=0)
    heading = f"<h3>{html.escape(title)}</h3>\n" if title else ""
    return heading + body


def _plain(value):
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return _plain(value.item())
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def to_records(table: pd.DataFrame) -> List[dict]:
    """Rows as dicts of plain Python values; NaN/NA become None (JSON null)."""
    return [{str(k): _plain(v) for k, v in row.items()} for row in table.to_dict(orient="records")]
