"""`noisymix train`."""

from __future__ import annotations

from pathlib import Path

import click

from noisymix.cli import parse_params
from noisymix.cli.choices import ARCH, DATASET, METHOD


@click.command()
@click.option("--dataset", required=True, type=DATASET, help="training set")
@click.option("--arch", type=ARCH, default="preactresnet18", show_default=True)
@click.option("--width", default=1.0, show_default=True, help="channel multiplier")
@click.option("--method", type=METHOD, default="noisymix", show_default=True)
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="scheme hyper-parameter, repeatable (e.g. --param jsd=false)")
@click.option("--epochs", default=200, show_default=True)
@click.option("--batch-size", default=128, show_default=True)
@click.option("--lr", default=0.1, show_default=True)
@click.option("--weight-decay", default=5e-4, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--train-subset", type=int, default=None, help="use only the first N images")
@click.option("--data-root", default=None, help="dataset directory [env NOISYMIX_DATA or ./data]")
@click.option("--device", default="auto", show_default=True)
@click.option("--num-workers", default=4, show_default=True)
@click.option("--progress/--no-progress", default=None)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="run directory")
@click.option("--force", is_flag=True,
              help="OUT holds a run of another configuration: delete it and train anew")
def train(dataset, arch, width, method, params, epochs, batch_size, lr, weight_decay, seed,
          train_subset, data_root, device, num_workers, progress, out, force) -> None:
    """Train a model; writes OUT/model.safetensors + OUT/model.json (resumes after a crash)."""
    from noisymix.train import TrainConfig, train as run

    cfg = TrainConfig(dataset=dataset, arch=arch, width=width, method=method,
                      method_params=parse_params(params), epochs=epochs, batch_size=batch_size,
                      lr=lr, weight_decay=weight_decay, seed=seed, train_subset=train_subset,
                      data_root=data_root, device=device, num_workers=num_workers,
                      progress=progress)
    meta = run(cfg, out, force=force)
    last = (meta.get("train_metrics") or [{}])[-1]
    click.echo(f"trained {method} {arch}×{width} on {dataset}: {meta['epochs']} epochs, "
               f"final loss {last.get('loss', float('nan')):.4f} → {Path(out) / 'model.safetensors'}")


COMMANDS = [train]
