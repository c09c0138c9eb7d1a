"""The ``noisymix`` command line: one thin verb per pipeline stage over library functions.

Each verb lives in its own module here and is a thin wrapper over an importable function.
"""

from __future__ import annotations

import importlib

import click

from noisymix import __version__

_VERB_MODULES = ("train", "evaluate", "benchmarks", "pipeline", "analysis", "fixtures", "zoo")


class _Group(click.Group):
    """The one CLI error handler: expected failures print one line and exit 1 or 2.

    ``NoisymixError`` carries its exit status (2: usage, 1: run time); ``ValueError`` from
    library argument checks counts as usage; an ``OSError`` (unwritable folder, disk full,
    missing file) names its file. Anything else is a bug and keeps its traceback, as does
    every error under ``noisymix --debug``.
    """

    def invoke(self, ctx):
        from noisymix.errors import NoisymixError

        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as e:  # noqa: BLE001 — classified below, re-raised if a bug
            if ctx.params.get("debug"):
                raise
            if isinstance(e, BrokenPipeError):  # `noisymix zoo | head`: the reader left
                raise SystemExit(1) from None
            if isinstance(e, NoisymixError):
                code = e.exit_code
            elif isinstance(e, ValueError):
                code = 2
            elif isinstance(e, OSError):
                code = 1
            else:
                raise
            _fail(_one_line(e), code)


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.filename is not None and str(e.filename) not in str(e):
        text = f"{e.filename}: {e.strerror or e}"
    elif isinstance(e, OSError) and e.strerror:
        text = f"{e.filename}: {e.strerror}" if e.filename else e.strerror
    else:
        text = str(e) or type(e).__name__
    return " ".join(text.split())


def _fail(message: str, code: int) -> None:
    click.echo(f"noisymix: error: {message}", err=True)
    raise SystemExit(code)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="noisymix")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads of torch's kernels [default: torch's choice, all cores]; "
                   "the pipeline passes each job's share")
@click.option("--debug", is_flag=True, help="show the Python traceback of any error")
@click.option("--log", "log_file", type=click.Path(dir_okay=False), default=None,
              help="send everything the verb prints (stdout and stderr) to this file, "
                   "creating its folder; the pipeline's jobs log this way")
def main(threads: int | None, log_file: str | None, debug: bool) -> None:
    """Train corruption-robust classifiers (NoisyMix and baselines) and benchmark them."""
    if log_file is not None:
        _redirect_output(log_file)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def _redirect_output(path: str) -> None:
    """Point file descriptors 1 and 2 at ``path`` (so native code's output lands there too).

    A shell's ``> log 2>&1`` would do the same, but needs the folder to exist; DVC, unlike
    Snakemake, creates no log folders, and both engines run the same command.
    """
    import os
    import sys
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def parse_params(pairs: tuple[str, ...]) -> dict:
    """``key=value`` pairs; values parsed as YAML scalars or lists (e.g. mix_layers=[0,1])."""
    import yaml

    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise click.BadParameter(f"expected key=value, got {pair!r}", param_hint="--param")
        key, value = pair.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


for _m in _VERB_MODULES:
    _mod = importlib.import_module(f"noisymix.cli.{_m}")
    for _cmd in _mod.COMMANDS:
        main.add_command(_cmd)
