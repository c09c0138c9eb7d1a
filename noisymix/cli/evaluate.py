"""`noisymix eval`."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(name="eval")
@click.option("--ckpt", required=True, type=click.Path(dir_okay=False))
@click.option("--benchmark", "benchmarks", multiple=True,
              help="clean, a -C/-P/-R folder, or a release name (cifar10-c, ...); repeatable. "
                   "Default: clean")
@click.option("--fgsm-eps", type=float, default=None, help="also FGSM accuracy at this L∞ ε "
              "(pixel units in [0, 1], e.g. 0.0313 = 8/255)")
@click.option("--extra-corruptions", is_flag=True, help="also aggregate the 4 extra corruptions")
@click.option("--limit", type=int, default=None, help="first N images of each set")
@click.option("--run", default=None, help="run id in the result rows [default: ckpt folder]")
@click.option("--kind", type=click.Choice(["main", "ablation", "transfer"]), default=None,
              help="what the run is, written into every row [default: transfer for a "
                   "fine-tuned checkpoint, else main]")
@click.option("--ablation-cell", default="", help="Table 4 cell name of an ablation run")
@click.option("--data-root", default=None)
@click.option("--device", default="auto", show_default=True)
@click.option("--batch-size", default=500, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="write tidy rows to this .parquet (or .csv)")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              help="write the headline metrics as flat JSON (clean_accuracy, c_robust_accuracy, "
                   "p_mfr, ...; DVC metrics)")
def eval_cmd(ckpt, benchmarks, fgsm_eps, extra_corruptions, limit, run, kind, ablation_cell,
             data_root, device, batch_size, out, json_out) -> None:
    """Evaluate a checkpoint: clean, -C, -P, -R, calibration and FGSM → tidy rows."""
    from noisymix.io import atomic_path, write_json
    from noisymix.robustness import evaluate, flat_metrics

    df = evaluate(ckpt, benchmarks or ("clean",), fgsm_eps=fgsm_eps,
                  extra_corruptions=extra_corruptions, limit=limit, data_root=data_root,
                  device=device, batch_size=batch_size, run=run, kind=kind,
                  ablation_cell=ablation_cell)
    summary = df[(df.severity == 0) & (df.corruption.isin(["", "all"]) | (df.benchmark == "fgsm"))]
    for r in summary.itertuples():
        click.echo(f"{r.benchmark:<16}{r.metric:<28}{r.value:.4f}  (n={r.n_images})")
    if out:
        with atomic_path(out) as tmp:
            if Path(out).suffix == ".csv":
                df.to_csv(tmp, index=False)
            else:
                df.to_parquet(tmp, index=False)
    if json_out:
        write_json(json_out, flat_metrics(df))


COMMANDS = [eval_cmd]
