"""Paper tables from annotated result rows (NoisyMix, Erichson et al., arXiv:2202.01263).

``CATALOGUE`` lists every table of the paper (1–14) plus two of our own (calibration on the
clean/-C sets, the toy experiment of Appendix A). Each builder returns the paper's table when
the rows hold its data, and the same layout under its own name ("Table 2 layout", file
``robustness_digits_preactresnet18``) for datasets or architectures the paper does not use:

- Tables 1–3 (``robustness_tables``): clean acc, -C acc and its value without the noise
  corruptions, mCE, -P mFR and its value without the noise perturbations, mT5D, -R acc, FGSM
  acc. Table 1 is ImageNet; Table 2 PreActResNet-18 and Table 3 WRN, each with CIFAR-10 and
  CIFAR-100 side by side.
- Table 4 (``ablation_tables``): the same columns per ablation cell, with ✓/✗ marks for the
  components augment, mix, noise, jsd.
- Table 5 (``transfer_tables``): fine-tuned models, rows = pre-training method, columns
  grouped by target dataset.
- Tables 6–10 (``per_corruption_tables``): accuracy per -C corruption (mean over severities):
  6 ImageNet-C, 7/8 PreActResNet-18 on CIFAR-10-C/100-C, 9/10 WRN.
- Table 11 (``imagenet_r_calibration_tables``): RMS calibration error and AURRA on ImageNet-R;
  ``calibration_tables`` keeps RMS/ECE/AURRA on the clean and -C sets as an extra table.
- Tables 12–14 (``flip_tables``): flip probability per perturbation and mFR: 12 ImageNet-P,
  13/14 CIFAR-10-P for PreActResNet-18 / WRN.

Each table is written as Markdown (cells "mean (min/max)" over seeds, in %) and as long-form
CSV/Parquet (row keys + group, column, benchmark, metric + mean, std, min, max, n in raw
units). ``group`` is the side-by-side block (the dataset in Tables 2/3, the target in
Table 5, the test set in the calibration tables; '' where there is one block).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from noisymix.io import atomic_path, write_text
from noisymix.report.rows import alexnet_reference, arch_family
from noisymix.report.stats import NOT_PERCENT, STATS, fmt_cell, seed_range, seed_stats
from noisymix.vocab import ALL_PERTURBATIONS, NOISE_PERTURBATIONS, SWITCHES, TEST_CORRUPTIONS

CELL_KEYS = ["group", "column", "benchmark", "metric"]
MODEL_KEYS = ["arch", "width", "method"]
PAPER_DATASETS = {"imagenet": "ImageNet", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}


class Entry(NamedTuple):
    key: str      # "Table 1" … "Table 14", "Calibration", "Toy"
    name: str     # file stem of this entry's own table
    content: str  # what it holds (the heading of the paper's table)
    needs: str    # the rows it is built from, for "no data" notes


CATALOGUE = (
    Entry("Table 1", "table01_robustness_imagenet", "robustness of ResNet-50 on ImageNet",
          "main runs on imagenet"),
    Entry("Table 2", "table02_robustness_cifar_preactresnet18",
          "robustness of PreActResNet-18, CIFAR-10 and CIFAR-100 side by side",
          "main runs of preactresnet18 on cifar10/cifar100"),
    Entry("Table 3", "table03_robustness_cifar_wrn",
          "robustness of WRN, CIFAR-10 and CIFAR-100 side by side",
          "main runs of a wrn* architecture on cifar10/cifar100"),
    Entry("Table 4", "table04_ablation", "ablation of NoisyMix's components",
          "ablation runs on imagenet/cifar10/cifar100"),
    Entry("Table 5", "table05_transfer",
          "transfer: ImageNet models fine-tuned on CIFAR-10 and CIFAR-100",
          "transfer runs whose source dataset is imagenet"),
    Entry("Table 6", "table06_per_corruption_imagenet",
          "ImageNet-C accuracy per corruption, ResNet-50", "per-corruption -C rows on imagenet"),
    Entry("Table 7", "table07_per_corruption_cifar10_preactresnet18",
          "CIFAR-10-C accuracy per corruption, PreActResNet-18",
          "per-corruption -C rows of preactresnet18 on cifar10"),
    Entry("Table 8", "table08_per_corruption_cifar100_preactresnet18",
          "CIFAR-100-C accuracy per corruption, PreActResNet-18",
          "per-corruption -C rows of preactresnet18 on cifar100"),
    Entry("Table 9", "table09_per_corruption_cifar10_wrn",
          "CIFAR-10-C accuracy per corruption, WRN",
          "per-corruption -C rows of a wrn* architecture on cifar10"),
    Entry("Table 10", "table10_per_corruption_cifar100_wrn",
          "CIFAR-100-C accuracy per corruption, WRN",
          "per-corruption -C rows of a wrn* architecture on cifar100"),
    Entry("Table 11", "table11_calibration_imagenet-r",
          "calibration on ImageNet-R (RMS calibration error, AURRA), ResNet-50",
          "rms_calibration_error/aurra rows on a -R benchmark of imagenet runs"),
    Entry("Table 12", "table12_flip_probability_imagenet",
          "ImageNet-P flip probability per perturbation, ResNet-50",
          "per-perturbation -P rows on imagenet"),
    Entry("Table 13", "table13_flip_probability_cifar10_preactresnet18",
          "CIFAR-10-P flip probability per perturbation, PreActResNet-18",
          "per-perturbation -P rows of preactresnet18 on cifar10"),
    Entry("Table 14", "table14_flip_probability_cifar10_wrn",
          "CIFAR-10-P flip probability per perturbation, WRN",
          "per-perturbation -P rows of a wrn* architecture on cifar10"),
    Entry("Calibration", "calibration_<dataset>",
          "calibration (RMS, ECE, AURRA) on the clean and -C test sets (not a paper table)",
          "calibration rows on the clean or -C test sets"),
    Entry("Toy", "toy", "Appendix A: toy 2-D band data, test accuracy",
          "the toy.json of `noisymix toy` (--toy)"),
)
ENTRY = {e.key: e for e in CATALOGUE}

# (training dataset, architecture family) → paper table; "*": any architecture.
SUMMARY_TABLES = {("imagenet", "*"): 1, ("cifar10", "preactresnet18"): 2,
                  ("cifar100", "preactresnet18"): 2, ("cifar10", "wrn"): 3, ("cifar100", "wrn"): 3}
PER_CORRUPTION_TABLES = {("imagenet", "*"): 6, ("cifar10", "preactresnet18"): 7,
                         ("cifar100", "preactresnet18"): 8, ("cifar10", "wrn"): 9,
                         ("cifar100", "wrn"): 10}
FLIP_TABLES = {("imagenet", "*"): 12, ("cifar10", "preactresnet18"): 13, ("cifar10", "wrn"): 14}

# Columns of Tables 1–5 in Table 1's order: (benchmark family, metric, label).
SUMMARY = (
    ("clean", "accuracy", "clean acc"),
    ("-c", "robust_accuracy", "-C acc"),
    ("-c", "robust_accuracy_no_noise", "-C acc w/o noise"),
    ("-c", "mce", "-C mCE"),
    ("-p", "mfr", "-P mFR"),
    ("-p", "mfr_no_noise", "-P mFR w/o noise"),
    ("-p", "mt5d", "-P mT5D"),
    ("-r", "accuracy", "-R acc"),
    ("fgsm", "fgsm_accuracy", "FGSM acc"),
)
CALIBRATION = {"rms_calibration_error": "RMS", "ece": "ECE", "aurra": "AURRA"}
SEEDS_NOTE = ("Cells: mean (min/max) over {n} seed(s), in %; a single seed shows the value "
              "alone.")


@dataclass
class Table:
    name: str                   # file stem
    title: str                  # Markdown heading
    entry: str                  # CATALOGUE key whose layout this is
    layout_only: bool           # True: the entry's layout on data the paper's table is not about
    stats: pd.DataFrame         # long form: row_keys + CELL_KEYS + STATS
    row_keys: list[str]
    columns: list[tuple[str, str]]  # (group, column) in display order
    notes: list[str] = field(default_factory=list)  # caption lines

    @property
    def n_seeds(self) -> int | list[int] | None:
        return seed_range(self.stats["n"])

    def markdown(self) -> str:
        groups = list(dict.fromkeys(g for g, _ in self.columns))
        head = [*self.row_keys, *(f"{PAPER_DATASETS.get(g, g)} {c}" if len(groups) > 1 else c
                                  for g, c in self.columns)]
        wide: dict[tuple, dict[tuple[str, str], str]] = {}
        for r in self.stats.itertuples(index=False):
            key = tuple(getattr(r, k) for k in self.row_keys)
            wide.setdefault(key, {})[(r.group, r.column)] = fmt_cell(
                r.mean, r.min, r.max, int(r.n), r.metric not in NOT_PERCENT)
        lines = [f"## {self.title}", "", *self.notes, SEEDS_NOTE.format(n=_seeds(self.n_seeds)),
                 "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for key, cells in wide.items():
            vals = [_fmt_key(v) for v in key] + [cells.get(c, "–") for c in self.columns]
            lines.append("| " + " | ".join(vals) + " |")
        return "\n".join(lines) + "\n"

    def write(self, out_dir: Path) -> list[Path]:
        """``<name>.md``, ``.csv`` and ``.parquet`` (long form, raw units) under ``out_dir``."""
        md, csv, pq = (Path(out_dir) / f"{self.name}.{ext}" for ext in ("md", "csv", "parquet"))
        write_text(md, self.markdown())
        frame = self.stats[[*self.row_keys, *CELL_KEYS, *STATS]]
        with atomic_path(csv) as tmp:
            frame.to_csv(tmp, index=False)
        with atomic_path(pq) as tmp:
            frame.to_parquet(tmp, index=False)
        return [md, csv, pq]


def _seeds(n) -> str:
    return "–".join(map(str, n)) if isinstance(n, list) else str(n)


def _fmt_key(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "✓" if v else "✗"
    if isinstance(v, float) and v.is_integer():
        return f"{v:g}"
    return str(v)


def make_table(name: str, title: str, entry: str, layout_only: bool, cells: pd.DataFrame,
               row_keys: list[str], notes: list[str]) -> Table:
    """``cells``: one row per run and cell with ``row_keys`` + CELL_KEYS + ``order`` (column
    rank within its group), ``run``, ``value``. Rows keep the order of ``cells``; groups are
    'clean' first, then alphabetical."""
    cols = sorted(set(zip(cells.group, cells.order, cells.column)),
                  key=lambda t: (t[0] != "clean", t[0], t[1], t[2]))
    return Table(name, title, entry, layout_only, seed_stats(cells, [*row_keys, *CELL_KEYS]),
                 list(row_keys), list(dict.fromkeys((g, c) for g, _, c in cols)), notes)


def _family(rows: pd.DataFrame) -> pd.Series:
    return rows["benchmark_kind"].astype(str)


def _main_slots(rows: pd.DataFrame, numbers: dict, stem: str
                ) -> list[tuple[int, bool, str, pd.DataFrame]]:
    """Split main-run rows by the table they feed → (number, layout_only, name, rows).

    A (dataset, architecture) pair of the paper goes to its table (several pairs may share
    one, side by side); any other pair gets a table of its own, ``<stem>_<dataset>_<arch>``,
    in the layout of the paper's table for its architecture (PreActResNet-18's by default).
    """
    slots: dict[tuple, list[pd.DataFrame]] = {}
    for (dataset, arch), part in rows.groupby(["dataset", "arch"], sort=True):
        fam = arch_family(arch)
        n = numbers.get((dataset, fam)) or numbers.get((dataset, "*"))
        if n:
            key = (n, False, ENTRY[f"Table {n}"].name)
        else:
            n = numbers.get(("cifar10", fam)) or numbers[("cifar10", "preactresnet18")]
            key = (n, True, f"{stem}_{dataset}_{fam}")
        slots.setdefault(key, []).append(part)
    return [(*k, pd.concat(v)) for k, v in sorted(slots.items(), key=lambda kv: kv[0])]


def _title(n: int, layout_only: bool, what: str, part: pd.DataFrame) -> str:
    if not layout_only:
        return f"Table {n}: {ENTRY[f'Table {n}'].content}"
    archs = ", ".join(sorted(part["arch"].unique()))
    data = ", ".join(sorted(part["dataset"].unique()))
    return f"Table {n} layout: {what}, {archs} on {data} (not the paper's Table {n})"


# --- Tables 1–5: summaries -------------------------------------------------------------------


def summary_cells(rows: pd.DataFrame) -> pd.DataFrame:
    """The aggregate rows shown in Tables 1–5, with ``column`` (label) and ``order``.

    -C aggregates count only over the 15 test corruptions (the 4 extra are opt-in validation
    sets, ``corruption_set`` 'all19'). Two benchmarks of one family on one dataset get the
    benchmark name in their label; several FGSM ε get theirs.
    """
    spec = pd.DataFrame(SUMMARY, columns=["family", "metric", "column"])
    spec["order"] = range(len(spec))
    x = rows.assign(family=_family(rows)).merge(spec, on=["family", "metric"])
    fam = x["family"]
    keep = (x.severity == 0) & (
        (fam.isin(["clean", "-r"]) & (x.corruption == ""))
        | ((fam == "-c") & (x.corruption == "all") & x.corruption_set.isin(["", "test15"]))
        | ((fam == "-p") & x.corruption.isin(["", "all"]))
        | (fam == "fgsm"))
    x = x[keep].copy()
    several = x.groupby(["dataset", "family"])["benchmark"].transform("nunique") > 1
    x.loc[several, "column"] = x["column"] + " [" + x["benchmark"] + "]"
    fgsm = x["family"] == "fgsm"
    if x.loc[fgsm, "corruption"].nunique() > 1:
        x.loc[fgsm, "column"] = x["column"] + " (" + x["corruption"] + ")"
    return x


def _published_alexnet_err() -> dict[str, float]:
    """AlexNet's published ImageNet-C errors (SPEC §4), imported only when an AlexNet run is in
    the rows (noisymix.metrics pulls in torch; the report does not otherwise)."""
    from noisymix.metrics.corruption import ALEXNET_ERR

    return dict(ALEXNET_ERR)


def alexnet_notes(refs: dict, benchmarks) -> tuple[list[str], bool, bool]:
    """(caption lines, mCE normalised by a run, mFR normalised by a run) for ``benchmarks``:
    which AlexNet run the columns are divided by, and its -C errors against the published."""
    notes, c_done, p_done = [], False, False
    for (dataset, bench), ref in sorted(refs.items()):
        if bench not in set(benchmarks):
            continue
        if not ref["usable"]:
            notes.append(f"The AlexNet run on {bench} lacks figures (or has a zero flip "
                         f"probability), so {bench} is not normalised by it.")
        elif ref["family"] == "-c":
            c_done = True
            pub = _published_alexnet_err()
            errs = ref["errors"]
            gap = max(TEST_CORRUPTIONS, key=lambda c: abs(errs[c] - pub[c]))
            mean_run = 100 * float(np.mean([errs[c] for c in TEST_CORRUPTIONS]))
            mean_pub = 100 * float(np.mean([pub[c] for c in TEST_CORRUPTIONS]))
            notes.append(
                f"CE / mCE on {bench}: Σ_s error / Σ_s error of the AlexNet run evaluated here "
                f"on the same images (method alexnet, mCE 100 by construction). Cross-check "
                f"against the published AlexNet ImageNet-C errors: mean error {mean_run:.1f} % "
                f"here vs {mean_pub:.1f} % published; largest gap "
                f"{100 * abs(errs[gap] - pub[gap]):.1f} points ({gap}).")
        else:
            p_done = True
            notes.append(f"mFR / mT5D on {bench}: mean over perturbations of FP / FP_AlexNet "
                         f"(T5D / T5D_AlexNet) of the AlexNet run evaluated here on the same "
                         f"sequences (no published AlexNet flip rates are assumed).")
    return notes, c_done, p_done


def _summary_notes(cells: pd.DataFrame, refs: dict | None = None) -> list[str]:
    """Caption lines for the columns present in ``cells`` (``refs``: alexnet_reference)."""
    metrics = set(cells["metric"])
    norm, c_done, p_done = alexnet_notes(refs or {}, cells["benchmark"].unique())
    notes = []
    if metrics & {"robust_accuracy_no_noise", "mfr_no_noise"}:
        notes.append("'w/o noise' columns are the paper's parenthesised values: -C accuracy "
                     "over the 12 corruptions other than gaussian/shot/impulse noise, -P mFR "
                     f"over the perturbations other than {'/'.join(NOISE_PERTURBATIONS)}.")
    if "mfr" in metrics and not p_done:
        notes.append("mFR: mean flip probability over the test perturbations (not divided by "
                     "AlexNet's: no AlexNet run on this -P set); mT5D in rank-distance units.")
    if "mce" in metrics and not c_done:
        notes.append("mCE: corruption error normalised by AlexNet's published ImageNet-C "
                     "errors (no AlexNet run on this -C set), mean over corruptions.")
    notes += norm
    eps = sorted(cells.loc[cells.family == "fgsm", "corruption"].unique())
    if eps:
        notes.append(f"FGSM acc: accuracy under a one-step L∞ attack ({', '.join(eps)}).")
    used = [(f.upper(), sorted(cells.loc[cells.family == f, "benchmark"].unique()))
            for f in ("-c", "-p", "-r")]
    if any(b for _, b in used):
        notes.append("Benchmarks: " + "; ".join(f"{f} = {', '.join(b)}" for f, b in used if b)
                     + ".")
    return notes


def robustness_tables(df: pd.DataFrame) -> list[Table]:
    """Tables 1–3 (and their layout for other datasets/architectures)."""
    cells = summary_cells(df[df.kind == "main"])
    cells = cells.assign(group=cells["dataset"])
    refs = alexnet_reference(df)
    return [make_table(name, _title(n, lay, "robustness summary", part), f"Table {n}", lay,
                       part, MODEL_KEYS, _summary_notes(part, refs))
            for n, lay, name, part in _main_slots(cells, SUMMARY_TABLES, "robustness")]


def ablation_tables(df: pd.DataFrame) -> list[Table]:
    """Table 4: one row per ablation cell with ✓/✗ per component (paper datasets together;
    any other dataset in ``ablation_<dataset>``)."""
    cells = summary_cells(df[df.kind == "ablation"]).assign(group="")
    if cells.empty:
        return []
    on = cells[list(SWITCHES)].sum(axis=1)  # paper-like order: fewer components first
    cells = cells.assign(_on=on).sort_values(["_on", *SWITCHES], ascending=[True] + [False] * 4,
                                             kind="stable")
    notes = ["✓/✗: component on/off — augment: AugMix augmentations; mix: feature mixup; "
             "noise: noise injection; jsd: Jensen–Shannon consistency loss.",
             *_summary_notes(cells)]
    keys = ["dataset", "arch", "width", "ablation_cell", *SWITCHES]
    paper = cells.dataset.isin(PAPER_DATASETS)
    tables = []
    if paper.any():
        tables.append(make_table(ENTRY["Table 4"].name, f"Table 4: {ENTRY['Table 4'].content}",
                                 "Table 4", False, cells[paper], keys, notes))
    for dataset, part in cells[~paper].groupby("dataset", sort=True):
        tables.append(make_table(f"ablation_{dataset}", f"Table 4 layout: ablation of "
                                 f"NoisyMix's components on {dataset} (not the paper's Table 4)",
                                 "Table 4", True, part, keys, notes))
    return tables


def transfer_tables(df: pd.DataFrame) -> list[Table]:
    """Table 5: rows = pre-training method (source dataset, arch), columns grouped by target."""
    cells = summary_cells(df[df.kind == "transfer"])
    cells = cells.assign(group=cells["dataset"])
    notes = ["Rows: the method a model was pre-trained with on `transfer_source`; column "
             "groups: the target dataset it was fine-tuned and tested on."]
    tables = []
    for source, part in cells.groupby("transfer_source", sort=True):
        lay = source != "imagenet"
        name = f"transfer_{source or 'unknown_source'}" if lay else ENTRY["Table 5"].name
        title = (f"Table 5 layout: transfer from {source or 'an unrecorded source'} (not the "
                 f"paper's Table 5)" if lay else f"Table 5: {ENTRY['Table 5'].content}")
        tables.append(make_table(name, title, "Table 5", lay, part,
                                 ["transfer_source", *MODEL_KEYS],
                                 notes + _summary_notes(part)))
    return tables


# --- Tables 6–10 and 12–14: per corruption / perturbation -------------------------------------


def _split_by_benchmark(slots, what: str, notes) -> list[Table]:
    """One table per slot and benchmark (the benchmark joins the name when a slot has two)."""
    tables = []
    for n, lay, name, part in slots:
        benches = sorted(part["benchmark"].unique())
        for bench in benches:
            sub = part[part["benchmark"] == bench]
            tables.append(make_table(name if len(benches) == 1 else f"{name}_{bench}",
                                     _title(n, lay, f"{bench} {what}", sub), f"Table {n}", lay,
                                     sub, MODEL_KEYS, notes(bench)))
    return tables


def per_corruption_tables(df: pd.DataFrame) -> list[Table]:
    """Tables 6–10: accuracy per test corruption, mean over severities 1–5 within a seed."""
    rows = df[(df.kind == "main") & (_family(df) == "-c") & (df.severity > 0)
              & df.corruption.isin(TEST_CORRUPTIONS) & (df.metric == "accuracy")]
    rows = rows.assign(group="", column=rows.corruption,
                       order=rows.corruption.map(TEST_CORRUPTIONS.index))
    return _split_by_benchmark(
        _main_slots(rows, PER_CORRUPTION_TABLES, "per_corruption"), "accuracy per corruption",
        lambda b: [f"Accuracy on {b} per corruption: mean over severities 1–5 within each seed."])


def flip_tables(df: pd.DataFrame) -> list[Table]:
    """Tables 12–14: flip probability (×100) per perturbation, and mFR as the last column."""
    main = df[(df.kind == "main") & (_family(df) == "-p")]
    rows = main[((main.metric == "flip_probability") & main.corruption.isin(ALL_PERTURBATIONS))
                | ((main.metric == "mfr") & main.corruption.isin(["", "all"]))]
    is_mfr = rows.metric == "mfr"
    rows = rows.assign(group="", column=rows.corruption.where(~is_mfr, "mFR"),
                       order=rows.corruption.map(
                           lambda c: ALL_PERTURBATIONS.index(c) if c in ALL_PERTURBATIONS
                           else len(ALL_PERTURBATIONS)))
    refs = alexnet_reference(df)

    def notes(b: str) -> list[str]:
        norm, _, p_done = alexnet_notes(refs, [b])
        head = (f"Flip probability (×100) per {b} perturbation; the noise perturbations "
                "compare every frame with the first. mFR: mean over the test perturbations")
        return [head + (" of FP / FP_AlexNet." if p_done
                        else " (unnormalised, as the paper's CIFAR tables)."), *norm]

    return _split_by_benchmark(
        _main_slots(rows, FLIP_TABLES, "flip_probability"), "flip probability per perturbation",
        notes)


# --- Table 11 and the extra calibration table ------------------------------------------------


def _calibration_cells(rows: pd.DataFrame, metrics) -> pd.DataFrame:
    rows = rows[rows.metric.isin(metrics) & (rows.severity == 0)]
    return rows.assign(column=rows.metric.map(CALIBRATION),
                       order=rows.metric.map(list(CALIBRATION).index))


def imagenet_r_calibration_tables(df: pd.DataFrame) -> list[Table]:
    """Table 11: RMS calibration error and AURRA on ImageNet-R (a group per -R benchmark)."""
    main = df[(df.kind == "main") & (_family(df) == "-r")]
    cells = _calibration_cells(main, ("rms_calibration_error", "aurra"))
    cells = cells.assign(group=cells["benchmark"])
    notes = ["RMS calibration error: lower is better; AURRA (area under the response-rate "
             "accuracy curve): higher is better."]
    tables = []
    for dataset, part in cells.groupby("dataset", sort=True):
        lay = dataset != "imagenet"
        tables.append(make_table(
            f"calibration_r_{dataset}" if lay else ENTRY["Table 11"].name,
            f"Table 11 layout: calibration on {', '.join(sorted(part.benchmark.unique()))}, "
            f"trained on {dataset} (not the paper's Table 11)" if lay
            else f"Table 11: {ENTRY['Table 11'].content}",
            "Table 11", lay, part, MODEL_KEYS, notes))
    return tables


def calibration_tables(df: pd.DataFrame) -> list[Table]:
    """Extra table: RMS, ECE and AURRA on the clean test set and pooled over each -C set."""
    main = df[df.kind == "main"]
    fam = _family(main)
    main = main[((fam == "clean") & (main.corruption == ""))
                | ((fam == "-c") & (main.corruption == "all")
                   & main.corruption_set.isin(["", "test15"]))]
    cells = _calibration_cells(main, tuple(CALIBRATION))
    cells = cells.assign(group=cells["benchmark"])
    notes = ["Not a paper table (the paper's Table 11 is on ImageNet-R). RMS and ECE: lower is "
             "better; AURRA: higher is better. -C: pooled over the 15 corruptions × 5 "
             "severities."]
    return [make_table(f"calibration_{dataset}", f"Calibration on the clean and -C test sets, "
                       f"trained on {dataset}", "Calibration", False, part, MODEL_KEYS, notes)
            for dataset, part in cells.groupby("dataset", sort=True)]


BUILDERS = (robustness_tables, ablation_tables, transfer_tables, per_corruption_tables,
            imagenet_r_calibration_tables, calibration_tables, flip_tables)


def build_tables(df: pd.DataFrame) -> list[Table]:
    """Every table the (prepared) rows allow, in catalogue order."""
    tables = [t for build in BUILDERS for t in build(df)]
    rank = {e.key: i for i, e in enumerate(CATALOGUE)}
    return sorted(tables, key=lambda t: (rank[t.entry], t.layout_only, t.name))


def index_entries(tables: list[Table], reasons: dict[str, str] | None = None) -> list[dict]:
    """For each catalogue entry: its files, the files in its layout on other data, and why it
    is missing when it is (``reasons`` overrides the default note per entry key)."""
    reasons = reasons or {}
    out = []
    for e in CATALOGUE:
        own = [t.name for t in tables if t.entry == e.key and not t.layout_only]
        layout = [t.name for t in tables if t.entry == e.key and t.layout_only]
        missing = None if own else reasons.get(e.key, f"no data in this profile: needs {e.needs}")
        out.append({"table": e.key, "content": e.content, "files": own,
                    "layout_files": layout, "missing": missing})
    return out


def index_markdown(entries: list[dict]) -> str:
    lines = ["## Index of tables (NoisyMix, arXiv:2202.01263)", "",
             "Every table is written as `<file>.md`, `.csv` and `.parquet`. Files in the "
             "last column have a paper table's layout but other data (another dataset or "
             "architecture); they are not that table.", "",
             "| table | content | file(s) | missing because | same layout, other data |",
             "|---|---|---|---|---|"]
    for e in entries:
        lines.append(f"| {e['table']} | {e['content']} | {', '.join(e['files']) or '–'} | "
                     f"{e['missing'] or ''} | {', '.join(e['layout_files'])} |")
    return "\n".join(lines) + "\n"
