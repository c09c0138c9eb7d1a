"""`noisymix eval`."""

from __future__ import annotations

from pathlib import Path

import click

from noisymix.cli.choices import BENCHMARK
from noisymix.vocab import PRECISIONS


@click.command(name="eval")
@click.option("--ckpt", required=True, type=click.Path(dir_okay=False))
@click.option("--benchmark", "benchmarks", multiple=True, type=BENCHMARK,
              help="clean, a -C/-P/-R folder, or a release name (cifar10-c, ...); repeatable. "
                   "Default: clean")
@click.option("--fgsm-eps", type=float, default=None, help="also FGSM accuracy at this L∞ ε "
              "(pixel units in [0, 1], e.g. 0.0313 = 8/255)")
@click.option("--extra-corruptions", is_flag=True, help="also aggregate the 4 extra corruptions")
@click.option("--allow-subset", is_flag=True,
              help="evaluate an incomplete -C/-P set (corruptions, perturbations or severities "
                   "missing, damaged files) as what is there; its rows say subset=True and its "
                   "aggregates corruption_set 'subset:...' [default: refuse it]")
@click.option("--verify/--no-verify", default=None,
              help="check every file's sha256 against the folder's manifest.json [default: "
                   "only for sets up to 256 MiB; sizes are always checked]")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="first N images of each set")
@click.option("--run", default=None, help="run id in the result rows [default: ckpt folder]")
@click.option("--kind", type=click.Choice(["main", "ablation", "transfer"]), default=None,
              help="what the run is, written into every row [default: transfer for a "
                   "fine-tuned checkpoint, else main]")
@click.option("--ablation-cell", default="", help="Table 4 cell name of an ablation run")
@click.option("--data-root", default=None)
@click.option("--device", default="auto", show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True,
              help="forward pass arithmetic: bf16 autocast is faster on a GPU but quantises the "
                   "logits that ranking and calibration read; written into every row")
@click.option("--progress/--no-progress", default=None,
              help="progress bar [default: on a terminal, off in CI]")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="write tidy rows to this .parquet (or .csv)")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              help="write the headline metrics as flat JSON (clean_accuracy, c_robust_accuracy, "
                   "p_mfr, ...; DVC metrics)")
def eval_cmd(ckpt, benchmarks, fgsm_eps, extra_corruptions, allow_subset, verify, limit, run,
             kind, ablation_cell, data_root, device, batch_size, precision, progress, out,
             json_out) -> None:
    """Evaluate a checkpoint: clean, -C, -P, -R, calibration and FGSM → tidy rows.

    A benchmark folder is read through its manifest.json (a release by its layout) and must
    be complete unless --allow-subset."""
    from noisymix.errors import UsageError
    from noisymix.io import atomic_path, write_json
    from noisymix.robustness import evaluate, flat_metrics

    if out and Path(out).suffix not in (".parquet", ".csv"):
        raise UsageError(f"--out {out}: give a .parquet or .csv file name")
    df = evaluate(ckpt, benchmarks or ("clean",), fgsm_eps=fgsm_eps,
                  extra_corruptions=extra_corruptions, limit=limit, data_root=data_root,
                  device=device, batch_size=batch_size, run=run, kind=kind,
                  ablation_cell=ablation_cell, allow_subset=allow_subset, verify=verify,
                  precision=precision, progress=progress)
    summary = df[(df.severity == 0)
                 & (df.corruption.isin(["", "all"]) | (df.benchmark_kind == "fgsm"))]
    for r in summary.itertuples():
        note = "  SUBSET" if r.subset else ""
        click.echo(f"{r.benchmark:<16}{r.metric:<28}{r.value:.4f}  (n={r.n_images}){note}")
    if out:
        with atomic_path(out) as tmp:
            if Path(out).suffix == ".csv":
                df.to_csv(tmp, index=False)
            else:
                df.to_parquet(tmp, index=False)
    if json_out:
        write_json(json_out, flat_metrics(df))


COMMANDS = [eval_cmd]
