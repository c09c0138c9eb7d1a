"""Paper figures from tidy result rows (NoisyMix, arXiv:2202.01263; erichson/NoisyMix).

- ``robust_accuracy_<dataset>_<bench>.png`` (Figs 1–2): clean and -C robust accuracy per
  method, bars at the seed mean with min/max whiskers;
- ``categories_<dataset>_<bench>.png`` (Figs 6–8): accuracy per corruption family (noise,
  blur, weather, digital), mean over the family's corruptions and severities;
- ``reliability_<dataset>.png``: reliability diagram, drawn only from optional rows with
  metrics ``reliability_conf_bin{i}`` / ``reliability_acc_bin{i}`` (mean confidence /
  accuracy of bin i on the clean test set); without them the figure is skipped with a note;
- ``toy_decision_boundaries.png`` (Appendix A): redrawn from ``toy_grid.npz`` beside the toy
  verb's ``toy.json``.

Matplotlib runs headless (Agg); nothing here raises on missing data — it returns notes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from noisymix.io import atomic_path
from noisymix.metrics import TEST_CORRUPTIONS

_BIN = re.compile(r"^reliability_(conf|acc)_bin(\d+)$")


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
    models = stats[["arch", "width"]].drop_duplicates()
    if len(models) == 1:
        return stats["method"].astype(str)
    return (stats["arch"].astype(str) + "×" + stats["width"].map("{:g}".format) + "/"
            + stats["method"].astype(str))


def _grouped_bars(stats: pd.DataFrame, groups: Sequence[str], title: str, ylabel: str, path):
    """stats: label, column (one bar per column in ``groups``), mean, min, max."""
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
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    _save(fig, path)


def make_figures(df: pd.DataFrame, tables, fig_dir: str | Path,
                 toy: str | Path | None = None) -> tuple[list[str], list[str]]:
    """Draw every figure the rows allow; return (written names, notes on skipped ones)."""
    from noisymix.aggregate import CATEGORIES, seed_stats

    fig_dir = Path(fig_dir)
    names: list[str] = []
    notes: list[str] = []
    keys = ["dataset", "arch", "width", "method"]
    main = df[df.kind == "main"] if len(df) else df

    # Figs 1–2: clean vs robust accuracy per method.
    agg = main[(main.severity == 0) & main.corruption.isin(["", "all"])
               & main.corruption_set.isin(["", "test15"])] if len(main) else main
    robust = agg[agg.benchmark.str.endswith("-c") & (agg.metric == "robust_accuracy")] \
        if len(agg) else agg
    if len(robust) == 0:
        notes.append("robust-accuracy figure skipped: no -C robust_accuracy rows")
    for (dataset, bench), part in (robust.groupby(["dataset", "benchmark"]) if len(robust)
                                   else []):
        clean = agg[(agg.dataset == dataset) & (agg.benchmark == "clean")
                    & (agg.metric == "accuracy")]
        rows = pd.concat([clean.assign(column="clean"), part.assign(column=bench)])
        stats = seed_stats(rows, keys)
        stats["label"] = _labels(stats)
        name = f"robust_accuracy_{dataset}_{bench}"
        _grouped_bars(stats, [c for c in ("clean", bench) if c in set(stats.column)],
                      f"{dataset}: clean and {bench} robust accuracy", "accuracy (%)",
                      fig_dir / f"{name}.png")
        names.append(name)

    # Figs 6–8: per corruption family.
    per = main[main.benchmark.str.endswith("-c") & (main.severity > 0)
               & main.corruption.isin(TEST_CORRUPTIONS) & (main.metric == "accuracy")] \
        if len(main) else main
    if len(per) == 0:
        notes.append("corruption-family figure skipped: no per-corruption -C rows")
    family = {c: f for f, cs in CATEGORIES.items() for c in cs}
    for (dataset, bench), part in (per.groupby(["dataset", "benchmark"]) if len(per) else []):
        part = part.assign(column=part.corruption.map(family))
        stats = seed_stats(part, keys)  # per run: mean over the family's rows, then seeds
        stats["label"] = _labels(stats)
        name = f"categories_{dataset}_{bench}"
        _grouped_bars(stats, [f for f in CATEGORIES if f in set(stats.column)],
                      f"{dataset}: {bench} accuracy per corruption family", "accuracy (%)",
                      fig_dir / f"{name}.png")
        names.append(name)

    # Reliability diagram (optional per-bin rows).
    rel = main[main.metric.astype(str).str.match(_BIN.pattern)] if len(main) else main
    if len(rel) == 0:
        notes.append("reliability diagram skipped: no reliability_conf_bin{i}/"
                     "reliability_acc_bin{i} rows")
    for dataset, part in (rel.groupby("dataset") if len(rel) else []):
        names.append(_reliability(part, dataset, fig_dir))

    # Toy decision boundaries (Appendix A).
    if toy is not None:
        grid = Path(toy).with_name("toy_grid.npz")
        if grid.exists():
            from noisymix.toy import plot_boundaries

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
    for method, m in mean.groupby(level="method"):
        m = m.dropna()
        ax.plot(m["conf"], m["acc"], marker="o", ms=3, label=str(method))
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{dataset}: reliability (clean test set)")
    ax.legend(fontsize=7)
    name = f"reliability_{dataset}"
    _save(fig, fig_dir / f"{name}.png")
    return name
