"""The Appendix A toy experiment: data, schemes on the MLP, and the `noisymix toy` verb."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from noisymix.toy import METHODS, band_data, make_mlp, toy_scheme


def test_band_data_is_balanced_reproducible_and_separable_by_the_bands():
    x, y = band_data(500, seed=3)
    x2, y2 = band_data(500, seed=3)
    assert x.shape == (500, 2) and torch.equal(x, x2) and torch.equal(y, y2)
    assert int(y.sum()) == 250
    # the noiseless band centres separate the classes: class 0 lies above the sine
    above = (x[:, 1] > 0.75 * torch.sin(1.5 * x[:, 0])).long()
    assert ((1 - above) == y).float().mean() > 0.85


@pytest.mark.parametrize("method", list(METHODS))
def test_every_toy_scheme_gives_a_finite_differentiable_loss(method):
    model = make_mlp(0)
    x, y = band_data(50, seed=0)
    loss = toy_scheme(method, seed=0)(model, x.view(-1, 2, 1, 1), y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in model.parameters())


def test_toy_views_are_noisy_copies_only_where_the_method_augments():
    x = torch.zeros(8, 2, 1, 1)
    g = torch.Generator().manual_seed(0)
    views = toy_scheme("noisymix").views(x, g)
    assert len(views) == 3 and torch.equal(views[0], x)
    assert 0.05 < float(views[1].std()) < 0.5 and not torch.equal(views[1], views[2])
    assert [torch.equal(v, x) for v in toy_scheme("baseline").views(x, g)] == [True]


def test_toy_verb_writes_json_and_png(tmp_path):
    from noisymix.cli import main

    result = CliRunner().invoke(main, ["toy", "--out", str(tmp_path), "--seed", "0"])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "toy.json").read_text())
    acc = data["test_accuracy"]
    assert set(acc) == set(METHODS)
    assert all(0.0 <= a <= 1.0 for a in acc.values())
    assert acc["baseline"] > 0.8
    assert (tmp_path / "toy.png").read_bytes()[:4] == b"\x89PNG"

    # aggregate redraws the boundaries from toy_grid.npz and tabulates the accuracies
    from noisymix.report import aggregate

    summary = aggregate([], tmp_path / "agg", toy=tmp_path / "toy.json")
    assert "toy" in summary["tables"] and "toy_decision_boundaries" in summary["figures"]
    assert (tmp_path / "agg" / "figures" / "toy_decision_boundaries.png").exists()
