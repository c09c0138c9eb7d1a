"""The ``noisymix`` command line: one thin verb per pipeline stage over library functions."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from noisymix import __version__


class _Group(click.Group):
    """Print library errors (bad names, missing data, foreign checkpoints) as one clear line."""

    def invoke(self, ctx):
        from noisymix.checkpoint import CheckpointError
        from noisymix.data import DatasetError

        try:
            return super().invoke(ctx)
        except (ValueError, DatasetError, CheckpointError, FileNotFoundError) as e:
            raise click.ClickException(str(e)) from None


def _parse_params(pairs: tuple[str, ...]) -> dict:
    """``key=value`` pairs; values parsed as JSON/YAML scalars or lists (e.g. mix_layers=[0,1])."""
    import yaml

    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise click.BadParameter(f"expected key=value, got {pair!r}", param_hint="--param")
        key, value = pair.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="noisymix")
def main() -> None:
    """Train corruption-robust classifiers (NoisyMix and baselines) and benchmark them."""


@main.command()
@click.option("--dataset", required=True, help="digits, fashion-mnist, cifar10, cifar100, imagenet")
@click.option("--arch", default="preactresnet18", show_default=True)
@click.option("--width", default=1.0, show_default=True, help="channel multiplier")
@click.option("--method", default="noisymix", show_default=True)
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
def train(dataset, arch, width, method, params, epochs, batch_size, lr, weight_decay, seed,
          train_subset, data_root, device, num_workers, progress, out) -> None:
    """Train a model; writes OUT/model.safetensors + OUT/model.json (resumes after a crash)."""
    from noisymix.train import TrainConfig, train as run

    cfg = TrainConfig(dataset=dataset, arch=arch, width=width, method=method,
                      method_params=_parse_params(params), epochs=epochs, batch_size=batch_size,
                      lr=lr, weight_decay=weight_decay, seed=seed, train_subset=train_subset,
                      data_root=data_root, device=device, num_workers=num_workers,
                      progress=progress)
    meta = run(cfg, out)
    last = (meta.get("train_metrics") or [{}])[-1]
    click.echo(f"trained {method} {arch}×{width} on {dataset}: {meta['epochs']} epochs, "
               f"final loss {last.get('loss', float('nan')):.4f} → {Path(out) / 'model.safetensors'}")


@main.command(name="eval")
@click.option("--ckpt", required=True, type=click.Path(dir_okay=False))
@click.option("--data-root", default=None)
@click.option("--device", default="auto", show_default=True)
@click.option("--batch-size", default=500, show_default=True)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              help="also write the result as JSON")
def eval_cmd(ckpt, data_root, device, batch_size, json_out) -> None:
    """Evaluate a checkpoint (clean test accuracy of its dataset)."""
    from noisymix.evaluate import clean_accuracy
    from noisymix.io import write_json

    result = clean_accuracy(ckpt, data_root, device, batch_size)
    click.echo(f"{result['dataset']} test accuracy: {100 * result['accuracy']:.2f}% "
               f"({result['images']} images)")
    if json_out:
        write_json(json_out, result)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
