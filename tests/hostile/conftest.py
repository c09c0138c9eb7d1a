"""Shared fixtures of the hostile-input tables: one tiny trained run, a -C and a -P folder."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def fx(tmp_path_factory):
    from click.testing import CliRunner

    from noisymix.cli import main

    root = tmp_path_factory.mktemp("hostile-fixtures")
    run = root / "run"
    cli = CliRunner()
    for argv in (
        ["train", "--dataset", "digits", "--width", "0.0625", "--method", "erm", "--epochs", "1",
         "--batch-size", "32", "--train-subset", "64", "--num-workers", "0", "--device", "cpu",
         "--no-progress", "--out", str(run)],
        ["corrupt", "--dataset", "digits", "--limit", "16", "--corruptions",
         "gaussian_noise,fog", "--severities", "1,2,3,4,5", "--device", "cpu", "--no-progress",
         "--out", str(root / "c")],
        ["perturb", "--dataset", "digits", "--limit", "4", "--perturbations",
         "gaussian_noise,translate", "--device", "cpu", "--no-progress",
         "--out", str(root / "p")],
    ):
        r = cli.invoke(main, argv, catch_exceptions=False)
        assert r.exit_code == 0, r.output
    return {"run": run, "ckpt": run / "model.safetensors", "cbench": root / "c",
            "pbench": root / "p"}
