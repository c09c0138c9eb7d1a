"""Tidy result rows → one annotated frame (NoisyMix, Erichson et al., arXiv:2202.01263).

Input: the tidy Parquet (or CSV) files written by ``noisymix eval`` (see
``noisymix.robustness``), one row per model × benchmark × corruption × severity × metric with
the columns of ``COLUMNS``. Metrics found there: ``accuracy``/``error`` (clean, -C per
corruption and severity, -R), ``robust_accuracy`` and ``robust_accuracy_no_noise`` (-C,
corruption ``all``), ``ce``/``mce`` (ImageNet-C), ``flip_probability``/``t5d`` per
perturbation and ``mfr``/``mt5d`` (-P, corruption ``all``), ``fgsm_accuracy`` (benchmark
``fgsm``, corruption ``eps=<ε>``), ``rms_calibration_error``/``ece``/``aurra`` and
``reliability_{conf,acc}_bin{i}``.

What each run is comes from its rows, written at evaluation time (`noisymix eval --kind
... --ablation-cell ...`): ``kind`` (main / ablation / transfer), ``ablation_cell``,
``transfer_source`` (the source dataset of a fine-tuned model; ``dataset`` is then the target)
and ``augment``/``mix``/``noise``/``jsd`` (the NoisyMix switches of the checkpoint). Run paths
are never parsed. Optional provenance columns ``torch_version``/``cuda_version``/``device``/
``git_commit`` are used when present.

Nothing here imports torch: the name lists come from ``noisymix.vocab`` (stdlib only), not
from ``noisymix.metrics`` or ``noisymix.methods``, which import torch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable

import pandas as pd

from noisymix import vocab
from noisymix.vocab import (  # noqa: F401  (some only re-exported, as before)
    ALL_PERTURBATIONS,
    EXTRA_PERTURBATIONS,
    NOISE_CORRUPTIONS,
    NOISE_PERTURBATIONS,
    PERTURBATIONS,
    SWITCHES,
    TEST_CORRUPTIONS,
)

COLUMNS = list(vocab.COLUMNS)  # a list, as callers pass it to pandas and print it
METHOD_ORDER = vocab.SCHEMES  # rows sort by method in the paper's order
PROVENANCE_COLUMNS = ("torch_version", "cuda_version", "device", "git_commit")


def load_results(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Concatenate result files (.parquet or .csv) and ``prepare`` them."""
    frames = []
    for p in map(Path, paths):
        if not p.exists():
            raise FileNotFoundError(f"result file {p} not found")
        frames.append(pd.read_csv(p, keep_default_na=False) if p.suffix == ".csv"
                      else pd.read_parquet(p))
    frames = [f for f in frames if len(f)]  # empty files carry no dtypes worth keeping
    return prepare(pd.concat(frames, ignore_index=True) if frames
                   else pd.DataFrame(columns=COLUMNS))


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    """Check the columns, ``annotate``, add derived metrics, sort canonically."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"result rows lack column(s) {missing}; expected {COLUMNS}")
    df = annotate(df)
    partial = df["subset"]
    if partial.any():  # a --allow-subset evaluation is labelled, never averaged as a full set
        runs = sorted(set(df.loc[partial, "run"]))
        print(f"report: leaving out rows of subset benchmarks (runs {', '.join(runs)})",
              file=sys.stderr)
        df = df[~partial]
    return _canonical_order(add_derived_metrics(df))


def annotate(df: pd.DataFrame) -> pd.DataFrame:
    """Normalise types of the identity columns (``kind``, ``ablation_cell``,
    ``transfer_source`` and the four ablation switches are written by `noisymix eval`; nothing
    here parses run paths)."""
    df = df.copy()
    for col, default in (("corruption", ""), ("corruption_set", ""), ("severity", 0),
                         ("config_hash", ""), ("ablation_cell", ""), ("transfer_source", "")):
        df[col] = df[col].fillna(default)
    for col in ("run", "dataset", "arch", "method", "benchmark", "corruption", "metric",
                "corruption_set", "kind", "ablation_cell", "transfer_source"):
        df[col] = df[col].astype(str)
    unknown = sorted(set(df["kind"]) - set(vocab.RUN_KINDS))
    if unknown:
        raise ValueError(f"result rows have unknown kind(s) {unknown}; expected "
                         f"{', '.join(vocab.RUN_KINDS)}")
    unknown = sorted(set(df["benchmark_kind"].astype(str)) - set(vocab.BENCHMARK_KINDS))
    if unknown:
        raise ValueError(f"result rows have unknown benchmark_kind(s) {unknown}; expected "
                         f"{', '.join(vocab.BENCHMARK_KINDS)}")
    df["subset"] = df["subset"].map(_as_bool).fillna(False).astype(bool)
    df["precision"] = df["precision"].fillna("fp32").astype(str)
    df["severity"] = df["severity"].astype(int)
    df["value"] = df["value"].astype(float)
    df["width"] = df["width"].astype(float)
    for comp in SWITCHES:
        df[comp] = df[comp].map(_as_bool).fillna(False).astype(bool) & (df["kind"] == "ablation")
    return df


def _as_bool(v) -> bool | None:
    if v is None or (not isinstance(v, str) and pd.isna(v)) or v == "":
        return None
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "yes", "on")
    return bool(v)


def add_derived_metrics(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``mfr_no_noise`` (-P, corruption ``all``): the mean flip probability over the test
    perturbations other than the noise ones — Table 1's parenthesised -P value — for every run
    and -P benchmark that has per-perturbation rows and no such row of its own."""
    fp = df[(df.metric == "flip_probability") & df.corruption.isin(PERTURBATIONS)
            & ~df.corruption.isin(NOISE_PERTURBATIONS)]
    if fp.empty:
        return df
    keys = ["run", "benchmark"]
    have = set(map(tuple, df.loc[df.metric == "mfr_no_noise", keys].to_numpy()))
    means = fp.groupby(keys, sort=False)["value"].mean()
    new = fp.drop_duplicates(keys).set_index(keys)  # identity columns of each (run, -P)
    new = new[[k not in have for k in new.index]]
    if new.empty:
        return df
    new = new.assign(value=means.reindex(new.index).to_numpy(), metric="mfr_no_noise",
                     corruption="all", severity=0, corruption_set="").reset_index()
    return pd.concat([df, new[df.columns]], ignore_index=True)


def _canonical_order(df: pd.DataFrame) -> pd.DataFrame:
    """Rows in one order whatever the order of the input files (Snakemake passes them in grid
    order, DVC's shell glob alphabetically): methods in the paper's order, then by run."""
    rank = {m: i for i, m in enumerate(METHOD_ORDER)}
    key = df["method"].map(lambda m: f"{rank.get(m, len(rank)):03d}{m}")
    df = df.assign(_method_key=key)
    df = df.sort_values(["dataset", "arch", "width", "_method_key", "run"], kind="stable")
    return df.drop(columns="_method_key").reset_index(drop=True)


def arch_family(arch: str) -> str:
    """Wide ResNets of any depth/width share Tables 3, 9, 10 and 14."""
    return "wrn" if str(arch).lower().startswith("wrn") else str(arch)
