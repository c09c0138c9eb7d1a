"""Click types for the names of noisymix, built from ``noisymix.vocab`` (the one vocabulary).

A name flag (``--method``, ``--arch``, ``--dataset``, ``--preset``, ``--benchmark``) lists its
allowed values in ``--help``, completes them in the shell (click's completion) and refuses an
unknown one at parse time (exit status 2, the choices named). Torch-free.
"""

from __future__ import annotations

from pathlib import Path

import click

from noisymix.vocab import ARCHS, DATASETS, PRESETS, RELEASES, SCHEMES

__all__ = ["ARCH", "BENCHMARK", "DATASET", "DATASET_OR_RELEASE", "METHOD", "PRESET", "RELEASE"]

METHOD = click.Choice(SCHEMES)
ARCH = click.Choice(ARCHS)
DATASET = click.Choice(DATASETS)
DATASET_OR_RELEASE = click.Choice(DATASETS + RELEASES)  # what `noisymix prepare` takes
PRESET = click.Choice(PRESETS)
RELEASE = click.Choice(RELEASES)


class BenchmarkType(click.ParamType):
    """``--benchmark``: ``clean``, an official release name, or a benchmark folder.

    Names complete from the vocabulary and folders as paths; anything else is refused here,
    with the same rule ``noisymix.robustness.resolve_benchmark`` applies later.
    """

    name = "benchmark"
    NAMES = ("clean", *RELEASES)

    def get_metavar(self, param, ctx=None) -> str:  # ctx: click >= 8.2
        return "[" + "|".join(self.NAMES) + "|FOLDER]"

    def convert(self, value, param, ctx):
        if value in self.NAMES or Path(value).exists():
            return value
        self.fail(f"{value!r} is neither one of {', '.join(self.NAMES)} nor an existing "
                  f"benchmark folder", param, ctx)

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        names = [CompletionItem(n) for n in self.NAMES if n.startswith(incomplete)]
        return names + [CompletionItem(incomplete, type="dir")]


BENCHMARK = BenchmarkType()
