"""Report figures from annotated result rows (NoisyMix, arXiv:2202.01263; erichson/NoisyMix).

One figure per table family:

- ``robust_accuracy_<dataset>_<bench>.png`` (Figs 1–2, Tables 1–3): clean and -C robust
  accuracy per method, bars at the seed mean with min/max whiskers;
- ``categories_<dataset>_<bench>.png`` (Figs 6–8, Tables 6–10): accuracy per corruption
  family (noise, blur, weather, digital), mean over the family's corruptions and severities;
- ``reliability_<dataset>.png`` (calibration tables): reliability diagram from the rows
  ``reliability_conf_bin{i}`` / ``reliability_acc_bin{i}`` (mean confidence / accuracy of
  bin i on the clean test set);
- ``toy_decision_boundaries.png`` (Appendix A): redrawn from ``toy_grid.npz`` beside the toy
  verb's ``toy.json``.

Matplotlib runs headless (Agg) and is imported on first use; nothing here raises on missing
data — each skipped figure is returned as a note.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from noisymix.io import atomic_path
from noisymix.report.stats import seed_stats
from noisymix.vocab import CORRUPTION_FAMILIES, TEST_CORRUPTIONS

_BIN = re.compile(r"^reliability_(conf|acc)_bin(\d+)$")
_KEYS = ["dataset", "arch", "width", "method"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    _plt().close(fig)


def _labels(stats: pd.DataFrame) -> pd.Series:
    """Bar labels: the method, prefixed by arch×width when several models share a plot."""
    if len(stats[["arch", "width"]].drop_duplicates()) == 1:
        return stats["method"].astype(str)
    return (stats["arch"].astype(str) + "×" + stats["width"].map("{:g}".format) + "/"
            + stats["method"].astype(str))


def _grouped_bars(rows: pd.DataFrame, groups: Sequence[str], title: str, path: Path) -> None:
    """One bar per model and value of ``rows.column`` (in ``groups`` order), % accuracy."""
    stats = seed_stats(rows, [*_KEYS, "column"])
    stats["label"] = _labels(stats)
    groups = [g for g in groups if g in set(stats.column)]
    plt = _plt()
    labels = list(dict.fromkeys(stats["label"]))
    x = np.arange(len(labels))
    w = 0.8 / max(len(groups), 1)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(labels) * max(1, len(groups) / 2)), 3.2))
    for i, g in enumerate(groups):
        part = stats[stats.column == g].set_index("label").reindex(labels)
        mean = 100 * part["mean"].to_numpy(float)
        err = np.stack([mean - 100 * part["min"].to_numpy(float),
                        100 * part["max"].to_numpy(float) - mean])
        ax.bar(x + (i - (len(groups) - 1) / 2) * w, mean, w, yerr=np.nan_to_num(err),
               capsize=2, label=g)
    ax.set_xticks(x, labels, rotation=30, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    _save(fig, path)


def make_figures(df: pd.DataFrame, fig_dir: str | Path, toy: str | Path | None = None
                 ) -> tuple[list[str], list[str]]:
    """Draw every figure the (prepared) rows allow; return (written names, notes)."""
    fig_dir = Path(fig_dir)
    names: list[str] = []
    notes: list[str] = []
    main = df[df.kind == "main"]
    fam = main["benchmark_kind"].astype(str)

    # Figs 1–2: clean vs -C robust accuracy per method.
    clean = main[(fam == "clean") & (main.metric == "accuracy") & (main.corruption == "")]
    robust = main[(fam == "-c") & (main.metric == "robust_accuracy") & (main.corruption == "all")
                  & main.corruption_set.isin(["", "test15"])]
    if robust.empty:
        notes.append("robust-accuracy figure skipped: no -C robust_accuracy rows")
    for (dataset, bench), part in robust.groupby(["dataset", "benchmark"], sort=True):
        rows = pd.concat([clean[clean.dataset == dataset].assign(column="clean"),
                          part.assign(column=bench)])
        name = f"robust_accuracy_{dataset}_{bench}"
        _grouped_bars(rows, ["clean", bench], f"{dataset}: clean and {bench} robust accuracy",
                      fig_dir / f"{name}.png")
        names.append(name)

    # Figs 6–8: per corruption family (per run: mean over the family's rows, then seeds).
    per = main[(fam == "-c") & (main.severity > 0) & main.corruption.isin(TEST_CORRUPTIONS)
               & (main.metric == "accuracy")]
    if per.empty:
        notes.append("corruption-family figure skipped: no per-corruption -C rows")
    family = {c: f for f, cs in CORRUPTION_FAMILIES.items() for c in cs}
    for (dataset, bench), part in per.groupby(["dataset", "benchmark"], sort=True):
        name = f"categories_{dataset}_{bench}"
        _grouped_bars(part.assign(column=part.corruption.map(family)), list(CORRUPTION_FAMILIES),
                      f"{dataset}: {bench} accuracy per corruption family",
                      fig_dir / f"{name}.png")
        names.append(name)

    # Reliability diagram (per-bin rows of the clean test set).
    rel = main[main.metric.str.match(_BIN.pattern)]
    if rel.empty:
        notes.append("reliability diagram skipped: no reliability_conf_bin{i}/"
                     "reliability_acc_bin{i} rows")
    for dataset, part in rel.groupby("dataset", sort=True):
        names.append(_reliability(part, dataset, fig_dir))

    # Toy decision boundaries (Appendix A).
    if toy is not None:
        grid = Path(toy).with_name("toy_grid.npz")
        if grid.exists():
            from noisymix.toy import plot_boundaries  # imports torch: only when asked for

            with np.load(grid) as z:
                data = {k: z[k] for k in z.files}
            plot_boundaries(data, fig_dir / "toy_decision_boundaries.png")
            names.append("toy_decision_boundaries")
        else:
            notes.append(f"toy figure skipped: {grid} not found")
    return names, notes


def _reliability(part: pd.DataFrame, dataset: str, fig_dir: Path) -> str:
    plt = _plt()
    parsed = part.metric.str.extract(_BIN.pattern)
    part = part.assign(kind=parsed[0].to_numpy(), bin=parsed[1].astype(int).to_numpy())
    mean = part.groupby(["method", "kind", "bin"])["value"].mean().unstack("kind")
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    for method, m in mean.groupby(level="method", sort=False):
        m = m.dropna()
        ax.plot(m["conf"], m["acc"], marker="o", ms=3, label=str(method))
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{dataset}: reliability (clean test set)")
    ax.legend(fontsize=7)
    name = f"reliability_{dataset}"
    _save(fig, fig_dir / f"{name}.png")
    return name
