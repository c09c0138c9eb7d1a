"""Paper tables from tidy result rows (NoisyMix, Erichson et al., arXiv:2202.01263).

Input: the tidy Parquet (or CSV) files written by ``noisymix eval``, one row per
model × benchmark × corruption × severity × metric (see the CLI contract). Output, under
``OUTDIR``: ``tables/<name>.md|csv|parquet``, ``figures/<name>.png`` and ``summary.json``.

Which runs feed which table is read from the row's ``run`` id:

- a run whose id contains ``ablation/<cell>/`` (or ends in ``ablation/<cell>``) is a cell of
  the ablation (Table 4) and nothing else;
- a run whose id contains ``/transfer/`` is a fine-tuned model (Table 5) and nothing else;
- every other run is a main run (Tables 1–3 and 6–14).

Seeds are aggregated per (dataset, arch, width, method) — first averaged within a run (if a
run was evaluated twice), then mean / std (ddof 1) / min / max / n over runs. Markdown cells
read "mean (min/max)" in percent (mT5D in its own units), a single seed just "mean"; CSV and
Parquet keep raw units (fractions) in long form with mean, std, min, max, n columns.
A table whose data is missing is skipped with a one-line note in ``summary.json``, never an
exception.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from noisymix.io import atomic_path, write_json, write_text
from noisymix.metrics import NOISE_CORRUPTIONS, TEST_CORRUPTIONS

COLUMNS = ["run", "dataset", "arch", "width", "method", "seed", "config_hash", "benchmark",
           "corruption", "severity", "metric", "value", "corruption_set", "n_images"]
ROW_KEYS = ["dataset", "arch", "width", "method"]
STATS = ["mean", "std", "min", "max", "n"]

# Paper table numbers by training dataset (Tables 1–3) — other datasets (digits,
# fashion-mnist) get the same table under their own name.
ROBUSTNESS_TABLE = {"imagenet": 1, "cifar10": 2, "cifar100": 3}
PER_CORRUPTION_TABLE = {"imagenet": 6, "cifar10": 7, "cifar100": 8}
FLIP_TABLE = {"imagenet": 12, "cifar10": 13, "cifar100": 14}

PERTURBATION_ORDER = ("gaussian_noise", "shot_noise", "motion_blur", "zoom_blur", "snow",
                      "brightness", "translate", "rotate", "tilt", "scale", "speckle_noise",
                      "gaussian_blur", "spatter", "shear")
CATEGORIES = {  # Hendrycks & Dietterich's four corruption families (Figs 6–8)
    "noise": NOISE_CORRUPTIONS,
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
}
# Summary metrics shown in the robustness / ablation / transfer tables, in column order.
SUMMARY_METRICS = ("accuracy", "robust_accuracy", "robust_accuracy_no_noise", "mce",
                   "flip_probability", "mfr", "mt5d", "fgsm_accuracy")
SHORT = {"accuracy": "acc", "robust_accuracy": "robust acc",
         "robust_accuracy_no_noise": "robust acc w/o noise", "mce": "mCE",
         "flip_probability": "FP", "mfr": "mFR", "mt5d": "mT5D", "fgsm_accuracy": "FGSM acc",
         "rms_calibration_error": "RMS", "ece": "ECE", "aurra": "AURRA"}
CALIBRATION_METRICS = ("rms_calibration_error", "ece", "aurra")
NOT_PERCENT = {"mt5d", "t5d"}  # rank distances, not fractions
_ABLATION = re.compile(r"(?:^|/)ablation/([^/]+)(?:/|$)")


# --- loading -------------------------------------------------------------------------------


def load_results(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Concatenate result files (.parquet or .csv) and derive ``ablation_cell`` / ``kind``."""
    frames = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise FileNotFoundError(f"result file {p} not found")
        frames.append(pd.read_csv(p, keep_default_na=False) if p.suffix == ".csv"
                      else pd.read_parquet(p))
    if not frames:
        return annotate(pd.DataFrame(columns=COLUMNS))
    df = pd.concat(frames, ignore_index=True)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"result rows lack column(s) {missing}; expected {COLUMNS}")
    return annotate(_canonical_order(df))


def _canonical_order(df: pd.DataFrame) -> pd.DataFrame:
    """Rows in one order whatever the order of the input files (Snakemake passes them in grid
    order, DVC's shell glob alphabetically): methods in the paper's order, then by run."""
    from noisymix.methods import SCHEMES

    rank = {m: i for i, m in enumerate(SCHEMES)}
    key = df["method"].map(lambda m: (rank.get(m, len(rank)), m))
    df = df.assign(_method_key=key.map(lambda k: f"{k[0]:03d}{k[1]}"))
    df = df.sort_values(["dataset", "arch", "width", "_method_key", "run"], kind="stable")
    return df.drop(columns="_method_key").reset_index(drop=True)


def ablation_cell(run: str) -> str:
    """``.../ablation/<cell>/...`` → ``<cell>``; '' for other runs."""
    m = _ABLATION.search(str(run).replace("\\", "/"))
    return m.group(1) if m else ""


def annotate(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for col, default in (("corruption", ""), ("corruption_set", ""), ("severity", 0)):
        df[col] = df[col].fillna(default)
    df["severity"] = df["severity"].astype(int)
    df["value"] = df["value"].astype(float)
    df["width"] = df["width"].astype(float)
    runs = df["run"].astype(str).str.replace("\\", "/", regex=False)
    df["ablation_cell"] = runs.map(ablation_cell)
    df["kind"] = "main"
    df.loc[("/" + runs).str.contains("/transfer/", regex=False), "kind"] = "transfer"
    df.loc[df["ablation_cell"] != "", "kind"] = "ablation"
    return df


# --- statistics ----------------------------------------------------------------------------


def seed_stats(df: pd.DataFrame, row_keys: Sequence[str], col_key: str = "column"
               ) -> pd.DataFrame:
    """Long table: row_keys + col_key + mean/std/min/max/n over runs (seeds).

    ``df`` holds one value per run and cell (column ``value``); repeated evaluations of one
    run are averaged first so that each run counts once.
    """
    keys = [*row_keys, col_key]
    per_run = df.groupby([*keys, "run"], sort=False, dropna=False)["value"].mean().reset_index()
    g = per_run.groupby(keys, sort=False, dropna=False)["value"]
    out = g.agg(["mean", "std", "min", "max", "count"]).reset_index()
    return out.rename(columns={"count": "n"})


def fmt_cell(mean: float, lo: float, hi: float, n: int, percent: bool) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    k = 100.0 if percent else 1.0
    digits = 1 if percent else 3
    if n > 1:
        return f"{mean * k:.{digits}f} ({lo * k:.{digits}f}/{hi * k:.{digits}f})"
    return f"{mean * k:.{digits}f}"


@dataclass
class Table:
    name: str                 # file stem
    title: str                # Markdown heading (paper table number and content)
    stats: pd.DataFrame       # long form: row_keys + column + STATS
    row_keys: list[str]
    columns: list[str]        # display order of the ``column`` values
    percent: dict[str, bool] = field(default_factory=dict)  # per column: show ×100

    def markdown(self) -> str:
        wide: dict[tuple, dict[str, str]] = {}
        for r in self.stats.itertuples(index=False):
            key = tuple(getattr(r, k) for k in self.row_keys)
            wide.setdefault(key, {})[r.column] = fmt_cell(
                r.mean, r.min, r.max, int(r.n), self.percent.get(r.column, True))
        head = [*self.row_keys, *self.columns]
        lines = [f"## {self.title}", "",
                 "Values in % (mT5D in rank-distance units): mean (min/max) over seeds; "
                 "a single seed shows the value alone.", "",
                 "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for key, cells in wide.items():
            vals = [_fmt_key(v) for v in key] + [cells.get(c, "–") for c in self.columns]
            lines.append("| " + " | ".join(vals) + " |")
        return "\n".join(lines) + "\n"

    def write(self, out_dir: Path) -> list[Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        md, csv, pq = (out_dir / f"{self.name}.{ext}" for ext in ("md", "csv", "parquet"))
        write_text(md, self.markdown())
        frame = self.stats[[*self.row_keys, "column", *STATS]]
        with atomic_path(csv) as tmp:
            frame.to_csv(tmp, index=False)
        with atomic_path(pq) as tmp:
            frame.to_parquet(tmp, index=False)
        return [md, csv, pq]


def _fmt_key(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return f"{v:g}"
    return str(v)


# --- tables --------------------------------------------------------------------------------


def _order(values: Iterable[str], canonical: Sequence[str]) -> list[str]:
    vals = list(dict.fromkeys(values))
    known = [c for c in canonical if c in vals]
    return known + sorted(v for v in vals if v not in known)


def _bench_rank(b: str) -> tuple:
    b = str(b)
    kind = (0 if b in ("clean", "calibration") else 1 if b.endswith("-c") else
            2 if b.endswith("-r") else 3 if b.endswith("-p") else 4)
    return kind, b


def _summary_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Aggregate rows of Tables 1–5 with a display column '<benchmark> <metric>'."""
    agg = df[(df.severity == 0) & df.corruption.isin(["", "all"])
             & df.metric.isin(SUMMARY_METRICS)]
    # The 4 extra corruptions are opt-in validation sets: main tables use the 15 test ones.
    agg = agg[agg.corruption_set.isin(["", "test15"])]
    agg = agg[~((agg.metric == "accuracy") & (agg.benchmark.str.endswith("-c")))]
    agg = agg[agg.benchmark != "calibration"]
    agg = agg.assign(column=agg.benchmark.astype(str) + " " + agg.metric.map(SHORT))
    return agg


def _summary_columns(agg: pd.DataFrame) -> tuple[list[str], dict[str, bool]]:
    pairs = agg[["benchmark", "metric", "column"]].drop_duplicates()
    pairs = sorted(pairs.itertuples(index=False),
                   key=lambda r: (_bench_rank(r.benchmark), SUMMARY_METRICS.index(r.metric)))
    return ([r.column for r in pairs], {r.column: r.metric not in NOT_PERCENT for r in pairs})


def robustness_tables(df: pd.DataFrame) -> list[Table]:
    """Tables 1–3: clean / -C / -R / -P / FGSM summary per training dataset."""
    tables = []
    agg = _summary_rows(df[df.kind == "main"])
    for dataset, part in agg.groupby("dataset", sort=True):
        cols, pct = _summary_columns(part)
        num = ROBUSTNESS_TABLE.get(dataset)
        label = f"Table {num}" if num else "Tables 1–3 layout"
        tables.append(Table(f"robustness_{dataset}",
                            f"{label}: robustness on {dataset} (clean, -C, -R, -P)",
                            seed_stats(part, ROW_KEYS), list(ROW_KEYS), cols, pct))
    return tables


def ablation_table(df: pd.DataFrame) -> list[Table]:
    agg = _summary_rows(df[df.kind == "ablation"])
    if agg.empty:
        return []
    keys = ["dataset", "arch", "width", "ablation_cell"]
    cols, pct = _summary_columns(agg)
    return [Table("ablation", "Table 4: ablation of NoisyMix's components",
                  seed_stats(agg, keys), keys, cols, pct)]


def transfer_table(df: pd.DataFrame) -> list[Table]:
    agg = _summary_rows(df[df.kind == "transfer"])
    if agg.empty:
        return []
    cols, pct = _summary_columns(agg)
    return [Table("transfer", "Table 5: transfer — fine-tuned on the target dataset "
                  "(rows: target dataset; method: the pre-training method)",
                  seed_stats(agg, ROW_KEYS), list(ROW_KEYS), cols, pct)]


def per_corruption_tables(df: pd.DataFrame) -> list[Table]:
    """Tables 6–10: accuracy per test corruption, averaged over severities 1–5."""
    rows = df[(df.kind == "main") & df.benchmark.str.endswith("-c") & (df.severity > 0)
              & df.corruption.isin(TEST_CORRUPTIONS) & (df.metric == "accuracy")]
    tables = []
    for (dataset, bench), part in rows.groupby(["dataset", "benchmark"], sort=True):
        # mean over severities within each run first (a run is one seed)
        per_run = (part.groupby([*ROW_KEYS, "run", "corruption"], sort=False)["value"].mean()
                   .reset_index().rename(columns={"corruption": "column"}))
        cols = _order(per_run.column, TEST_CORRUPTIONS)
        num = PER_CORRUPTION_TABLE.get(dataset)
        label = f"Table {num}" if num else "Tables 6–10 layout"
        tables.append(Table(f"per_corruption_{dataset}_{bench}",
                            f"{label}: {bench} accuracy per corruption (mean over severities), "
                            f"trained on {dataset}", seed_stats(per_run, ROW_KEYS),
                            list(ROW_KEYS), cols))
    return tables


def calibration_tables(df: pd.DataFrame) -> list[Table]:
    """Table 11: RMS calibration error, ECE and AURRA, clean and on -C."""
    rows = df[(df.kind == "main") & df.metric.isin(CALIBRATION_METRICS) & (df.severity == 0)
              & df.corruption.isin(["", "all"]) & df.corruption_set.isin(["", "test15"])]
    if rows.empty:
        return []
    setting = rows.benchmark.where(rows.benchmark != "calibration", "clean")
    rows = rows.assign(setting=setting, column=setting + " " + rows.metric.map(SHORT))
    tables = []
    for dataset, part in rows.groupby("dataset", sort=True):
        pairs = sorted(part[["setting", "metric", "column"]].drop_duplicates()
                       .itertuples(index=False),
                       key=lambda r: (_bench_rank(r.setting),
                                      CALIBRATION_METRICS.index(r.metric)))
        tables.append(Table(f"calibration_{dataset}",
                            f"Table 11: calibration on {dataset} (RMS, ECE: lower is better; "
                            f"AURRA: higher is better)", seed_stats(part, ROW_KEYS),
                            list(ROW_KEYS), [r.column for r in pairs]))
    return tables


def flip_tables(df: pd.DataFrame) -> list[Table]:
    """Tables 12–14: flip probability per perturbation."""
    rows = df[(df.kind == "main") & df.benchmark.str.endswith("-p")
              & (df.metric == "flip_probability") & ~df.corruption.isin(["", "all"])]
    tables = []
    for (dataset, bench), part in rows.groupby(["dataset", "benchmark"], sort=True):
        part = part.assign(column=part.corruption)
        num = FLIP_TABLE.get(dataset)
        label = f"Table {num}" if num else "Tables 12–14 layout"
        tables.append(Table(f"flip_probability_{dataset}_{bench}",
                            f"{label}: {bench} flip probability per perturbation, trained on "
                            f"{dataset}", seed_stats(part, ROW_KEYS), list(ROW_KEYS),
                            _order(part.column, PERTURBATION_ORDER)))
    return tables


def build_tables(df: pd.DataFrame) -> tuple[list[Table], list[str]]:
    """Every table the rows allow, and one note per table family that had no data."""
    tables, notes = [], []
    families = [("Tables 1–3 (robustness)", robustness_tables),
                ("Table 4 (ablation: no run id with 'ablation/<cell>/')", ablation_table),
                ("Table 5 (transfer: no run id with '/transfer/')", transfer_table),
                ("Tables 6–10 (per-corruption accuracy: no -C rows per corruption/severity)",
                 per_corruption_tables),
                ("Table 11 (calibration: no rms_calibration_error/ece/aurra rows)",
                 calibration_tables),
                ("Tables 12–14 (per-perturbation flip probability: no -P rows)", flip_tables)]
    for label, build in families:
        try:
            found = build(df) if not df.empty else []
        except (KeyError, ValueError) as e:  # malformed rows: skip this family, say why
            notes.append(f"{label.split(' (')[0]} skipped: {e}")
            continue
        if found:
            tables.extend(found)
        else:
            notes.append(f"{label} skipped: no data")
    return tables, notes


# --- summary and driver --------------------------------------------------------------------


def summary_metrics(df: pd.DataFrame) -> dict:
    """Per (dataset/arch/method): mean clean accuracy and mean robust accuracy per -C set."""
    out: dict[str, dict[str, float]] = {}
    main = df[(df.kind == "main") & (df.severity == 0) & df.corruption.isin(["", "all"])
              & df.corruption_set.isin(["", "test15"])]
    pick = main[((main.benchmark == "clean") & (main.metric == "accuracy"))
                | (main.benchmark.str.endswith("-c") & (main.metric == "robust_accuracy"))]
    if pick.empty:
        return out
    pick = pick.assign(column=pick.benchmark.astype(str) + "/" + pick.metric)
    stats = seed_stats(pick, ["dataset", "arch", "method"])
    for r in stats.itertuples(index=False):
        key = f"{r.dataset}/{r.arch}/{r.method}"
        name = "clean_accuracy" if r.column == "clean/accuracy" else r.column
        out.setdefault(key, {})[name] = round(float(r.mean), 6)
    return out


def aggregate(results: Sequence[str | Path], out_dir: str | Path,
              toy: str | Path | None = None) -> dict:
    """Write tables, figures and ``summary.json`` under ``out_dir``; return the summary."""
    from noisymix import figures

    out = Path(out_dir)
    df = load_results(results)
    tables, notes = build_tables(df)
    written = []
    for t in tables:
        t.write(out / "tables")
        written.append(t.name)
    if toy is not None:
        toy_table = _toy_table(Path(toy), notes)
        if toy_table is not None:
            toy_table.write(out / "tables")
            written.append(toy_table.name)
    figs, fig_notes = figures.make_figures(df, tables, out / "figures", toy)
    summary = {"methods": summary_metrics(df), "tables": written, "figures": figs,
               "notes": notes + fig_notes, "n_rows": int(len(df)),
               "n_runs": int(df["run"].nunique()) if len(df) else 0}
    write_json(out / "summary.json", summary)
    return summary


def _toy_table(path: Path, notes: list[str]) -> Table | None:
    if not path.exists():
        notes.append(f"toy table skipped: {path} not found")
        return None
    acc = json.loads(path.read_text()).get("test_accuracy", {})
    if not acc:
        notes.append(f"toy table skipped: {path} has no test_accuracy")
        return None
    stats = pd.DataFrame({"method": list(acc), "column": "test acc",
                          "mean": [float(v) for v in acc.values()], "std": float("nan"),
                          "min": [float(v) for v in acc.values()],
                          "max": [float(v) for v in acc.values()], "n": 1})
    return Table("toy", "Appendix A: toy 2-D band data, test accuracy", stats, ["method"],
                 ["test acc"])


__all__ = ["aggregate", "build_tables", "load_results", "seed_stats", "Table", "ablation_cell"]
