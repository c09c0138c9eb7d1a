"""Throughput of the -P perturbation sequences (noisymix.perturbations.perturb).

Prints sequences/s (= source images/s) and frames/s per perturbation, for N images of the
offline scikit-learn digits set upscaled to the preset's resolution (CIFAR: 32x32; ImageNet:
256x256 input, 224 crop, as ImageNet-P). Reference: Hendrycks & Dietterich, arXiv:1903.12261.

    uv run --frozen python benchmarks/bench_perturbations.py --n 64 --preset cifar
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F

from noisymix.perturbations import (
    EXTRA_PERTURBATIONS,
    PERTURBATIONS,
    frame_count,
    perturb,
)


def digits_images(n: int, side: int) -> np.ndarray:
    """n digits (8x8 grey, values 0..16) upscaled bilinearly to side x side x 3 uint8."""
    from sklearn.datasets import load_digits

    d = load_digits().images[:n]
    d = np.concatenate([d] * (n // len(d) + 1))[:n]
    t = torch.from_numpy(d / 16.0).float()[:, None]
    t = F.interpolate(t, size=(side, side), mode="bilinear", align_corners=False)
    return (t.clamp(0, 1) * 255).round().to(torch.uint8).expand(-1, 3, -1, -1) \
        .permute(0, 2, 3, 1).contiguous().numpy()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64, help="images (sequences) per perturbation")
    ap.add_argument("--preset", choices=("cifar", "imagenet"), default="cifar")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=None, help="default: all N at once")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    ap.add_argument("--extra", action="store_true", help="also the 4 extra perturbations")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    side, size = (32, None) if args.preset == "cifar" else (256, 224)
    imgs = digits_images(args.n, side)
    bs = args.batch_size or args.n
    names = PERTURBATIONS + (EXTRA_PERTURBATIONS if args.extra else ())
    print(f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"device {args.device}, threads {torch.get_num_threads()}, preset {args.preset}, "
          f"N {args.n}, batch {bs}, input {side}px, output {size or side}px")
    print(f"| {'perturbation':<15} | frames | seconds | sequences/s | frames/s |")
    print(f"|{'-' * 17}|-------:|--------:|------------:|---------:|")
    for name in names:
        perturb(imgs[:2], name, args.preset, device=args.device, size=size)   # warm-up
        _sync(args.device)
        t0 = time.perf_counter()
        for start in range(0, args.n, bs):
            stop = min(start + bs, args.n)
            perturb(imgs[start:stop], name, args.preset, indices=range(start, stop),
                    device=args.device, size=size)
        _sync(args.device)
        dt = time.perf_counter() - t0
        fr = frame_count(name, args.preset)
        print(f"| {name:<15} | {fr:6d} | {dt:7.3f} | {args.n / dt:11.1f} | {args.n * fr / dt:8.0f} |")


if __name__ == "__main__":
    main()
