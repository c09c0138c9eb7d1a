"""Hostile inputs, part 1: the CLI's own error path (one line, exit 2 for usage, 1 at run time,
no traceback without --debug)."""

from __future__ import annotations

import pytest

from tests.hostile.runner import Case, run_case

CASES = [
    Case("unknown-dataset", ["train", "--dataset", "nope", "--out", "{tmp}/r"], 2,
         ("dataset", "nope")),
    Case("missing-ckpt", ["eval", "--ckpt", "{tmp}/none.safetensors"], 1, ("not found",)),
    Case("not-a-ckpt", ["eval", "--ckpt", "{tmp}/x.safetensors"], 1, ("x.safetensors",),
         setup=lambda tmp, fx: (tmp / "x.safetensors").write_bytes(b"\x00" * 64)),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_hostile(case, tmp_path, fx):
    run_case(case, tmp_path, fx)


def test_debug_shows_the_traceback(tmp_path):
    from click.testing import CliRunner

    from noisymix.cli import main

    r = CliRunner().invoke(main, ["--debug", "eval", "--ckpt", str(tmp_path / "none")])
    assert r.exit_code != 0 and r.exception is not None and not isinstance(r.exception, SystemExit)
