"""The toy experiment of NoisyMix's Appendix A (Erichson et al., arXiv:2202.01263).

A binary classification task on noisy 2-D data: decision boundaries of a small ReLU MLP
trained with the baseline, noise injections, manifold mixup, NFM, manifold mixup + JSD and
NoisyMix. The official repository (erichson/NoisyMix) ships only the resulting figure, not the
code or the data generator, so two choices here are ours:

- data — # not in paper: two interleaved noisy sinusoidal bands ("band" data): x₁ ~ U(−2, 2),
  the band centre of class c ∈ {0, 1} is 0.75·sin(1.5·x₁) ∓ 0.5, and both coordinates get
  N(0, 0.3²) noise, so the classes overlap near the boundary (Bayes accuracy ≈ 95 %);
  500 points, half for training and half for testing;
- views — AugMix has no meaning in 2-D. # not in paper: the augmented views that JSD compares
  are noise-perturbed copies x + 0.2·N(0, I) of the inputs.

Everything else is the library's own NoisyMix engine (``FeatureMixing``): the MLP is wrapped
with ``wrap_model`` (inputs as (B, 2, 1, 1) "images", identity normalisation) so that mixing
and noise act at k ∈ {0 = input, 1 = after hidden layer 1, 2 = after hidden layer 2}, and
every method is a switch setting of the registered scheme of the same name. Training: Adam,
lr 0.1, batch 50, 100 epochs, fixed seed. Runs in seconds on a CPU.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from noisymix.io import atomic_path, write_json
from noisymix.methods import create_scheme
from noisymix.methods.feature_mixing import FeatureMixing
from noisymix.models import wrap_model

# method → (registered scheme whose defaults it takes, switches changed for the toy)
METHODS: dict[str, tuple[str, dict]] = {
    "baseline": ("nfm", {"mix": False, "noise": False}),
    "noise_injection": ("nfm", {"mix": False}),
    "manifold_mixup": ("manifold_mixup", {}),
    "nfm": ("nfm", {}),
    "manifold_mixup_jsd": ("manifold_mixup", {"augment": True, "jsd": True}),
    "noisymix": ("noisymix", {}),
}
TITLES = {"baseline": "Baseline", "noise_injection": "Noise injections",
          "manifold_mixup": "Manifold mixup", "nfm": "NFM",
          "manifold_mixup_jsd": "Manifold mixup + JSD", "noisymix": "NoisyMix"}
N_POINTS, HIDDEN, LR, BATCH, EPOCHS = 500, 32, 0.1, 50, 100
NOISE_STD = 0.3     # data noise (input units)
VIEW_STD = 0.2      # perturbation of the JSD views (input units)
STAGES = 3          # mixing stages of the MLP: input, hidden 1, hidden 2


def band_data(n: int = N_POINTS, seed: int = 0, noise: float = NOISE_STD
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 2) float points and (n,) int64 labels of two interleaved noisy sine bands."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    t = 4 * torch.rand(n, generator=g) - 2
    centre = 0.75 * torch.sin(1.5 * t) + torch.where(y == 0, 0.5, -0.5)
    x = torch.stack([t, centre], 1) + noise * torch.randn(n, 2, generator=g)
    perm = torch.randperm(n, generator=g)
    return x[perm], y[perm]


@dataclasses.dataclass(eq=False)
class ToyScheme(FeatureMixing):
    """The NoisyMix engine with Gaussian-perturbed copies as the 'augmented' views."""

    view_std: float = VIEW_STD

    def views(self, x: torch.Tensor, g: torch.Generator) -> list[torch.Tensor]:
        if not self.augment:
            return [x, x, x] if self.jsd else [x]

        def aug() -> torch.Tensor:
            return x + self.view_std * torch.randn(x.shape, generator=g, device=x.device,
                                                   dtype=x.dtype)

        return [x, aug(), aug()] if self.jsd else [aug()]


def toy_scheme(method: str, seed: int = 0) -> ToyScheme:
    base, switches = METHODS[method]
    params = {**create_scheme(base).hparams(), **switches}
    params["mix_layers"] = tuple(k for k in params["mix_layers"] if k < STAGES)
    return ToyScheme(seed=seed, **params)


def make_mlp(seed: int) -> nn.Module:
    """2 → 32 → 32 → 2 ReLU MLP, wrapped so that schemes can hook its hidden layers."""
    with torch.random.fork_rng(devices=[]):  # initialise without touching global RNG state
        torch.manual_seed(seed)
        net = nn.Sequential(OrderedDict(
            flat=nn.Flatten(), fc1=nn.Linear(2, HIDDEN), act1=nn.ReLU(),
            fc2=nn.Linear(HIDDEN, HIDDEN), act2=nn.ReLU(), out=nn.Linear(HIDDEN, 2)))
    return wrap_model(net, mean=(0.0, 0.0), std=(1.0, 1.0), stages=["act1", "act2"])


def _as_image(x: torch.Tensor) -> torch.Tensor:
    return x.view(-1, 2, 1, 1)  # the wrapper's normalisation expects (B, C, H, W)


def train_toy(method: str, x: torch.Tensor, y: torch.Tensor, seed: int = 0,
              epochs: int = EPOCHS) -> nn.Module:
    model = make_mlp(seed)
    scheme = toy_scheme(method, seed)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    g = torch.Generator().manual_seed(seed + 1)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=g)
        for start in range(0, len(y), BATCH):
            idx = order[start:start + BATCH]
            loss = scheme(model, _as_image(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def _prob(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(model(_as_image(x)), 1)[:, 1]


def run_toy(out_dir: str | Path, seed: int = 0, epochs: int = EPOCHS,
            grid_size: int = 150) -> dict:
    """Train every method; write toy.json, toy_grid.npz and toy.png; return the json dict."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x, y = band_data(N_POINTS, seed)
    n_train = len(y) // 2
    xtr, ytr, xte, yte = x[:n_train], y[:n_train], x[n_train:], y[n_train:]
    lo, hi = x.min(0).values - 0.5, x.max(0).values + 0.5
    gx = torch.linspace(float(lo[0]), float(hi[0]), grid_size)
    gy = torch.linspace(float(lo[1]), float(hi[1]), grid_size)
    mesh = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1).reshape(-1, 2)
    test_acc, train_acc, probs = {}, {}, {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 32-unit layers: thread hand-offs cost more than the maths
    try:
        for method in METHODS:
            model = train_toy(method, xtr, ytr, seed, epochs)
            test_acc[method] = float(((_prob(model, xte) > 0.5).long() == yte).float().mean())
            train_acc[method] = float(((_prob(model, xtr) > 0.5).long() == ytr).float().mean())
            probs[method] = _prob(model, mesh).reshape(grid_size, grid_size).numpy()
    finally:
        torch.set_num_threads(threads)
    grid = {"grid_x": gx.numpy(), "grid_y": gy.numpy(), "x_train": xtr.numpy(),
            "y_train": ytr.numpy(), "x_test": xte.numpy(), "y_test": yte.numpy(),
            "methods": np.array(list(METHODS)),
            "test_accuracy": np.array([test_acc[m] for m in METHODS]),
            **{f"prob_{m}": p.astype(np.float32) for m, p in probs.items()}}
    with atomic_path(out / "toy_grid.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **grid)
    plot_boundaries(grid, out / "toy.png")
    result = {"test_accuracy": test_acc, "train_accuracy": train_acc, "seed": seed,
              "settings": {"points": N_POINTS, "test_fraction": 0.5, "hidden": HIDDEN,
                           "optimizer": "adam", "lr": LR, "batch_size": BATCH,
                           "epochs": epochs, "data_noise": NOISE_STD, "view_std": VIEW_STD,
                           "schemes": {m: toy_scheme(m).hparams() for m in METHODS}}}
    write_json(out / "toy.json", result)
    return result


def plot_boundaries(grid: dict, path: str | Path) -> None:
    """2×3 panels: P(class 1) over the plane, decision boundary, test points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [str(m) for m in grid["methods"]]
    fig, axes = plt.subplots(2, 3, figsize=(12, 7), sharex=True, sharey=True)
    for ax, method, acc in zip(axes.flat, methods, grid["test_accuracy"]):
        p = grid[f"prob_{method}"]
        ax.contourf(grid["grid_x"], grid["grid_y"], p, levels=20, cmap="RdBu", alpha=0.6,
                    vmin=0, vmax=1)
        ax.contour(grid["grid_x"], grid["grid_y"], p, levels=[0.5], colors="k", linewidths=1)
        xt, yt = grid["x_test"], grid["y_test"]
        ax.scatter(xt[:, 0], xt[:, 1], c=yt, cmap="RdBu", s=8, edgecolors="k", linewidths=0.3)
        ax.set_title(f"{TITLES.get(method, method)} — test acc {100 * float(acc):.1f}%",
                     fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


__all__ = ["band_data", "run_toy", "train_toy", "toy_scheme", "plot_boundaries", "METHODS"]
