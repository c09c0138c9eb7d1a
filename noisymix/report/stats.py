"""Seed statistics and cell formatting for the report (NoisyMix, arXiv:2202.01263).

The paper reports mean (min/max) over seeds; the CSV/Parquet tables also keep std (ddof 1)
and n. Every statistic is over runs (one run = one seed): repeated rows of one run and cell
(e.g. the five severities of a corruption, or a run evaluated twice) are averaged first, so
each run counts once.
"""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

STATS = ["mean", "std", "min", "max", "n"]
NOT_PERCENT = frozenset({"mt5d", "t5d"})  # rank distances, not fractions


def seed_stats(df: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Long table: ``keys`` + mean/std/min/max/n of ``value`` over runs, in first-seen order."""
    keys = list(keys)
    per_run = df.groupby([*keys, "run"], sort=False, dropna=False)["value"].mean().reset_index()
    out = (per_run.groupby(keys, sort=False, dropna=False)["value"]
           .agg(["mean", "std", "min", "max", "count"]).reset_index())
    return out.rename(columns={"count": "n"})


def fmt_cell(mean: float, lo: float, hi: float, n: int, percent: bool = True) -> str:
    """'mean (min/max)' (×100 when ``percent``; 1 decimal, 3 for non-percent units); a single
    seed shows the value alone, a missing cell '–'."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    k, digits = (100.0, 1) if percent else (1.0, 3)
    if n > 1:
        return f"{mean * k:.{digits}f} ({lo * k:.{digits}f}/{hi * k:.{digits}f})"
    return f"{mean * k:.{digits}f}"


def seed_range(n: pd.Series) -> int | list[int] | None:
    """Number of seeds behind a table's cells: one int, [min, max] if cells differ, None if
    the table is empty."""
    if n.empty:
        return None
    lo, hi = int(n.min()), int(n.max())
    return lo if lo == hi else [lo, hi]
