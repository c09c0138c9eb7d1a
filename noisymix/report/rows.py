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

AlexNet normalisation (SPEC §4; Hendrycks & Dietterich, arXiv:1903.12261): when the rows hold
an AlexNet run (method ``alexnet``, imported by the pipeline as the normaliser) on the same -C
or -P benchmark as the other runs, ``normalise_by_alexnet`` rewrites ``ce``/``mce`` as
Σ_s E_s / Σ_s E^AlexNet_s (per corruption, mean over the 15) and ``mfr``/``mfr_no_noise``/
``mt5d`` as the mean over perturbations of FP / FP_AlexNet (T5D / T5D_AlexNet), all from
AlexNet's own rows; without such a run mCE keeps the published AlexNet errors `noisymix eval`
used and mFR stays the unnormalised mean flip probability.

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
    return _canonical_order(normalise_by_alexnet(add_derived_metrics(df)))


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


ALEXNET = "alexnet"  # the method label of the normaliser run (noisymix.zoo alexnet-torchvision)


def _alexnet_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df["method"] == ALEXNET) & (df["kind"] == "main")]


def _c_errors(part: pd.DataFrame) -> pd.Series:
    """Error per (corruption, severity ≥ 1) over the 15 test corruptions."""
    x = part[(part.metric == "accuracy") & (part.severity > 0)
             & part.corruption.isin(TEST_CORRUPTIONS)]
    return 1.0 - x.set_index(["corruption", "severity"])["value"].astype(float)


def _p_values(part: pd.DataFrame, metric: str) -> pd.Series:
    x = part[(part.metric == metric) & part.corruption.isin(ALL_PERTURBATIONS)]
    return x.set_index("corruption")["value"].astype(float)


def alexnet_reference(df: pd.DataFrame) -> dict[tuple[str, str], dict]:
    """For each (dataset, benchmark) with an AlexNet run: ``{"family": "-c"|"-p",
    "usable": bool, ...}`` — -C: AlexNet's error per corruption (mean over severities,
    ``errors``); -P: its flip probabilities (``fp``) and top-5 distances (``t5d``). A -P
    reference is unusable when a test perturbation's AlexNet FP is 0 (nothing to divide by)."""
    out = {}
    for (dataset, bench), a in _alexnet_rows(df).groupby(["dataset", "benchmark"], sort=True):
        fam = str(a["benchmark_kind"].iloc[0])
        if fam == "-c":
            err = _c_errors(a)
            have = set(err.index.get_level_values(0))
            out[(dataset, bench)] = {"family": fam, "usable": set(TEST_CORRUPTIONS) <= have,
                                     "errors": err.groupby(level=0).mean().to_dict(),
                                     "by_severity": err}
        elif fam == "-p":
            fp, t5 = _p_values(a, "flip_probability"), _p_values(a, "t5d")
            test = [p for p in PERTURBATIONS if p in fp.index]
            out[(dataset, bench)] = {"family": fam, "fp": fp.to_dict(), "t5d": t5.to_dict(),
                                     "usable": bool(test) and all(fp[p] > 0 for p in test)
                                     and all(t5.get(p, 0) > 0 for p in test)}
    return out


def normalise_by_alexnet(df: pd.DataFrame) -> pd.DataFrame:
    """mCE / CE and mFR / mT5D of every run divided by the AlexNet run's figures on the same
    benchmark (see the module docstring); rows of benchmarks without one are unchanged."""
    refs = alexnet_reference(df)
    if not refs:
        return df
    df = df.copy()
    for (dataset, bench), ref in refs.items():
        if not ref["usable"]:
            print(f"report: AlexNet's {bench} figures cannot normalise (a corruption or "
                  f"perturbation is missing, or its flip probability is 0); left as they are",
                  file=sys.stderr)
            continue
        same = (df.dataset == dataset) & (df.benchmark == bench)
        for run, part in df[same].groupby("run", sort=False):
            at = same & (df.run == run)
            if ref["family"] == "-c":
                err, a_err = _c_errors(part), ref["by_severity"]
                common = err.index.intersection(a_err.index)
                ce = (err.loc[common].groupby(level=0).sum()
                      / a_err.loc[common].groupby(level=0).sum())
                rows = at & (df.metric == "ce") & df.corruption.isin(ce.index)
                df.loc[rows, "value"] = df.loc[rows, "corruption"].map(ce)
                if set(TEST_CORRUPTIONS) <= set(ce.index):
                    df.loc[at & (df.metric == "mce"), "value"] = float(
                        ce[list(TEST_CORRUPTIONS)].mean())
                continue
            fp, t5 = _p_values(part, "flip_probability"), _p_values(part, "t5d")
            for metric, values, denom, names in (
                    ("mfr", fp, ref["fp"], PERTURBATIONS),
                    ("mfr_no_noise", fp, ref["fp"],
                     [p for p in PERTURBATIONS if p not in NOISE_PERTURBATIONS]),
                    ("mt5d", t5, ref["t5d"], PERTURBATIONS)):
                ps = [p for p in names if p in values.index and p in denom]
                if ps:
                    df.loc[at & (df.metric == metric), "value"] = float(
                        sum(values[p] / denom[p] for p in ps) / len(ps))
    return df


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
