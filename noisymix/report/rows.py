"""Tidy result rows → one annotated frame (NoisyMix, Erichson et al., arXiv:2202.01263).

Input: the tidy Parquet (or CSV) files written by ``noisymix eval`` (see
``noisymix.robustness``), one row per model × benchmark × corruption × severity × metric with
the columns of ``COLUMNS``. Metrics found there: ``accuracy``/``error`` (clean, -C per
corruption and severity, -R), ``robust_accuracy`` and ``robust_accuracy_no_noise`` (-C,
corruption ``all``), ``ce``/``mce`` (ImageNet-C), ``flip_probability``/``t5d`` per
perturbation and ``mfr``/``mt5d`` (-P, corruption ``all``), ``fgsm_accuracy`` (benchmark
``fgsm``, corruption ``eps=<ε>``), ``rms_calibration_error``/``ece``/``aurra`` and
``reliability_{conf,acc}_bin{i}``.

Optional columns, used when present (a row that leaves them empty falls back to the rules
below): ``kind`` (main / ablation / transfer), ``ablation_cell``, ``transfer_source`` (the
source dataset of a fine-tuned model), ``augment``/``mix``/``noise``/``jsd`` (the ablation
switches), ``torch_version``/``cuda_version``/``device``/``git_commit`` (provenance of the
evaluation).

Fallback rule on the ``run`` id (the path grammar of ``workflow/``):

- ``.../ablation/<cell>/...`` is cell ``<cell>`` of the ablation (Table 4) and nothing else;
- ``.../<dataset>/<arch>/<method>/seed<k>/transfer/<target>`` (any id containing
  ``/transfer/``) is a fine-tuned model (Table 5) and nothing else; ``dataset`` is then the
  target, and the source dataset is read from the id when it follows that grammar;
- every other run is a main run (Tables 1–3, 6–14).

Nothing here imports torch: the name lists below are copies of the library's (a test checks
that they agree), because ``noisymix.metrics`` and ``noisymix.methods`` import torch.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import pandas as pd

COLUMNS = ["run", "dataset", "arch", "width", "method", "seed", "config_hash", "benchmark",
           "corruption", "severity", "metric", "value", "corruption_set", "n_images"]

# Copies of noisymix.methods.SCHEMES, noisymix.metrics.TEST_CORRUPTIONS / NOISE_CORRUPTIONS
# and noisymix.perturbations.PERTURBATIONS / NOISE_PERTURBATIONS (torch-free; see above).
METHOD_ORDER = ("erm", "mixup", "manifold_mixup", "cutmix", "puzzlemix", "nfm", "augmix",
                "noisymix")
TEST_CORRUPTIONS = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur",
                    "glass_blur", "motion_blur", "zoom_blur", "snow", "frost", "fog",
                    "brightness", "contrast", "elastic_transform", "pixelate",
                    "jpeg_compression")
NOISE_CORRUPTIONS = ("gaussian_noise", "shot_noise", "impulse_noise")
PERTURBATIONS = ("gaussian_noise", "shot_noise", "motion_blur", "zoom_blur", "snow",
                 "brightness", "translate", "rotate", "tilt", "scale")
EXTRA_PERTURBATIONS = ("speckle_noise", "gaussian_blur", "spatter", "shear")
ALL_PERTURBATIONS = PERTURBATIONS + EXTRA_PERTURBATIONS
NOISE_PERTURBATIONS = ("gaussian_noise", "shot_noise", "speckle_noise")
CATEGORIES = {  # Hendrycks & Dietterich's four corruption families (Figs 6–8)
    "noise": NOISE_CORRUPTIONS,
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
}
COMPONENTS = ("augment", "mix", "noise", "jsd")  # NoisyMix's switches (Table 4)
PROVENANCE_COLUMNS = ("torch_version", "cuda_version", "device", "git_commit")
_ABLATION = re.compile(r"(?:^|/)ablation/([^/]+)(?:/|$)")


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
    return _canonical_order(add_derived_metrics(annotate(df)))


def ablation_cell(run: str) -> str:
    """``.../ablation/<cell>/...`` → ``<cell>``; '' for other runs."""
    m = _ABLATION.search(str(run).replace("\\", "/"))
    return m.group(1) if m else ""


def transfer_source(run: str) -> str:
    """Source dataset of ``<dataset>/<arch>/<method>/seed<k>/transfer/<target>``; '' if the id
    does not follow that grammar."""
    parts = str(run).replace("\\", "/").split("/")
    if "transfer" not in parts:
        return ""
    i = parts.index("transfer")
    return parts[i - 4] if i >= 4 and parts[i - 1].startswith("seed") else ""


def _explicit(df: pd.DataFrame, col: str, fallback: pd.Series) -> pd.Series:
    """``df[col]`` where the row fills it, else ``fallback``."""
    if col not in df.columns:
        return fallback
    given = df[col].fillna("").astype(str)
    return given.where(given != "", fallback)


def annotate(df: pd.DataFrame) -> pd.DataFrame:
    """Normalise types and add ``kind``, ``ablation_cell``, ``transfer_source`` and the four
    ablation switches — the one place where a run's role is decided (see module docstring)."""
    df = df.copy()
    for col, default in (("corruption", ""), ("corruption_set", ""), ("severity", 0),
                         ("config_hash", "")):
        df[col] = df[col].fillna(default)
    for col in ("run", "dataset", "arch", "method", "benchmark", "corruption", "metric",
                "corruption_set"):
        df[col] = df[col].astype(str)
    df["severity"] = df["severity"].astype(int)
    df["value"] = df["value"].astype(float)
    df["width"] = df["width"].astype(float)
    runs = df["run"].str.replace("\\", "/", regex=False)
    cell = runs.map(ablation_cell)
    rule = pd.Series("main", index=df.index)
    rule[("/" + runs).str.contains("/transfer/", regex=False)] = "transfer"
    rule[cell != ""] = "ablation"
    df["kind"] = _explicit(df, "kind", rule)
    df["ablation_cell"] = _explicit(df, "ablation_cell", cell).where(df["kind"] == "ablation", "")
    df["transfer_source"] = _explicit(df, "transfer_source", runs.map(transfer_source)).where(
        df["kind"] == "transfer", "")
    tokens = df["ablation_cell"].map(lambda c: set(re.split(r"[_+\-]", c)))
    for comp in COMPONENTS:
        from_name = tokens.map(lambda t, comp=comp: comp in t)
        if comp in df.columns:  # explicit switch; rows without it use the cell name
            given = df[comp].map(_as_bool)
            from_name = given.where(given.notna(), from_name)
        df[comp] = from_name.astype(bool) & (df["kind"] == "ablation")
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


def benchmark_family(benchmark: str) -> str:
    """'clean', 'fgsm', '-c', '-p', '-r' or '' (unknown) from a benchmark name."""
    b = str(benchmark).lower()
    if b in ("clean", "fgsm"):
        return b
    for suffix in ("-c", "-p", "-r"):
        if b.endswith(suffix):
            return suffix
    return ""


def arch_family(arch: str) -> str:
    """Wide ResNets of any depth/width share Tables 3, 9, 10 and 14."""
    return "wrn" if str(arch).lower().startswith("wrn") else str(arch)
