"""`noisymix aggregate`, `noisymix toy`, `noisymix finetune`."""

from __future__ import annotations

from pathlib import Path

import click

from noisymix.cli.choices import DATASET


@click.command()
@click.option("--results", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="tidy result files (.parquet or .csv); repeatable, or several after one flag")
@click.argument("more", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--toy", type=click.Path(dir_okay=False), default=None,
              help="toy.json of `noisymix toy` (its toy_grid.npz beside it redraws the figure)")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="output folder")
def aggregate(results, more, toy, out) -> None:
    """Paper tables (Markdown, CSV, Parquet), figures (PNG) and summary.json from result rows."""
    from noisymix.report import aggregate as run

    summary = run([*results, *more], out, toy=toy)
    click.echo(f"{len(summary['tables'])} tables, {len(summary['figures'])} figures from "
               f"{summary['n_rows']} rows of {summary['n_runs']} runs → {out}")
    for note in summary["notes"]:
        click.echo(f"  note: {note}")


@click.command()
@click.option("--out", required=True, type=click.Path(file_okay=False), help="output folder")
@click.option("--seed", default=0, show_default=True)
def toy(out, seed) -> None:
    """Appendix A toy experiment: OUT/toy.json (test accuracy per method) and OUT/toy.png."""
    from noisymix.toy import run_toy

    result = run_toy(out, seed=seed)
    for method, acc in result["test_accuracy"].items():
        click.echo(f"{method:<20}{acc:.4f}")
    click.echo(f"→ {Path(out) / 'toy.json'}, {Path(out) / 'toy.png'}")


@click.command()
@click.option("--ckpt", required=True, type=click.Path(dir_okay=False),
              help="source model.safetensors")
@click.option("--dataset", required=True, type=DATASET, help="target dataset")
@click.option("--train-subset", type=int, default=None, help="use only the first N images")
@click.option("--epochs", required=True, type=int)
@click.option("--lr", default=0.001, show_default=True)
@click.option("--weight-decay", default=5e-4, show_default=True)
@click.option("--batch-size", default=64, show_default=True)
@click.option("--milestones", default=None,
              help="comma-separated epochs where lr ×= gamma [default: 1/3 and 2/3 of epochs]")
@click.option("--gamma", default=0.1, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--data-root", default=None)
@click.option("--device", default="auto", show_default=True)
@click.option("--progress/--no-progress", default=None)
@click.option("--force", is_flag=True,
              help="replace a finished or interrupted run of another configuration in OUT")
@click.option("--image-size", type=click.IntRange(min=8, max=1024), default=None,
              help="train at this side (RandomResizedCrop + flip) and evaluate through "
                   "Resize(size·8/7) + CenterCrop(size), as the official transfer code at 224")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="run directory")
def finetune(ckpt, dataset, train_subset, epochs, lr, weight_decay, batch_size, milestones,
             gamma, seed, data_root, device, progress, force, image_size, out) -> None:
    """Fine-tune a checkpoint on DATASET (all layers, new head) → OUT/model.safetensors."""
    from noisymix.finetune import finetune as run

    steps = None
    if milestones:
        try:
            steps = tuple(int(m) for m in milestones.split(",") if m.strip())
        except ValueError:
            raise click.BadParameter(f"expected comma-separated integers, got {milestones!r}",
                                     param_hint="--milestones") from None
    meta = run(ckpt, dataset, out, epochs, lr=lr, weight_decay=weight_decay,
               batch_size=batch_size, seed=seed, train_subset=train_subset, milestones=steps,
               gamma=gamma, data_root=data_root, device=device, progress=progress,
               force=force, image_size=image_size)
    click.echo(f"fine-tuned {meta['source']['method']} {meta['arch']}×{meta['width']} "
               f"({meta['source']['dataset']} → {dataset}): {meta['epochs']} epochs "
               f"→ {Path(out) / 'model.safetensors'}")


COMMANDS = [aggregate, toy, finetune]
